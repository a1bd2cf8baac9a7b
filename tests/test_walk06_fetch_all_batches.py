"""Notebook 06's fetch_all (walk06.q1), the bugs its checks used to let through or misname: waiting for a
whole batch of `workers` before submitting the next (caught by an instrumented run: how many other calls
start while one slow call is in flight, no timing), calling fetch before submitting it, and Future objects
kept in the dict. Each is rejected by the visible and the hidden check, naming the bug; correct answers
written differently still pass."""

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, as_completed, wait

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk06

pytestmark = pytest.mark.timeout(120)
q = walk06.q1


# -- the bugs -------------------------------------------------------------------------------------


def batches_waited_for(fetch, requests, workers):  # submit `workers`, wait for all of them, then the next batch
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(requests), workers):
            futures = {pool.submit(fetch, r): r for r in requests[start : start + workers]}
            wait(futures)
            for future, request in futures.items():
                try:
                    answers[request] = future.result()
                except Exception as exc:
                    answers[request] = exc
    return answers


def a_pool_per_batch(fetch, requests, workers):  # the same bug, written as one pool per chunk
    answers = {}
    for start in range(0, len(requests), workers):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fetch, r): r for r in requests[start : start + workers]}
            for future in as_completed(futures):
                try:
                    answers[futures[future]] = future.result()
                except Exception as exc:
                    answers[futures[future]] = exc
    return answers


def fetch_called_before_submit(fetch, requests, workers):  # pool.submit(fetch(r)): fetch runs here, first
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch(r)): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = exc
    return answers


def keyed_by_future(fetch, requests, workers):  # the future as the key, not its request
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[future] = future.result()
            except Exception as exc:
                answers[future] = exc
    return answers


def futures_as_answers(fetch, requests, workers):  # result() never asked: the futures are the answers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return {r: pool.submit(fetch, r) for r in requests}


def fetch_called_before_submit_each_in_a_try(fetch, requests, workers):  # the same, a try around each submit
    answers, futures = {}, {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for r in requests:
            try:
                futures[pool.submit(fetch(r))] = r
            except Exception as exc:
                answers[r] = exc
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = exc
    return answers


CATALOGUE = [
    (batches_waited_for, "waits for a whole batch of `workers` before submitting the next"),
    (a_pool_per_batch, "waits for a whole batch of `workers` before submitting the next"),
    (fetch_called_before_submit, "pool.submit(fetch(request)) calls fetch here"),
    # fifth review: told "map each future back to its own request" for the answers' TypeError (seen)
    (fetch_called_before_submit_each_in_a_try, "pool.submit(fetch(request)) calls fetch here"),
    (keyed_by_future, "the keys are Future objects"),
    (futures_as_answers, "the entries are Future objects"),
]


@pytest.mark.parametrize(("answer", "expected"), CATALOGUE, ids=[a.__name__ for a, _ in CATALOGUE])
def test_the_bug_is_named_by_both_checks(answer, expected):
    assert_catalogue(q, answer, expected)


def test_the_batch_message_counts_the_idle_calls():
    """12 requests, 3 workers: the slow call's batch runs 2 others; the 9 of the next batches wait for it."""
    message = q.judge(batches_waited_for).message
    assert "while DataRequest-0 was slow, 2 other call(s) ran and 9 waited for it to end" in message, message
    assert "2 of the 3 threads were free" in message, message


# -- correct answers, written differently -------------------------------------------------------------


def fetch_all_safe_map(fetch, requests, workers):  # the try moved into the function the pool maps
    def safe(request):
        try:
            return fetch(request)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(requests, pool.map(safe, requests), strict=True))


def fetch_all_wait_first_completed(fetch, requests, workers):  # collected with wait(FIRST_COMPLETED)
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(fetch, r): r for r in requests}
        while pending:
            done, _ = wait(pending, timeout=5, return_when=FIRST_COMPLETED)
            for future in done:
                request = pending.pop(future)
                error = future.exception()
                answers[request] = future.result() if error is None else error
    return answers


@pytest.mark.parametrize("answer", [fetch_all_safe_map, fetch_all_wait_first_completed])
def test_correct_answers_written_differently_pass_both_checks(answer):
    assert q.check(answer)
    result = q.hidden_check(answer)
    assert result, result
