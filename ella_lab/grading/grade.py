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
import shutil
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

__all__ = ["GRADED", "Grades", "default_sheets_folder", "grade_submissions"]

GRADED, TIMED_OUT, ERROR, NOT_A_NOTEBOOK, WRONG_SHEET = "graded", "timed out", "error", "not a notebook", "wrong sheet"
CHECK_BY_HAND = "check by hand"  # graded, but the notebook changed what the checks rely on
VERDICTS = ("correct", "incorrect", "not attempted", "error", "timeout", "manual")
JOURNAL = ".grading-journal.jsonl"  # in the output folder: each result as soon as it exists, for a resumed run
# Every process of one notebook's grading carries this variable (with a value of its own) in its environment:
# what the notebook started and left running is found by it, and killed, after the grading.
RUN_VARIABLE = "ELLA_LAB_GRADING_RUN"
NAMESPACES_VARIABLE = "ELLA_LAB_GRADER_NAMESPACES"  # "0": never run a notebook in namespaces of its own (tests)
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

    def isolation(self) -> str | None:
        """What the teacher should know about how the notebooks were kept apart (None: nothing ran)."""
        modes = {r.get("namespaced") for r in self.results if r.get("namespaced") is not None}
        if not modes:
            return None
        if modes == {True}:
            return (
                "each notebook ran in namespaces of its own: it saw no other process, the class's folder and the "
                "output folder were hidden from it, the project read-only"
            )
        return (
            "no user namespaces (this system does not allow them, or ELLA_LAB_GRADER_NAMESPACES=0): the notebooks' "
            "code ran as you, could read the class's folder "
            "and write wherever you can (see the teacher's guide)"
        )

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
        """Seconds per graded notebook, on average: starting its judge process (an interpreter, the checks
        sealed), and running its cells and judging its answers."""
        timed = [r["timing"] for r in self.results if r.get("timing")]
        if not timed:
            return {"notebooks": 0, "start_s": 0.0, "cells_s": 0.0}
        return {
            "notebooks": len(timed),
            "start_s": sum(t["start_s"] for t in timed) / len(timed),
            "cells_s": sum(t["cells_s"] for t in timed) / len(timed),
        }

    def answers_frame(self):
        """Long form: one row per (student, question): attempted or not, the verdict, the points ``earned`` of
        ``max_points``, the check's message, the row's status, and the attempt log of the notebook's saved outputs."""
        import pandas as pd

        columns = [
            "student",
            "sheet",
            "file",
            "question",
            "attempted",
            "verdict",
            "earned",
            "max_points",
            "message",
            "status",
            "checks_seen",
            "hints_used",
            "solution_shown",
        ]
        rows = []
        for r in self.results:
            for q in r["questions"]:
                log = r["attempts"].get(q["question"], {})
                attempted = q.get("attempted")
                rows.append(
                    {
                        "student": r["student"],
                        "sheet": r["sheet"] or "",
                        "file": r["file"],
                        "question": q["question"],
                        "attempted": "" if attempted is None else bool(attempted),
                        "verdict": q["status"],
                        "earned": q["points"] if q["status"] == "correct" else 0.0,
                        "max_points": q["points"],
                        "message": q.get("message", ""),
                        "status": r["status"],
                        "checks_seen": log.get("checks", 0),
                        "hints_used": log.get("hints", 0),
                        "solution_shown": log.get("solutions", 0) > 0,
                    }
                )
        return pd.DataFrame(rows, columns=columns)


def _question_order(column: str) -> tuple[int, str]:
    """q1, q2, ... by number; names without one (walk07's storm, hedge, breaker) keep the sheet's order."""
    digits = "".join(ch for ch in column.split()[0] if ch.isdigit())
    return (int(digits), column) if digits else (10**6, "")


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
    journal: Path | None = None,
) -> Grades:
    """Run and judge every submission among ``paths``; ``sheet`` (``"phase3"``) is what they should all be.

    ``exclude``: folders among the submissions not to look into (the output folder, when it is one of them).
    ``journal``: a file where each result is appended as soon as it exists; a run stopped on the way (Ctrl-C,
    a crash, a killed grader) and started again with the same journal takes the results found there (each
    flagged "resumed") and grades the rest.
    """
    jobs = check_settings(jobs=jobs, timeout=timeout, cell_timeout=cell_timeout, memory_mb=memory_mb)
    known = instructor_sheets(sheets_folder or default_sheets_folder())
    if sheet is not None and sheet not in known:
        raise ValueError(f"sheet must be one of {sorted(known)}, got {sheet!r}")
    paths = list(paths)
    exclude = list(exclude)
    with tempfile.TemporaryDirectory(prefix="ella-grade-") as tmp:
        names = [path.stem for path, _ in known.values()]
        skipped: list[str] = []
        submissions = collect(paths, Path(tmp), names, skipped, exclude)
        runs = tempfile.mkdtemp(prefix="ella-runs-")  # each notebook's working folder, in a folder of its own
        hide = {"hide": hidden_folders([*paths, *exclude, tmp]), "runs": runs}
        done, lock = 0, threading.Lock()
        children = _Children()
        settings = {"sheet": sheet, "timeout": timeout, "cell_timeout": cell_timeout, "memory_mb": memory_mb}
        earlier = _read_journal(journal)

        def one(sub: Submission) -> dict[str, Any]:
            nonlocal done
            key = _fingerprint(sub, settings)
            if key in earlier:
                result = earlier[key]
                result.setdefault("flags", []).append("resumed: graded by an earlier run of the grader that stopped")
            else:
                try:
                    result = _grade_one(sub, sheet, known, timeout, cell_timeout, memory_mb, hide, children)
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
                if journal is not None and not children.stopped:
                    with lock, open(journal, "a", encoding="utf-8") as stream:
                        stream.write(json.dumps({"key": key, "result": result}) + "\n")
                        stream.flush()
                        os.fsync(stream.fileno())
            with lock:
                done += 1
                if progress is not None:
                    progress(done, len(submissions))
            return result

        try:
            with ThreadPoolExecutor(jobs) as pool:
                futures = [pool.submit(one, sub) for sub in submissions]
                try:
                    results = [future.result() for future in futures]
                except BaseException:  # Ctrl-C: stop every notebook now, not when each one ends or times out
                    for future in futures:
                        future.cancel()
                    children.stop_all()
                    raise
        finally:
            shutil.rmtree(runs, ignore_errors=True)
    results.sort(key=lambda r: (r["student"], r["sheet"] or "", r["file"]))
    _flag_duplicates(results)
    return Grades(results, skipped)


def _fingerprint(sub: Submission, settings: dict[str, Any]) -> str:
    """The same file (by content), under the same name and settings: the same result."""
    import hashlib

    digest = hashlib.sha256()
    with contextlib.suppress(OSError):
        digest.update(sub.path.read_bytes() if sub.path.is_file() else b"")
    digest.update(json.dumps([sub.label, sub.student, sub.problem, settings], sort_keys=True).encode())
    return digest.hexdigest()


def _read_journal(journal: Path | None) -> dict[str, dict[str, Any]]:
    """The results an earlier, stopped run wrote (a line cut by the stop is skipped)."""
    found: dict[str, dict[str, Any]] = {}
    if journal is None or not journal.exists():
        return found
    with open(journal, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                entry = json.loads(line)
                if isinstance(entry.get("result"), dict):
                    found[str(entry["key"])] = entry["result"]
    return found


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
            "attempted": None,
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
    hide: dict[str, Any],
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
    ran = _supervise(
        sub.path, target, names, checked_names(sub.notebook, target), timeout, cell_timeout, memory_mb, hide, children
    )
    if "verdicts" not in ran:  # interrupted before it started
        reason = ran["reason"]
        return {
            **result,
            "sheet": target,
            "status": ran["status"],
            "reason": reason,
            "questions": _blank_questions(target, message=f"not graded: {reason}"),
        }
    questions = _blank_questions(target, "error", "")
    unjudged = []
    for question in questions:
        verdict = ran["verdicts"].get(question["question"], {})
        status = verdict.get("status")
        if question["status"] == "manual":
            continue
        if status in VERDICTS and status != "manual":
            question["status"] = status
            question["message"] = str(verdict.get("message", ""))[:MAX_MESSAGE]
            question["attempted"] = status != "not attempted"
            if verdict.get("cell"):
                question["judged_after_cell"] = verdict["cell"]
            if verdict.get("flag"):
                ran["severe"].append(f"{question['question']}: {verdict['flag']}")
        else:
            unjudged.append(question["question"])
            question["status"] = "timeout" if ran["status"] == TIMED_OUT else "error"
            question["message"] = f"not graded: {ran['stopped'] or 'no verdict'} before this answer was judged"
            question["attempted"] = None
    status = ran["status"]
    reasons = []
    if ran["stopped"]:
        kept = "every answer was judged before that" if not unjudged else f"not judged: {', '.join(unjudged)}"
        reasons.append(f"{ran['stopped']} ({kept})")
        if not unjudged:
            status = GRADED
    reasons += ran["problems"]
    broken = [q["question"] for q in questions if q["status"] == "error" and q["question"] not in unjudged]
    if broken:  # the check itself failed (a notebook that holds all the memory leaves it none): not a grade
        reasons.append(f"the check of {', '.join(broken)} failed (see answers.csv)")
        if status == GRADED:
            status = ERROR
    tampered = ran["tampered"] + ran["severe"]
    changed = [t for t in ran["tampered"] if "process(es)" not in t]
    if changed or ran["severe"]:
        what = "; ".join(dict.fromkeys(tampered))
        reasons.insert(
            0,
            f"the notebook changed or reached for what the checks rely on ({what[:600]}): "
            "each answer was judged with the originals put back; read it before you use its points",
        )
        if status == GRADED:
            status = CHECK_BY_HAND
    elif tampered:
        result["flags"].append("; ".join(tampered))
    if status == GRADED and questions and not any(q.get("attempted") for q in questions):
        result["flags"].append("nothing attempted: every checked answer is still the starter code")
    student = ran.get("student_id")
    if isinstance(student, str) and student.strip() and student.isprintable() and len(student) <= 200:
        student = unicodedata.normalize("NFC", student.strip())
        if student != sub.student:
            result["flags"].append(f"the notebook sets student_id = {student!r}; the file is {sub.student!r}'s")
        result["student"] = student
    return {
        **result,
        "sheet": target,
        "status": status,
        "reason": "; ".join(reasons),
        "questions": questions,
        "timing": ran.get("timing"),
        "namespaced": ran.get("namespaced"),
    }


class _Children:
    """The supervisors running now, so that Ctrl-C (or a failure of the run) stops them all at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[subprocess.Popen, str]] = {}
        self.stopped = False

    def start(self, command: list[str], token: str, **popen: Any) -> subprocess.Popen | None:
        """Start ``command`` (None once the run is stopped)."""
        with self._lock:
            if self.stopped:
                return None
            child = subprocess.Popen(command, **popen)
            self._live[child.pid] = (child, token)
            return child

    def finished(self, child: subprocess.Popen) -> None:
        with self._lock:
            self._live.pop(child.pid, None)

    def stop_all(self) -> None:
        with self._lock:
            self.stopped = True
            live = list(self._live.values())
        for child, token in live:
            _stop(child, token)


def _protected() -> list[Path]:
    """Folders the judge process needs: hiding one of them (or a folder holding one) would break it."""
    import ella_lab

    places = [sys.prefix, sys.base_prefix, sys.executable, Path(ella_lab.__file__).parent, tempfile.gettempdir()]
    return [Path(p).resolve() for p in places]


def read_only_folders() -> list[str]:
    """Folders a notebook may read but never change while it is graded (in a mount namespace): the project
    (the grader's and the checks' code), the Python environment, the teacher's home."""
    import ella_lab

    places = [Path(ella_lab.__file__).resolve().parents[1], Path(sys.prefix).resolve(), Path.home().resolve()]
    temporary = Path(tempfile.gettempdir()).resolve()
    return [str(p) for p in dict.fromkeys(places) if p != temporary and p not in temporary.parents and p.is_dir()]


def hidden_folders(paths: Iterable[str | Path]) -> list[str]:
    """The folders among ``paths`` (a file: its folder) that the notebook should not see, where hiding them
    breaks nothing the judge needs (the project's own folder, say, holds the package: it stays)."""
    protected = _protected()
    found = []
    for raw in paths:
        path = Path(raw).resolve()
        folder = path if path.is_dir() else path.parent
        if any(folder == p or folder in p.parents for p in protected):
            continue
        found.append(str(folder))
    return list(dict.fromkeys(found))


def _supervise(
    path: Path,
    sheet: str,
    names: dict[str, str],
    fallback: dict[str, list[str]],
    timeout: float,
    cell_timeout: int,
    memory_mb: int | None,
    hide: dict[str, Any],
    children: _Children,
) -> dict[str, Any]:
    """Grade one notebook under a supervisor of its own (``supervise.py``); return what its records tell."""
    from .channel import Reader, new_key

    key = new_key()
    token = uuid.uuid4().hex
    config = {
        "key": key.hex(),
        "notebook": str(path),
        "sheet": sheet,
        "answers": names,
        "fallback": fallback,
        "timeout": timeout,
        "cell_timeout": cell_timeout,
        "memory_mb": memory_mb,
        "hide": hide["hide"],
        "runs": hide["runs"],
        "readonly": read_only_folders(),
        "namespaces": os.environ.get(NAMESPACES_VARIABLE, "1") != "0",
        "base": tempfile.mkdtemp(prefix="run-", dir=hide["runs"]),  # removed here, even if the supervisor is killed
    }
    child = children.start(
        [sys.executable, "-m", "ella_lab.grading.supervise"],
        token,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, RUN_VARIABLE: token},
    )
    if child is None:
        return {"status": ERROR, "reason": "not graded: the grading was interrupted"}
    reader = Reader(key)
    records: list[dict[str, Any]] = []
    guard = threading.Timer(timeout + 60, lambda: _stop(child, token))  # the supervisor's own deadline, and a margin
    guard.daemon = True
    guard.start()
    try:
        with contextlib.suppress(OSError):
            child.stdin.write(json.dumps(config).encode())
            child.stdin.close()
        from .channel import read_all

        records = list(read_all(child.stdout.fileno(), reader))
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=30)
    finally:
        guard.cancel()
        children.finished(child)
        _stop(child, token)  # what is left when the supervisor itself was killed
        with contextlib.suppress(OSError):
            child.stdout.close()
        shutil.rmtree(config["base"], ignore_errors=True)
    if children.stopped:
        return {"status": ERROR, "reason": "not graded: the grading was interrupted"}
    forged = reader.forged + (1 if reader.cut else 0)  # past the size limit: the rest was not read
    return outcome(records, child.returncode, forged, memory_mb, cell_timeout)


def outcome(
    records: list[dict[str, Any]], returncode: int | None, forged: int, memory_mb: int | None, cell_timeout: float
) -> dict[str, Any]:
    """A row's status, reason, verdicts and tampering, from the supervisor's records (see ``supervise.py``)."""
    inner = [r["record"] for r in records if r.get("kind") == "record" and isinstance(r.get("record"), dict)]
    end = next((r for r in records if r.get("kind") == "end"), None)
    started = next((r for r in records if r.get("kind") == "started"), {})
    failed = next((r for r in records if r.get("kind") == "failed"), None)
    interrupted = {r.get("index") for r in records if r.get("kind") == "interrupted"}
    verdicts: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    tampered: list[str] = []
    severe: list[str] = []
    running, done, judging, student_id = None, False, None, None
    ready_at = next(
        (r.get("t") for r in records if r.get("kind") == "record" and r["record"].get("kind") == "ready"), None
    )
    for record in inner:
        kind = record.get("kind")
        if kind == "cell":
            running = record.get("index")
        elif kind == "ran":
            running = None
            number, error = record.get("index"), record.get("error")
            if number in interrupted:
                problems.append(f"code cell {number} ran past {cell_timeout:g} s and was interrupted")
            elif error == "MemoryError":
                problems.append(f"code cell {number} ran out of memory (limit {memory_mb} MiB)")
            elif error:
                problems.append(f"code cell {number} raised {error}")
        elif kind == "judging":
            judging = record.get("question")
        elif kind == "verdict" and isinstance(record.get("question"), str):
            judging = None
            verdicts[record["question"]] = record
        elif kind == "tamper":
            what = [str(w) for w in record.get("what", [])][:20]
            (severe if record.get("severe") else tampered).extend(what)
        elif kind == "student":
            student_id = record.get("id")
        elif kind == "done":
            done = True
    forged += int(end.get("forged") or 0) if end else 0  # lines written into the judge's own channel
    if forged:
        severe.append(f"something other than the grader wrote {forged} line(s) into the grader's channels")
    if end and end.get("cut"):
        severe.append("the grader's channel passed its size limit")
    stopped = None
    where = f"code cell {running}" if running else f"judging {judging}" if judging else "after its last cell"
    if end is None:
        stopped = (
            f"the notebook's supervisor ended before the notebook did (killed by the notebook's code?), in {where}"
            if not failed
            else f"the grader could not run this notebook ({failed.get('reason')})"
        )
    elif end.get("stopped"):
        stopped = str(end["stopped"])
    elif not done:
        code = end.get("code")
        if isinstance(code, int) and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            why = (
                f"by the memory limit ({memory_mb} MiB) or by the notebook's own code"
                if -code == signal.SIGKILL
                else "by the notebook's own code, or a crash"
            )
            stopped = f"the notebook's process was killed ({name}) in {where}: {why}"
        else:
            stopped = f"the notebook ended its own process (exit status {code}, os._exit or a crash) in {where}"
    if end and end.get("left"):
        tampered.append(f"{end['left']} process(es) the notebook started were still running at the end (ended)")
    timed_out = bool(stopped and ("did not finish within" in stopped or "ran past" in stopped))
    status = GRADED if done else TIMED_OUT if timed_out else ERROR
    return {
        "status": status,
        "verdicts": verdicts,
        "problems": problems,
        "stopped": stopped,
        "tampered": list(dict.fromkeys(tampered)),
        "severe": list(dict.fromkeys(severe)),
        "timing": {"start_s": ready_at, "cells_s": end["seconds"] - ready_at} if end and ready_at is not None else None,
        "student_id": student_id,
        "namespaced": started.get("namespaced"),
    }


def _stop(child: subprocess.Popen, token: str) -> None:
    """Kill a notebook's supervisor, its group and whatever the notebook started and is still marked."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        child.kill()
    left = _kill_marked(token)
    if left:
        log.warning("killed %d process(es) a notebook left running", left)


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
