"""Self-checking classroom exercises: ``from ella_lab.exercises import phase3 as ex``, then
``ex.q1.check(answer)``, ``ex.q1.hint()``, ``ex.q1.solution()``.

One module per exercise sheet (phase1 ... phase9); each question prints one line when checked and
returns a ``CheckResult`` that is true only for a correct answer. For a grader: ``q.points``,
``q.answer_name``, ``q.hidden_check(answer)``, ``questions(module)``, ``manual_questions(module)`` and
the attempt log (``attempt_log()``, and the ``ATTEMPT_MIME`` records saved in a sheet's outputs).
"""

from ._core import (
    ATTEMPT_MIME,
    BLANK,
    CheckResult,
    Question,
    attempt_log,
    describe,
    manual_questions,
    questions,
)

__all__ = [
    "ATTEMPT_MIME",
    "BLANK",
    "CheckResult",
    "Question",
    "attempt_log",
    "describe",
    "manual_questions",
    "questions",
]
