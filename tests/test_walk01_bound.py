"""Notebook 01 q2 (submit_all) checks the bound its task states: wait at most 5 s for each answer.

The check holds the first answer back until the caller waits for it, so an answer that waits with no time limit
meets an answer that is not there yet on every run, however fast or slow the machine.
"""

import contextlib
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, as_completed, wait

import numpy as np
import pytest
from waiting import wait_until

from ella_lab.exercises import walk01

pytestmark = pytest.mark.timeout(60)


def no_timeout(router, requests):
    futures = [router.submit(r) for r in requests]
    return [f.result() for f in futures]


def slow_caller_no_timeout(router, requests):  # a busy machine: the caller gets to its first wait late
    futures = [router.submit(r) for r in requests]
    time.sleep(0.3)
    return [f.result() for f in futures]


def a_minute(router, requests):
    futures = [router.submit(r) for r in requests]
    return [f.result(timeout=60) for f in futures]


def a_numpy_minute(router, requests):
    futures = [router.submit(r) for r in requests]
    return [f.result(timeout=np.int64(60)) for f in futures]  # passed: the check only compared int and float


def positional_bound(router, requests):
    futures = [router.submit(r) for r in requests]
    return [f.result(5) for f in futures]


def wait_then_collect(router, requests):  # if wait() ran out, result() with no timeout waits for ever
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=5)
    return [f.result() for f in futures]


def wait_then_check(router, requests):  # looks at what wait() left undone before calling result()
    futures = [router.submit(r) for r in requests]
    _, not_done = wait(futures, timeout=5)
    if not_done:
        raise TimeoutError(f"{len(not_done)} answers missing")
    return [f.result() for f in futures]


def first_completed_loop(router, requests):
    futures = [router.submit(r) for r in requests]
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
        if not done:
            raise TimeoutError("no answer within 5 s")
    return [f.result() for f in futures]


def as_completed_then_reorder(router, requests):
    futures = [router.submit(r) for r in requests]
    answers = {f: f.result() for f in as_completed(futures, timeout=5)}
    return [answers[f] for f in futures]


def wait_a_minute_then_bounded_results(router, requests):  # one 60 s wait: 60 <= 5 * 12 passed the visible check
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=60)
    return [f.result(timeout=5) for f in futures]


def as_completed_a_minute(router, requests):  # the same, through as_completed
    futures = [router.submit(r) for r in requests]
    answers = {f: f.result() for f in as_completed(futures, timeout=60)}
    return [answers[f] for f in futures]


def wait_five_seconds_a_request(router, requests):  # a total that grows with the batch: still one long wait
    futures = [router.submit(r) for r in requests]
    _, not_done = wait(futures, timeout=5 * len(futures))
    if not_done:
        raise TimeoutError(f"{len(not_done)} answers missing")
    return [f.result() for f in futures]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (wait_a_minute_then_bounded_results, "wait(timeout=60) may wait 60 s at once"),
        (as_completed_a_minute, "as_completed(timeout=60) may wait 60 s at once"),
        (wait_five_seconds_a_request, "wait(timeout=60) may wait 60 s at once"),
    ],
    ids=["wait(timeout=60)", "as_completed(timeout=60)", "wait(timeout=5 * len)"],
)
def test_one_long_wait_is_judged_the_same_for_every_batch_size(answer, words):
    # the first two passed the visible check before (60 <= 5 s x 12 requests) and failed the hidden one (11)
    result = walk01.q2.check(answer)
    assert result.status == "incorrect" and words in result.message, result.message
    hidden = walk01.q2.hidden_check(answer)
    assert hidden.status == "incorrect" and "may wait" in hidden.message, hidden.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (no_timeout, "with no timeout waits for ever"),
        (slow_caller_no_timeout, "with no timeout waits for ever"),
        (a_minute, "may wait 60 s for one answer"),
        (a_numpy_minute, "may wait 60 s for one answer"),
        (wait_then_collect, "can return before every answer is there"),
    ],
    ids=["no timeout", "no timeout, called late", "60 s", "60 s as numpy", "result() after a wait that may run out"],
)
def test_a_wait_without_the_5_s_bound_is_rejected_both_ways(answer, words):
    result = walk01.q2.check(answer)
    assert result.status == "incorrect" and words in result.message, result.message
    hidden = walk01.q2.hidden_check(answer)
    assert hidden.status == "incorrect" and words in hidden.message, hidden.message


@pytest.mark.parametrize(
    "answer",
    [positional_bound, as_completed_then_reorder, wait_then_check, first_completed_loop],
)
def test_bounded_waits_written_other_ways_pass(answer):
    assert walk01.q2.check(answer), walk01.q2.check(answer).message
    assert walk01.q2.hidden_check(answer), walk01.q2.hidden_check(answer).message


def test_the_held_answer_is_released_when_the_answer_returns_without_waiting(monkeypatch):
    # a wrong answer returns its futures and never waits: the held worker must go when the check ends,
    # not at the end of its patience (made a minute here, so that only the release can end it)
    monkeypatch.setattr(walk01._CountingRouter, "HOLD", 60.0)
    before = set(threading.enumerate())
    result = walk01.q2.check(lambda router, requests: [router.submit(r) for r in requests])
    assert result.status == "incorrect" and "Future objects" in result.message
    workers = [t for t in threading.enumerate() if t not in before and t.name.startswith("ella-worker")]
    assert wait_until(lambda: not any(t.is_alive() for t in workers), timeout=10), workers


def test_every_wait_is_noted_with_its_timeout():
    seen = []

    def answer(router, requests):
        futures = [router.submit(r) for r in requests]
        answers = [f.result(timeout=5) for f in futures]
        seen.extend(router.waits)
        return answers

    assert walk01.q2.check(answer)
    assert seen and all(t == 5 for t in seen), seen  # the first answer was held: at least that wait is noted


def polls_done(router, requests):  # waits for ever if an answer never comes: no time limit anywhere
    futures = [router.submit(r) for r in requests]
    while not all(f.done() for f in futures):
        time.sleep(0.001)
    return [f.result() for f in futures]


def closes_the_router(router, requests):  # `with` closes the router on exit, waiting with no time limit
    with router:
        futures = [router.submit(r) for r in requests]
    return [f.result(timeout=5) for f in futures]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (polls_done, "in a way the check cannot see"),
        (closes_the_router, "close() waits for every answer with no time limit"),
    ],
    ids=["polls done()", "with router:"],
)
def test_a_wait_the_check_cannot_see_is_rejected_both_ways(answer, words):
    # these passed before: the held answer was let go after 3 s and every answer came back in order
    for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


def bounded_by_exception(router, requests):
    futures = [router.submit(r) for r in requests]
    for f in futures:
        f.exception(timeout=5)  # waits at most 5 s; result() then returns at once
    return [f.result() for f in futures]


def test_a_bounded_wait_through_exception_passes():
    assert walk01.q2.check(bounded_by_exception), walk01.q2.check(bounded_by_exception).message


def test_answers_that_are_none_are_named_as_such():
    def no_wait(router, requests):
        futures = [router.submit(r) for r in requests]
        return [f.result(timeout=5) if f.done() else None for f in futures]

    result = walk01.q2.check(no_wait)
    assert result.status == "incorrect" and "of the answers are None" in result.message, result.message
    assert ".value" not in result.message


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (125, "looks like milliseconds; in seconds, 0.125 s: that is N·L/K"),
        (2.5, "that is N/K"),
        (0.05, "as if all ten ran at once"),  # these two got the generic "N× the model" before (seen)
        (4, "the number of rounds on 3 workers"),
    ],
)
def test_q1_names_more_slips(answer, words):
    result = walk01.q1.check(answer)
    assert result.status == "incorrect" and words in result.message, result.message


@pytest.mark.parametrize("answer", [0.7, 70, 14])
def test_q3_names_the_success_side(answer):
    result = walk01.q3.check(answer)
    assert result.status == "incorrect" and "succe" in result.message, result.message


def waits_for_all_unbounded(router, requests):
    futures = [router.submit(r) for r in requests]
    wait(futures)  # no timeout: waits for ever if one answer never comes
    return [f.result() for f in futures]


def as_completed_unbounded(router, requests):
    futures = [router.submit(r) for r in requests]
    answers = {f: f.result() for f in as_completed(futures)}  # no timeout
    return [answers[f] for f in futures]


def waits_ten_minutes(router, requests):
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=600)
    return [f.result() for f in futures]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (waits_for_all_unbounded, "wait() with no timeout waits for ever"),
        (as_completed_unbounded, "as_completed() with no timeout waits for ever"),
        (waits_ten_minutes, "wait(timeout=600) may wait 600 s at once"),
    ],
    ids=["wait()", "as_completed()", "wait(timeout=600)"],
)
def test_wait_and_as_completed_are_held_to_the_bound_too(answer, words):
    # these passed before: the held answer was let go as soon as wait/as_completed waited on it, whatever its timeout
    for _ in range(3):  # as_completed is a generator, off the stack between answers: the verdict must not depend on it
        for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
            assert result.status == "incorrect" and words in result.message, result.message


def wait_then_raise_another_error(router, requests):  # says what went missing, in its own exception
    futures = [router.submit(r) for r in requests]
    _, not_done = wait(futures, timeout=5)
    if not_done:
        raise RuntimeError(f"{len(not_done)} answers did not arrive within 5 s")
    return [f.result() for f in futures]


def wait_then_none_for_missing(router, requests):  # the task allows None for an answer that did not come
    futures = [router.submit(r) for r in requests]
    done, _ = wait(futures, timeout=5)
    return [f.result() if f in done else None for f in futures]


def result_or_none(router, requests):
    answers = []
    for f in [router.submit(r) for r in requests]:
        try:
            answers.append(f.result(timeout=5))
        except TimeoutError:
            answers.append(None)
    return answers


@pytest.mark.parametrize("answer", [wait_then_raise_another_error, wait_then_none_for_missing, result_or_none])
def test_a_missing_answer_may_raise_anything_or_become_none(answer):
    # the first two were rejected before, after the check itself made wait() run out: "your answer raised
    # RuntimeError(...)", and "12 of the answers are None ... (a timeout of 0 does not wait)"
    for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
        assert result.status == "correct", result.message
    message = walk01.q2.check(answer).message
    if answer is not result_or_none:  # the check made its wait() run out, and says so
        assert "as if its timeout had passed" in message and "On a run where every answer came" in message, message


def none_whatever_happens(router, requests):  # waits, then drops every answer
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=5)
    return [None for _ in futures]


def raises_whatever_happens(router, requests):
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=5)
    raise RuntimeError("gave up")


@pytest.mark.parametrize(
    ("answer", "words"),
    # none_whatever_happens was told "though every answer came"; since review 01c the check lets the other answers
    # come before the held one runs out, and names the None for them at once
    [(none_whatever_happens, "answers that had come"), (raises_whatever_happens, "your answer raised RuntimeError")],
)
def test_none_or_an_exception_when_every_answer_came_is_still_wrong(answer, words):
    for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
        assert result.status == "incorrect" and words in result.message, result.message


def retries_after_the_timeout(router, requests):  # retries for ever: 5 s at a time, with no end
    futures = [router.submit(r) for r in requests]
    out = []
    for f in futures:
        while True:
            try:
                out.append(f.result(timeout=5))
                break
            except TimeoutError:
                continue
    return out


def retries_once(router, requests):  # 10 s for the first answer, not 5
    answers = []
    for f in [router.submit(r) for r in requests]:
        try:
            answers.append(f.result(timeout=5))
        except TimeoutError:
            answers.append(f.result(timeout=5))
    return answers


@pytest.mark.parametrize("answer", [retries_after_the_timeout, retries_once], ids=["retries for ever", "retries once"])
def test_a_retry_after_the_timeout_is_rejected_both_ways(answer):
    # both passed before: the held answer was let go on the first result(timeout=5), so no retry ever happened
    for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
        assert result.status == "incorrect", result.message
        assert "after 5 s of waiting on it had run out: more than the 5 s" in result.message, result.message


def deadline_poller(router, requests):  # gives up on its own after 5 s: bounded, in a way the check cannot see
    futures = [router.submit(r) for r in requests]
    deadline = time.monotonic() + 5
    while not all(f.done() for f in futures) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [f.result(timeout=0) for f in futures]


def test_a_done_loop_is_not_told_it_has_no_time_limit():
    # the check cannot tell a deadline poller from polls_done; it said both "wait with no time limit", untrue here
    result = walk01.q2.check(deadline_poller)
    assert result.status == "incorrect", result.message
    assert "in a way the check cannot see" in result.message, result.message
    assert "no time limit" not in result.message, result.message


# -- a wait on the held answer after wait() or as_completed ran out ------------------------------------------------
# Every answer below passed the old check, visible and hidden (seen): it ran out only result(timeout) and wait(), and
# counted a second wait as a retry only after result(timeout); as_completed was never run out.


def wait_then_bounded_results(router, requests):  # 5 s in wait(), then 5 s more in result(): 10 s on one answer
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=5)
    return [f.result(timeout=5) for f in futures]


def wait_each_then_result(router, requests):  # the same, one future at a time
    answers = []
    for f in [router.submit(r) for r in requests]:
        wait([f], timeout=5)
        answers.append(f.result(timeout=5))
    return answers


def waits_twice(router, requests):
    futures = [router.submit(r) for r in requests]
    _, not_done = wait(futures, timeout=5)
    if not_done:
        wait(not_done, timeout=5)
    return [f.result(timeout=0) for f in futures]


def first_completed_until_all(router, requests):  # never gives up: 5 s at a time, for ever
    futures = [router.submit(r) for r in requests]
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
    return [f.result() for f in futures]


def as_completed_then_wait(router, requests):
    futures = [router.submit(r) for r in requests]
    try:
        list(as_completed(futures, timeout=5))
    except TimeoutError:
        wait(futures, timeout=5)
    return [f.result(timeout=0) if f.done() else None for f in futures]


@pytest.mark.parametrize(
    ("answer", "ran_out", "again"),
    [
        (wait_then_bounded_results, "concurrent.futures.wait(timeout=...)", "future.result(timeout=5)"),
        (wait_each_then_result, "concurrent.futures.wait(timeout=...)", "future.result(timeout=5)"),
        (waits_twice, "concurrent.futures.wait(timeout=...)", "wait(timeout=5)"),
        (first_completed_until_all, "concurrent.futures.wait(timeout=...)", "wait(timeout=5)"),
        (as_completed_then_wait, "as_completed(timeout=...)", "wait(timeout=5)"),
    ],
    ids=[
        "wait, then result(5)",
        "wait([f]), then result(5)",
        "wait twice",
        "FIRST_COMPLETED until all",
        "as_completed, then wait",
    ],
)
def test_a_second_wait_after_a_pool_wait_ran_out_is_a_retry(answer, ran_out, again):
    for _ in range(3):  # the run-out is the check's own doing, not the machine's: the same verdict every time
        for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
            assert result.status == "incorrect", result.message
            assert f"made your {ran_out} on the first answer run out" in result.message, result.message
            assert f"waited for that answer again ({again}) after 5 s of waiting on it had run out" in result.message


def as_completed_then_unbounded(router, requests):
    futures = [router.submit(r) for r in requests]
    try:
        for _ in as_completed(futures, timeout=5):
            pass
    except TimeoutError:
        pass
    return [f.result() for f in futures]  # waits for ever on an answer that never comes


def list_as_completed_then_unbounded(router, requests):
    futures = [router.submit(r) for r in requests]
    with contextlib.suppress(TimeoutError):
        list(as_completed(futures, timeout=5))
    return [f.result() for f in futures]


@pytest.mark.parametrize("answer", [as_completed_then_unbounded, list_as_completed_then_unbounded])
def test_result_without_timeout_after_as_completed_ran_out_is_rejected(answer):
    for _ in range(3):
        for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
            assert result.status == "incorrect", result.message
            assert (
                "as_completed(timeout=...) can stop (raising TimeoutError) before every answer is there"
                in result.message
            ), result.message


def as_completed_or_none(router, requests):  # gives up on what as_completed did not bring: None in its place
    futures = [router.submit(r) for r in requests]
    try:
        for _ in as_completed(futures, timeout=5):
            pass
    except TimeoutError:
        pass
    return [f.result(timeout=0) if f.done() else None for f in futures]


def as_completed_into_slots(router, requests):  # lets as_completed's TimeoutError through
    futures = {router.submit(r): i for i, r in enumerate(requests)}
    answers = [None] * len(requests)
    for f in as_completed(futures, timeout=5):
        answers[futures[f]] = f.result()
    return answers


def wait_each_or_none(router, requests):
    answers = []
    for f in [router.submit(r) for r in requests]:
        done, _ = wait([f], timeout=5)
        answers.append(f.result() if done else None)
    return answers


def wait_then_result_now(router, requests):  # result(timeout=0) after wait(): raises at once, no second wait
    futures = [router.submit(r) for r in requests]
    wait(futures, timeout=5)
    return [f.result(timeout=0) for f in futures]


@pytest.mark.parametrize(
    ("answer", "handled"),
    [
        (as_completed_or_none, "put None in place of the"),
        (as_completed_into_slots, "raised TimeoutError('"),
        (wait_each_or_none, "put None in place of the 1 answer not there yet"),
        (wait_then_result_now, "raised TimeoutError()"),
    ],
)
def test_answers_that_give_up_after_a_pool_wait_ran_out_pass(answer, handled):
    for _ in range(3):
        for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
            assert result.status == "correct", result.message
        message = walk01.q2.check(answer).message
        assert f"your function {handled}" in message and "it did not wait longer" in message, message


# -- messages that pointed the wrong way ------------------------------------------------------------------------------


def lazy_map(router, requests):  # map() submits one request each time the loop asks for the next future
    futures = map(router.submit, requests)
    return [f.result(timeout=5) for f in futures]


def lazy_generator(router, requests):
    futures = (router.submit(r) for r in requests)
    return [f.result(timeout=5) for f in futures]


def submits_every_request_twice(router, requests):
    futures = [router.submit(r) for r in requests]  # noqa: F841 (the bug: these futures are never read)
    return [router.submit(r).result(timeout=5) for r in requests]


def none_when_late(router, requests):
    futures = [router.submit(r) for r in requests]
    try:
        return [f.result(timeout=5) for f in futures]
    except TimeoutError:
        return None


def waits_on_an_event(router, requests):  # bounded, but not through a wait the check can see
    out = []
    for f in [router.submit(r) for r in requests]:
        came = threading.Event()
        f.add_done_callback(lambda _, came=came: came.set())
        out.append(f.result(timeout=0) if came.wait(5) else None)
    return out


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        # old message: "you waited for each answer before submitting the next", with nothing on why
        (lazy_map, "(map() is lazy: each submit runs only when the loop over it asks for the next future"),
        (lazy_generator, "a generator (… for …) is lazy"),
        # old: "did not return within 5.00 s: ... a wait with no time limit?" (the check held the duplicate 3 s too)
        (submits_every_request_twice, "DataRequest-0 was submitted more than once"),
        # old: "returned None: did you print the answers instead of returning them?"
        (none_when_late, "submit_all returned None: return a list with None in place of each missing answer"),
        # old: "the check cannot see a time limit in a done() loop": there is no done() loop here
        (waits_on_an_event, "in a way the check cannot see (a done() loop, an Event set by a callback)"),
    ],
    ids=["map", "generator", "submits twice", "None when late", "Event"],
)
def test_messages_name_the_actual_bug(answer, words):
    result = walk01.q2.check(answer)
    assert result.status == "incorrect" and words in result.message, result.message
    assert "did you print" not in result.message and "did not return within" not in result.message
    hidden = walk01.q2.hidden_check(answer)
    assert hidden.status == "incorrect", hidden.message


# Second review (01b): each answer below got the old check's wrong verdict or message (seen on the old code).


def waits_for_what_is_left_of_a_deadline(router, requests):  # old: rejected, "tried again after its 5 s ran out"
    futures = [router.submit(r) for r in requests]
    deadline = time.monotonic() + 5
    pending = set(futures)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
    return [f.result(timeout=0) if f.done() else None for f in futures]


def two_halves(router, requests):  # at most 2.5 + 2.5 = 5 s on one answer; old: rejected, "may take 10 s"
    futures = [router.submit(r) for r in requests]
    out = []
    for f in futures:
        try:
            out.append(f.result(timeout=2.5))
        except TimeoutError:
            out.append(f.result(timeout=2.5))
    return out


def result_per_answer_with_a_deadline(router, requests):  # one clock for the whole answer: right, and still is
    futures = [router.submit(r) for r in requests]
    deadline = time.monotonic() + 5
    return [f.result(timeout=max(0, deadline - time.monotonic())) for f in futures]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        # since review 01c its clock moves on by the 5 s the check made pass: it gives up, as on a slow day
        (waits_for_what_is_left_of_a_deadline, "put None in place of the 1 answer not there yet"),
        (two_halves, "raised TimeoutError()"),
        (result_per_answer_with_a_deadline, "raised TimeoutError()"),
    ],
    ids=["deadline loop", "2.5 s twice", "deadline per result"],
)
def test_waits_that_add_up_to_the_limit_pass_both_ways(answer, words):
    for _ in range(3):  # deterministic: the same verdict every time
        result = walk01.q2.check(answer)
        assert result.status == "correct" and words in result.message, result.message
        hidden = walk01.q2.hidden_check(answer)
        assert hidden.status == "correct", hidden.message


def half_then_more(router, requests):  # 2.5 s, then 3 s more on the same answer: 5.5 s
    futures = [router.submit(r) for r in requests]
    out = []
    for f in futures:
        try:
            out.append(f.result(timeout=2.5))
        except TimeoutError:
            out.append(f.result(timeout=3))
    return out


def throws_away_what_came(router, requests):  # old: accepted, "put None in place of the 12 answers not there yet"
    futures = [router.submit(r) for r in requests]
    try:
        return [f.result(timeout=5) for f in futures]
    except TimeoutError:
        return [None] * len(requests)


def unbounded_exception(router, requests):  # old message named future.result()
    futures = [router.submit(r) for r in requests]
    for f in futures:
        f.exception()
    return [f.result(timeout=5) for f in futures]


def from_a_thread_each(router, requests):  # old message: "after submitting 1 of the 12 requests (in batches?)"
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(lambda r: router.submit(r).result(timeout=5), requests))


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (half_then_more, "(future.result(timeout=3)) after 2.5 s of waiting on it had run out: more than the 5 s"),
        (throws_away_what_came, "returned None for 11 answers that had come (DataRequest-1 ...)"),
        (unbounded_exception, "future.exception() with no timeout waits for ever"),
        (from_a_thread_each, "submitted the requests from 12 threads"),
    ],
    ids=["2.5 s then 3 s", "None for every answer", "exception()", "a thread each"],
)
def test_second_review_answers_get_their_own_message(answer, words):
    for _ in range(3):
        result = walk01.q2.check(answer)
        assert result.status == "incorrect" and words in result.message, result.message
        hidden = walk01.q2.hidden_check(answer)
        assert hidden.status == "incorrect", hidden.message


# Third review (01c): each answer below got the old check's wrong verdict or message (seen on the old code).


def deadline_in_slices(router, requests, *, step=1.0):  # 5 s per answer, read in slices of `step` seconds
    out = []
    for f in [router.submit(r) for r in requests]:
        deadline = time.monotonic() + 5
        res = None
        while (left := deadline - time.monotonic()) > 0:
            try:
                res = f.result(timeout=min(step, left))
                break
            except TimeoutError:
                pass
        out.append(res)
    return out


def deadline_in_half_seconds(router, requests):
    return deadline_in_slices(router, requests, step=0.5)


def wait_in_slices(router, requests):  # one deadline for the batch, wait() in 0.5 s slices
    futures = [router.submit(r) for r in requests]
    deadline = time.perf_counter() + 5
    pending = set(futures)
    while pending and (left := deadline - time.perf_counter()) > 0:
        _, pending = wait(pending, timeout=min(0.5, left), return_when=FIRST_COMPLETED)
    return [f.result(timeout=0) if f.done() else None for f in futures]


@pytest.mark.parametrize(
    "answer", [deadline_in_slices, deadline_in_half_seconds, wait_in_slices], ids=["1 s slices", "0.5 s", "wait()"]
)
def test_deadline_loops_in_short_slices_pass_both_ways(answer):
    # old: rejected, "waited for that answer again (future.result(timeout=1)) after 1 s of waiting on it had run
    # out": the check made 1 s pass, but the answer's clock did not move
    for _ in range(3):
        result = walk01.q2.check(answer)
        assert result.status == "correct" and "put None in place of the 1 answer not there yet" in result.message, (
            result.message
        )
        hidden = walk01.q2.hidden_check(answer)
        assert hidden.status == "correct", hidden.message
    assert time.monotonic is walk01.time.monotonic and time.time() > 1e9  # the clocks are put back


def one_deadline_for_the_batch_in_slices(router, requests):  # never reads the answers that came after the deadline
    futures = [router.submit(r) for r in requests]
    deadline = time.monotonic() + 5
    out = []
    for f in futures:
        res = None
        while (left := deadline - time.monotonic()) > 0:
            try:
                res = f.result(timeout=min(1.0, left))
                break
            except TimeoutError:
                pass
        out.append(res)
    return out


def typo_in_the_handler(router, requests):
    out = []
    for f in [router.submit(r) for r in requests]:
        try:
            out.append(f.result(timeout=5))
        except TimeoutError:
            out.append(Nonee)  # noqa: F821 - the bug under test
    return out


def retries_just_under(router, requests, *, again=4.99):  # 5 s, then 4.99 s more: ~10 s on one answer
    out = []
    for f in [router.submit(r) for r in requests]:
        try:
            out.append(f.result(timeout=5))
        except TimeoutError:
            try:
                out.append(f.result(timeout=again))
            except TimeoutError:
                out.append(None)
    return out


def retries_at_4_95(router, requests):
    return retries_just_under(router, requests, again=4.95)


def none_for_the_rest_without_waiting(router, requests):  # after one timeout, drops the answers still to read
    out, gave_up = [], False
    for f in [router.submit(r) for r in requests]:
        if gave_up:
            out.append(None)
            continue
        try:
            out.append(f.result(timeout=5))
        except TimeoutError:
            out.append(None)
            gave_up = True
    return out


def deadline_reset_on_each_timeout(router, requests):  # re-arms 5 s on every timeout: waits for ever
    out = []
    for f in [router.submit(r) for r in requests]:
        while True:
            deadline = time.monotonic() + 5
            try:
                out.append(f.result(timeout=deadline - time.monotonic()))
                break
            except TimeoutError:
                pass
    return out


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        # old: rejected, "waited for that answer again (future.result(timeout=1)) after 1 s ... had run out"
        (one_deadline_for_the_batch_in_slices, "returned None for 11 answers that had come (DataRequest-1 ...)"),
        # old: accepted, "raised NameError(...): it did not wait longer"
        (typo_in_the_handler, "raised NameError(\"name 'Nonee' is not defined\"): a bug in the code that handles"),
        # old: accepted, "waited again only for what was left of those 5 s on its own clock"
        (retries_just_under, "waited for that answer again (future.result(timeout=4.99))"),
        (retries_at_4_95, "waited for that answer again (future.result(timeout=4.95))"),
        # old: accepted, "put None in place of the 6 answers not there yet"
        (none_for_the_rest_without_waiting, "returned None for 11 answers that had come (DataRequest-1 ...)"),
        # old message: "(future.result(timeout=4.999997350998456))"
        (deadline_reset_on_each_timeout, "waited for that answer again (future.result(timeout=5)) after 5 s"),
    ],
    ids=["batch deadline in slices", "NameError", "5 + 4.99", "5 + 4.95", "None for the rest", "deadline re-armed"],
)
def test_third_review_answers_get_their_own_message(answer, words):
    for _ in range(3):
        result = walk01.q2.check(answer)
        assert result.status == "incorrect" and words in result.message, result.message
        hidden = walk01.q2.hidden_check(answer)
        assert hidden.status == "incorrect", hidden.message


# -- review 01d: clocks read in ways the check did not move, and the messages of a retry and of an early give-up ----


def imports_time_inside(router, requests):  # a deadline in 0.5 s slices, `time` imported inside the function
    import time as clocks

    futures = [router.submit(r) for r in requests]
    out = []
    for f in futures:
        deadline = clocks.monotonic() + 5
        while True:
            try:
                out.append(f.result(timeout=0.5))
                break
            except TimeoutError:
                if clocks.monotonic() >= deadline:
                    raise
    return out


def test_a_deadline_read_from_time_imported_inside_the_answer_runs_out_too():
    # old: rejected on every run, "waited for that answer again (future.result(timeout=0.5)) ... (in a loop, for
    # ever)": only the names in the answer's module globals were moved, not `time` imported inside the function
    for _ in range(3):
        result = walk01.q2.check(imports_time_inside)
        assert result.status == "correct", result.message
        assert "raised TimeoutError()" in result.message, result.message


def test_the_time_modules_clocks_move_only_in_the_answers_frames_and_are_put_back():
    real = {name: getattr(time, name) for name in ("monotonic", "perf_counter", "time")}
    seen: dict[str, float] = {}

    def answer():
        seen["answer"] = time.monotonic()

    def elsewhere():
        seen["thread"] = time.monotonic()

    class Router:
        clock_reads = 0

        @staticmethod
        def shift():
            return 1000.0

    with walk01._module_clocks(answer, Router()):
        assert time.monotonic is not real["monotonic"]  # the module's clock is wrapped, for the answer's frames
        before = real["monotonic"]()
        answer()
        other = threading.Thread(target=elsewhere)  # another thread, as the router's workers
        other.start()
        other.join(timeout=5)
        library = walk01.clock()  # the library's own clock
        here = time.monotonic()  # this test's frame: not the answer's
        after = real["monotonic"]()
    assert seen["answer"] >= before + 1000 - 1e-6  # the answer reads the shift
    assert before <= seen["thread"] <= after  # the other thread reads real time
    assert before <= here <= after
    assert abs(library - after) < 60  # real time (perf_counter or monotonic), not 1000 s ahead
    assert {name: getattr(time, name) for name in real} == real  # put back


def datetime_deadline(router, requests):  # datetime.now() is C code: the check cannot move it
    import datetime

    futures = [router.submit(r) for r in requests]
    out = []
    for f in futures:
        end = datetime.datetime.now() + datetime.timedelta(seconds=5)
        while True:
            try:
                out.append(f.result(timeout=1))
                break
            except TimeoutError:
                if datetime.datetime.now() >= end:
                    raise
    return out


def unbounded_after_the_timeout(router, requests):  # no loop: one more wait, with no timeout
    out = []
    for f in [router.submit(r) for r in requests]:
        try:
            out.append(f.result(timeout=5))
        except TimeoutError:
            out.append(f.result())
    return out


def eleven_half_seconds(router, requests):  # 5.5 s on one answer: past the 5 s, not for ever
    out = []
    for f in [router.submit(r) for r in requests]:
        for _ in range(11):
            try:
                out.append(f.result(timeout=0.5))
                break
            except TimeoutError:
                pass
        else:
            out.append(None)
    return out


def a_tiny_timeout(router, requests):
    futures = [router.submit(r) for r in requests]
    return [f.result(timeout=0.005) for f in futures]


def sleeps_then_no_wait(router, requests):
    futures = [router.submit(r) for r in requests]
    time.sleep(0.2)
    return [f.result(timeout=0) for f in futures]


@pytest.mark.parametrize(
    ("answer", "words", "not_words"),
    [
        # old: "... (in a loop, for ever) ... (The check moved time.monotonic, time.perf_counter and time.time ...)"
        (datetime_deadline, "could not move the clock you read (datetime's now()", "for ever"),
        # old: "(in a loop, for ever)", though there is no loop
        (unbounded_after_the_timeout, "(future.result()) after 5 s of waiting on it had run out: with no", "loop"),
        # old: "(in a loop, for ever)": it waits 5.5 s
        (eleven_half_seconds, "more than the 5 s allowed for one answer", "for ever"),
        # old: only "your answer raised TimeoutError()"
        (a_tiny_timeout, "gave up after 0.005 s on an answer that came within the 5 s", "your answer raised"),
        (sleeps_then_no_wait, "gave up at once on an answer that came within the 5 s", "your answer raised"),
    ],
    ids=["datetime", "result() after the timeout", "11 × 0.5 s", "0.005 s", "sleep, then timeout=0"],
)
def test_review_01d_answers_get_their_own_message(answer, words, not_words):
    for _ in range(3):
        result = walk01.q2.check(answer)
        assert result.status == "incorrect" and words in result.message, result.message
        assert not_words not in result.message, result.message


# Review 01g (A7): the one-at-a-time message said "(map() and a generator ... are lazy ...)" to every answer, even
# to one that calls submit(r).result() in a loop, with no map and no generator (seen on 8832333). Now only to those.


def result_in_the_comprehension(router, requests):
    return [router.submit(r).result(timeout=5) for r in requests]


def result_in_a_loop(router, requests):
    answers = []
    for r in requests:
        answers.append(router.submit(r).result(timeout=5))
    return answers


@pytest.mark.parametrize("answer", [result_in_the_comprehension, result_in_a_loop], ids=["comprehension", "loop"])
def test_one_at_a_time_without_map_or_a_generator_is_not_told_of_laziness(answer):
    for result in (walk01.q2.check(answer), walk01.q2.hidden_check(answer)):
        assert result.status == "incorrect" and "the requests ran one at a time" in result.message, result.message
        assert "lazy" not in result.message and "map()" not in result.message, result.message


def test_as_completed_run_out_reports_the_count_real_as_completed_would():
    # as_completed drops each future it yields from its `fs`: the message said '1 (of 1) futures unfinished',
    # where as_completed itself says '1 (of 12)' (12 submitted, 11 answered, the held one missing)
    for check in (walk01.q2.check, walk01.q2.hidden_check):
        result = check(as_completed_then_reorder)
        assert result.status == "correct", result.message
        assert re.search(r"'1 \(of 1[12]\) futures unfinished'", result.message), result.message  # 12 or 11 asked
