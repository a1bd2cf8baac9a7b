"""Grade a class: run every submission in its own process and kernel, several at once, and score it.

Each notebook runs in a child process (``run_one``) with a memory limit (where the OS has one) and a
time limit for the whole notebook; its kernel is killed with it. What a student hands in never
stops the rest of the class: an empty file, broken JSON, a hang, a crash or a memory hog each
becomes a row with a status and a reason. Rows are sorted, so grading twice gives the same tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import check_int
from .collect import Submission, answer_names, collect, detect_sheet, instructor_sheets
from .judge import MARK

__all__ = ["GRADED", "Grades", "default_sheets_folder", "grade_submissions"]

GRADED, TIMED_OUT, ERROR, NOT_A_NOTEBOOK, WRONG_SHEET = "graded", "timed out", "error", "not a notebook", "wrong sheet"
VERDICTS = ("correct", "incorrect", "not attempted", "error", "timeout", "manual")


def default_sheets_folder() -> Path:
    """``notebooks/exercises`` of this checkout: where the instructor sheets (and their answer names) are."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "exercises"


@dataclass
class Grades:
    """The grading of a class: one result per submission (dicts, ready for the tables)."""

    results: list[dict[str, Any]]

    def grades_frame(self):
        """One row per submission: points per question, total, max, status (the gradebook table)."""
        import pandas as pd

        rows = []
        for r in self.results:
            row = {"student": r["student"], "sheet": r["sheet"] or "", "file": r["file"]}
            for q in r["questions"]:
                if q["status"] == "manual":
                    row[f"{q['question']} (manual, /{q['points']:g})"] = ""
                else:
                    row[q["question"]] = q["points"] if q["status"] == "correct" else 0.0
            row["score"] = sum(q["points"] for q in r["questions"] if q["status"] == "correct")
            row["max_score"] = sum(q["points"] for q in r["questions"] if q["status"] != "manual")
            row["status"], row["reason"] = r["status"], r["reason"]
            rows.append(row)
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        first = ["student", "sheet", "file"]
        last = ["score", "max_score", "status", "reason"]
        middle = sorted((c for c in frame.columns if c not in first + last), key=_question_order)
        return frame[first + middle + last]

    def timing(self) -> dict[str, float]:
        """Seconds per graded notebook, on average: starting its kernel, and running its cells and the checks."""
        timed = [r["timing"] for r in self.results if r.get("timing")]
        if not timed:
            return {"notebooks": 0, "kernel_s": 0.0, "cells_s": 0.0}
        return {
            "notebooks": len(timed),
            "kernel_s": sum(t["kernel_s"] for t in timed) / len(timed),
            "cells_s": sum(t["cells_s"] for t in timed) / len(timed),
        }

    def answers_frame(self):
        """Long form: one row per (student, question) with the verdict, the check's message and the attempt log."""
        import pandas as pd

        rows = []
        for r in self.results:
            for q in r["questions"]:
                log = r["attempts"].get(q["question"], {})
                rows.append(
                    {
                        "student": r["student"],
                        "sheet": r["sheet"] or "",
                        "question": q["question"],
                        "points": q["points"],
                        "verdict": q["status"],
                        "message": q.get("message", ""),
                        "checks_seen": log.get("checks", 0),
                        "hints_used": log.get("hints", 0),
                        "solution_shown": log.get("solutions", 0) > 0,
                    }
                )
        return pd.DataFrame(
            rows,
            columns=[
                "student",
                "sheet",
                "question",
                "points",
                "verdict",
                "message",
                "checks_seen",
                "hints_used",
                "solution_shown",
            ],
        )


def _question_order(column: str) -> tuple[int, str]:
    digits = "".join(ch for ch in column.split()[0] if ch.isdigit())
    return (int(digits) if digits else 10**6, column)


def check_settings(*, jobs: int | None, timeout: float, cell_timeout: int, memory_mb: int | None) -> int:
    """Check the grader's settings (a clear error naming the bad one); return the number of jobs."""
    jobs = check_int("jobs", jobs if jobs is not None else (os.cpu_count() or 1), minimum=1)
    check_int("cell_timeout", cell_timeout, minimum=1)
    if memory_mb is not None:
        check_int("memory_mb", memory_mb, minimum=256)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 86_400:
        raise ValueError(f"timeout must be seconds between 1 and 86400, got {timeout!r}")
    return jobs


def known_sheets(folder: Path | None = None) -> list[str]:
    """The sheet modules that have an instructor notebook (``phase1``, ...)."""
    return sorted(instructor_sheets(folder or default_sheets_folder()))


def grade_submissions(
    paths: Iterable[str | Path],
    *,
    sheet: str | None = None,
    sheets_folder: Path | None = None,
    jobs: int | None = None,
    timeout: float = 120.0,
    cell_timeout: int = 30,
    memory_mb: int | None = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> Grades:
    """Run and judge every submission among ``paths``; ``sheet`` (``"phase3"``) is what they should all be."""
    jobs = check_settings(jobs=jobs, timeout=timeout, cell_timeout=cell_timeout, memory_mb=memory_mb)
    known = instructor_sheets(sheets_folder or default_sheets_folder())
    if sheet is not None and sheet not in known:
        raise ValueError(f"sheet must be one of {sorted(known)}, got {sheet!r}")
    with tempfile.TemporaryDirectory(prefix="ella-grade-") as tmp:
        names = [path.stem for path, _ in known.values()]
        submissions = collect(paths, Path(tmp), names)
        done, lock = 0, threading.Lock()

        def one(sub: Submission) -> dict[str, Any]:
            nonlocal done
            result = _grade_one(sub, sheet, known, timeout, cell_timeout, memory_mb, Path(tmp))
            with lock:
                done += 1
                if progress is not None:
                    progress(done, len(submissions))
            return result

        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(one, submissions))
    results.sort(key=lambda r: (r["student"], r["sheet"] or "", r["file"]))
    return Grades(results)


def _blank_questions(sheet: str | None, verdict: str = "error", message: str = "") -> list[dict[str, Any]]:
    """Every question of ``sheet`` at zero, with ``verdict``: the row of a submission that could not be judged."""
    if sheet is None:
        return []
    import importlib

    from .judge import questions

    module = importlib.import_module(f"ella_lab.exercises.{sheet}")
    return [
        {
            "question": name,
            "points": float(getattr(q, "points", 1)),
            "status": "manual" if not getattr(q, "checked", True) else verdict,
            "message": "" if not getattr(q, "checked", True) else message,
        }
        for name, q in questions(module)
    ]


def _grade_one(
    sub: Submission,
    sheet: str | None,
    known: dict[str, tuple[Path, dict[str, str]]],
    timeout: float,
    cell_timeout: int,
    memory_mb: int | None,
    tmp: Path,
) -> dict[str, Any]:
    result: dict[str, Any] = {"student": sub.student, "file": sub.label, "attempts": sub.attempts}
    if sub.notebook is None:
        return {
            **result,
            "sheet": sheet,
            "status": NOT_A_NOTEBOOK,
            "reason": sub.problem,
            "questions": _blank_questions(sheet, message=f"not graded: {sub.problem}"),
        }
    found = detect_sheet(sub.notebook)
    if sheet is not None and found is not None and found != sheet:
        reason = f"this is the sheet {found}, not {sheet}"
        return {
            **result,
            "sheet": found,
            "status": WRONG_SHEET,
            "reason": reason,
            "questions": _blank_questions(sheet, message=f"not graded: {reason}"),
        }
    target = sheet or found
    if target is None or target not in known:
        reason = "no exercise sheet found (the setup cell that imports ella_lab.exercises is missing)"
        return {**result, "sheet": None, "status": ERROR, "reason": reason, "questions": []}
    names = {**answer_names(sub.notebook), **known[target][1]}  # the sheet's own names win
    outcome = _run_child(sub.path, target, names, timeout, cell_timeout, memory_mb, tmp)
    verdict = "timeout" if outcome["status"] == TIMED_OUT else "error"
    questions = outcome.get("questions") or _blank_questions(target, verdict, f"not graded: {outcome.get('reason')}")
    if outcome.get("student_id"):
        result["student"] = outcome["student_id"]
    reason = outcome.get("reason") or "; ".join(outcome.get("problems", [])) or ""
    return {
        **result,
        "sheet": target,
        "status": outcome["status"],
        "reason": reason,
        "questions": questions,
        "timing": outcome.get("timing"),
    }


def _limit_memory(megabytes: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before it runs: the kernel it starts inherits the limit
        import resource

        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _run_child(
    path: Path,
    sheet: str,
    names: dict[str, str],
    timeout: float,
    cell_timeout: int,
    memory_mb: int | None,
    tmp: Path,
) -> dict[str, Any]:
    pid_file = Path(tempfile.mkstemp(prefix="kernel-", suffix=".pid", dir=tmp)[1])
    command = [
        sys.executable,
        "-m",
        "ella_lab.grading.run_one",
        str(path),
        "--sheet",
        sheet,
        "--answers",
        json.dumps(names),
        "--cell-timeout",
        str(cell_timeout),
        "--pid-file",
        str(pid_file),
    ]
    preexec = _limit_memory(memory_mb) if memory_mb and sys.platform != "win32" else None
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(child, pid_file)
        child.communicate()
        return {"status": TIMED_OUT, "reason": f"the notebook did not finish within {timeout:g} s; it was stopped"}
    _kill_kernel(pid_file)  # left only if the child died before shutting its kernel down
    for line in reversed(out.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    tail = (err.strip().splitlines() or ["no output"])[-1][:200]
    if "MemoryError" in err or child.returncode in (-signal.SIGKILL, -signal.SIGSEGV):
        tail = f"ran out of memory (limit {memory_mb} MiB): {tail}"
    return {"status": ERROR, "reason": f"the grading process failed: {tail}"}


def _kill(child: subprocess.Popen, pid_file: Path) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    _kill_kernel(pid_file)


def _kill_kernel(pid_file: Path) -> None:
    """The kernel runs in its own session: stop it (and its group) by the pid its parent wrote down."""
    try:
        pid = int(pid_file.read_text() or 0)
    except (OSError, ValueError):
        return
    if pid > 0:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
