"""Review 08g (A1): notebook 08's q2 rule sends a CPU-bound workload to processes only if all its requests need
more than about one core, but no case tested that half: every CPU-bound case needed 1.5 cores or more, so
"processes if cpu_s > wait_s, else asyncio if at_once >= 256, else threads" (the core count ignored) passed the
visible and the hidden check (seen: correct, correct). A CPU-bound workload needing 0.6 of a core is now in both
checks, expecting threads, and the refusal names the core condition."""

import pytest

from ella_lab.exercises import walk08


def cores(w):
    return w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"])


def ignores_the_cores(workloads):  # the review's answer
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] else "asyncio" if w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def share_ignores_the_cores(workloads):  # the same mistake, written as a share of the request's time
    return {
        name: "processes" if w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) > 0.5 else "threads" if w["at_once"] <= 64
        else "asyncio"
        for name, w in workloads.items()
    }  # fmt: skip


def both_halves(workloads):  # right: computes longer than it waits AND over one core in all
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] and cores(w) > 1 else "asyncio" if w["at_once"] >= 256
        else "threads"
        for name, w in workloads.items()
    }  # fmt: skip


def both_halves_in_a_loop(workloads):  # right: the cores first, then the share, threads up to 64 at once
    choice = {}
    for name in sorted(workloads):
        w = workloads[name]
        busy = cores(w) >= 1.2 and w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) > 0.5
        choice[name] = "processes" if busy else "threads" if w["at_once"] <= 64 else "asyncio"
    return choice


def both_halves_nested(workloads):  # right: nested conditions, asyncio from 100 at once
    choice = {}
    for name, w in workloads.items():
        if w["cpu_s"] > w["wait_s"]:
            choice[name] = "processes" if w["at_once"] * w["cpu_s"] > w["cpu_s"] + w["wait_s"] else "threads"
        else:
            choice[name] = "asyncio" if w["at_once"] >= 100 else "threads"
    return choice


@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
@pytest.mark.parametrize("answer", [ignores_the_cores, share_ignores_the_cores], ids=lambda f: f.__name__)
def test_q2_a_cpu_bound_workload_under_one_core_is_not_for_processes(answer, judge):
    result = getattr(walk08.q2, judge)(answer)
    assert result.status == "incorrect", result.message
    assert "only 0.6 of a core" in result.message and "more than about one core" in result.message, result.message


@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
def test_q2_right_answers_pass_with_the_core_case(judge):
    for answer in (both_halves, both_halves_in_a_loop, both_halves_nested):
        result = getattr(walk08.q2, judge)(answer)
        assert result, (answer.__name__, result.message)


def test_q2_the_core_case_is_in_both_checks():
    q = walk08.q2
    for groups in ((q.CASES, q.BOUNDARY), (q.HIDDEN, q.HIDDEN_BOUNDARY)):
        small = [w for group in groups for _, w, ok in group if w["cpu_s"] > w["wait_s"] and ok == ("threads",)]
        assert small and all(cores(w) <= 0.6 + 1e-9 for w in small), small
