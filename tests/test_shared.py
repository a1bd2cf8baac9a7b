"""ella_lab.shared: the forced interleaving gives the same count on every run, and no wait can hang."""

import threading
import time

import pytest

from ella_lab.shared import Account, Counter, Lock, SharedDict, Switchboard, lock_cost, race

pytestmark = pytest.mark.timeout(60)


def add_one(counter, lock):
    value = counter.read()
    counter.write(value + 1)


def add_one_locked(counter, lock):
    with lock:
        value = counter.read()
        counter.write(value + 1)


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_a_lost_update_happens_on_every_run_and_the_lock_prevents_it(threads):
    for _ in range(3):
        unsafe = race(add_one, threads=threads, times=50)
        assert unsafe.counted == 50 and unsafe.lost == (threads - 1) * 50  # every round: one write survives
        safe = race(add_one_locked, threads=threads, times=50)
        assert safe.counted == safe.expected == threads * 50


def transfer_in_argument_order(source, target, amount):
    with source.lock, target.lock:
        source.balance -= amount
        target.balance += amount


def test_opposite_lock_orders_deadlock_every_run_and_are_caught_not_hung():
    for _ in range(5):
        board = Switchboard()
        a, b = Account(0, 100, board), Account(1, 100, board)
        started = time.monotonic()
        run = board.run(
            [
                lambda a=a, b=b: transfer_in_argument_order(a, b, 10),
                lambda a=a, b=b: transfer_in_argument_order(b, a, 20),
            ]
        )
        assert time.monotonic() - started < 5  # a loose bound: a hang would be forever
        assert len(run.deadlocks) == 1 and not run.alive
        assert "a cycle of waits" in str(run.deadlocks[0])
        assert a._balance + b._balance == 200  # the aborted transfer moved nothing
        assert not a.lock.locked() and not b.lock.locked()


def test_a_lock_whose_holder_finished_is_reported():
    board = Switchboard()
    lock = Lock(board, name="the lock")
    run = board.run([lambda: lock.acquire(), lambda: (board.switch(), lock.acquire())])
    assert len(run.deadlocks) == 1 and "finished without releasing" in str(run.deadlocks[0])


def test_a_timed_acquire_gives_up_and_says_false():
    board = Switchboard()
    lock = Lock(board)
    assert lock.acquire()
    results = []
    run = board.run([lambda: results.append(lock.acquire(timeout=0.01))])
    assert results == [False] and not run.errors
    lock.release()
    assert not lock.locked()


def test_outside_a_run_the_objects_are_plain():
    counter, lock, d = Counter(), Lock(), SharedDict()
    with lock:
        counter.write(counter.read() + 1)
    d["x"] = d.get("x", 0) + 1
    assert counter.value == 1 and d == {"x": 1} and "x" in d and not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


def test_the_dict_notes_reads_and_writes_without_its_guard():
    board = Switchboard()
    guard = Lock(board)
    d = SharedDict(board, guard=guard)
    board.run([lambda: d.__setitem__("a", d.get("a", 0) + 1)])
    assert d.unguarded_reads == ["a"] and d.unguarded_writes == ["a"]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="threads"):
        race(add_one, threads=0)
    with pytest.raises(ValueError, match="times"):
        race(add_one, times=True)
    with pytest.raises(ValueError, match="bound"):
        Switchboard(bound=0)


def test_lock_cost_is_per_increment():
    bare, locked = lock_cost(10_000)
    assert bare > 0 and locked > 0


def test_a_failed_deadlock_leaves_no_thread_behind():
    before = threading.active_count()
    board = Switchboard()
    a, b = Account(0, 1, board), Account(1, 1, board)
    board.run([lambda: transfer_in_argument_order(a, b, 1), lambda: transfer_in_argument_order(b, a, 1)])
    assert threading.active_count() <= before
