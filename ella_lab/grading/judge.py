"""The grader's judge, run inside the student's kernel after their notebook: re-judge every answer.

It never trusts the notebook: the sheet's module is reloaded (so a redefined ``check`` or a patched
question is gone), each answer is looked up by name in the kernel's namespace, and each question is
judged by its ``hidden_check`` (cases the student never saw) when it has one, else by its own check.
The verdicts are printed as one JSON line after ``MARK`` for the grading process to read.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import types
from typing import Any

from ..exercises._core import BLANK, Question

__all__ = ["MARK", "judge", "judge_cell", "questions"]

MARK = "@@ella-lab-grade@@"


def questions(module: types.ModuleType) -> list[tuple[str, Question]]:
    """The sheet's questions as (name, question), in the order q1, q2, ... ."""
    found = [(name, value) for name, value in vars(module).items() if isinstance(value, Question)]
    return sorted(found, key=lambda item: _order(item[0]))


def _order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 10**6, name)


def _fresh(module: types.ModuleType) -> types.ModuleType:
    """Reload the sheet, keeping its plain constants (a sentinel the student imported must stay the same object)."""
    keep = {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("__") and not isinstance(value, (Question, type, types.FunctionType, types.ModuleType))
    }
    module = importlib.reload(module)
    for name, value in keep.items():
        setattr(module, name, value)
    return module


def _verdict(question: Question, answer: Any) -> tuple[str, str]:
    """(status, message) for ``answer``: the hidden cases when the question has them, else its own check."""
    hidden = getattr(type(question), "hidden_check", None)
    with contextlib.redirect_stdout(io.StringIO()):  # a check prints its line; the grade is the return value
        result = hidden(question, answer) if callable(hidden) else question._judge(answer)
    status = getattr(result, "status", None)
    if status is None:  # a hook that answers True/False
        status = "correct" if result else "incorrect"
    return str(status), str(getattr(result, "message", ""))


def judge(sheet: str, namespace: dict[str, Any], answer_names: dict[str, str] | None = None) -> dict[str, Any]:
    """Judge every question of ``ella_lab.exercises.<sheet>`` on the answers found in ``namespace``.

    ``answer_names`` maps a question to the name its answer has in the sheet (``{"q1": "makespan"}``),
    for questions that do not declare ``answer_name`` themselves.
    """
    module = _fresh(importlib.import_module(f"ella_lab.exercises.{sheet}"))
    answer_names = answer_names or {}
    verdicts = []
    for name, question in questions(module):
        checked = getattr(question, "checked", True)
        record = {
            "question": name,
            "title": getattr(question, "title", ""),
            "points": float(getattr(question, "points", 1)),
            "checked": bool(checked),
        }
        if not checked:
            record.update(status="manual", message="written answer: mark by hand")
            verdicts.append(record)
            continue
        variable = getattr(question, "answer_name", None) or answer_names.get(name)
        answer = namespace.get(variable, BLANK) if variable else BLANK
        record["answer_name"] = variable
        try:
            record["status"], record["message"] = _verdict(question, answer)
        except Exception as exc:  # the check itself broke: the student's grade must not say it was them
            record.update(status="error", message=f"the check failed ({type(exc).__name__}: {exc})")
        verdicts.append(record)
    student = namespace.get("student_id")
    return {"sheet": sheet, "student_id": student if isinstance(student, str) else None, "questions": verdicts}


def judge_cell(sheet: str, answer_names: dict[str, str]) -> str:
    """The source of the cell the grader appends to a notebook: judge, then print the verdicts after ``MARK``."""
    return (
        "import json as _ella_json\n"
        "from ella_lab.grading.judge import MARK as _ella_mark, judge as _ella_judge\n"
        f"print(_ella_mark + _ella_json.dumps(_ella_judge({sheet!r}, get_ipython().user_ns, {answer_names!r})))\n"
    )
