"""Scripts seen from a notebook: a file's top-level blocks found by parsing, and Python run as a terminal would.

Notebook 05 shows parts of ``examples/main.py``, runs it and ``python -m ella_lab`` as programs, reads numbers
from what they print, and runs the guide's router checked against its model; these helpers keep that plumbing
out of its cells.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from .claims import measure
from .guide import GuideRun, guide_claims, virtual_run

__all__ = ["checked_run", "return_lines", "run_cli", "run_python", "summary_value", "top_level_blocks"]


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


def return_lines(path: str | Path, function: str) -> list[str]:
    """The source of each ``return`` statement of the top-level function ``function`` in the file at ``path``,
    dedented: what a program's ``main()`` hands back (its exit status) without its option parsing around it.

    Raises ``ValueError`` naming a function that the file does not define at top level.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function), None)
    if node is None:
        raise ValueError(f"function: {path} defines no top-level function {function!r}")
    returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
    ordered = sorted(returns, key=lambda r: r.lineno)
    return [textwrap.dedent("\n".join(lines[r.lineno - 1 : r.end_lineno])).strip() for r in ordered]


def run_python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` (this interpreter) as a terminal would, within ``timeout`` s; keep what it prints."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ella_lab *args`` as a terminal would, within ``timeout`` s; keep what it prints."""
    return run_python("-m", "ella_lab", *args, timeout=timeout)


def summary_value(text: str, name: str) -> float:
    """The first number on the line of ``text`` that starts with ``name``: a value of a run's printed summary,
    such as ``throughput      49.1 req/s``. Raises ``ValueError`` naming ``name`` when no line has it."""
    for line in text.splitlines():
        if line.startswith(name):
            found = re.search(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", line[len(name) :])
            if found:
                return float(found.group())
    raise ValueError(f"name: no line of the text starts with {name!r} and holds a number")


def checked_run(
    router: Callable[..., GuideRun], workers: int, n_requests: int, *, latency: float, idle_timeout: float
) -> GuideRun:
    """``router(workers, n_requests, latency=, idle_timeout=)`` (the guide's router, ``run_guide_router``) run
    once, its times checked against its model on a virtual clock (``guide_claims``: the rounds of work, then one
    whole idle timeout), and measured again on a miss."""
    if not callable(router):
        raise TypeError(f"router must be a function like run_guide_router, got {router!r}")
    model = virtual_run(workers, n_requests, latency=latency, idle_timeout=idle_timeout)
    return measure(
        lambda: router(workers, n_requests, latency=latency, idle_timeout=idle_timeout),
        lambda run: guide_claims(run, model),
    )
