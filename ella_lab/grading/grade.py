"""Grade a class: run every submission in its own process and kernel, several at once, and score it.

Each notebook runs in a child process (``run_one``) with a memory limit (where the OS has one) and a
time limit for the whole notebook; its kernel is killed with it. What a student hands in never
stops the rest of the class: an empty file, broken JSON, a hang, a crash or a memory hog each
becomes a row with a status and a reason. Rows are sorted, so grading twice gives the same tables.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._checks import check_int
from .collect import Submission, checked_names, collect, detect_sheet, instructor_sheets, suspicious
from .judge import MARK

__all__ = ["GRADED", "Grades", "default_sheets_folder", "grade_submissions"]

GRADED, TIMED_OUT, ERROR, NOT_A_NOTEBOOK, WRONG_SHEET = "graded", "timed out", "error", "not a notebook", "wrong sheet"
CHECK_BY_HAND = "check by hand"  # graded, but the notebook changed what the checks rely on
VERDICTS = ("correct", "incorrect", "not attempted", "error", "timeout", "manual")
# Every process of one notebook's grading carries this variable (with a value of its own) in its environment:
# what the notebook started and left running is found by it, and killed, after the grading.
RUN_VARIABLE = "ELLA_LAB_GRADING_RUN"
MAX_MESSAGE = 2000  # characters of a check's message kept in the tables

log = logging.getLogger(__name__)


def default_sheets_folder() -> Path:
    """``notebooks/exercises`` of this checkout: where the instructor sheets (and their answer names) are."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "exercises"


@dataclass
class Grades:
    """The grading of a class: one result per submission (dicts, ready for the tables), and the files
    found among the submissions that are neither a notebook nor a zip file (not graded: look at them)."""

    results: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)

    def grades_frame(self):
        """One row per submission: points per question, total, max, status, and what to look at (``look_at``)."""
        import pandas as pd

        rows = []
        for r in self.results:
            row = {"student": r["student"], "sheet": r["sheet"] or "", "file": r["file"]}
            for q in r["questions"]:
                if q["status"] == "manual":
                    row[f"{q['question']} (manual, /{q['points']:g})"] = ""
                else:
                    row[q["question"]] = q["points"] if q["status"] == "correct" else 0.0
            row["score"] = float(sum(q["points"] for q in r["questions"] if q["status"] == "correct"))
            row["max_score"] = float(sum(q["points"] for q in r["questions"] if q["status"] != "manual"))
            row["status"], row["reason"] = r["status"], r["reason"]
            row["look_at"] = "; ".join(r.get("flags", []))
            rows.append(row)
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        first = ["student", "sheet", "file"]
        last = ["score", "max_score", "status", "reason", "look_at"]
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
    exclude: Iterable[str | Path] = (),
) -> Grades:
    """Run and judge every submission among ``paths``; ``sheet`` (``"phase3"``) is what they should all be.

    ``exclude``: folders among the submissions not to look into (the output folder, when it is one of them).
    """
    jobs = check_settings(jobs=jobs, timeout=timeout, cell_timeout=cell_timeout, memory_mb=memory_mb)
    known = instructor_sheets(sheets_folder or default_sheets_folder())
    if sheet is not None and sheet not in known:
        raise ValueError(f"sheet must be one of {sorted(known)}, got {sheet!r}")
    with tempfile.TemporaryDirectory(prefix="ella-grade-") as tmp:
        names = [path.stem for path, _ in known.values()]
        skipped: list[str] = []
        submissions = collect(paths, Path(tmp), names, skipped, exclude)
        done, lock = 0, threading.Lock()
        children = _Children()

        def one(sub: Submission) -> dict[str, Any]:
            nonlocal done
            try:
                result = _grade_one(sub, sheet, known, timeout, cell_timeout, memory_mb, Path(tmp), children)
            except Exception as exc:  # a bug of the grader's on one file must not cost the class its grades
                log.exception("grading %s failed", sub.label)
                reason = f"the grader failed on this file ({type(exc).__name__}: {exc}); please report it"
                result = {
                    "student": sub.student,
                    "file": sub.label,
                    "attempts": {},
                    "flags": [],
                    "sheet": sheet,
                    "status": ERROR,
                    "reason": reason,
                    "questions": _blank_questions(sheet, message=f"not graded: {reason}"),
                }
            with lock:
                done += 1
                if progress is not None:
                    progress(done, len(submissions))
            return result

        with ThreadPoolExecutor(jobs) as pool:
            futures = [pool.submit(one, sub) for sub in submissions]
            try:
                results = [future.result() for future in futures]
            except BaseException:  # Ctrl-C: stop every notebook now, not when each one ends or times out
                for future in futures:
                    future.cancel()
                children.stop_all()
                raise
    results.sort(key=lambda r: (r["student"], r["sheet"] or "", r["file"]))
    _flag_duplicates(results)
    return Grades(results, skipped)


def _flag_duplicates(results: list[dict[str, Any]]) -> None:
    """A student with two rows for one sheet (two files, or a notebook that names another student): say so."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["student"], r["sheet"] or ""), []).append(r)
    for (student, _), group in groups.items():
        if len(group) > 1:
            files = ", ".join(r["file"] for r in group)
            for r in group:
                r.setdefault("flags", []).append(f"{len(group)} submissions for {student} on this sheet: {files}")


def _blank_questions(sheet: str | None, verdict: str = "error", message: str = "") -> list[dict[str, Any]]:
    """Every question of ``sheet`` at zero, with ``verdict``: the row of a submission that could not be judged."""
    if sheet is None:
        return []
    import importlib

    from ..exercises._core import Question
    from .judge import questions

    module = importlib.import_module(f"ella_lab.exercises.{sheet}")
    return [
        {
            "question": name,
            "points": float(getattr(q, "points", 1)),
            "status": "manual" if not getattr(q, "checked", True) else verdict,
            "message": "" if not getattr(q, "checked", True) else message,
        }
        for name, q in questions(module, Question)
    ]


def _grade_one(
    sub: Submission,
    sheet: str | None,
    known: dict[str, tuple[Path, dict[str, str]]],
    timeout: float,
    cell_timeout: int,
    memory_mb: int | None,
    tmp: Path,
    children: _Children,
) -> dict[str, Any]:
    result: dict[str, Any] = {"student": sub.student, "file": sub.label, "attempts": sub.attempts, "flags": []}
    if sub.notebook is not None:
        result["flags"] = suspicious(sub.notebook)
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
    names = known[target][1]  # the sheet's own names; the student's, only where the sheet's hold no answer
    outcome = _run_child(
        sub.path, target, names, checked_names(sub.notebook), timeout, cell_timeout, memory_mb, tmp, children
    )
    verdict = "timeout" if outcome["status"] == TIMED_OUT else "error"
    reason = outcome.get("reason") or "; ".join(map(str, outcome.get("problems", []))) or ""
    tampered = outcome.get("tampered")
    if tampered and isinstance(tampered, list):
        what = ", ".join(map(str, tampered[:8])) + (", ..." if len(tampered) > 8 else "")
        warning = f"the notebook changed what the checks rely on ({what}): read it before you use its points"
        reason = f"{warning}; {reason}" if reason else warning
        if outcome["status"] == GRADED:
            outcome["status"] = CHECK_BY_HAND
    if outcome.get("questions") is not None:
        questions = _merge_verdicts(target, outcome["questions"])
    else:
        questions = _blank_questions(target, verdict, f"not graded: {reason}")
    student = outcome.get("student_id")
    if isinstance(student, str) and student.strip() and student.isprintable() and len(student) <= 200:
        student = unicodedata.normalize("NFC", student.strip())
        if student != sub.student:
            result["flags"].append(f"the notebook sets student_id = {student!r}; the file is {sub.student!r}'s")
        result["student"] = student
    return {
        **result,
        "sheet": target,
        "status": outcome["status"],
        "reason": reason,
        "questions": questions,
        "timing": outcome.get("timing"),
    }


def _merge_verdicts(sheet: str, reported: Any) -> list[dict[str, Any]]:
    """The sheet's questions (points and kinds from the grader's own copy), each with the verdict the judge gave.

    The judge runs in the student's kernel: what it reports is read as data, never trusted for points.
    """
    got = {q.get("question"): q for q in reported if isinstance(q, dict)} if isinstance(reported, list) else {}
    questions = _blank_questions(sheet, "error", "no verdict for this question")
    for question in questions:
        verdict = got.get(question["question"], {})
        status = verdict.get("status")
        if question["status"] != "manual" and status in VERDICTS and status != "manual":
            question["status"] = status
            question["message"] = str(verdict.get("message", ""))[:MAX_MESSAGE]
    return questions


def _limit_memory(megabytes: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before it runs: the kernel it starts inherits the limit
        import resource

        limit = megabytes * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


class _Children:
    """The grading processes running now, so that Ctrl-C (or a failure of the run) stops them all at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[subprocess.Popen, Path, str]] = {}
        self.stopped = False

    def start(self, command: list[str], pid_file: Path, token: str, **popen: Any) -> subprocess.Popen | None:
        """Start ``command`` (None once the run is stopped)."""
        with self._lock:
            if self.stopped:
                return None
            child = subprocess.Popen(command, **popen)
            self._live[child.pid] = (child, pid_file, token)
            return child

    def finished(self, child: subprocess.Popen) -> None:
        with self._lock:
            self._live.pop(child.pid, None)

    def stop_all(self) -> None:
        with self._lock:
            self.stopped = True
            live = list(self._live.values())
        for child, pid_file, token in live:
            _stop(child, pid_file, token)


def _run_child(
    path: Path,
    sheet: str,
    names: dict[str, str],
    fallback: dict[str, list[str]],
    timeout: float,
    cell_timeout: int,
    memory_mb: int | None,
    tmp: Path,
    children: _Children,
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))  # removed with ``tmp``, even after a kill
    pid_file = workdir / "kernel.pid"
    token = uuid.uuid4().hex
    command = [
        sys.executable,
        "-m",
        "ella_lab.grading.run_one",
        str(path),
        "--sheet",
        sheet,
        "--answers",
        json.dumps(names),
        "--fallback",
        json.dumps(fallback),
        "--cell-timeout",
        str(cell_timeout),
        "--pid-file",
        str(pid_file),
        "--workdir",
        str(workdir),
    ]
    preexec = _limit_memory(memory_mb) if memory_mb and sys.platform != "win32" else None
    child = children.start(
        command,
        pid_file,
        token,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=preexec,
        start_new_session=True,
        env={**os.environ, RUN_VARIABLE: token, "TMPDIR": str(workdir)},  # the kernel's files too
    )
    if child is None:
        return {"status": ERROR, "reason": "not graded: the grading was interrupted"}
    timed_out = False
    try:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(child, pid_file, token)
            out, err = _drain(child)
    finally:
        children.finished(child)
        _stop(child, pid_file, token)  # what is left: a kernel whose parent died, what the notebook started
    if timed_out:
        return {"status": TIMED_OUT, "reason": f"the notebook did not finish within {timeout:g} s; it was stopped"}
    if children.stopped:
        return {"status": ERROR, "reason": "not graded: the grading was interrupted"}
    return _read_outcome(out, err, child.returncode, memory_mb)


def _drain(child: subprocess.Popen) -> tuple[str, str]:
    """What a killed child wrote; a process that inherited its pipes cannot make us wait for ever."""
    try:
        return child.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        for stream in (child.stdout, child.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
        return "", ""


def _read_outcome(out: str, err: str, returncode: int | None, memory_mb: int | None) -> dict[str, Any]:
    """The result the grading process printed: believed only if it ended well and printed exactly one."""
    lines = [line for line in out.splitlines() if line.startswith(MARK)]
    if returncode == 0 and len(lines) == 1:
        with contextlib.suppress(ValueError):
            outcome = json.loads(lines[0][len(MARK) :])
            if isinstance(outcome, dict) and outcome.get("status") in (GRADED, ERROR):
                return outcome
        return {"status": ERROR, "reason": "the grading process printed a result that cannot be read"}
    if returncode == 0:
        return {"status": ERROR, "reason": f"the grading process printed {len(lines)} results instead of one"}
    tail = (err.strip().splitlines() or ["no output"])[-1][:200]
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        why = (
            f"by the system when memory ran out (limit {memory_mb} MiB), or by the notebook's own code"
            if -returncode == signal.SIGKILL
            else "a crash of the interpreter"
            if -returncode in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT)
            else "by the notebook's own code, or from outside"
        )
        return {"status": ERROR, "reason": f"the grading process was killed ({name}) before it finished: {why}"}
    if "MemoryError" in err:
        return {"status": ERROR, "reason": f"the grading process ran out of memory (limit {memory_mb} MiB): {tail}"}
    return {"status": ERROR, "reason": f"the grading process failed: {tail}"}


def _stop(child: subprocess.Popen, pid_file: Path, token: str) -> None:
    """Kill a notebook's grading process, its kernel and whatever the notebook started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    _kill_kernel(pid_file, token)
    left = _kill_marked(token)
    if left:
        log.warning("killed %d process(es) a notebook left running", left)


def _kill_kernel(pid_file: Path, token: str) -> None:
    """The kernel runs in its own session: stop it (and its group) by the pid its parent wrote down.

    The kernel can write that file too: a pid is believed only if it leads a session other than ours
    (as a kernel does) and, where /proc tells, carries this notebook's mark in its environment.
    """
    try:
        pid = int(pid_file.read_text() or 0)
    except (OSError, ValueError):
        return
    if not _is_kernel(pid, token):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def _is_kernel(pid: int, token: str) -> bool:
    if pid <= 1 or pid == os.getpid():
        return False
    try:
        if os.getsid(pid) != pid or pid == os.getsid(0):
            return False
    except OSError:
        return False
    environ = Path(f"/proc/{pid}/environ")
    if Path("/proc/self/environ").exists():
        try:
            return _marked(environ.read_bytes(), token)
        except OSError:
            return False
    return True


def _marked(environ: bytes, token: str) -> bool:
    return f"{RUN_VARIABLE}={token}".encode() in environ.split(b"\0")


def _kill_marked(token: str) -> int:
    """Kill every process that carries ``token`` (Linux: /proc); return how many there were."""
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        return 0
    killed = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if not _marked((entry / "environ").read_bytes(), token):
                continue
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            continue
    return killed
