"""The 'Your turn' checks of notebooks 08 and 09: the reference and a differently written answer pass; every
wrong answer of the catalogue fails with a message that names its bug."""

import http.client
import json
import re
import socket
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from ella_lab import FlakyService
from ella_lab.exercises import BLANK, walk08, walk09


def reference(question, name):
    """The answer that the question's own solution() prints, run as code."""
    namespace = {}
    exec(textwrap.dedent(question.solution_text), namespace)
    return namespace[name]


def verdict(question, answer, **context):
    result = question.check(answer, **context)
    return result.status, result.message


def starter(*args):
    raise NotImplementedError


def hangs(*args):
    threading.Event().wait(30)


def test_blank_none_and_starter_are_not_attempted():
    for question in (walk08.q1, walk08.q2, walk09.q1, walk09.q2):
        assert verdict(question, BLANK)[0] == "not attempted"
        assert verdict(question, None)[0] == "not attempted"
    assert verdict(walk08.q2, starter)[0] == "not attempted"
    assert verdict(walk09.q2, starter)[0] == "not attempted"


def test_solution_is_printed_only_on_request(capsys):
    walk08.q1.solution()
    assert "min(2, cores)" in capsys.readouterr().out


# -- 08 q1: predict the speed-up of two processes -------------------------------------------------


def test_w08_q1_speedup_prediction():
    q = walk08.q1
    status, message = verdict(q, 2, measured=1.85, cores=2)
    assert status == "correct" and "the model says 2×" in message and "8% over the measurement" in message
    assert q.check(np.float64(1.7), measured=np.float64(1.6), cores=np.int64(8))  # numpy numbers are numbers
    assert q.check(1.5, cores=2)  # no measurement given: judged against the model alone
    assert q.check(1, measured=1.0, cores=1)  # one core: processes cannot help
    assert "the answer for two threads" in verdict(q, 1, measured=1.85, cores=2)[1]
    assert "looks like a percentage" in verdict(q, 185, measured=1.85, cores=2)[1]
    assert "is the number of cores, but only 2 processes" in verdict(q, 8, measured=1.9, cores=8)[1]
    assert "cannot be more than 2× faster" in verdict(q, 2.5, measured=1.9, cores=2)[1]
    assert "the wrong way round" in verdict(q, 0.5, measured=1.85, cores=2)[1]
    assert "More than 30% from the model" in verdict(q, 1.2, measured=1.85, cores=2)[1]
    assert verdict(q, "2", measured=1.85, cores=2)[1] == (
        "give your predicted speed-up as a number, like 3.0 (the format only); got '2'"
    )
    assert "as a number, like 3.0 (the format only); got True" in verdict(q, True, measured=1.85, cores=2)[1]
    assert "other programs" in verdict(q, 2, measured=1.05, cores=2)[1]


@pytest.mark.parametrize(
    ("answer", "measured", "cores", "expected"),
    [
        (1.4, 1.72, 2, None),  # exactly 30 % from the model: the edge counts (was refused by float rounding)
        (2.05, 1.72, 2, "cannot be more than 2× faster"),  # over the bound is impossible, however close
        (50, 1.72, 2, "looks like a percentage"),  # "50 % faster"
        (0.58, 1.72, 2, "the wrong way round (its inverse is 1.7)"),  # 1 / 1.72: the ratio inverted
        (0, 1.72, 2, "above 0"),
        (2, 1.0, 1, "with 1 core, the two processes take turns"),
    ],
)
def test_w08_q1_edges_and_slips(answer, measured, cores, expected):
    status, message = verdict(walk08.q1, answer, measured=measured, cores=cores)
    assert status == ("correct" if expected is None else "incorrect"), message
    assert expected is None or expected in message, message


@pytest.mark.parametrize("cores", [1, 1.5, 1.6, 1.78, 2, 3, 8])
def test_w08_q1_the_stubs_example_is_a_format_not_an_answer(cores):
    """The stub and the 'not attempted' message said "for example 1.5", and 1.5 got ✓ on two cores (within 30 % of
    2, seen): copying the example passed. The example became 1.25, but under a CPU quota of 1.5 cores (model 1.5×)
    it passed again, 16.7 % off (third review, seen for quotas 1.25 to 1.78); refused by name, it then refused a right
    1.25 under a 1.5-core quota (fourth review, seen). The example is now 3.0, never the model (at most 2×): refused
    by name on every machine."""
    example = float(re.search(r"for example ([0-9.]+)", walk08.q1.stub).group(1))
    assert f"like {example}" in walk08.q1.expects and example == walk08.q1.EXAMPLE and example > 2
    status, message = verdict(walk08.q1, example, measured=0.9 * min(2, cores), cores=cores)
    assert status == "incorrect", message
    assert "the stub's example of the format" in message, message


@pytest.mark.parametrize("answer", [1.2, 1.25, 1.3, 1.5])
def test_w08_q1_a_right_answer_under_a_quota_is_accepted(answer):
    """Fourth review: under a 1.5-core quota (model 1.5×) 1.25, 17 % off the model, got "the stub's example" while
    1.2 and 1.3 passed (seen: incorrect on the old example)."""
    status, message = verdict(walk08.q1, answer, measured=1.71, cores=1.5, idle=0.99)
    assert status == "correct", message


def test_w08_q1_the_grader_refuses_the_stubs_example_too(monkeypatch):
    """Review 08d (A9): the hidden check accepted 1.25, the stub's example, on any machine (seen: correct). It is
    the model only under a 1.25-core quota; refusing it there too is the smaller loss. 1.0, right on one core,
    stays accepted where the grader's run had one core (review 08f)."""
    fresh = type(walk08.q1)("fresh")
    result = fresh.hidden_check(walk08.q1.EXAMPLE)
    assert result.status == "incorrect" and "the stub's example" in result.message, result.message
    monkeypatch.setattr(walk08, "usable_cores", lambda: 1.0)
    assert fresh.hidden_check(1.0).status == "correct"


@pytest.mark.parametrize(("answer", "cores"), [(1.05, 1.5), (1.1, 1.5), (1.0, 1.78), (1.05, 2), (0.95, 4)])
def test_w08_q1_the_two_threads_answer_is_named_whenever_the_model_is_above_1(answer, cores):
    """Under a 1.5-core quota 1.05 and 1.1 (two threads' ≈ 1×) passed, within 30 % of 1.5 (third review, seen):
    the slip fired only from a model of 2. It now fires for a value near 1 whenever the model is above 1."""
    status, message = verdict(walk08.q1, answer, measured=1.3, cores=cores)
    assert status == "incorrect" and "1× is the answer for two threads" in message, message


@pytest.mark.parametrize(("answer", "cores"), [(1.5, 1.5), (1.45, 1.5), (1.1, 1.1), (1.0, 1.05), (1.7, 2)])
def test_w08_q1_near_the_model_is_still_right_under_a_quota(answer, cores):
    status, message = verdict(walk08.q1, answer, measured=None, cores=cores)
    assert status == "correct", message


def test_w08_q1_the_graders_verdict_does_not_depend_on_the_last_check(monkeypatch):
    """hidden_check reused the last check()'s cores, and fell back to 2 in a fresh process: 1.0, right on a 1-core
    machine, was refused "1× is the answer for two threads" by the grader (third review, seen). It now judges
    against the cores of the grader's own run (review 08f), never a check call's: 1.0 passes on one core only."""
    monkeypatch.setattr(walk08, "usable_cores", lambda: 1.0)
    fresh = type(walk08.q1)("fresh")
    for answer in (1.0, 0.9, 1.5, 1.68, 2, np.float64(1.9), min(2, 1.5)):  # 1 core, or 2 on the learner's machine
        assert fresh.hidden_check(answer), (answer, fresh.hidden_check(answer).message)
    walk08.q1.check(2, measured=1.7, cores=2)  # a check before: the grader's verdict is the same
    assert walk08.q1.hidden_check(1.0).status == fresh.hidden_check(1.0).status == "correct"
    monkeypatch.setattr(walk08, "usable_cores", lambda: 2.0)
    walk08.q1.check(1, measured=0.95, cores=1)
    assert walk08.q1.hidden_check(2).status == "correct"
    assert walk08.q1.hidden_check(1.0).status == "incorrect"
    wrong = [(2.1, "cannot be more than 2× faster"), (150, "looks like a percentage"), (0, "above 0"),
             (0.5, "the wrong way round"), (0.3, "from the model")]  # fmt: skip
    for answer, expected in wrong:
        result = fresh.hidden_check(answer)
        assert result.status == "incorrect" and expected in result.message, (answer, result.message)


@pytest.mark.parametrize(
    ("answer", "measured", "cores"),
    [(0.9, 0.95, 1), (0.8, 0.97, 1), (0.95, None, 1), (0.77, 0.9, 1)],
)
def test_w08_q1_on_one_core_just_under_1_is_right_not_inverted(answer, measured, cores):
    """On one core the model is 1×, and 1 / 0.9 = 1.1 is near it too: 0.77 to 0.99 all got ✗ "the time ratio the
    wrong way round" (seen) though each is within 30 % of the model. An inverse is now named only when the model is
    above 1 and the value is not already near it."""
    status, message = verdict(walk08.q1, answer, measured=measured, cores=cores)
    assert status == "correct" and "the model says 1× on an idle machine with 1 core" in message, message
    assert "wrong way round" in verdict(walk08.q1, 0.5, measured=1.9, cores=2)[1]  # still named where it is one


def test_w08_q1_a_cpu_quota_gives_a_fractional_model():
    status, message = verdict(walk08.q1, 1.5, measured=1.4, cores=1.5)
    assert status == "correct" and "the model says 1.5× on an idle machine with 1.5 cores" in message, message
    status, message = verdict(walk08.q1, 2, measured=1.4, cores=1.5)
    assert status == "incorrect" and "with 1.5 cores (a CPU quota), the two processes share them" in message, message


def test_w08_q1_asks_for_the_idle_model_and_says_so():
    """The question asks for the model on an idle machine (notebook cell 9 asked "on this machine", then judged
    1.13 and 1.3 Incorrect against a busy run's 1.13×): the title and the message name the idle machine, and a
    prediction of the busy run is told what was asked."""
    assert "idle machine" in walk08.q1.title
    status, message = verdict(walk08.q1, 1.13, measured=1.13, cores=2, idle=0.0)
    assert status == "incorrect" and "close to this run's measurement" in message, message
    assert "the model's speed-up on an idle machine" in message and "= 2× here" in message, message
    status, message = verdict(walk08.q1, 2, measured=1.13, cores=2, idle=0.0)
    assert status == "correct" and "the model says 2× on an idle machine with 2 cores" in message, message
    assert "on an idle machine with 1 core;" in verdict(walk08.q1, 1, measured=1.0, cores=1)[1]


def test_w08_q1_says_above_the_model_when_the_measurement_is():
    message = verdict(walk08.q1, 2, measured=2.4, cores=2)[1]
    assert "above the model" in message and "Below the model" not in message


# -- 08 q2: pick the engine for three measured workloads --------------------------------------------


def needs_cores(w):  # all of a workload's requests: at_once x cpu_s / (cpu_s + wait_s) cores
    return w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"])


def pick_by_rule(workloads):  # a correct answer, written differently from the reference
    def engine(cpu_s, wait_s, at_once):
        if cpu_s > wait_s and at_once * cpu_s > cpu_s + wait_s:
            return "processes"
        return "asyncio" if at_once > 100 else "threads"

    return {name: engine(**w) for name, w in workloads.items()}


def always_threads(workloads):
    return {name: "threads" for name in workloads}


def cpu_on_asyncio(workloads):
    return {
        name: "asyncio" if w["cpu_s"] > w["wait_s"] or w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def ignores_how_many(workloads):
    return {name: "processes" if w["cpu_s"] > w["wait_s"] else "threads" for name, w in workloads.items()}


def many_waits_on_processes(workloads):
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] or w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def any_cpu_means_processes(workloads):  # every request costs some CPU
    return {name: "processes" if w["cpu_s"] > 0 else "threads" for name, w in workloads.items()}


def written_by_name(workloads):  # ignores the measurements: the notebook's three names, by heart
    return {"CpuSource requests": "processes", "32 fetches of 10 ms": "threads", "2,000 waits of 100 ms": "asyncio"}


def misspelled(workloads):
    return {name: "process" if w["cpu_s"] > w["wait_s"] else "threads" for name, w in workloads.items()}


def prints_instead(workloads):
    print(pick_by_rule(workloads))


def returns_a_list(workloads):
    return list(pick_by_rule(workloads).values())


def asyncio_only_in_the_thousands(workloads):
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] else "asyncio" if w["at_once"] >= 1000 else "threads"
        for name, w in workloads.items()
    }


def half_the_wait_is_cpu_bound(workloads):  # CPU-bound once it computes half as long as it waits
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] / 2 else "asyncio" if w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def computes_over_k_waits(k, cores=False):
    """CPU-bound from k x wait_s (k = 1 is the rule, others a threshold off it); with ``cores``, and over one core in
    all (the rule's second half; review 08g: without it, every k is now refused by job 11 and n, 0.6 of a core)."""

    def pick(workloads):
        return {
            name: "processes" if w["cpu_s"] > k * w["wait_s"] and (not cores or needs_cores(w) > 1)
            else "asyncio" if w["at_once"] >= 256 else "threads"
            for name, w in workloads.items()
        }  # fmt: skip

    pick.__name__ = f"cpu_s_over_{k}_wait_s{'_over_one_core' if cores else ''}"
    return pick


def cpu_share_over_half(workloads):  # right: the share of a request's time spent computing, cpu / (cpu + wait)
    choice = {}
    for name, w in workloads.items():
        share = w["cpu_s"] / (w["cpu_s"] + w["wait_s"])
        busy = share > 0.5 and needs_cores(w) > 1
        choice[name] = "processes" if busy else "threads" if w["at_once"] < 100 else "asyncio"
    return choice


def dask_for_everything(workloads):
    return {name: "dask" for name in workloads}


NOTEBOOK_ANSWERS = {  # the visible check's first round, learnt by heart
    "CpuSource requests": "processes",
    "32 fetches of 10 ms": "threads",
    "2,000 waits of 100 ms": "asyncio",
    "resize 500 images": "processes",
    "16 slow API calls": "threads",
    "600 websockets": "asyncio",
    "128 fetches": "threads",
}


def looked_up_by_name(workloads):  # a table written in advance, keyed by the names seen once
    return {name: NOTEBOOK_ANSWERS[name] for name in workloads}


def guessed_from_the_name(workloads):  # "cpu" or "image" in the name, a count in front
    def engine(name):
        if "cpu" in name.lower() or "image" in name:
            return "processes"
        count = name.split()[0].replace(",", "")
        return "asyncio" if count.isdigit() and int(count) >= 256 else "threads"

    return {name: engine(name) for name in workloads}


def absolute_cpu_threshold(workloads):  # CPU-bound from 10 ms of CPU, whatever the wait
    return {
        name: "processes" if w["cpu_s"] >= 0.01 else "asyncio" if w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def few_at_once_means_cpu(workloads):  # CPU-boundness read from at_once
    return {
        name: "processes" if w["at_once"] <= 4 or w["cpu_s"] > 0.01 else "asyncio" if w["at_once"] > 64 else "threads"
        for name, w in workloads.items()
    }


def total_cpu_against_wait(workloads):  # right: more than one core of CPU (at_once x cpu_s / wait_s > 1) to processes
    return {
        name: "processes"
        if w["cpu_s"] * w["at_once"] > w["wait_s"]
        else "asyncio"
        if w["at_once"] >= 256
        else "threads"
        for name, w in workloads.items()
    }


def only_no_wait_is_cpu(workloads):  # processes only when wait_s is exactly 0
    return {
        name: "processes" if w["wait_s"] == 0 else "asyncio" if w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def asyncio_for_every_wait(workloads):  # asyncio even for a few dozen: not the simplest engine that keeps up
    return {name: "processes" if w["cpu_s"] > w["wait_s"] else "asyncio" for name, w in workloads.items()}


def pick_in_a_loop(workloads):  # a third correct answer: thresholds from the notebook's words, a loop
    choice = {}
    for name in sorted(workloads):
        w = workloads[name]
        cpu_bound = w["cpu_s"] > w["wait_s"] and needs_cores(w) > 1
        choice[name] = "processes" if cpu_bound else ("threads" if w["at_once"] <= 64 else "asyncio")
    return choice


def notebook_stated_rule(workloads):  # cell 28's rule, word for word: CPU first, then how many wait at once
    choice = {}
    for name, w in workloads.items():
        if w["cpu_s"] > w["wait_s"] and needs_cores(w) > 1:  # "computes longer than it waits", over one core
            choice[name] = "processes"
        elif w["at_once"] <= 64:  # "a few dozen (64 or fewer), threads"
            choice[name] = "threads"
        elif w["at_once"] >= 256:  # "from the hundreds (256 or more), asyncio, however long each wait"
            choice[name] = "asyncio"
        else:  # between the two: either is accepted
            choice[name] = "threads"
    return choice


def asyncio_from(n):  # asyncio from n at once: 65 to 256 is the stated rule, other cuts are off it
    def pick(workloads):
        return {
            name: "processes" if w["cpu_s"] > w["wait_s"] and needs_cores(w) > 1 else "asyncio" if w["at_once"] >= n
            else "threads"
            for name, w in workloads.items()
        }  # fmt: skip

    pick.__name__ = f"asyncio_from_{n}"
    return pick


def asyncio_when_total_wait_over(t):  # asyncio when at_once x wait_s > t: how long they wait in all, not how many
    def pick(workloads):
        return {
            name: "processes"
            if w["cpu_s"] > w["wait_s"] and needs_cores(w) > 1
            else "asyncio"
            if w["at_once"] * w["wait_s"] > t
            else "threads"
            for name, w in workloads.items()
        }

    pick.__name__ = f"asyncio_when_at_once_x_wait_s_over_{t}"
    return pick


def asyncio_for_long_waits_only(w_min):  # asyncio from 256 at once, but only when each wait lasts w_min or more
    def pick(workloads):
        return {
            name: "processes"
            if w["cpu_s"] > w["wait_s"] and needs_cores(w) > 1
            else "asyncio"
            if w["at_once"] >= 256 and w["wait_s"] >= w_min
            else "threads"
            for name, w in workloads.items()
        }

    pick.__name__ = f"asyncio_from_256_when_wait_s_at_least_{w_min}"
    return pick


def cpu_over_wait_ratio(workloads):  # cpu_s / wait_s > 1: divides by a wait of 0
    return {
        name: "processes" if w["cpu_s"] / w["wait_s"] > 1 else "asyncio" if w["at_once"] >= 256 else "threads"
        for name, w in workloads.items()
    }


def processes_only_from_4(workloads):  # CPU-bound, but processes only from 4 at once
    return {
        name: "processes" if w["cpu_s"] > w["wait_s"] and w["at_once"] >= 4 else "asyncio" if w["at_once"] >= 256
        else "threads"
        for name, w in workloads.items()
    }  # fmt: skip


def total_cores_over_one(workloads):  # right: the GIL's limit is on the total, at_once x cpu / (cpu + wait) cores
    choice = {}
    for name, w in workloads.items():
        cores = w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"])
        if cores > 1:
            choice[name] = "processes"
        else:
            choice[name] = "threads" if w["at_once"] <= 64 else "asyncio"
    return choice


def processes_from_cores(t):
    """Processes when all the requests need t cores or more in all (the total-CPU rule with a threshold t)."""

    def pick(workloads):
        return {
            name: "processes" if w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) >= t
            else "asyncio" if w["at_once"] >= 256 else "threads"
            for name, w in workloads.items()
        }  # fmt: skip

    pick.__name__ = f"processes_from_{t}_cores"
    return pick


def cpu_bound_from_cores(t):
    """Processes when each request computes longer than it waits and all need t cores or more (review 08f)."""

    def pick(workloads):
        return {
            name: "processes"
            if w["cpu_s"] > w["wait_s"] and w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) >= t
            else "asyncio" if w["at_once"] >= 256 else "threads"
            for name, w in workloads.items()
        }  # fmt: skip

    pick.__name__ = f"cpu_bound_from_{t}_cores"
    return pick


def test_w08_q2_the_notebook_states_the_rule_the_check_enforces():
    """Cell 23 once stated a CPU rule ("the simplest engine that keeps up") while the check demanded asyncio for
    600 websockets waiting 1 s (~0.02 core of threads): a count rule. The rule is now stated, and it passes."""
    notebook = json.loads((Path(__file__).parents[1] / "notebooks" / "08-beyond-threads.ipynb").read_text())
    cell = next(
        "".join(c["source"])
        for c in notebook["cells"]
        if "pick_engines(workloads)" in "".join(c["source"]) and c["cell_type"] == "markdown"
    )
    assert "how many wait at once" in cell and "64 or fewer" in cell and "256 or more" in cell
    assert "however long or short each wait" in cell
    # the GIL's limit is on the total CPU, of a workload that computes longer than it waits (review 08f)
    assert "at_once × cpu_s / (cpu_s + wait_s) cores" in cell and "cpu_s > wait_s" in cell
    assert "several event loops" in " ".join(cell.split())
    # the bounds the cases keep are the check's business: a hint, not the task (third review)
    assert "1.5 cores or more" in walk08.q2.hints[1] and "a process per wait" in walk08.q2.hints[1]
    assert "0.6 of a core or less" in walk08.q2.hints[1]  # review 08g: the core condition is tested
    assert "at_once >= 256" in walk08.q2.hints[-1] and "not how long" in walk08.q2.hints[-1]
    # the CPU was measured for 10 ms waits only: for long waits the reason is said, and said to be unmeasured
    assert "not measured here" in cell and "not measured here" in walk08.q2.hints[-1]
    for judge in (walk08.q2.judge, walk08.q2.hidden_check):
        assert judge(notebook_stated_rule), judge(notebook_stated_rule).message


Q2_WRONG = [
    (always_threads, "threads share one GIL"),
    (cpu_on_asyncio, "computing blocks the whole loop"),
    (ignores_how_many, "hundreds of waits or more on threads"),
    (many_waits_on_processes, "a process per wait"),
    (any_cpu_means_processes, "Compare cpu_s with wait_s"),
    (written_by_name, "not from names written in advance"),
    (looked_up_by_name, "looks names up in a table written in advance"),
    (guessed_from_the_name, "the answer depends on the name"),
    (absolute_cpu_threshold, "Compare cpu_s with wait_s"),
    (few_at_once_means_cpu, "Compare cpu_s with wait_s"),
    (only_no_wait_is_cpu, "computes longer than it waits (cpu_s > wait_s)"),
    (asyncio_for_every_wait, "pick the simplest engine that keeps up"),
    (misspelled, "'process' is not an engine"),
    (prints_instead, "did it print instead of return"),
    (returns_a_list, "return a dict"),
    (asyncio_only_in_the_thousands, "hundreds of waits or more on threads"),
    (half_the_wait_is_cpu_bound, "it waits longer than it computes"),
    # review of 2026-12-07: the visible check's only near-boundary cases were at 2x (CPU-bound) and 0.55x (waiting),
    # so cpu_s > k x wait_s passed it for k in (0.55, 2) while the hidden one refused k < 0.58 or k >= 1.2 (seen: 0.56
    # and 1.5 passed the visible check and failed the hidden one). Now both refuse them, the visible check first.
    (computes_over_k_waits(0.56), "it waits longer than it computes"),
    (computes_over_k_waits(0.7), "it waits longer than it computes"),
    (computes_over_k_waits(1.5), "it computes longer than it waits (cpu_s > wait_s)"),
    (computes_over_k_waits(1.9), "threads share one GIL"),
    (dask_for_everything, "dask is for more than one machine"),
    # second review of 2026-12-07: these passed the old hidden check (the grader's verdict) while the visible one
    # refused them (seen); the hidden boundary now has 95 % and 105 % of the wait, 64 and 256 at once, and a
    # CPU-bound workload with wait_s = 0 and two at once
    (computes_over_k_waits(0.9), "it waits longer than it computes"),
    (computes_over_k_waits(0.94), "it waits longer than it computes"),
    (computes_over_k_waits(1.06), "more than the one core the GIL gives"),
    (asyncio_from(50), "pick the simplest engine that keeps up"),
    (asyncio_from(63), "pick the simplest engine that keeps up"),
    (asyncio_from(257), "hundreds of waits or more on threads"),
    (asyncio_from(400), "hundreds of waits or more on threads"),
    (cpu_over_wait_ratio, "raised ZeroDivisionError"),
    (processes_only_from_4, "need 2 cores of CPU"),
    (total_cores_over_one, "several event loops"),  # review 08f: the old reference, 10,000 waits to processes
    (total_cpu_against_wait, "several event loops"),
    (lambda workloads: None, "returned None"),
    (42, "expected a function"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
def test_w08_q2_pick_engines_accepts_right_answers(judge):
    right = (reference(walk08.q2, "pick_engines"), pick_by_rule, pick_in_a_loop, cpu_share_over_half,
             computes_over_k_waits(1.0, cores=True), asyncio_from(65), asyncio_from(256))  # fmt: skip
    for answer in right:
        result = getattr(walk08.q2, judge)(answer)
        assert result, result.message


@pytest.mark.timeout(30)
@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
@pytest.mark.parametrize(
    ("answer", "expected"), Q2_WRONG, ids=lambda x: getattr(x, "__name__", None) if callable(x) else None
)
def test_w08_q2_pick_engines_rejects(answer, expected, judge):
    result = getattr(walk08.q2, judge)(answer)
    assert result.status == "incorrect"
    assert expected in result.message, result.message


@pytest.mark.parametrize(
    "answer",
    [asyncio_when_total_wait_over(4), asyncio_when_total_wait_over(8), asyncio_when_total_wait_over(12),
     asyncio_for_long_waits_only(0.05), asyncio_for_long_waits_only(0.03)],
    ids=lambda rule: rule.__name__,
)  # fmt: skip
def test_w08_q2_how_long_each_wait_is_does_not_decide(answer):
    """Third review of 2026-12-07: every visible case with 256 or more at once waited 50 ms or more, so these
    passed the old visible check (seen) while the hidden one refused the first four. Job 5 is now the notebook's
    row, 256 waits of 10 ms: both checks refuse them, the visible one on job 5, naming the rule."""
    result = walk08.q2.judge(answer)
    assert result.status == "incorrect" and "'job 5'" in result.message, result.message
    assert "hundreds of waits or more on threads, however short or long each wait" in result.message, result.message
    assert walk08.q2.hidden_check(answer).status == "incorrect"


def test_w08_q2_every_waiting_case_fits_one_event_loop_but_one_in_each_check():
    # the lesson: at K / L requests a second, c of CPU each needs K / L x c cores; one loop keeps up below one
    q = walk08.q2
    groups = (q.CASES, q.BOUNDARY, q.HIDDEN, q.HIDDEN_BOUNDARY)
    waiting = [(name, w) for group in groups for name, w, accepted in group if w["cpu_s"] < w["wait_s"]]
    assert len(waiting) >= 10
    # at_once requests every cpu_s + wait_s seconds, cpu_s of CPU each (the notebook's K / L, with the CPU time)
    need = {name: w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) for name, w in waiting}
    over = sorted(name for name, cores in need.items() if cores > 0.5)
    assert over == ["job 10", "o"] and min(need[n] for n in over) >= 1.5, need  # waits over a core: asyncio
    assert all(w["cpu_s"] < w["wait_s"] for _, w in waiting)
    # and every CPU-bound one needs well over one core: "about one core" never has to be exact
    busy = [(name, w) for group in groups for name, w, accepted in group if accepted[0] == "processes"]
    assert len(busy) >= 8
    for name, w in busy:
        assert w["at_once"] * w["cpu_s"] / (w["cpu_s"] + w["wait_s"]) >= 1.5, name
    # review 08g: and one CPU-bound case in each check needs well under one core (0.6): threads, not processes
    light = [name for group in groups for name, w, _ in group if w["cpu_s"] > w["wait_s"] and needs_cores(w) <= 1]
    assert light == ["job 11", "n"] and all(abs(needs_cores(w) - 0.6) < 1e-9 for g in groups for n, w, _ in g
                                            if n in light), light  # fmt: skip


def test_w08_q2_the_visible_and_the_hidden_check_agree_on_every_threshold():
    """A rule cpu_s > k x wait_s (k from 0.5 to 2), or asyncio from n at once (n from 2 to 600): the two checks
    accept the same ones (the hidden one once accepted k = 0.9 and n = 50 or 400, which the visible refused)."""
    families = [computes_over_k_waits(round(0.5 + 0.01 * i, 2)) for i in range(151)]
    families += [computes_over_k_waits(round(0.5 + 0.01 * i, 2), cores=True) for i in range(151)]
    families += [asyncio_from(n) for n in range(2, 601)]
    # third review: two more families, how long they wait in all, and how long each waits (t from 0.25 to 30,
    # w_min from 1 ms to 1 s); the old visible check accepted t = 4 to 12 and w_min = 50 ms, the hidden refused them
    families += [asyncio_when_total_wait_over(t / 4) for t in range(1, 121)]
    families += [asyncio_for_long_waits_only(round(0.001 * i, 3)) for i in range(1, 1001, 3)]
    # fifth review (08e A2): processes from t cores in all (t from 0.3 to 2.5); the visible check's least busy
    # CPU-bound case needed 2.0 cores (job 8: 2.05), so it accepted t = 2 while the hidden one (r: 1.54) refused it
    families += [processes_from_cores(round(0.3 + 0.01 * i, 2)) for i in range(221)]
    families += [cpu_bound_from_cores(round(0.3 + 0.01 * i, 2)) for i in range(221)]
    accepted = []
    for rule in families:
        visible, hidden = bool(walk08.q2.judge(rule)), bool(walk08.q2.hidden_check(rule))
        assert visible == hidden, rule.__name__
        accepted.append(rule.__name__) if visible else None
    assert "cpu_s_over_1.0_wait_s_over_one_core" in accepted and "asyncio_from_65" in accepted
    assert "asyncio_from_256" in accepted
    assert not any(name.endswith("_wait_s") for name in accepted)  # review 08g: the core count ignored, refused
    assert "cpu_s_over_1.06_wait_s_over_one_core" not in accepted and "asyncio_from_64" not in accepted
    assert "asyncio_from_257" not in accepted
    assert "asyncio_from_256_when_wait_s_at_least_0.01" in accepted  # 10 ms: the shortest wait among the cases
    assert not any("at_once_x_wait_s" in name for name in accepted)
    assert not any(name.endswith(("_0.03", "_0.05", "_0.013")) for name in accepted)
    # review 08f: a waiting workload needing 2 cores (job 10; o: 3) refuses the total-CPU rule at every t; the rule
    # with cpu_s > wait_s first passes both checks from t = 0.61 to 1.5 (review 08g: 0.3 to 0.6 passed both before,
    # now job 11 and n, 0.6 of a core, refuse them), and neither from 1.6 (job 9, r: 1.54 cores)
    assert not any(name.startswith("processes_from_") for name in accepted)
    assert "cpu_bound_from_0.61_cores" in accepted and "cpu_bound_from_1.0_cores" in accepted
    assert "cpu_bound_from_1.5_cores" in accepted
    assert "cpu_bound_from_0.6_cores" not in accepted and "cpu_bound_from_0.3_cores" not in accepted
    assert "cpu_bound_from_1.6_cores" not in accepted and "cpu_bound_from_2.0_cores" not in accepted


def test_w08_q1_blames_other_programs_only_when_the_idle_cores_say_so():
    busy = verdict(walk08.q1, 2, measured=1.05, cores=2, idle=0.1)[1]
    assert "other programs were using the cores (only 0.10 of a core stood idle" in busy
    idle = verdict(walk08.q1, 2, measured=1.6, cores=2, idle=0.98)[1]
    assert "though 0.98 of a core stood idle" in idle and "other programs were using" not in idle


@pytest.mark.timeout(30)
def misread_key(workloads):  # a typo in a workload's key, not a table of names
    return {name: "processes" if w["cpu"] > w["wait_s"] else "threads" for name, w in workloads.items()}


@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
def test_w08_q2_a_key_typo_is_not_blamed_on_names(judge):
    """Review 08d (A8): w["cpu"] got "KeyError('cpu') when the workloads had other names: it looks names up in a
    table written in advance", in round 1 too (seen). A key that is no workload's name now gets the keys."""
    message = getattr(walk08.q2, judge)(misread_key).message
    assert "KeyError('cpu')" in message and "the keys cpu_s, wait_s, at_once" in message, message
    assert "table written in advance" not in message and "other names" not in message, message


def test_w08_q2_a_hang_is_cut_off():
    assert "did not return within" in verdict(walk08.q2, hangs)[1]


# -- 09 q1: predict the throughput Little's law gives K workers -------------------------------------


def test_w09_q1_throughput_prediction():
    q = walk09.q1
    setup = {"measured": 660.0, "k": 8, "latency": 0.010}
    status, message = verdict(q, 800, **setup)
    assert status == "correct" and "the model says 800 req/s" in message and "21% over the measurement" in message
    assert "CPU time c each request costs" in message and "K / (L + c)" in message and "X · c" not in message
    assert q.check(np.int64(760), measured=np.float64(660.0), k=8, latency=0.010)
    assert q.check(8 / 0.010, k=8, latency=0.010)
    assert "requests per millisecond" in verdict(q, 0.8, **setup)[1]
    assert "L went in as 10 ms" in verdict(q, 800_000, **setup)[1]
    assert "one worker's throughput" in verdict(q, 100, **setup)[1]
    assert "is K · L" in verdict(q, 0.08, **setup)[1]
    assert "time between two answers" in verdict(q, 0.00125, **setup)[1]
    assert "1600 req/s is more than K / L by over 5%" in verdict(q, 1600, **setup)[1]
    assert "is more than K / L" in verdict(q, 850, **setup)[1]  # within 10 % of the model, but over 5 % above it
    assert q.check(820, **setup)  # within the 5 % a clock's noise could explain, as for the measurement
    assert q.check(720, **setup)  # exactly 10 % under the model: the edge counts
    assert "the measurement, not the model" in verdict(q, 640, **setup)[1]  # within 20 % of the measurement
    assert "Little's law gives K / L = 800 req/s" in verdict(q, 400, **setup)[1]  # not near the measurement either
    assert verdict(q, "800", **setup)[1].startswith("give your predicted throughput as a number of requests per second")
    too_fast = verdict(q, 800, measured=2100.0, k=8, latency=0.010)[1]
    assert "above K / L by more than the 5% a clock's noise could explain" in too_fast


def test_w09_q1_k_times_l_in_ms_is_named_not_blamed_on_real_sockets():
    """Fourth review: 80 (K × L with L in ms) was told "that is what real sockets measure" (seen)."""
    status, message = verdict(walk09.q1, 80, measured=673.36)
    assert status == "incorrect" and "K · L with L in milliseconds" in message, message
    assert "real sockets" not in message, message


# -- 09 q2: a fetch over urllib against a real FlakyService ----------------------------------------

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch_differently(url, timeout):  # a correct answer, written differently from the reference
    try:
        response = NO_PROXY.open(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ConnectionError(f"{url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from None
        raise ConnectionError(str(exc.reason)) from None
    try:
        return response.read().decode("utf-8")
    finally:
        response.close()


def one_deadline_for_the_attempt(url, timeout):  # like HttpSource: the socket gets the time left of one deadline
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.connect()
        connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
        connection.request("GET", parts.path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise ConnectionError(f"HTTP {response.status} from {url}")
        return body.decode()
    except (ConnectionError, TimeoutError):
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        connection.close()


def scaled_timeout(url, timeout):  # a socket timeout just below the caller's: passed the 0.8 t window (review)
    return fixed_timeout(0.82 * timeout)(url, timeout)


def capped_timeout(url, timeout):  # the caller's timeout, capped: 0.5 s instead of 0.6 s passed (review)
    return fixed_timeout(min(timeout, 0.5))(url, timeout)


def no_timeout(url, timeout):
    try:
        with NO_PROXY.open(url) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def only_http_error(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc


def returns_the_error_string(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return f"HTTP error {exc.code}"
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def raises_bare_exception(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise Exception(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def leaves_the_response_open(url, timeout):
    try:
        response = NO_PROXY.open(url, timeout=timeout)
        return response.read(12).decode()  # the first bytes only; the rest stays unread, the socket open
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def returns_the_response(url, timeout):
    try:
        return NO_PROXY.open(url, timeout=timeout)
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc)) from exc


def prints_instead_of_returning(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            print(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def returns_bytes(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc)) from exc


def everything_is_a_connection_error(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except Exception as exc:
        raise ConnectionError(f"failed: {exc}") from exc


def only_500(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 500:
            raise ConnectionError("HTTP 500") from exc
        raise
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def status_not_named(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError("the request failed") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def fixed_timeout(seconds):
    def fetch(url, timeout):
        try:
            with NO_PROXY.open(url, timeout=seconds) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:
            raise ConnectionError(f"HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TimeoutError(str(exc)) from exc
            raise ConnectionError(str(exc.reason)) from exc

    fetch.__name__ = f"fixed_timeout_{seconds:g}"
    return fetch


def timeout_plus_a_margin(url, timeout):  # passed the check when its timeouts were (0.1, 0.4) and the slack 0.25
    try:
        with NO_PROXY.open(url, timeout=timeout + 0.2) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc


def three_times_the_timeout(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=3 * timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc


def sets_the_default_timeout(url, timeout):
    socket.setdefaulttimeout(0.3)
    try:
        with NO_PROXY.open(url) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc
    finally:
        socket.setdefaulttimeout(None)


def any_urlerror_is_a_connection_error(url, timeout):  # a connect timeout too
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionError(str(exc.reason)) from exc


def a_drop_is_a_timeout(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code}") from exc
    except http.client.RemoteDisconnected as exc:
        raise TimeoutError("dropped") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc


def http_client_without_status_check(url, timeout):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def via_http_client(url, timeout):  # a correct answer without urllib
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        body = response.read().decode()
        if response.status != 200:
            raise ConnectionError(f"HTTP {response.status} from {url}")
        return body
    except http.client.HTTPException as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        connection.close()


# the four below passed the check before it watched threads, sockets and the status named (seen on the old check)


def in_a_helper_thread(url, timeout):  # waits with a timeout, but its socket has none: it runs on after the call
    box = []

    def work():
        try:
            with NO_PROXY.open(url) as response:
                box.append(response.read().decode())
        except Exception as exc:
            box.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise TimeoutError(f"no answer from {url} within {timeout} s")
    if isinstance(box[0], urllib.error.HTTPError):
        box[0].close()
        raise ConnectionError(f"HTTP {box[0].code}") from box[0]
    if isinstance(box[0], Exception):
        raise ConnectionError(str(box[0])) from box[0]
    return box[0]


def a_fixed_status_message(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ConnectionError("HTTP 500/503 error") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc


def leaves_the_error_response_open(url, timeout):  # the reference without exc.close()
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code} from {url}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(str(exc)) from exc
        raise ConnectionError(str(exc.reason)) from exc


def leaves_the_error_response_open_from_none(url, timeout):  # `from None` hides the cause, not the context
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        raise ConnectionError(f"HTTP {exc.code} from {url}") from None
    except urllib.error.URLError as exc:
        raise TimeoutError(str(exc)) if isinstance(exc.reason, TimeoutError) else ConnectionError(str(exc)) from None


def http_client_never_closing(url, timeout):  # via_http_client without its finally: connection.close()
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
    except http.client.HTTPException as exc:
        raise ConnectionError(str(exc)) from exc
    if response.status != 200:
        raise ConnectionError(f"HTTP {response.status} from {url}")
    return response.read().decode()


def swallows_errors(url, timeout):
    try:
        with NO_PROXY.open(url, timeout=timeout) as response:
            return response.read().decode()
    except Exception:
        return None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
def test_w09_q2_fetch_accepts_right_answers(judge):
    # one_deadline_for_the_attempt was told "gave its socket a timeout of 0.0998575 s" (fifth review, seen)
    for answer in (reference(walk09.q2, "fetch"), fetch_differently, via_http_client, one_deadline_for_the_attempt):
        result = getattr(walk09.q2, judge)(answer)
        assert result, result.message


@pytest.mark.timeout(30)
def test_w09_q2_the_reference_closes_the_error_response_and_the_default_timeout_is_restored():
    original = socket.setdefaulttimeout
    with (
        FlakyService("x", latency=0.001, failure_rate=1.0, seed=1) as service,
        pytest.raises(ConnectionError) as caught,
    ):
        reference(walk09.q2, "fetch")(f"{service.url}/data/a", 1.0)
    assert caught.value.__cause__.fp.closed  # the HTTPError's own response
    walk09.q2.judge(sets_the_default_timeout)
    assert socket.getdefaulttimeout() is None and socket.setdefaulttimeout is original
    assert "settimeout" not in vars(socket.socket)  # the socket spy is gone: sockets inherit it again
    assert "connect" not in vars(socket.socket)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("judge", ["judge", "hidden_check"])
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (no_timeout, "the timeout was not used"),
        (only_http_error, "catching HTTPError alone is not enough"),
        (returns_the_error_string, "fetch returned the string 'HTTP error 500'"),
        (raises_bare_exception, "fetch raised Exception"),
        (leaves_the_response_open, "the response was left open"),
        (returns_the_response, "returned the response object, still open"),
        (prints_instead_of_returning, "did it print the body instead of returning it?"),
        (returns_bytes, "fetch returned bytes"),
        (everything_is_a_connection_error, "it is a timeout, not a refused connection"),
        (only_500, "HTTP 503: urllib's HTTPError escaped"),
        (status_not_named, "name the status (500)"),
        (swallows_errors, "HTTP 500: fetch returned None"),
        (lambda url, timeout: None, "fetch returned None"),
        ("fetch", "expected a function"),
        (hangs, "may still be running"),
        # the message quotes a measured time: expect the bug it names, never the number (a loaded machine adds to
        # it, and may even make the 0.05 s answer miss only the 0.4 s timeout)
        (fixed_timeout(0.5), re.compile(r"with timeout=0\.1 ended after [\d.]+ s, long after the timeout")),
        (fixed_timeout(0.05), re.compile(r"with timeout=0\.[16] ended after [\d.]+ s, before the timeout")),
        # these two passed the check when its timeouts were (0.1, 0.4): 0.33 s fitted both windows, and so did t + 0.2
        (fixed_timeout(0.33), re.compile(r"fetch gave its socket a timeout of 0\.33 s|before the timeout")),
        # these two passed when the window began at 0.8 t (fourth review, seen): a socket timeout never fires early
        (scaled_timeout, re.compile(r"with timeout=0\.[16] ended after [\d.]+ s, before the timeout")),
        (capped_timeout, re.compile(r"with timeout=0\.6 ended after [\d.]+ s, before the timeout")),
        (timeout_plus_a_margin, "fetch gave its socket a timeout of 0.3 s"),
        (fixed_timeout(10), "the timeout was not used"),
        (three_times_the_timeout, re.compile(r"long after the timeout|fetch gave its socket a timeout of 0\.3 s")),
        (sets_the_default_timeout, "fetch called socket.setdefaulttimeout(0.3)"),
        (any_urlerror_is_a_connection_error, "a connect that never completes raised ConnectionError"),
        (a_drop_is_a_timeout, "a dropped connection: fetch raised TimeoutError, but this failure came at once"),
        (http_client_without_status_check, "HTTP 500: fetch returned the string"),
        (in_a_helper_thread, re.compile(r"left a thread running|never gave a socket that timeout")),
        (a_fixed_status_message, "which names 503 too"),
        (leaves_the_error_response_open, "the HTTP 500 left a socket open"),
        # told "`raise ... from exc` keeps it alive", which does not apply to `from None` (seen): now both ways named
        (leaves_the_error_response_open_from_none, "or __context__ even with `from None`"),
        (http_client_never_closing, re.compile(r"left a socket open")),
    ],
    ids=lambda x: getattr(x, "__name__", None) if callable(x) else None,
)
def test_w09_q2_fetch_rejects(answer, expected, judge):
    result = getattr(walk09.q2, judge)(answer)
    assert result.status == "incorrect"
    if isinstance(expected, re.Pattern):
        assert expected.search(result.message), result.message
    else:
        assert expected in result.message, result.message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux drops a SYN to a full accept queue")
def test_w09_q2_a_full_accept_queue_stalls_a_connect_here():
    with walk09._NeverAccepts() as silent:
        assert silent.stalls


@pytest.mark.timeout(60)
def test_w09_q2_where_a_full_queue_refuses_at_once_the_case_is_skipped_and_the_reference_still_passes(monkeypatch):
    monkeypatch.setattr(walk09._NeverAccepts, "_probe", lambda self, host, port: False)  # as on Windows or macOS
    result = walk09.q2.judge(reference(walk09.q2, "fetch"))
    assert result, result.message
    assert "a connect that never completes was not tried" in result.message
    monkeypatch.undo()
    result = walk09.q2.judge(reference(walk09.q2, "fetch"))
    assert result and "and on a connect that never completes" in result.message, result.message


def test_w08_q1_the_grader_accepts_a_right_answer_under_a_quota(monkeypatch):
    """Fourth review: the grader refused 1.25 (then the stub's example) even under a 1.5-core quota, where it is
    17 % off the model 1.5 (seen: incorrect on the old example)."""
    monkeypatch.setattr(walk08, "usable_cores", lambda: 1.5)
    fresh = type(walk08.q1)("fresh")
    assert fresh.hidden_check(1.25).status == "correct"
    assert fresh.hidden_check(3.0).status == "incorrect"
