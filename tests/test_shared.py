"""ella_lab.shared: the forced interleaving gives the same count on every run, and no wait can hang."""

import threading
import time

import pytest
from waiting import wait_until

from ella_lab.shared import LONG_TIMEOUT, Account, Counter, Lock, SharedDict, Switchboard, lock_cost, race

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


def keeps_its_lock_and_retries(source, target):
    with source.lock:
        while not target.lock.acquire(timeout=0.01):
            time.sleep(0.001)
        target.lock.release()


def test_keeping_a_lock_while_retrying_the_other_is_a_deadlock_caught_at_once():
    for _ in range(3):
        board = Switchboard()
        a, b = Account(0, 100, board), Account(1, 100, board)
        for account in (a, b):
            account.lock.refuse_first_try = True  # each thread gives up once, while holding its first lock
        started = time.monotonic()
        run = board.run([lambda a=a, b=b: keeps_its_lock_and_retries(a, b),
                         lambda a=a, b=b: keeps_its_lock_and_retries(b, a)])  # fmt: skip
        assert time.monotonic() - started < 3  # a loose bound: it ran until the run's timeout before
        assert len(run.deadlocks) == 1 and run.deadlocks[0].kept_first and not run.alive
        assert "each keeps its lock and retries the other's" in str(run.deadlocks[0])


def test_retrying_while_holding_in_one_order_is_no_deadlock():
    board = Switchboard()
    a, b = Account(0, 100, board), Account(1, 100, board)
    for account in (a, b):
        account.lock.refuse_first_try = True
    run = board.run([lambda: keeps_its_lock_and_retries(a, b), lambda: keeps_its_lock_and_retries(a, b)])
    assert not run.errors and not run.alive


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


def test_the_dict_tells_a_check_outside_the_guard_from_a_read_after_the_update():
    board = Switchboard()
    guard = Lock(board)
    d = SharedDict(board, guard=guard)

    def check_outside_then_write_inside():
        if "a" not in d:  # unguarded check ...
            with guard:
                d["a"] = 0  # ... then a guarded act that did not look again: stale

    def update_then_read():
        with guard:
            d["b"] = d.get("b", 0) + 1
        return d["b"]  # a read after the update: not stale

    def read_outside_then_read_again_inside():
        d.get("c")
        with guard:
            d["c"] = d.get("c", 0) + 1  # looked again under the guard: not stale

    calls = (check_outside_then_write_inside, update_then_read, update_then_read, read_outside_then_read_again_inside)
    for call in calls:
        board.run([call])
    assert d.stale_writes == ["a"]
    assert d.unguarded_reads == ["a", "b", "b", "c"] and not d.unguarded_writes


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="threads"):
        race(add_one, threads=0)
    with pytest.raises(ValueError, match="times"):
        race(add_one, times=True)
    with pytest.raises(ValueError, match="bound"):
        Switchboard(bound=0)
    with pytest.raises(ValueError, match="patience"):
        Switchboard(bound=1, patience=0.5)


def test_lock_cost_is_per_increment():
    bare, locked = lock_cost(10_000)
    assert bare > 0 and locked > 0


@pytest.mark.parametrize(("n", "error"), [(0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError)])
def test_lock_cost_refuses_a_count_that_is_not_one_or_more(n, error):
    with pytest.raises(error, match="n must be"):  # 0 divided by zero; a float or a bool is not a count
        lock_cost(n)


def test_a_failed_deadlock_leaves_no_thread_behind():
    before = threading.active_count()
    board = Switchboard()
    a, b = Account(0, 1, board), Account(1, 1, board)
    board.run([lambda: transfer_in_argument_order(a, b, 1), lambda: transfer_in_argument_order(b, a, 1)])
    assert threading.active_count() <= before


def read_then_write_in_two_blocks(counter, lock):
    with lock:
        value = counter.read()
    with lock:
        counter.write(value + 1)


def test_a_released_lock_goes_to_the_waiting_thread_first():
    for _ in range(3):  # before: the releasing thread often took it straight back, and fewer updates were lost
        split = race(read_then_write_in_two_blocks, threads=2, times=20)
        assert split.counted == 20  # every round: both read the same value before either writes


def test_locked_and_a_failed_try_are_switch_points():
    board = Switchboard()
    lock = Lock(board)
    looked = board.run([lambda: lock.locked(), board.switch])
    assert looked.switches >= 1  # one thread paused at locked() while the other ran (before: 0)
    lock.acquire()  # held by this thread, outside the run: every try below fails
    tried = board.run([lambda: lock.acquire(False), board.switch])
    lock.release()
    assert tried.switches >= 1 and tried.values["worker-0"] is False


@pytest.mark.parametrize(
    "give_up", [lambda lock: lock.acquire(False), lambda lock: lock.acquire(timeout=0.01)], ids=["try", "timed"]
)
def test_a_thread_that_gave_up_once_is_not_forced_into_the_same_clash_again(give_up):
    # before, a failed acquire(False) did not count: every retry of a try-lock-and-back-off loop was forced
    # into the same clash, and a correct transfer hung until the check's bound
    board = Switchboard()
    lock = Lock(board)
    lock.acquire()  # held by this thread, outside the run: the first try fails
    run = board.run([lambda: (give_up(lock), threading.get_ident() in board._backed_off)])
    lock.release()
    assert run.values["worker-0"] == (False, True)


def test_threads_still_running_at_the_timeout_are_stopped_at_their_next_switch_point():
    board = Switchboard()
    lock = Lock(board)
    before = threading.active_count()

    def spin():
        while True:
            if lock.acquire(False):
                lock.release()

    run = board.run([spin], timeout=0.3)
    assert run.alive == ["worker-0"] and not run.errors
    assert threading.active_count() <= before  # it left (before: it spun in the process forever)


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/task"), reason="Linux: reads /proc")
def test_a_switch_point_tells_a_thread_ready_to_run_from_one_that_sleeps():
    from ella_lab.shared import _others_runnable

    stop = threading.Event()
    sleeper = threading.Thread(target=stop.wait, daemon=True)
    sleeper.start()
    assert wait_until(lambda: not _others_runnable())  # once it sleeps, a switch point waits only its bound for it
    spinning = True

    def spin():
        while spinning:
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        assert all(_others_runnable() for _ in range(20))  # one runs or waits to run: a switch point waits on
    finally:
        spinning = False
        stop.set()
        spinner.join(5)
        sleeper.join(5)


def test_refuse_first_try_fails_each_threads_first_timed_or_try_acquire_once():
    board = Switchboard()
    lock = Lock(board, name="the lock", refuse_first_try=True)

    def asks():
        return [lock.acquire(timeout=1), lock.acquire(timeout=1) and (lock.release() or True)]

    def tries():
        first = lock.acquire(False)
        while not lock.acquire(False):
            pass
        lock.release()
        return first

    def waits():  # an untimed acquire is never refused
        with lock:
            return True

    run = board.run([asks, tries, waits])
    assert not run.errors and run.values == {"worker-0": [False, True], "worker-1": False, "worker-2": True}
    assert sorted(how for _, how in lock.refused) == ["acquire(False)", "acquire(timeout=...)"]
    assert lock.acquire(timeout=0.1)  # a thread outside the run is never refused
    lock.release()


def back_off_and_retry(pause):
    def transfer(first, second):
        while True:
            with first:
                if second.acquire(timeout=0.01):
                    second.release()
                    return
            if pause is not None:
                time.sleep(pause())

    return transfer


@pytest.mark.parametrize(
    ("pause", "pauses"), [(lambda: 0.001, [0.001]), (lambda: 0.0, None), (None, None)], ids=["pause", "zero", "none"]
)
def test_sleeps_seen_records_the_pause_before_a_retry_and_a_retry_with_none_raises(pause, pauses):
    board = Switchboard()
    a, b = Lock(board, "a"), Lock(board, "b", refuse_first_try=True)
    real = time.sleep
    with board.sleeps_seen():
        assert time.sleep is not real
        run = board.run([lambda: back_off_and_retry(pause)(a, b)])
    assert time.sleep is real  # put back
    if pauses is None:  # tried again with no pause: Retried, at once
        assert type(run.errors["worker-0"]).__name__ == "Retried" and board.pauses == {"worker-0": [0.0]}
    else:
        assert not run.errors and board.pauses == {"worker-0": pauses}


def test_sleeps_seen_swaps_a_sleep_imported_by_name_and_leaves_other_threads_alone():
    board = Switchboard()
    space = {"sleep": time.sleep}
    with board.sleeps_seen(space):
        assert space["sleep"] is time.sleep is not real_sleep
        started = time.monotonic()
        space["sleep"](0.05)  # not a thread of the run: the real sleep, whole
        assert time.monotonic() - started >= 0.05
    assert space["sleep"] is real_sleep and time.sleep is real_sleep


real_sleep = time.sleep


def test_most_holders_counts_threads_holding_locks_at_once_and_alone_stops_a_run_that_waits_on_one_holder():
    board = Switchboard(bound=0.05)
    a, b = Account(0, 10, board), Account(1, 10, board)
    board.run([lambda: a.lock.acquire() and a.lock.release(), lambda: b.lock.acquire() and b.lock.release()])
    assert board.most_holders == 2  # each parked after its take, holding its own lock

    outside = threading.Lock()  # a lock the board cannot see: every switch point of its holder times out
    board = Switchboard(bound=0.05)
    board.alone_after = 3
    a, b = Account(0, 10, board), Account(1, 10, board)

    def serial(account):
        for _ in range(20):
            with outside, account.lock:
                account.balance += 1

    started = time.monotonic()
    run = board.run([lambda: serial(a), lambda: serial(b)], timeout=20)
    assert board.alone and board.most_holders == 1 and not run.alive and not run.errors
    assert time.monotonic() - started < 15  # a loose bound about a hang: 40 waits of 0.05 s without the stop


def test_sleeps_seen_records_event_and_condition_waits_of_the_watched_code_as_pauses():
    board = Switchboard(bound=0.05)
    first, second = Lock(board, name="first"), Lock(board, name="second", refuse_first_try=True)

    def backs_off(wait):
        while True:
            with first:
                if second.acquire(timeout=0.01):  # each thread's first is refused, while it holds `first`
                    second.release()
                    return
            wait(0.003)  # released every lock: the pause before the retry

    event, cond = threading.Event(), threading.Condition()

    def on_condition(seconds):
        with cond:
            cond.wait(seconds)

    with board.sleeps_seen(globals()):
        run = board.run([lambda: backs_off(event.wait), lambda: backs_off(on_condition)])
    assert not run.errors, run.errors  # a retry with no pause seen would raise Retried
    assert sorted(board.pauses.values()) == [[0.003], [0.003]]
    assert threading.Event.wait.__module__ == "threading" and threading.Condition.wait.__module__ == "threading"


def test_a_pause_that_follows_no_give_up_is_a_switch_point():
    # a real sleep there let the first thread to wake take its locks alone, every time: most_holders stayed 1
    board = Switchboard(bound=0.05)
    a, b = Account(0, 10, board), Account(1, 10, board)

    def pause_then_take(account, seconds):
        time.sleep(seconds)
        with account.lock:
            account.balance += 1

    for _ in range(5):
        with board.sleeps_seen():
            run = board.run([lambda: pause_then_take(a, 0.001), lambda: pause_then_take(b, 0.004)])
        assert not run.errors and board.most_holders == 2 and board.timeouts == 0


def test_unpaused_tries_counts_a_retry_of_a_failed_try_with_no_pause_between():
    def tries(pause):
        board = Switchboard(bound=0.05)
        lock = Lock(board, "the lock", refuse_first_try=True)

        def take():
            while not lock.acquire(False):
                if pause:
                    time.sleep(0.001)
            lock.release()

        with board.sleeps_seen():
            board.run([take])
        return lock.unpaused_tries

    assert tries(pause=False) == 1 and tries(pause=True) == 0


def test_lock_cost_claim():
    from ella_lab.shared import lock_cost_claim

    assert lock_cost_claim((23e-9, 186e-9)).holds()
    assert not lock_cost_claim((23e-9, 3e-6)).holds()


def test_refuse_long_false_spares_a_timed_acquire_of_a_second_or_more_and_refused_long_records_the_others():
    for refuse_long, expected in ((True, [False, True]), (False, [True, False])):
        board = Switchboard()
        lock = Lock(board, name="the lock", refuse_first_try=True)
        lock.refuse_long = refuse_long

        def asks(lock=lock):
            got = [lock.acquire(timeout=LONG_TIMEOUT)]
            if got[0]:
                lock.release()
            got.append(lock.acquire(timeout=0.5))  # a short timeout: refused once, whatever refuse_long says
            if got[1]:
                lock.release()
            return got

        run = board.run([asks])
        assert not run.errors and run.values == {"worker-0": expected}
        assert lock.refused_long == ([LONG_TIMEOUT] if refuse_long else [])


def test_unpaused_tries_counts_only_a_retry_that_is_itself_a_try():  # review 03f A11: a blocking wait was a "spin"
    def retries(then):
        board = Switchboard(bound=0.05)
        lock = Lock(board, "the lock", refuse_first_try=True)

        def take():
            if not lock.acquire(False):
                then(lock)
            lock.release()

        with board.sleeps_seen():
            run = board.run([take])
        assert not run.errors, run.errors
        return lock.unpaused_tries

    assert retries(lambda lock: lock.acquire()) == 0  # one try, then a blocking wait: no spin
    assert retries(lambda lock: lock.acquire(timeout=0.5)) == 0  # a timed wait sleeps too
    assert retries(lambda lock: lock.acquire(timeout=0) or lock.acquire()) == 1  # a zero timeout is a try
    assert retries(lambda lock: lock.acquire(blocking=False) or lock.acquire()) == 1
