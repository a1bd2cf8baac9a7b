"""What holds for every question of every sheet: blanks and starters are "not attempted", useless answers are
never correct, hangs are cut off, written questions have a model answer. The per-question catalogues of wrong
answers are in test_exercises_catalogue.py (sheets 03/04/06) and test_exercises_new_sheets.py (the others)."""

import math
import threading
import time

import pytest
from exercise_answers import hangs, reference, starter

from ella_lab.exercises import BLANK, phase1, phase2, phase3, phase4, phase5, phase6, phase7, phase8, phase9
from ella_lab.exercises._core import CheckResult, NumberQuestion, manual_questions, questions

pytestmark = pytest.mark.timeout(120)

SHEETS = (phase1, phase2, phase3, phase4, phase5, phase6, phase7, phase8, phase9)
CHECKED = [q for m in SHEETS for q in questions(m) if q.checked]
WRITTEN = [q for m in SHEETS for q in manual_questions(m)]


def qid(q):
    return f"{q.sheet}.{q.name}"


def verdict(question, answer):
    result = question.judge(answer)
    return result.status, result.message


class StarterClass:
    def __init__(self, *args):
        raise NotImplementedError


async def async_starter(*args):
    raise NotImplementedError


def test_every_sheet_has_three_checked_questions_a_code_one_and_metadata():
    for module in SHEETS:
        checked = [q for q in questions(module) if q.checked]
        assert len(checked) >= 3, module.__name__
        assert any(q.expects.startswith(("a function", "an async", "a class", "the text")) for q in checked)
        for q in questions(module):
            assert q.points == 1 and q.title and q.solution_text.strip()
            assert (q.answer_name is not None) == q.checked, q
            if q.checked:
                assert q.answer_name in q.solution_text, q


@pytest.mark.parametrize("question", CHECKED, ids=qid)
def test_blanks_none_and_starters_are_not_attempted(question):
    for answer in (BLANK, None):
        assert verdict(question, answer)[0] == "not attempted"
    result = question.check()
    assert not result and result.status == "not attempted"
    if question.expects.startswith("a function"):
        assert verdict(question, starter)[0] == "not attempted"
    elif question.expects.startswith("a class"):
        assert verdict(question, StarterClass)[0] == "not attempted"
    elif question.expects.startswith("an async"):
        assert verdict(question, async_starter)[0] == "not attempted"


@pytest.mark.parametrize("question", CHECKED, ids=qid)
def test_nothing_useless_is_ever_correct(question):
    for answer in (0, "", [], {}, lambda *args: None, True):
        assert not question.judge(answer)
        assert not question.hidden_check(answer)


@pytest.mark.parametrize(
    "question", [phase1.q3, phase2.q1, phase3.q1, phase3.q3, phase4.q1, phase4.q2, phase6.q1, phase6.q2], ids=qid
)
def test_a_hanging_answer_is_cut_off_and_told_to_restart(question):
    started = time.perf_counter()
    status, message = verdict(question, hangs)
    assert status == "incorrect" and "did not return within" in message and "Kernel → Restart" in message
    assert time.perf_counter() - started < 8


def test_a_hanging_answer_is_cut_off():
    started = time.perf_counter()
    status, message = verdict(phase3.q1, lambda n_requests, workers, latency: threading.Event().wait(30))
    assert status == "incorrect" and "did not return within" in message and "Kernel → Restart" in message
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("question", WRITTEN, ids=qid)
def test_written_questions_have_a_model_answer_and_no_check(question, capsys):
    result = question.check("anything")
    assert not result and result.status == "unchecked"
    question.solution()
    assert "Model answer" in capsys.readouterr().out


def test_check_prints_one_line_and_result_is_silent_in_ipython(capsys):
    from IPython.core.formatters import DisplayFormatter

    result = phase3.q1.check(lambda n, k, latency: math.ceil(n / k) * latency)
    out = capsys.readouterr().out
    assert out.startswith("q1 ✓ Correct: ") and out.count("\n") == 1
    formatter = DisplayFormatter()  # what a cell ending in `ex.q1.check(...)` does with the returned result
    assert result and formatter.format(result) == ({}, {})
    assert formatter.format(CheckResult("q1", "correct", "x"))[0] == {}
    assert "text/plain" in formatter.format(object())[0]  # the formatter does show an ordinary object


def test_hints_cycle_and_solutions_print(capsys):
    q = phase4.q2
    q._next_hint = 0
    q.hint()
    q.hint()
    q.hint()
    q.hint(2)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["q2 hint 1/2", "q2 hint 2/2", "q2 hint 1/2", "q2 hint 2/2"]
    q.solution()
    assert "return 1 - p**k" in capsys.readouterr().out


def test_numeric_answers_of_sheets_03_04_06():
    assert phase4.q3.judge(reference(phase4, phase4.q3, "p99"))
    assert "is the median" in verdict(phase4.q3, 0.010)[1] and "is the mean" in verdict(phase4.q3, 0.0105)[1]
    assert "in milliseconds" in verdict(phase4.q3, 20)[1] and "give a number" in verdict(phase4.q3, "20 ms")[1]
    assert phase6.q3.judge(reference(phase6, phase6.q3, "mean_wait"))
    assert "half the makespan" in verdict(phase6.q3, 0.05)[1] and "mean latency" in verdict(phase6.q3, 0.055)[1]
    assert "in milliseconds" in verdict(phase6.q3, 45)[1]
    assert "how long the last requests wait" in verdict(phase6.q3, 0.09)[1]
    assert "is the makespan" in verdict(phase6.q3, 0.1)[1]


@pytest.mark.parametrize("question", [q for q in CHECKED if isinstance(q, NumberQuestion)], ids=qid)
def test_reference_numbers_pass_and_near_misses_do_not(question):
    right = question.answer
    assert question.judge(reference(question_module(question), question, question.answer_name))
    assert question.judge(right * (1 + 1e-9))  # float noise is fine
    for wrong in (right * 1.5, right / 1.5, right * 1.01, right * 0.99, right + 1, -right):
        assert not question.judge(wrong), (question, wrong)


def question_module(question):
    return next(m for m in SHEETS if m.__name__.endswith(question.sheet))
