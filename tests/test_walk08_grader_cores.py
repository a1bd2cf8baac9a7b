"""Review 08f: the grader's verdicts of notebook 08's two checks.

q1: the hidden check accepted 1.0 and 1.3 (the GIL misconception, two processes no faster than one thread) as
"right for some machine" while the visible check refused them on this one (seen: correct, correct). The grader
runs the notebook on its own machine, where the check call sees ``usable_cores()``: the hidden check now judges
against those cores (and accepts what a machine with two free cores makes right, the learner's own maybe).

q2: the rule "over about one core in all, processes" sent 10,000 socket waits needing 2 cores to 10,000 processes;
no case exposed it (every case needing over a core computed longer than it waited). A waiting workload that needs
more than one core is now in both checks: asyncio (several event loops would be better, not built here).
"""

import pytest

from ella_lab.exercises import walk08


def cores_are(monkeypatch, cores):
    monkeypatch.setattr(walk08, "usable_cores", lambda: cores, raising=False)


@pytest.mark.parametrize("answer", [1.0, 1.3, 1.05, 0.95])
def test_q1_the_grader_refuses_about_1x_on_a_2_core_record(monkeypatch, answer):
    cores_are(monkeypatch, 2.0)
    fresh = type(walk08.q1)("fresh")
    result = fresh.hidden_check(answer)
    assert result.status == "incorrect", result.message
    assert "1× is the answer for two threads" in result.message or "from the model" in result.message, result.message
    assert walk08.q1.check(answer, measured=1.7, cores=2).status == "incorrect"  # the visible check agrees


@pytest.mark.parametrize("answer", [2, 1.8, 1.9, 1.4, min(2, 2.0)])
def test_q1_the_grader_accepts_the_model_on_a_2_core_record(monkeypatch, answer):
    cores_are(monkeypatch, 2.0)
    fresh = type(walk08.q1)("fresh")
    assert fresh.hidden_check(answer), fresh.hidden_check(answer).message
    assert walk08.q1.check(answer, measured=1.7, cores=2)


def test_q1_the_grader_on_fewer_cores(monkeypatch):
    cores_are(monkeypatch, 1.0)
    fresh = type(walk08.q1)("fresh")
    assert fresh.hidden_check(1.0) and fresh.hidden_check(0.9)  # right on one core
    assert fresh.hidden_check(2)  # right on the learner's machine, if it had two free cores
    cores_are(monkeypatch, 1.5)
    assert fresh.hidden_check(1.5) and fresh.hidden_check(1.3)  # a 1.5-core quota: near 1.5
    assert fresh.hidden_check(1.0).status == "incorrect"  # 1.0 is 33 % under 1.5
    for answer in (2.1, 150, 0, 0.5):
        assert fresh.hidden_check(answer).status == "incorrect", answer


def test_q1_a_check_call_does_not_change_the_graders_verdict(monkeypatch):
    """A check(cores=1) before (a notebook could pass any cores) leaves the grader's verdict as it was."""
    cores_are(monkeypatch, 2.0)
    walk08.q1.check(1, measured=0.95, cores=1)
    assert walk08.q1.hidden_check(1.0).status == "incorrect"


SOCKETS = {"cpu_s": 20e-6, "wait_s": 0.1, "at_once": 10000}  # the review's case: 2 cores of CPU, all of it per wait


def total_cores_over_one(workloads):  # the old reference: processes over about one core in all, whatever the wait
    choice = {}
    for name, w in workloads.items():
        cores = w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"])
        choice[name] = "processes" if cores > 1 else "threads" if w["at_once"] <= 64 else "asyncio"
    return choice


def total_cpu_against_wait(workloads):
    return {
        name: "processes" if w["cpu_s"] * w["at_once"] > w["wait_s"] else "asyncio" if w["at_once"] >= 256
        else "threads"
        for name, w in workloads.items()
    }  # fmt: skip


def per_request_and_total(workloads):  # right: CPU-bound per request AND over one core in all
    choice = {}
    for name, w in workloads.items():
        cores = w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"])
        if w["cpu_s"] > w["wait_s"] and cores > 1:
            choice[name] = "processes"
        else:
            choice[name] = "asyncio" if w["at_once"] >= 256 else "threads"
    return choice


def per_request_only(workloads):  # right: cpu_s > wait_s over one core in all, then how many wait at once
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] and w["at_once"] * w["cpu_s"] > w["cpu_s"] + w["wait_s"]
        else "threads" if w["at_once"] <= 64 else "asyncio"
        for name, w in workloads.items()
    }


def share_of_time(workloads):  # right: the share of a request's time spent computing
    choice = {}
    for name, w in workloads.items():
        share = w["cpu_s"] / (w["cpu_s"] + w["wait_s"])
        choice[name] = "processes" if share > 0.5 and w["at_once"] * share > 1 else "asyncio" if w["at_once"] > 100 \
            else "threads"
    return choice


@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
@pytest.mark.parametrize("answer", [total_cores_over_one, total_cpu_against_wait], ids=lambda f: f.__name__)
def test_q2_waits_over_one_core_are_not_processes(answer, judge):
    result = getattr(walk08.q2, judge)(answer)
    assert result.status == "incorrect", result.message
    assert "several event loops" in result.message and "waits longer than it computes" in result.message, result.message


@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
def test_q2_right_answers_pass_with_the_new_cases(judge):
    for answer in (per_request_and_total, per_request_only, share_of_time):
        result = getattr(walk08.q2, judge)(answer)
        assert result, (answer.__name__, result.message)


def test_q2_the_review_case_is_in_both_checks():
    q = walk08.q2
    visible = [w for _, w, accepted in (*q.CASES, *q.BOUNDARY) if accepted == ("asyncio",)]
    assert SOCKETS in visible
    hidden = [w for _, w, accepted in (*q.HIDDEN, *q.HIDDEN_BOUNDARY) if accepted == ("asyncio",)]
    assert any(w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) > 1.5 for w in hidden)
