"""Predict-then-measure questions: the learner writes a number before the measurement runs, and the check
compares it with the model and with what was measured, saying how far off it was and why."""

from __future__ import annotations

import math
from typing import Any

from ._core import BLANK, CheckResult, Incorrect, Question, as_real

__all__ = ["PredictQuestion", "real_number"]


def real_number(value: Any, what: str) -> float:
    """``value`` as a float when it is a real number of any type (int, float, numpy), else ``Incorrect``."""
    number = as_real(value)  # the one rule for numbers: int, float, numpy, Fraction, Decimal; not bool
    if number is None:
        raise Incorrect(f"give {what}; got {value!r}")
    if not math.isfinite(number):
        raise Incorrect(f"give {what} (a finite one); got {value!r}")
    return number


def near(value: float, target: float, rel: float) -> bool:
    """True when ``value`` is within ``rel`` (a fraction) of ``target``, the edge included.

    The 1e-9 absorbs floating-point rounding: 1.4 is exactly 30 % from 2 on paper, 0.6000000000000001 in floats.
    """
    return abs(value - target) <= rel * abs(target) + 1e-9


class PredictQuestion(Question):
    """A prediction judged against the model; the measurement, when given, is reported next to it.

    Subclasses set ``expects``, ``unit`` and ``rel`` (how close to the model counts as right), and write
    ``model()``, ``slip(value, model)`` (a named mistake, or None) and ``why(model, measured)``.
    """

    unit = ""
    rel = 0.25

    def __init__(self, name: str):
        super().__init__(name)
        self._measured: float | None = None
        self._context: dict[str, Any] = {}

    def check(self, answer: Any = BLANK, measured: Any = None, **context: Any) -> CheckResult:
        """Judge the prediction ``answer``; ``measured`` is the notebook's measurement, ``context`` the setup."""
        self._measured, self._context = measured, context
        return super().check(answer)

    def model(self) -> float:
        raise NotImplementedError

    def slip(self, value: float, model: float) -> str | None:
        return None

    def why(self, model: float, measured: float | None) -> str:
        return ""

    def _show(self, value: float) -> str:
        if abs(value) >= 1000:  # 1,260 rather than 1.26e+03
            return f"{value:,.0f}{self.unit}"
        return f"{value:.3g}{self.unit}"

    def _comparison(self, value: float, model: float, measured: float | None) -> str:
        text = f"You predicted {self._show(value)}; the model says {self._show(model)}"
        if measured is None:
            return text + " (pass measured=... to compare with the measurement)."
        off = (value - measured) / measured if measured else math.inf
        if abs(off) < 0.005:
            return f"{text}; measured: {self._show(measured)} (the same as the measurement)."
        side = "over" if off > 0 else "under"
        return f"{text}; measured: {self._show(measured)} (you were {abs(off):.0%} {side} the measurement)."

    def _check(self, answer: Any) -> str:
        value = real_number(answer, self.expects)
        measured = None if self._measured is None else real_number(self._measured, "the measurement as a number")
        model = self.model()
        comparison = self._comparison(value, model, measured)
        why = self.why(model, measured)
        mistake = self.slip(value, model)
        if mistake:
            raise Incorrect(f"{mistake} {comparison}")
        # the verdict says how far from the model, its yardstick, so a percent of the measurement is not read as one
        off = abs(value - model) / abs(model) if model else math.inf
        if not near(value, model, self.rel):
            shown = _percent(off, self.rel)
            raise Incorrect(f"{comparison} More than {self.rel:.0%} from the model ({shown}). {why}".strip())
        if self.rel > 0:
            comparison += f" That is {_percent(off, self.rel)} from the model, within the {self.rel:.0%} allowed."
        return f"{comparison} {why}".strip()


def _percent(off: float, bound: float) -> str:
    """``off`` as a percentage, with digits enough never to read as ``bound`` when it is not (4.05 %, not 4.0 %)."""
    if math.isclose(off, bound, rel_tol=1e-9):  # on the bound but for float rounding: 30.0 %, not 30.000000 %
        return f"{off:.1%}"
    for digits in range(1, 7):
        shown = f"{off:.{digits}%}"
        if float(shown.rstrip("%")) / 100 != round(bound, 6):
            return shown
    return f"{off:.6%}"
