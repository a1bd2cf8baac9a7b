"""Self-checking classroom exercises: ``from ella_lab.exercises import phase3 as ex``, then
``ex.q1.check(answer)``, ``ex.q1.hint()``, ``ex.q1.solution()``.

One module per exercise sheet (phase3, phase4, phase6); each question prints one line when checked
and returns a ``CheckResult`` that is true only for a correct answer.
"""

from ._core import BLANK, CheckResult, Question

__all__ = ["BLANK", "CheckResult", "Question"]
