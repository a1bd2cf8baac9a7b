"""Every check passes on the reference answer (its own solution()) and fails, saying why, on wrong ones."""

import math
import queue
import random
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest

from ella_lab.exercises import BLANK, phase3, phase4, phase6


def reference(module, question, name):
    """The answer that the question's own solution() prints, run as code."""
    namespace = {"ex": module}
    exec(textwrap.dedent(question.solution_text), namespace)
    return namespace[name]


def verdict(question, answer):
    result = question.check(answer)
    return result.status, result.message


def starter(*args):
    raise NotImplementedError


def hangs(*args):
    threading.Event().wait(30)


# -- phase 3 ----------------------------------------------------------------------------------


def test_p3_q1_makespan():
    q = phase3.q1
    assert q.check(reference(phase3, q, "makespan"))
    assert verdict(q, lambda n, k, latency: n * latency / k)[1].endswith("so count whole rounds.")
    assert "the time for one worker alone" in verdict(q, lambda n, k, latency: n * latency)[1]
    assert "round up, not down" in verdict(q, lambda n, k, latency: (n // k) * latency)[1]
    assert "forget `return`" in verdict(q, lambda n, k, latency: None)[1]
    assert "expected a function" in verdict(q, 2.0)[1]


def guide_worker(tasks, results, fetch):  # the guide's loop: timeout exit, no exception handling
    while True:
        try:
            request = tasks.get(timeout=0.1)
            results[request] = fetch(request)
            tasks.task_done()
        except queue.Empty:
            break


def worker_without_task_done(tasks, results, fetch):
    while (request := tasks.get()) is not phase3.STOP:
        try:
            results[request] = fetch(request)
        except Exception as exc:
            results[request] = exc


def worker_ignoring_stop(tasks, results, fetch):
    while True:
        request = tasks.get()
        if request is not phase3.STOP:
            try:
                results[request] = fetch(request)
            except Exception as exc:
                results[request] = exc
        tasks.task_done()


def worker_storing_none(tasks, results, fetch):
    while (request := tasks.get()) is not phase3.STOP:
        try:
            results[request] = fetch(request)
        except Exception:
            results[request] = None
        finally:
            tasks.task_done()
    tasks.task_done()


def test_p3_q2_safe_worker():
    q = phase3.q2
    assert q.check(reference(phase3, q, "worker"))
    status, message = verdict(q, guide_worker)
    assert status == "incorrect"
    assert message.startswith("a worker returned before it took STOP, when the queue looked empty")
    assert "13 get() call(s) had no task_done()" in verdict(q, worker_without_task_done)[1]
    assert "still running" in verdict(q, worker_ignoring_stop)[1] and "STOP" in verdict(q, worker_ignoring_stop)[1]
    assert "should be the exception itself; got None" in verdict(q, worker_storing_none)[1]
    assert "returned before it took STOP" in verdict(q, lambda tasks, results, fetch: None)[1]
    assert verdict(q, starter)[0] == "not attempted"


def test_p3_q3_pool_size():
    q = phase3.q3
    assert q.check(reference(phase3, q, "workers_needed"))
    assert "whole number of threads" in verdict(q, lambda x, latency: x * latency)[1]
    assert "Round up" in verdict(q, lambda x, latency: round(x * latency))[1]
    assert "K = X · L" in verdict(q, lambda x, latency: x / latency)[1]
    assert "Round up" in verdict(q, lambda x, latency: int(x * latency))[1]


def test_p3_q4_has_a_model_answer_and_no_check(capsys):
    result = phase3.q4.check("anything")
    assert not result and result.status == "unchecked"
    phase3.q4.solution()
    assert "Model answer" in capsys.readouterr().out


# -- phase 4 ----------------------------------------------------------------------------------


def fallback_guide(request, sources):
    try:
        raise ConnectionError("Primary failed")
    except Exception:
        return f"Recovered from Backup for {request}"


def fallback_asks_everyone(request, sources):
    answers, errors = [], []
    for source in sources:
        try:
            answers.append(source(request))
        except Exception as exc:
            errors.append(exc)
    if answers:
        return answers[0]
    raise ExceptionGroup("all failed", errors)


def fallback_raises_last(request, sources):
    error = None
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            error = exc
    raise error


def fallback_two_only(request, sources):
    try:
        return sources[0](request)
    except Exception:
        return sources[1](request)


def test_p4_q1_fallback():
    q = phase4.q1
    assert q.check(reference(phase4, q, "fallback"))
    assert "Call the sources themselves" in verdict(q, fallback_guide)[1]
    assert "called [1, 1] times; expected [1, 0]" in verdict(q, fallback_asks_everyone)[1]
    assert "raise an ExceptionGroup" in verdict(q, fallback_raises_last)[1]
    assert "source-2 was up and should have answered" in verdict(q, fallback_two_only)[1]
    assert "did not return within" in verdict(q, hangs)[1]


def test_p4_q2_chain_success():
    q = phase4.q2
    assert q.check(reference(phase4, q, "chain_success"))
    assert "every source succeeds" in verdict(q, lambda p, k: (1 - p) ** k)[1]
    assert "multiply, they do not add" in verdict(q, lambda p, k: 1 - p * k)[1]
    assert "ignores k" in verdict(q, lambda p, k: 1 - p)[1]


def test_p4_q3_fallback_tail():
    q = phase4.q3
    assert q.check(reference(phase4, q, "p99"))
    assert "is the median" in verdict(q, 0.010)[1]
    assert "is the mean" in verdict(q, 0.0105)[1]
    assert "in milliseconds" in verdict(q, 20)[1]
    assert "give a number" in verdict(q, "20 ms")[1]


# -- phase 6 ----------------------------------------------------------------------------------


def test_p6_q1_full_jitter():
    q = phase6.q1
    assert q.check(reference(phase6, q, "full_jitter_delays"))
    capped = [min(0.1, 0.01 * 2 ** (n - 1)) for n in range(1, 10)]
    assert "that is no jitter;" in verdict(q, lambda a, b, c, rng: capped[: a - 1])[1]
    assert (
        "equal jitter" in verdict(q, lambda a, b, c, rng: [x / 2 + rng.uniform(0, x / 2) for x in capped[: a - 1]])[1]
    )
    no_cap = verdict(q, lambda a, b, c, rng: [rng.uniform(0, b * 2 ** (n - 1)) for n in range(1, a)])[1]
    assert "outside [0, 0.1]" in no_cap
    assert (
        "the first is base itself"
        in verdict(q, lambda a, b, c, rng: [rng.uniform(0, min(c, b * 2**n)) for n in range(1, a)])[1]
    )
    assert "no retry, so no wait" in verdict(q, lambda a, b, c, rng: [rng.uniform(0, b) for _ in range(a)])[1]


def pool_map(fetch, requests, workers):
    with ThreadPoolExecutor(workers) as pool:
        return list(zip(requests, pool.map(fetch, requests), strict=True))


def one_thread(fetch, requests, workers):
    answers = []
    for request in requests:
        try:
            answers.append((request, fetch(request)))
        except Exception as exc:
            answers.append((request, exc))
    return answers


def completion_order(fetch, requests, workers):
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        answers = []
        for future in as_completed(futures):
            try:
                answers.append((futures[future], future.result()))
            except Exception as exc:
                answers.append((futures[future], exc))
        return answers


def test_p6_q2_safe_pool():
    q = phase6.q2
    assert q.check(reference(phase6, q, "pool_fetch"))
    assert "first exception hides every later answer" in verdict(q, pool_map)[1]
    assert "ran in the calling thread" in verdict(q, one_thread)[1]
    assert "not in the order of `requests`" in verdict(q, completion_order)[1]


def test_p6_q3_mean_wait():
    q = phase6.q3
    assert q.check(reference(phase6, q, "mean_wait"))
    assert "half the makespan" in verdict(q, 0.05)[1]
    assert "mean latency" in verdict(q, 0.055)[1]
    assert "in milliseconds" in verdict(q, 45)[1]
    assert "how long the last requests wait" in verdict(q, 0.09)[1] and "is the makespan" in verdict(q, 0.1)[1]


# -- every question -----------------------------------------------------------------------------

CHECKED = [(m, name) for m in (phase3, phase4, phase6) for name in ("q1", "q2", "q3")]


@pytest.mark.parametrize(("module", "name"), CHECKED, ids=lambda x: getattr(x, "__name__", x))
def test_starters_none_and_blanks_are_not_attempted(module, name):
    q = getattr(module, name)
    for answer in (BLANK, None):
        assert verdict(q, answer)[0] == "not attempted"
    result = q.check()
    assert not result and result.status == "not attempted"
    if q.expects.startswith("a function"):
        assert verdict(q, starter)[0] == "not attempted"


@pytest.mark.parametrize(("module", "name"), CHECKED, ids=lambda x: getattr(x, "__name__", x))
def test_nothing_useless_is_ever_correct(module, name):
    q = getattr(module, name)
    for answer in (0, "", [], lambda *args: None):
        assert not q.check(answer)


@pytest.mark.parametrize("question", [phase3.q1, phase3.q3, phase4.q2, phase6.q1], ids=str)
def test_a_hanging_answer_is_cut_off(question):
    started = time.perf_counter()
    status, message = verdict(question, hangs)
    assert status == "incorrect" and "did not return within" in message
    assert time.perf_counter() - started < 5


def test_a_hanging_worker_is_cut_off():
    started = time.perf_counter()
    status, message = verdict(phase3.q2, lambda tasks, results, fetch: threading.Event().wait(30))
    assert status == "incorrect" and "still running after 2 s" in message
    assert time.perf_counter() - started < 5


def test_check_prints_one_line_and_result_is_silent_in_ipython(capsys):
    result = phase3.q1.check(lambda n, k, latency: math.ceil(n / k) * latency)
    assert capsys.readouterr().out.startswith("q1 ✓ Correct: ")
    assert result and result._ipython_display_() is None


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


def test_random_answers_are_not_correct():
    rng = random.Random(1)
    for _ in range(20):
        value = rng.uniform(0, 1)
        assert not phase4.q3.check(value) and not phase6.q3.check(value)
