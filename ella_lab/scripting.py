"""Scripts seen from a notebook: a file's top-level blocks found by parsing, and Python run as a terminal would.

Notebook 05 shows parts of ``examples/main.py`` and runs it and ``python -m ella_lab`` as programs; these helpers
keep that plumbing out of its cells.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["run_cli", "run_python", "top_level_blocks"]


def top_level_blocks(path: str | Path, starts: Sequence[str]) -> list[str]:
    """The source of the top-level statements of the file at ``path`` whose first line starts with each of
    ``starts``, in the order of ``starts``. Found by parsing, so the blank lines between blocks do not matter.

    Raises ``ValueError`` naming a start that no top-level statement has.
    """
    if isinstance(starts, str):
        raise TypeError(f"starts must be a sequence of strings, got the string {starts!r}")
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = ["\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in ast.parse(text).body]
    found = []
    for start in starts:
        block = next((b for b in blocks if b.startswith(start)), None)
        if block is None:
            raise ValueError(f"starts: no top-level statement of {path} starts with {start!r}")
        found.append(block)
    return found


def run_python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` (this interpreter) as a terminal would, within ``timeout`` s; keep what it prints."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ella_lab *args`` as a terminal would, within ``timeout`` s; keep what it prints."""
    return run_python("-m", "ella_lab", *args, timeout=timeout)
