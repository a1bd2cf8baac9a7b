"""``python -m ella_lab grade``: the command line of the grader."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..timing import clock, format_seconds


def _folder(text: str) -> Path:
    """A folder argument: an empty one (an unset ``$OUT``) would quietly mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text)


def add_parser(commands: argparse._SubParsersAction) -> None:
    grade = commands.add_parser("grade", help="run and score a class's exercise notebooks")
    grade.add_argument("submissions", nargs="+", help="notebooks, folders of notebooks, or zip files")
    grade.add_argument("--out", required=True, type=_folder, help="folder for grades.csv, answers.csv, report.html")
    grade.add_argument("--sheet", help="the sheet every submission should be, e.g. phase3 (default: each its own)")
    grade.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: the cores)")
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds a whole notebook may run")
    grade.add_argument("--cell-timeout", type=int, default=30, help="seconds a cell may run before it is interrupted")
    grade.add_argument("--memory", type=int, default=2048, help="MiB of memory a notebook may use (0: no limit)")
    grade.add_argument("--gradebook", choices=["canvas", "moodle"], help="also write an import file for this gradebook")
    add_handout_parser(commands)


def add_handout_parser(commands: argparse._SubParsersAction) -> None:
    """``python -m ella_lab handout --out DIR``: the hand-out (``ella_lab.tools.handout``)."""
    handout = commands.add_parser("handout", help="build what students receive: no solutions, no hidden cases")
    handout.add_argument("--out", type=_folder, help="the folder to write the hand-out into (new or empty)")
    handout.add_argument("--solutions", type=Path, help="write the solutions file to release to students")


def prepare_handout(args: argparse.Namespace) -> Callable[[], None]:
    """Check the hand-out's arguments; return the build, ready to run."""
    from ..tools import handout

    if args.out is None and args.solutions is None:
        raise ValueError("handout: give --out DIR (the hand-out) or --solutions FILE (the solutions to release)")
    if args.out is not None and args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise ValueError(f"--out must be a new or empty folder, got {str(args.out)!r}")
    argv = [
        *(["--out", str(args.out)] if args.out else []),
        *(["--solutions", str(args.solutions)] if args.solutions else []),
    ]
    return lambda: handout.main(argv) and None


def prepare(args: argparse.Namespace) -> Callable[[], None]:
    """Check every argument (before any notebook runs); return the grading, ready to run."""
    from .grade import check_settings, known_sheets

    for path in args.submissions:
        if not Path(path).exists():
            raise ValueError(f"submissions: no such file or folder: {path!r}")
    check_writable(args.out)
    check_settings(jobs=args.jobs, timeout=args.timeout, cell_timeout=args.cell_timeout, memory_mb=args.memory or None)
    if args.sheet is not None and args.sheet not in known_sheets():
        raise ValueError(f"--sheet must be one of {sorted(known_sheets())}, got {args.sheet!r}")
    return lambda: run(args)


def check_writable(out: Path) -> None:
    """``--out`` is a folder this user can create and write into (checked before any notebook runs)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, got the file {str(out)!r}")
    probe = out / f".ella-lab-write-test-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out: cannot write into {str(out)!r} ({exc.strerror or type(exc).__name__})") from None


def run(args: argparse.Namespace) -> None:
    """Grade the submissions and write the tables and the report."""
    from . import grade_submissions, write_outputs
    from .grade import JOURNAL

    bar = _progress() if sys.stderr.isatty() else None
    started = clock()
    journal = args.out / JOURNAL
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
            journal=journal,
        )
    except KeyboardInterrupt:  # every notebook in progress is stopped; what was graded is kept in the journal
        kept = len(journal.read_text(errors="replace").splitlines()) if journal.exists() else 0
        sys.stderr.write(
            f"\ninterrupted: {kept} notebook(s) graded so far are kept in {journal}; "
            "grade again (same command) to resume\n"
        )
        raise SystemExit(130) from None
    paths = write_outputs(grades, args.out)
    if getattr(args, "gradebook", None):
        from .report import write_gradebook

        paths["gradebook"] = write_gradebook(grades, args.out, args.gradebook)
    journal.unlink(missing_ok=True)  # the tables are written: a next run grades afresh
    table = grades.grades_frame()
    split = grades.timing()
    print(
        f"graded {len(table)} submission(s) in {format_seconds(clock() - started)} "
        f"({args.jobs or 'one per core'} at once; per notebook: start {format_seconds(split['start_s'])}, "
        f"cells and checks {format_seconds(split['cells_s'])})"
    )
    if not table.empty:
        print(table.drop(columns=["file", "reason", "look_at"]).to_string(index=False))
        look = table[(table["look_at"] != "") | (table["status"] == "check by hand")]
        if not look.empty:
            print(f"to look at ({len(look)}): see the reason and look_at columns of grades.csv")
            for row in look.itertuples():
                print(f"  {row.student} ({row.file}): {'; '.join(x for x in (row.reason, row.look_at) if x)}"[:300])
    if grades.isolation():
        print(f"isolation: {grades.isolation()}")
    if grades.skipped:
        print(f"not collected (neither a notebook nor a zip file): {', '.join(grades.skipped)}")
    for name in ("grades", "answers", "report", "gradebook"):
        if name in paths:
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
