"""Sheet 03 q2, a shared cache that computes each key once (builds on notebook 03's tally and transfer): correct
answers written several ways pass the visible and the hidden check; each real bug is rejected by both, naming it.

The check forces the switches (``ella_lab.shared``): every read of the cache, every lock taken and every
computation lets the other threads run first, and a wait on a Future or an Event is seen by the board, so the
verdicts do not depend on the machine's speed. A thread that waits while holding the lock is caught under a
bound, never hung.
"""

import threading
import time
from concurrent.futures import Future

import pytest
from exercise_answers import assert_catalogue, reference

from ella_lab.exercises import phase3

pytestmark = pytest.mark.timeout(120)

Q = phase3.q2


# -- correct, written three ways -------------------------------------------------------------------


def with_an_event(cache, lock, key, compute):
    with lock:
        entry = cache.get(key)
        owner = entry is None
        if owner:
            entry = cache[key] = {"done": threading.Event()}
    if owner:
        entry["value"] = compute(key)
        entry["done"].set()
    entry["done"].wait()
    return entry["value"]


PENDING = object()


def polling(cache, lock, key, compute):
    """A placeholder, and the others look again until the answer is there (explicit acquire/release)."""
    while True:
        lock.acquire()
        try:
            if key not in cache:
                cache[key] = PENDING
                break
            value = cache[key]
        finally:
            lock.release()
        if value is not PENDING:
            return value
        time.sleep(0.001)
    value = compute(key)
    with lock:
        cache[key] = value
    return value


class Slot:
    def __init__(self):
        self.ready = threading.Condition()
        self.value, self.done = None, False


def with_a_condition(cache, lock, key, compute):
    with lock:
        slot = cache.setdefault(key, None)
        mine = slot is None
        if mine:
            slot = cache[key] = Slot()
    if mine:
        value = compute(key)
        with slot.ready:
            slot.value, slot.done = value, True
            slot.ready.notify_all()
    with slot.ready:
        slot.ready.wait_for(lambda: slot.done)
        return slot.value


CORRECT = [reference(phase3, Q, "get_once"), with_an_event, polling, with_a_condition]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: f.__name__)
def test_correct_answers_pass_the_visible_and_the_hidden_check(answer):
    visible = Q.judge(answer)
    assert visible, visible.message
    hidden = Q.hidden_check(answer)
    assert hidden, hidden.message


# -- the wrong-answer catalogue ----------------------------------------------------------------------


def no_lock(cache, lock, key, compute):
    if key not in cache:
        cache[key] = compute(key)
    return cache[key]


def compute_under_the_lock(cache, lock, key, compute):
    with lock:
        if key not in cache:
            cache[key] = compute(key)
        return cache[key]


def double_checked_compute_under_the_lock(cache, lock, key, compute):
    if key in cache:
        return cache[key]
    with lock:
        if key not in cache:
            cache[key] = compute(key)
    return cache[key]


def check_then_act(cache, lock, key, compute):
    with lock:
        if key in cache:
            return cache[key]
    value = compute(key)  # outside the lock, but nothing tells the others it is being computed
    with lock:
        cache[key] = value
    return value


def new_lock_per_call(cache, lock, key, compute):
    lock = threading.Lock()
    with lock:
        found = key in cache
    if not found:
        value = compute(key)
        with lock:
            cache[key] = value
    return cache[key]


def returns_the_placeholder(cache, lock, key, compute):
    with lock:
        future = cache.get(key)
        mine = future is None
        if mine:
            future = cache[key] = Future()
    if mine:
        future.set_result(compute(key))
    return future


def waits_under_the_lock(cache, lock, key, compute):
    with lock:
        future = cache.get(key)
        if future is not None:
            return future.result()  # waits for the owner while every other thread waits for the lock
        future = cache[key] = Future()
    future.set_result(compute(key))
    return future.result()


def lock_left_held_on_a_hit(cache, lock, key, compute):
    lock.acquire()
    if key in cache:
        return cache[key].result()  # returns with the lock still held
    cache[key] = future = Future()
    lock.release()
    future.set_result(compute(key))
    return future.result()


def takes_the_lock_twice(cache, lock, key, compute):
    with lock:
        future = cache.get(key)
        if future is None:
            with lock:  # a Lock is not re-entrant
                future = cache[key] = Future()
    future.set_result(compute(key))
    return future.result()


def forgets_return(cache, lock, key, compute):
    with lock:
        future = cache.get(key)
        mine = future is None
        if mine:
            future = cache[key] = Future()
    if mine:
        future.set_result(compute(key))
    future.result()


CATALOGUE = [
    (no_lock, "computed 3 times by 8 threads", "each found it missing, then computed it"),
    (compute_under_the_lock, "the lock was held during compute(", "the lock was held during compute("),
    (double_checked_compute_under_the_lock, "the lock was held during compute(", "the lock was held during compute("),
    (check_then_act, "another thread found it missing too", "another thread found it missing too"),
    (new_lock_per_call, "a new lock on every call", "a new lock on every call"),
    (returns_the_placeholder, "returned <Future", "returned <Future"),
    (waits_under_the_lock, "waited for the answer to", "while holding the lock"),
    (lock_left_held_on_a_hit, "returned still holding the lock", "returned still holding the lock"),
    (takes_the_lock_twice, "a Lock is not re-entrant", "a Lock is not re-entrant"),
    (forgets_return, "returned None", "returned None"),
]


@pytest.mark.parametrize(("answer", "visible", "hidden"), CATALOGUE, ids=[c[0].__name__ for c in CATALOGUE])
def test_each_real_bug_is_rejected_by_the_visible_and_the_hidden_check_naming_it(answer, visible, hidden):
    assert_catalogue(Q, answer, (visible, hidden))


def test_the_catalogue_is_large_enough_and_the_starter_is_not_attempted():
    assert len(CATALOGUE) >= 6 and len(CORRECT) >= 3
    assert Q.judge(lambda cache, lock, key, compute: (_ for _ in ()).throw(NotImplementedError)).status == (
        "not attempted"
    )


def test_a_wait_under_the_lock_with_no_timeout_is_caught_under_a_bound_not_hung():
    started = time.perf_counter()
    result = Q.judge(waits_under_the_lock)
    assert not result and "while holding the lock" in result.message
    assert time.perf_counter() - started < 30  # a loose bound: the check gives up its wait, it never hangs


def test_the_check_leaves_threading_as_it_found_it():
    before = (threading.Condition.wait, threading.Condition.notify)
    Q.judge(with_an_event)
    Q.judge(no_lock)
    assert (threading.Condition.wait, threading.Condition.notify) == before


def test_threads_that_never_return_are_reported_after_the_bound():
    started = time.perf_counter()
    result = Q.judge(lambda cache, lock, key, compute: threading.Event().wait(30))
    assert result.status == "incorrect" and "had not finished after 5 s" in result.message
    assert time.perf_counter() - started < 15  # a loose bound: the check gives up, it never hangs
