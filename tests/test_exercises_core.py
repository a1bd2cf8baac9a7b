"""The exercise machinery: numbers of any type, unit slips, a checker's own crash, runaway answers, the attempt log."""

import decimal
import fractions
import json
import threading

import numpy as np
import pytest

from ella_lab.exercises import _core, phase3, phase4, phase6
from ella_lab.exercises._core import (
    ATTEMPT_MIME,
    Incorrect,
    NumberQuestion,
    Question,
    SecondsQuestion,
    as_real,
    attempt_log,
    call_bounded,
    check_number,
    clear_attempt_log,
    describe,
    manual_questions,
    unit_slip,
)


@pytest.mark.parametrize(
    "value", [20, 20.0, np.int64(20), np.float64(20.0), np.float32(20), fractions.Fraction(20), decimal.Decimal(20)]
)
def test_any_real_number_type_is_a_number(value):
    assert as_real(value) == 20.0


@pytest.mark.parametrize("value", [True, np.bool_(True), "20", [20], float("nan"), None, 20j])
def test_bools_strings_and_nan_are_not_numbers(value):
    assert as_real(value) is None


def test_unit_slips_are_named():
    assert "right in milliseconds" in unit_slip(20, 0.020, "s")
    assert "right in seconds" in unit_slip(0.02, 20, "ms")
    assert "as a percentage" in unit_slip(91, 0.91, "fraction")
    assert "as a fraction" in unit_slip(0.91, 91, "percent")
    assert "one too many" in unit_slip(21, 20, "count") and "one too few" in unit_slip(np.int64(19), 20, "count")
    assert unit_slip(22, 20, "count") is None and unit_slip(0.5, 0.020, "s") is None
    assert unit_slip(1000, 0, "s") is None  # nothing to scale


def test_check_number_accepts_integral_floats_for_counts_and_names_slips():
    check_number(20.0, 20, call="f()", unit="count", whole=True)
    check_number(np.int64(20), 20, call="f()", unit="count", whole=True)
    with pytest.raises(Incorrect, match="off by one"):
        check_number(21, 20, call="f()", unit="count", whole=True)
    with pytest.raises(Incorrect, match="forget `return`"):
        check_number(None, 20, call="f()")
    with pytest.raises(Incorrect, match="expected a number"):
        check_number("20", 20, call="f()")


class Tail(SecondsQuestion):
    answer = 0.020
    correct = "yes"


class Share(NumberQuestion):
    expects = "a fraction"
    unit = "fraction"
    answer = 0.91
    correct = "yes"


@pytest.mark.parametrize("value", [0.02, np.float64(0.02), fractions.Fraction(1, 50), decimal.Decimal("0.020")])
def test_seconds_question_accepts_every_real_type(value):
    assert Tail("t").judge(value)


def test_number_questions_name_their_slips():
    assert "in milliseconds" in Tail("t").judge(20).message
    assert "as a percentage" in Share("s").judge(91).message
    assert "give a fraction" in Share("s").judge("91 %").message
    assert not Tail("t").judge(True)


class Crashes(Question):
    expects = "a function"

    def _check(self, answer):
        value = call_bounded(answer, what="f")
        return {"a": 1}[value]  # the checker's own bug: a KeyError for an answer it did not expect


def test_a_checkers_crash_is_the_checkers_not_the_students():
    result = Crashes("q").judge(lambda: "b")
    assert result.status == "error" and not result
    assert result.message.startswith("internal error in the check, not your answer: KeyError")
    assert "please tell your teacher" in result.message


def test_the_students_exception_is_the_students():
    def raises():
        raise ValueError("mine")

    result = Crashes("q").judge(raises)
    assert result.status == "incorrect" and result.message == "your answer raised ValueError('mine')"


class CallsDirectly(Question):
    """A check in the style of a walkthrough exercise: it calls the answer itself, without call_bounded."""

    def _check(self, answer):
        return answer(3)


def test_an_answer_called_directly_that_raises_is_the_students():
    cell = {}  # the student's code lives in a notebook cell, not in the check's file
    exec(compile("def raises(x):\n    raise ValueError(f'bad {x}')", "/tmp/ipykernel_1/123.py", "exec"), cell)
    raises = cell["raises"]
    result = CallsDirectly("q").judge(raises)
    assert result.status == "incorrect" and result.message == "your answer raised ValueError('bad 3')"
    assert CallsDirectly("q").judge(lambda x: "fine")


def test_a_crash_inside_a_library_check_is_the_checkers(monkeypatch):
    monkeypatch.setattr(phase4, "check_number", dict.__getitem__)  # a bug in the check: a TypeError, no frame
    result = phase4.q2.judge(lambda p, k: 0.123)
    assert result.status == "error" and "internal error in the check" in result.message


def test_a_dict_of_another_shape_returned_to_profile_is_judged_not_crashed():
    result = phase6.q2.judge(lambda report: {o.request: o for o in report})
    assert result.status == "incorrect" and "profile should return" in result.message


@pytest.mark.timeout(10)
def test_a_runaway_answer_is_told_to_restart_the_kernel():
    result = phase3.q1.judge(lambda *args: threading.Event().wait(30))
    assert result.status == "incorrect" and "did not return within 2.00 s" in result.message
    assert "may still be running in the background" in result.message and "Kernel → Restart" in result.message


def test_check_hint_and_solution_are_logged(capsys):
    clear_attempt_log()
    phase4.q3.check(20)
    phase4.q3.check(0.020)
    phase4.q3.hint()
    phase4.q3.solution()
    log = attempt_log()
    assert [(e["sheet"], e["question"], e["action"], e["verdict"], e["number"]) for e in log] == [
        ("phase4", "q3", "check", "incorrect", 1),
        ("phase4", "q3", "check", "correct", 2),
        ("phase4", "q3", "hint", None, 3),
        ("phase4", "q3", "solution", None, 4),
    ]
    assert [(e["checks"], e["hints"], e["solutions"]) for e in log] == [(1, 0, 0), (2, 0, 0), (2, 1, 0), (2, 1, 1)]
    assert "in milliseconds" in log[0]["message"] and log[0]["time"].endswith("+00:00")
    assert log[2]["hint"] == 1
    json.dumps(log)  # a grader can save it as is
    clear_attempt_log()
    assert attempt_log() == []


def test_in_a_kernel_the_record_is_saved_with_the_output(monkeypatch):
    shown = []

    class Shell:
        kernel = object()

    monkeypatch.setattr(_core, "_kernel", lambda: Shell())
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.append((a, k)))
    phase4.q3.check(0.020)
    (bundle,), options = shown[0]
    assert bundle["text/plain"].startswith("q3 ✓ Correct: 20 ms")
    assert bundle[ATTEMPT_MIME]["verdict"] == "correct" and bundle[ATTEMPT_MIME]["question"] == "q3"
    assert "time" not in bundle[ATTEMPT_MIME]  # what varies goes in the metadata, which nbval does not compare
    assert options["raw"] and "time" in options["metadata"][ATTEMPT_MIME]


def test_grading_metadata():
    assert phase3.q1.points == 1 and phase3.q1.answer_name == "makespan"
    assert [q.name for q in manual_questions(phase3)] == ["q4"]
    rows = describe(phase6)
    assert [r["question"] for r in rows] == ["q1", "q2", "q3", "q4"]
    assert [r["answer_name"] for r in rows] == ["full_jitter_delays", "profile", "mean_wait", None]
    assert Question("x", answer_name="y", points=3).points == 3


def test_a_sheet_module_from_its_notebook_name():
    assert _core.sheet_module("notebooks/exercises/student/ex03-threaded-router.ipynb") is phase3
    with pytest.raises(ValueError, match="exNN"):
        _core.sheet_module("03-threaded-router.ipynb")


def test_hidden_check_defaults_to_the_visible_one():
    assert phase4.q3.hidden_check(0.020) and not phase4.q3.hidden_check(0.010)


def test_a_solution_is_shown_folded_in_a_notebook(monkeypatch):
    """In a kernel, solution() shows a <details> block (closed until clicked), with the plain text beside it."""
    import IPython.display

    from ella_lab.exercises import _core, walk03

    shown = []
    monkeypatch.setattr(_core, "_kernel", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda data, **kw: shown.append(data))
    walk03.q2.solution()
    (data,) = shown
    assert data["text/html"].startswith("<details><summary>") and "<details open" not in data["text/html"]
    assert "def " in data["text/plain"] and "&lt;" not in data["text/plain"]
