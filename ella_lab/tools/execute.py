"""Re-execute notebooks in place, top to bottom in one fresh kernel each, and save their outputs.

python -m ella_lab.tools.execute notebooks            # every notebook but the student copies
python -m ella_lab.tools.execute notebooks/03-threaded-router.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from ..timing import clock, format_seconds


def notebooks(paths: Iterable[str | Path]) -> list[Path]:
    """The notebooks named, or found under the folders named (skipping checkpoints and student copies)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "student" not in p.parts
            )
        else:
            found.append(path)
    return found


def execute(path: Path, *, timeout: int = 300, kernel: str = "python3") -> float:
    """Run ``path`` in a new kernel (its folder as working directory), save it, return the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)  # the state of a previous run; a run without widgets leaves none
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        # saved in nb.metadata.widgets, so JupyterLab draws interact() sliders and progress bars before a run
        # (each widget output keeps its text/plain fallback; nbval skips widget views, whose ids vary)
        store_widget_state=True,
    )
    started = clock()
    client.execute()
    elapsed = clock() - started
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ella-lab)", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="notebooks or folders")
    parser.add_argument("--timeout", type=int, default=300, help="seconds a cell may run")
    args = parser.parse_args(argv)
    # Saved outputs come from a strict run: a measured claim that misses fails the run instead of saving a box.
    os.environ["ELLA_LAB_CLAIMS"] = "strict"
    total = 0.0
    for path in notebooks(args.paths):
        elapsed = execute(path, timeout=args.timeout)
        total += elapsed
        print(f"{format_seconds(elapsed):>9}  {path}", flush=True)
    print(f"{format_seconds(total):>9}  in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
