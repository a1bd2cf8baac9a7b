"""Run All of the walkthrough as a learner would, on a busy machine: nothing may raise, nothing may crawl.

Each notebook runs top to bottom in a fresh plain kernel (nbclient), with no test variables (measured claims
in learner mode: a miss shows a box, it does not raise), while BUSY other processes spin a core each. Nothing
is saved. Prints, per notebook: the wall time, the quiet time (with --compare: measured first, no spinners),
the cells that raised, and the boxes shown. Exits 1 if a cell raised, a cell timed out, or (with --compare) a
notebook took more than 3x its quiet time.

    python scripts/learner_run.py                      # 1 run, 2 busy processes
    python scripts/learner_run.py --runs 3 --compare   # make stress
    python scripts/learner_run.py --busy 0 notebooks/03-threaded-router.ipynb
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOX = "Measured claim not met"


def run_notebook(path: Path, cell_timeout: int) -> tuple[float, list[str], list[str]]:
    """(wall seconds, cells that raised, claims boxes shown) for one Run All in a fresh kernel."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )  # fmt: skip
    started = time.perf_counter()
    raised: list[str] = []
    try:
        client.execute()
    except (CellTimeoutError, DeadKernelError) as exc:  # a hang or a dead kernel: as bad as a traceback
        raised.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    wall = time.perf_counter() - started
    boxes = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                raised.append(f"cell {index}: {out.get('ename')}: {str(out.get('evalue'))[:200]}")
            data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
            text = data.get("text/plain", "") if data else out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if BOX in text:
                first = next((line for line in text.splitlines() if line.startswith("  - ")), text[:120])
                boxes.append(f"cell {index}: {first.strip()}")
    return wall, raised, boxes


def spinners(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the walkthrough")
    parser.add_argument("--runs", type=int, default=1, help="busy Run Alls of each notebook (default 1)")
    parser.add_argument("--busy", type=int, default=2, help="processes kept spinning (default 2: both cores)")
    parser.add_argument("--compare", action="store_true", help="first time a quiet run; fail past 3x it")
    parser.add_argument("--cell-timeout", type=int, default=300, help="seconds before a cell counts as hung")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20 or not 0 <= args.busy <= 16:
        parser.error(f"--runs must be 1..20 and --busy 0..16, got {args.runs} and {args.busy}")
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    os.environ.pop("ELLA_LAB_CLAIMS", None)  # a learner's kernel: no test variables

    quiet: dict[Path, float] = {}
    if args.compare:
        for path in paths:
            quiet[path], raised, _ = run_notebook(path, args.cell_timeout)
            print(f"quiet  {path.name:48} {quiet[path]:6.1f} s{'  RAISED' if raised else ''}", flush=True)
    failed = 0
    busy = spinners(args.busy)
    try:
        for run in range(1, args.runs + 1):
            for path in paths:
                wall, raised, boxes = run_notebook(path, args.cell_timeout)
                slow = path in quiet and wall > 3 * quiet[path]
                verdict = "RAISED" if raised else "SLOW" if slow else "ok"
                ratio = f" ({wall / quiet[path]:.1f}x quiet)" if path in quiet else ""
                print(f"run {run} {path.name:48} {wall:6.1f} s{ratio}  {verdict}  boxes: {len(boxes)}", flush=True)
                for line in raised + boxes:
                    print(f"      {line}", flush=True)
                failed += bool(raised or slow)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"=== learner Run All with {args.busy} busy processes: {failed} failing notebook run(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
