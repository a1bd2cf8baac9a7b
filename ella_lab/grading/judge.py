"""The grader's judge, run inside the student's kernel after their notebook: re-judge every answer.

It never trusts the notebook. Before the student's first cell, a guard cell notes the standard modules
the checks rely on (``math.isclose``, ``queue.Queue.get``, ``print``, ...). After the last cell, the
judge cell loads this file afresh (not the module the notebook could have patched) and imports a fresh
copy of the sheet and of the exercise machinery (so a redefined ``check``, a patched ``_core`` or a
replaced ``judge`` is gone); each answer is looked up by name in the kernel's namespace and judged by its
question's ``hidden_check`` (cases the student never saw) when it has one, else by its own check. What the
notebook changed in the noted modules is reported too: the grader then asks the teacher to look. The
verdicts are printed as one JSON line after ``MARK`` for the grading process to read.

This file imports nothing of ``ella_lab`` at its top: the judge cell runs it from its path.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["MARK", "guard_cell", "judge", "judge_cell", "keep_snapshot", "questions", "snapshot"]

MARK = "@@ella-lab-grade@@"
SELF = "ella_lab.grading.judge"  # the module the guard cell imports, and keeps the snapshot in
_SNAPSHOT: dict[str, dict[str, Any]] | None = None
# What the checks (and this judge) use from the standard library: a notebook that rebinds a public name
# there, or a method of a class defined there, may have changed its verdicts.
WATCHED = (
    "builtins",
    "math",
    "cmath",
    "numbers",
    "decimal",
    "fractions",
    "operator",
    "functools",
    "json",
    "time",
    "threading",
    "queue",
    "concurrent.futures",
    "asyncio",
    "contextlib",
    "io",
    "importlib",
    "inspect",
    "traceback",
    "types",
    "random",
    "statistics",
    "re",
    "socket",
    "subprocess",
    "os",
    "os.path",
)
EXERCISES = "ella_lab.exercises"


def questions(module: types.ModuleType, question_type: type | None = None) -> list[tuple[str, Any]]:
    """The sheet's questions as (name, question), in the order q1, q2, ... ."""
    if question_type is None:
        question_type = importlib.import_module(f"{EXERCISES}._core").Question
    found = [(name, value) for name, value in vars(module).items() if isinstance(value, question_type)]
    return sorted(found, key=lambda item: _order(item[0]))


def _order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 10**6, name)


# -- the guard: what the standard modules were before the student's first cell -------------------------


def _watched() -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, its public names and values) for each watched module and each class it defines."""
    for name in WATCHED:
        module = sys.modules.get(name)
        if module is None:
            with contextlib.suppress(ImportError):
                module = importlib.import_module(name)
        if module is None:
            continue
        yield f"sys.modules[{name!r}]", {"": module}
        yield name, {key: value for key, value in vars(module).items() if not key.startswith("_")}
        for key, value in list(vars(module).items()):
            if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith(module.__name__):
                yield f"{name}.{key}", {k: v for k, v in vars(value).items() if not k.startswith("_")}


def snapshot() -> dict[str, dict[str, Any]]:
    """The watched modules' public names and values, now."""
    return dict(_watched())


def keep_snapshot() -> None:
    """The guard cell's work: keep a snapshot in this module (not in the notebook's namespace: ``%reset``)."""
    global _SNAPSHOT
    _SNAPSHOT = snapshot()


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, types.MethodType) and isinstance(b, types.MethodType):  # a bound method is made afresh
        return a.__func__ is b.__func__ and a.__self__ is b.__self__
    return False


def _changes(before: Any) -> list[str]:
    """What the notebook rebound in the watched modules since the guard cell (or why that cannot be told)."""
    if not isinstance(before, dict):
        return ["the grader's guard cell's record (removed or replaced by the notebook)"]
    changed = []
    for place, now in _watched():
        then = before.get(place)
        if not isinstance(then, dict):
            continue
        for key, value in then.items():
            if key in now and not _same(now[key], value):
                changed.append(place if key == "" else f"{place}.{key}")
            elif key not in now and key:
                changed.append(f"{place}.{key} (deleted)")
    return changed


def guard_cell() -> str:
    """The source of the cell the grader runs before the student's first one."""
    return f"__import__({SELF!r}, fromlist=['keep_snapshot']).keep_snapshot()\n"


# -- the judge ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_exercises() -> Iterator[None]:
    """Within: ``ella_lab.exercises`` and its modules imported afresh from their files; after: as before."""
    saved = {
        name: module for name, module in sys.modules.items() if name == EXERCISES or name.startswith(EXERCISES + ".")
    }
    package = sys.modules.get("ella_lab")
    attribute = getattr(package, "exercises", None)
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == EXERCISES or n.startswith(EXERCISES + ".")]:
            del sys.modules[name]
        sys.modules.update(saved)
        if package is not None and attribute is not None:
            package.exercises = attribute


def _verdict(question: Any, answer: Any) -> tuple[str, str]:
    """(status, message) for ``answer``: the hidden cases when the question has them, else its own check."""
    hidden = getattr(type(question), "hidden_check", None)
    with contextlib.redirect_stdout(io.StringIO()):  # a check prints its line; the grade is the return value
        result = hidden(question, answer) if callable(hidden) else question._judge(answer)
    status = getattr(result, "status", None)
    if status is None:  # a hook that answers True/False
        status = "correct" if result else "incorrect"
    return str(status), str(getattr(result, "message", ""))


def judge(
    sheet: str,
    namespace: dict[str, Any],
    answer_names: dict[str, str] | None = None,
    fallback_names: dict[str, list[str]] | None = None,
    before: Any = None,
) -> dict[str, Any]:
    """Judge every question of ``ella_lab.exercises.<sheet>`` (a fresh copy) on the answers in ``namespace``.

    ``answer_names`` maps a question to the name its answer has in the sheet (``{"q1": "makespan"}``),
    for questions that do not declare ``answer_name`` themselves; ``fallback_names``, to the names the
    student gave their own checks, tried in turn when the sheet's name holds no answer. ``before``: the guard cell's
    record, to report what the notebook changed in the watched modules (None: nothing to compare).
    """
    changed = [] if before is None else _changes(before)
    old = sys.modules.get(f"{EXERCISES}.{sheet}")
    old_core = sys.modules.get(f"{EXERCISES}._core")
    with _fresh_exercises():
        package = importlib.import_module(EXERCISES)
        core = importlib.import_module(f"{EXERCISES}._core")
        if old_core is not None and isinstance(getattr(old_core, "BLANK", None), getattr(old_core, "_Blank", ())):
            core.BLANK = package.BLANK = old_core.BLANK  # the blank a student's cell may hold is the old one
        module = importlib.import_module(f"{EXERCISES}.{sheet}")
        for name, value in vars(module).items():  # a sentinel the student's code uses (ex.STOP) must stay the same
            if type(value) is object and type(getattr(old, name, None)) is object:
                setattr(module, name, getattr(old, name))
        verdicts = [
            _judge_one(name, question, namespace, core.BLANK, answer_names or {}, fallback_names or {})
            for name, question in questions(module, core.Question)
        ]
    student = namespace.get("student_id")
    return {
        "sheet": sheet,
        "student_id": student if isinstance(student, str) else None,
        "questions": verdicts,
        "tampered": changed,
    }


def _judge_one(
    name: str,
    question: Any,
    namespace: dict[str, Any],
    blank: Any,
    answer_names: dict[str, str],
    fallback_names: dict[str, list[str]],
) -> dict[str, Any]:
    checked = getattr(question, "checked", True)
    record = {
        "question": name,
        "title": getattr(question, "title", ""),
        "points": float(getattr(question, "points", 1)),
        "checked": bool(checked),
    }
    if not checked:
        record.update(status="manual", message="written answer: mark by hand")
        return record
    variable = getattr(question, "answer_name", None) or answer_names.get(name)
    candidates = [variable, *fallback_names.get(name, [])]
    for candidate in dict.fromkeys(c for c in candidates if isinstance(c, str) and c):
        answer = namespace.get(candidate, blank)
        record["answer_name"] = candidate
        try:
            record["status"], record["message"] = _verdict(question, answer)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # the check broke, or was stopped: this question
            record.update(status="error", message=f"the check failed ({type(exc).__name__}: {exc})")
        if record["status"] != "not attempted":
            break
    if "status" not in record:
        record.update(answer_name=None, status="not attempted")
        record["message"] = _verdict(question, blank)[1]
    return record


def main(sheet: str, answer_names: dict[str, str], fallback_names: dict[str, list[str]]) -> None:
    """The judge cell's work: judge, then print the verdicts on one line after ``MARK``."""
    namespace = builtins.get_ipython().user_ns  # type: ignore[attr-defined]
    before = getattr(sys.modules.get(SELF), "_SNAPSHOT", None)  # the copy the guard cell imported
    result = judge(sheet, namespace, answer_names, fallback_names, before="missing" if before is None else before)
    print(MARK + json.dumps(result))


def judge_cell(sheet: str, answer_names: dict[str, str], fallback_names: dict[str, list[str]] | None = None) -> str:
    """The source of the cell the grader appends to a notebook: run this file afresh, then ``main``."""
    path = str(Path(__file__).resolve())
    return (
        f"_ella_lab_judge = {{'__name__': '_ella_lab_judge'}}\n"
        f"exec(compile(open({path!r}, encoding='utf-8').read(), {path!r}, 'exec'), _ella_lab_judge)\n"
        f"_ella_lab_judge['main']({sheet!r}, {answer_names!r}, {fallback_names or {}!r})\n"
    )
