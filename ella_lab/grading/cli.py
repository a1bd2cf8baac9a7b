"""``python -m ella_lab grade``: the command line of the grader."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..timing import clock, format_seconds


def add_parser(commands: argparse._SubParsersAction) -> None:
    grade = commands.add_parser("grade", help="run and score a class's exercise notebooks")
    grade.add_argument("submissions", nargs="+", help="notebooks, folders of notebooks, or zip files")
    grade.add_argument("--out", required=True, type=Path, help="folder for grades.csv, answers.csv, report.html")
    grade.add_argument("--sheet", help="the sheet every submission should be, e.g. phase3 (default: each its own)")
    grade.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: the cores)")
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds a whole notebook may run")
    grade.add_argument("--cell-timeout", type=int, default=30, help="seconds a cell may run before it is interrupted")
    grade.add_argument("--memory", type=int, default=2048, help="MiB of memory a notebook may use (0: no limit)")


def prepare(args: argparse.Namespace) -> Callable[[], None]:
    """Check every argument (before any notebook runs); return the grading, ready to run."""
    from .grade import check_settings, known_sheets

    for path in args.submissions:
        if not Path(path).exists():
            raise ValueError(f"submissions: no such file or folder: {path!r}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out must be a folder, got the file {str(args.out)!r}")
    check_settings(jobs=args.jobs, timeout=args.timeout, cell_timeout=args.cell_timeout, memory_mb=args.memory or None)
    if args.sheet is not None and args.sheet not in known_sheets():
        raise ValueError(f"--sheet must be one of {sorted(known_sheets())}, got {args.sheet!r}")
    return lambda: run(args)


def run(args: argparse.Namespace) -> None:
    """Grade the submissions and write the tables and the report."""
    from . import grade_submissions, write_outputs

    bar = _progress() if sys.stderr.isatty() else None
    started = clock()
    try:
        grades = grade_submissions(
            args.submissions,
            sheet=args.sheet,
            jobs=args.jobs,
            timeout=args.timeout,
            cell_timeout=args.cell_timeout,
            memory_mb=args.memory or None,
            progress=bar,
            exclude=[args.out],
        )
    except KeyboardInterrupt:  # every notebook in progress is stopped; nothing half-done is written
        sys.stderr.write(f"\ninterrupted: nothing was written to {args.out}; grade again to start over\n")
        raise SystemExit(130) from None
    paths = write_outputs(grades, args.out)
    table = grades.grades_frame()
    split = grades.timing()
    print(
        f"graded {len(table)} submission(s) in {format_seconds(clock() - started)} "
        f"({args.jobs or 'one per core'} at once; per notebook: kernel start {format_seconds(split['kernel_s'])}, "
        f"cells and checks {format_seconds(split['cells_s'])})"
    )
    if not table.empty:
        print(table.drop(columns=["file", "reason", "look_at"]).to_string(index=False))
        look = table[(table["look_at"] != "") | (table["status"] == "check by hand")]
        if not look.empty:
            print(f"to look at ({len(look)}): see the reason and look_at columns of grades.csv")
            for row in look.itertuples():
                print(f"  {row.student} ({row.file}): {'; '.join(x for x in (row.reason, row.look_at) if x)}"[:300])
    if grades.skipped:
        print(f"not collected (neither a notebook nor a zip file): {', '.join(grades.skipped)}")
    for name in ("grades", "answers", "report"):
        print(f"wrote {paths[name]}")


def _progress():
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="notebook", file=sys.stderr)
        bar.update(1)
        if done == total:
            bar.close()

    return update
