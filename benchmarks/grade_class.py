"""Grade a class of 40 on this machine: how long, and how the time splits (kernel start vs cells and checks).

    python benchmarks/grade_class.py [--students 40] [--jobs N]

The class is built from the demo class's answered notebooks (tests/fixtures/demo_class): each student a
copy of one of the notebooks that run to the end (all right, blank, each classic bug, hard-coded).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ella_lab import format_seconds
from ella_lab.grading import grade_submissions

DEMO = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "demo_class"
TYPICAL = ["ada", "ben", "cyd", "dee", "eve", "fay", "kim", "ned", "ola"]  # notebooks that run to the end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=None, help="notebooks at once (default: the cores)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        for number, name in zip(range(args.students), itertools.cycle(TYPICAL), strict=False):
            shutil.copy(DEMO / f"{name}-ex03.ipynb", Path(tmp) / f"student{number:02d}-ex03.ipynb")
        started = time.perf_counter()
        grades = grade_submissions([tmp], sheet="phase3", jobs=args.jobs)
        wall = time.perf_counter() - started
    split = grades.timing()
    print(
        f"{args.students} submissions graded in {format_seconds(wall)} "
        f"({format_seconds(wall / args.students)} a notebook, wall) on {os.cpu_count()} cores; load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after (other work on the machine slows it)"
    )
    print(
        f"per notebook: start (interpreter, checks sealed) {format_seconds(split['start_s'])}, cells and judging "
        f"{format_seconds(split['cells_s'])}; the rest is the supervisor and the namespaces"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
