"""Shared state made visible: the worst interleaving of threads, forced on purpose, and locks that report.

A lost update (two threads read the same value, both write value + 1) happens on a real machine only
when the operating system switches threads between a read and its write: rarely, by luck. Here a
:class:`Switchboard` forces that switch *every time*: a thread that reaches a switch point (a read of
a :class:`Counter`, a :class:`SharedDict` or an :class:`Account`'s balance, or just after taking a
:class:`Lock`) waits until every other thread of the run has reached a switch point too, is waiting for
one of the run's locks, or has finished. So each demonstration gives the same count on every run, and
a check can judge a learner's code by what happened, never by how long it took.

Every wait is bounded: a thread waits at most ``bound`` seconds at a switch point, then goes on alone (on
Linux it waits on, up to ``patience`` seconds, while another thread of the process is running or ready to
run: a busy machine, slow to run that thread, does not change what happens). A :class:`Lock` notices a
deadlock (threads each holding a lock another waits for, with no timeout) or a lock whose holder has
finished, and raises :class:`Deadlock` in the waiting thread instead of hanging. A thread still running
when its run times out is stopped (:class:`Abandoned`) at its next switch point or lock call.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ._checks import check_int
from .claims import Claim
from .timing import clock

__all__ = [
    "Abandoned",
    "Account",
    "Counter",
    "Deadlock",
    "Lock",
    "Race",
    "Retried",
    "Run",
    "SharedDict",
    "Switchboard",
    "lock_cost",
    "lock_cost_claim",
    "race",
]

RUNNING, PARKED, BLOCKED, DONE = "running", "parked", "blocked", "done"
HOLDING, RELEASED = "holding", "released"  # a thread that gave up a lock: still holding others / holding none
LONGEST_SLEEP = 0.02  # a sleep of a board's thread, while its sleeps are watched, lasts at most this long
SPIN_CPU = 0.0005  # CPU seconds a thread used between giving up a lock and its retry, with no pause: a busy wait
SLICE = 0.005  # a blocked acquire looks for a deadlock this often
LONG_TIMEOUT = 1.0  # s: a timed acquire this long is a safety net; no lock of a check is held anywhere near it


class Deadlock(RuntimeError):
    """Raised in a thread that would wait forever for a :class:`Lock` (a cycle of waits, or a holder gone).

    ``kept_first``: the thread gave up a lock, kept the lock(s) it held, and tried again, while the holder of the
    lock it wants does the same for one of its own: timeouts that never let go are still a deadlock."""

    def __init__(self, message: str, *, kept_first: bool = False) -> None:
        super().__init__(message)
        self.kept_first = kept_first


class Retried(RuntimeError):
    """Raised in a thread that gave up a lock, released what it held, and tried again with no pause between
    (only while :meth:`Switchboard.sleeps_seen` watches the board's sleeps). ``while_holding``: it did sleep,
    but while it still held a lock, which is no pause. ``spun``: in between it kept the CPU busy (at least
    ``SPIN_CPU`` seconds of its own CPU time), a busy-wait loop instead of a pause."""

    def __init__(self, message: str, *, while_holding: bool = False, spun: bool = False) -> None:
        super().__init__(message)
        self.while_holding, self.spun = while_holding, spun


class Abandoned(RuntimeError):
    """Raised in a thread of a :meth:`Switchboard.run` still running at its timeout, at its next switch point or
    lock call: a thread stuck in a loop over the board's objects leaves instead of spinning in the kernel forever."""


@dataclass
class Run:
    """What a :meth:`Switchboard.run` did: per thread, its return value or the exception it raised."""

    names: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)
    alive: list[str] = field(default_factory=list)  # threads still running at the bound
    switches: int = 0  # forced switches: a thread stopped between two steps while the others ran

    @property
    def deadlocks(self) -> list[Deadlock]:
        return [e for e in self.errors.values() if isinstance(e, Deadlock)]


class Switchboard:
    """Forces the worst interleaving at the switch points of the threads it runs (see the module's doc).

    ``bound``: how long a thread waits at a switch point for threads the board cannot see progress in (one
    blocked on a lock of its own, say). ``patience``: the longest it waits while another thread of the process
    is running or ready to run (Linux: its state in /proc is R), e.g. one that a busy machine has not run yet.
    A thread not started by :meth:`run` passes every switch point at once (the library's objects then behave as
    plain ones).
    """

    def __init__(self, *, bound: float = 0.2, patience: float = 2.0):
        if not isinstance(bound, int | float) or isinstance(bound, bool) or not 0 < bound <= 10:
            raise ValueError(f"bound must be a number of seconds in (0, 10], got {bound!r}")
        if not isinstance(patience, int | float) or isinstance(patience, bool) or not bound <= patience <= 60:
            raise ValueError(f"patience must be a number of seconds from bound to 60, got {patience!r}")
        self.bound, self.patience = float(bound), float(patience)
        self._cond = threading.Condition()
        self._state: dict[int, str] = {}
        self._names: dict[int, str] = {}
        self._waits: dict[int, Lock] = {}  # thread -> the lock it waits for with no timeout
        self._generation = 0
        self._backed_off: set[int] = set()  # threads whose acquire (timed or a try) gave up once
        self._held: dict[int, list[Lock]] = {}  # thread -> the locks of this board it holds
        self._abandoned: set[int] = set()  # threads of a run that outlived its timeout: told to leave
        self._pending: dict[int, str] = {}  # thread -> HOLDING or RELEASED, after an acquire of it gave up
        self._wants: dict[int, Lock] = {}  # thread -> the lock it gave up while holding others, until it lets go
        self._slept: dict[int, float] = {}  # thread -> seconds slept since it gave up and released every lock
        self._slept_holding: set[int] = set()  # threads that slept after giving up, still holding a lock
        self._cpu_at: dict[int, float] = {}  # thread -> its CPU time when it had released every lock after giving up
        self.pauses: dict[str, list[float]] = {}  # thread name -> its pause before each retry after giving up
        self.pause_count: dict[int, int] = {}  # thread -> how many pauses of it sleeps_seen saw (any, anywhere)
        self.judge_pauses = False  # a retry with no pause raises Retried (set by sleeps_seen)
        self.switches = 0
        self.timeouts = 0  # switch points left alone at the bound (a thread the board cannot see was busy)
        self.most_holders = 0  # the most threads that held locks of this board at the same time
        self.alone_after: int | None = None  # see ``alone``
        self.alone = False  # set, and the run's threads told to leave, once ``alone_after`` switch points timed
        # out while no two threads had ever held the board's locks at once: every thread waits for one holder

    # -- running threads ------------------------------------------------------------------------

    def run(self, calls: Sequence[Callable[[], Any]], *, timeout: float = 5.0, prefix: str = "worker") -> Run:
        """Run each call on a thread of its own, at once; wait for all (at most ``timeout`` s)."""
        names = [f"{prefix}-{i}" for i in range(len(calls))]
        result = Run(names)
        started = threading.Barrier(len(calls) + 1, timeout=timeout)

        def target(name: str, call: Callable[[], Any]) -> None:
            me = threading.get_ident()
            with self._cond:
                self._state[me], self._names[me] = RUNNING, name
            try:
                started.wait()
                result.values[name] = call()
            except Abandoned:  # told to leave after the run's timeout: already reported as alive
                pass
            except BaseException as exc:  # the run reports it; a thread never dies silently
                result.errors[name] = exc
            finally:
                with self._cond:
                    self._state[me] = DONE
                    self._release_if_ready()

        threads = [
            threading.Thread(target=target, args=(n, c), name=f"ella-shared-{n}", daemon=True)
            for n, c in zip(names, calls, strict=True)
        ]
        before = self.switches
        for t in threads:
            t.start()
        started.wait()  # every thread is registered before any reaches a switch point
        deadline = clock() + timeout
        for t in threads:
            t.join(max(0.0, deadline - clock()))
        result.alive = [n for n, t in zip(names, threads, strict=True) if t.is_alive()]
        result.switches = self.switches - before
        if result.alive:  # stuck threads leave at their next switch point or lock call (a pure busy loop cannot)
            with self._cond:
                self._abandoned |= {t.ident for t in threads if t.is_alive() and t.ident is not None}
                self._cond.notify_all()
            for t in threads:
                t.join(max(0.0, 1.0 - (clock() - deadline)))
        return result

    def _leave_if_abandoned(self, me: int) -> None:
        if me in self._abandoned:
            raise Abandoned(f"{self.name(me)} was still running at the end of its run: stopped")

    def held(self, ident: int | None = None) -> list[Lock]:
        """The locks of this board that a thread (by default the current one) holds now."""
        with self._cond:
            return list(self._held.get(threading.get_ident() if ident is None else ident, ()))

    def name(self, ident: int | None) -> str:
        return self._names.get(ident, "another thread") if ident is not None else "nobody"

    @contextmanager
    def sleeps_seen(self, *namespaces: dict[str, Any]) -> Iterator[None]:
        """Watch the pauses of this board's threads: ``time.sleep`` (and, in each namespace, every name bound to
        it), and ``threading.Event.wait`` / ``threading.Condition.wait`` called, with a timeout, from code whose
        globals are one of ``namespaces`` (the learner's module, say: the library's own waits are not pauses).

        A pause of a thread of the run, after it gave up a lock and released every lock it held, is recorded
        (its pause before trying again, see ``pauses``); a pause while it still holds a lock is no pause (the
        other threads wait for that lock all the while) and counts as none. Such a pause of a thread of the run
        counts as waiting (the others go on meanwhile) and lasts at most ``LONGEST_SLEEP`` seconds; a pause that
        follows no give-up is a switch point instead (the others run until they reach one), so a pause before a
        transfer cannot let the first thread to wake take its locks alone every time. Any other thread's pause is
        the real one. A thread that tries again with no pause raises :class:`Retried` at that acquire.
        """
        real = time.sleep
        real_event_wait, real_cond_wait = threading.Event.wait, threading.Condition.wait
        spaces = [id(space) for space in namespaces]

        def paused(seconds: Any, wait: Callable[[float], Any], instead: Callable[[], Any] | None = None) -> Any:
            me = threading.get_ident()
            if self._state.get(me) in (None, DONE) or not isinstance(seconds, int | float) or seconds < 0:
                return wait(seconds)
            self.pause_count[me] = self.pause_count.get(me, 0) + 1
            if self._pending.get(me) is None:  # no give-up before it: a switch point, as the others run meanwhile
                return instead() if instead is not None else self.switch()  # (a real sleep would let the first
                # thread to wake take its locks alone, every time: no two holders, no deadlock shown)
            with self._cond:
                if self._pending.get(me) == RELEASED:  # a pause counts once every lock is released
                    self._slept[me] = self._slept.get(me, 0.0) + seconds
                elif self._pending.get(me) == HOLDING:  # the others wait for what it holds: no pause at all
                    self._slept_holding.add(me)
                self._state[me] = BLOCKED
                self._release_if_ready()
            try:
                return wait(min(seconds, LONGEST_SLEEP))
            finally:
                with self._cond:
                    self._state[me] = RUNNING
                    self._cond.notify_all()

        def sleep(seconds: float) -> None:
            paused(seconds, real)

        def from_learner() -> bool:
            return id(sys._getframe(2).f_globals) in spaces

        def event_wait(event: threading.Event, timeout: float | None = None) -> bool:
            if timeout is None or not from_learner():
                return real_event_wait(event, timeout)

            def switch_then_look() -> bool:
                self.switch()
                return event.is_set()

            return paused(timeout, lambda seconds: real_event_wait(event, seconds), switch_then_look)

        def cond_wait(cond: threading.Condition, timeout: float | None = None) -> bool:
            if timeout is None or not from_learner():
                return real_cond_wait(cond, timeout)

            def switch_released() -> bool:  # the condition's lock let go meanwhile, as a wait does
                state = cond._release_save()  # type: ignore[attr-defined]
                try:
                    self.switch()
                finally:
                    cond._acquire_restore(state)  # type: ignore[attr-defined]
                return False  # as a wait that timed out

            return paused(timeout, lambda seconds: real_cond_wait(cond, seconds), switch_released)

        swapped = [(space, name) for space in namespaces for name, value in list(space.items()) if value is real]
        time.sleep, self.judge_pauses = sleep, True
        threading.Event.wait, threading.Condition.wait = event_wait, cond_wait  # type: ignore[method-assign]
        for space, name in swapped:
            space[name] = sleep
        try:
            yield
        finally:
            time.sleep, self.judge_pauses = real, False
            threading.Event.wait, threading.Condition.wait = real_event_wait, real_cond_wait  # type: ignore[method-assign]
            for space, name in swapped:
                if space.get(name) is sleep:
                    space[name] = real

    def _gave_up(self, me: int, lock: Lock) -> None:
        """An acquire of ``me`` returned False: if it holds a lock, its pause before trying again is watched."""
        self._backed_off.add(me)  # its retries are not forced into the same clash (see Lock)
        with self._cond:
            if self._held.get(me):
                self._pending[me], self._slept[me] = HOLDING, 0.0
                self._slept_holding.discard(me)
                self._wants[me] = lock  # it still holds its locks, and may come back for this one

    def _kept_and_retried(self, lock: Lock) -> str | None:
        """The current thread gave up a lock and, still holding what it held, asks for ``lock``: the cycle this
        closes (each holder keeps its lock and wants the next one), or None."""
        me = threading.get_ident()
        with self._cond:
            if self._pending.get(me) != HOLDING:
                return None
            said, current = [], lock
            for _ in range(len(self._state) + 1):
                owner = current.owner
                if owner is None:
                    return None
                said.append(f"{current.name} is held by {self.name(owner)}")
                if owner == me:
                    return "; ".join(said) + " (this thread): each keeps its lock and retries the other's"
                wanted = self._waits.get(owner) or (self._wants.get(owner) if self._pending.get(owner) == HOLDING
                                                    else None)  # fmt: skip
                if wanted is None:
                    return None
                said.append(f"{self.name(owner)} wants {wanted.name}")
                current = wanted
            return None

    def call_over(self) -> None:
        """The current thread's call is over: its next acquire starts a new call, not a retry of a lock it gave up."""
        with self._cond:
            self._pending.pop(threading.get_ident(), None)
            self._wants.pop(threading.get_ident(), None)
            self._slept.pop(threading.get_ident(), None)
            self._slept_holding.discard(threading.get_ident())

    def _released_all(self, me: int) -> None:
        with self._cond:
            if self._pending.get(me) == HOLDING and not self._held.get(me):
                self._pending[me] = RELEASED
                self._wants.pop(me, None)
                self._cpu_at[me] = time.thread_time()

    def _trying(self, me: int) -> None:
        """``me`` calls acquire: if it gave up a lock and released everything since, record its pause."""
        with self._cond:
            if self._pending.get(me) != RELEASED:
                return
            del self._pending[me]
            pause = self._slept.pop(me, 0.0)
            spun = time.thread_time() - self._cpu_at.pop(me, time.thread_time()) >= SPIN_CPU
            holding = me in self._slept_holding
            self._slept_holding.discard(me)
            self.pauses.setdefault(self.name(me), []).append(pause)
        if pause <= 0 and self.judge_pauses:
            raise Retried(f"{self.name(me)} gave up a lock and tried again with no pause"
                          + (" after every lock was released (it paused while still holding one)" if holding else "")
                          + (" (it kept the CPU busy in between: a spin)" if spun and not holding else ""),
                          while_holding=holding, spun=spun and not holding)  # fmt: skip

    # -- switch points --------------------------------------------------------------------------

    def switch(self) -> None:
        """A switch point: wait until every other thread of the run is at one, waiting for a lock, or done."""
        me = threading.get_ident()
        with self._cond:
            if me not in self._state:
                return
            self._leave_if_abandoned(me)
            self._state[me] = PARKED
            generation = self._generation
            others = any(s in (RUNNING, PARKED) for t, s in self._state.items() if t != me)
            self._release_if_ready()
            start = clock()
            deadline = start + self.bound
            while self._generation == generation and me not in self._abandoned:
                left = deadline - clock()
                if left <= 0:
                    if clock() - start < self.patience and _others_runnable():
                        deadline = clock() + min(self.bound, 0.02)
                        continue
                    self.timeouts += 1
                    self._alone_check()
                    break
                self._cond.wait(left)
            if others:
                self.switches += 1
            self._state[me] = RUNNING
            self._leave_if_abandoned(me)

    def _alone_check(self) -> None:
        """(Under ``_cond``.) Once ``alone_after`` switch points timed out and no two threads ever held locks at
        once, set ``alone`` and tell the run's threads to leave: waiting on would only repeat the same story."""
        if self.alone_after is not None and self.timeouts >= self.alone_after and self.most_holders < 2:
            self.alone = True
            self._abandoned |= {t for t, s in self._state.items() if s != DONE}
            self._cond.notify_all()

    def _release_if_ready(self) -> None:
        states = self._state.values()
        if PARKED in states and all(s != RUNNING for s in states):
            for thread, state in self._state.items():  # running again from now on, before they even wake
                if state == PARKED:
                    self._state[thread] = RUNNING
            self._generation += 1
            self._cond.notify_all()

    def _blocked(self, lock: Lock, untimed: bool) -> None:
        me = threading.get_ident()
        with self._cond:
            if me in self._state:
                self._state[me] = BLOCKED
                if untimed:
                    self._waits[me] = lock
                self._release_if_ready()

    def _unblocked(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if me in self._state:
                self._state[me] = RUNNING
                self._waits.pop(me, None)
                self._cond.notify_all()  # a thread handing a lock over may be waiting for this one to stop waiting

    def _stuck(self, lock: Lock) -> str | None:
        """Why the current thread would wait for ``lock`` forever (a cycle, a holder gone), or None."""
        me = threading.get_ident()
        with self._cond:
            said, current, seen = [], lock, 0
            while True:
                owner = current.owner
                if owner is None or seen > len(self._state):
                    return None
                seen += 1
                said.append(
                    f"{'which waits for ' if said else ''}{current.name}{', held' if said else ' is held'} by "
                    f"{self.name(owner)}"
                )
                if owner == me:
                    self._waits.pop(me, None)  # this thread gives up: the others of the cycle wait on
                    return ", ".join(said) + " (this thread): a cycle of waits, a deadlock"
                if self._state.get(owner) == DONE:
                    self._waits.pop(me, None)
                    return ", ".join(said) + ", which has finished without releasing it"
                if owner not in self._waits:
                    return None
                current = self._waits[owner]


_QUIET = Switchboard()  # objects made without a board: no thread of theirs is ever parked


def _others_runnable() -> bool:
    """Is another thread of this process running or ready to run (Linux: state R)? False where /proc is not there."""
    me = str(threading.get_native_id())
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return False
    for task in tasks:
        if task == me:
            continue
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii", errors="replace") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "R":
            return True
    return False


class Lock:
    """A ``threading.Lock`` that tells its :class:`Switchboard` when a thread waits for it, and reports.

    Same use: ``with lock:``, ``acquire(blocking=True, timeout=-1)``, ``release()``, ``locked()``. After a
    thread takes it, that thread reaches a switch point (except a thread that once gave up, a timed wait or a
    try with ``acquire(False)``: forcing the same clash on every retry would defeat any back-off, which no
    real scheduler does; whether a retry pauses, and for how long, the board records instead: see
    :meth:`Switchboard.sleeps_seen`). With ``refuse_first_try``, the first timed or non-blocking acquire of each
    thread returns False (after a switch), as if another thread held the lock past the timeout: code that
    ignores the False, or drops its update, shows it on every run (``refused`` lists (thread, how it asked);
    ``refused_long`` the timeouts of at least ``LONG_TIMEOUT`` it refused). ``refuse_long = False`` spares those:
    no lock of a check is held that long, so a real wait of that length would never give up.
    A try that fails (``acquire(False)``) and ``locked()`` are switch points too: what they saw may change before
    the thread acts on it. A ``release()`` while another thread of the run waits for the lock hands it over:
    the releasing thread goes on once that thread has it, so it cannot take it straight back. A wait that
    could never end raises :class:`Deadlock` (within a few milliseconds) in the waiting thread.
    ``owner`` is the holder's thread id; ``taken`` counts acquisitions, ``waited`` those that found it held,
    ``tries_failed`` the ``acquire(False)`` that returned False; ``failed_last`` holds the threads whose last
    acquire returned False; ``unpaused_tries`` counts the tries (``acquire(False)`` or a zero timeout) that followed a
    failed try of the same thread with no pause between (as :meth:`Switchboard.sleeps_seen` sees pauses): a spin.
    A blocking or timed acquire after a failed try is no spin: it sleeps while it waits.
    """

    def __init__(self, board: Switchboard | None = None, name: str = "a lock", *, refuse_first_try: bool = False):
        self.board, self.name = board or _QUIET, name
        self.refuse_first_try = refuse_first_try
        self.refuse_long = True
        self.refused: list[tuple[int, str]] = []
        self.refused_long: list[float] = []
        self.tries_failed = self.unpaused_tries = 0
        self.failed_last: set[int] = set()
        self._tried_at: dict[int, int] = {}  # thread -> its board pause count when its acquire(False) failed
        self._lock = threading.Lock()
        self._waiters: set[int] = set()  # threads of the board waiting for it now
        self.owner: int | None = None
        self.taken = self.waited = 0
        self.deadlocks: list[str] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        self.board._leave_if_abandoned(me)
        untimed = blocking and (timeout is None or timeout < 0)
        trying = not blocking or (not untimed and timeout == 0)  # a try: it never waits (a zero timeout too)
        tried_at = self._tried_at.pop(me, None)
        if trying and tried_at is not None and tried_at == self.board.pause_count.get(me, 0):
            self.unpaused_tries += 1  # a try again, with no pause since the last failed one: a spin (a wait is none)
        self.board._trying(me)
        kept = self.board._kept_and_retried(self)
        if kept is not None:
            self.deadlocks.append(kept)
            raise Deadlock(f"{self.board.name(me)} gave up a lock, kept the one it held, and asked again for "
                           f"{self.name}: {kept}", kept_first=True)  # fmt: skip
        long = blocking and not untimed and timeout >= LONG_TIMEOUT
        refuse = self.refuse_first_try and not untimed and (self.refuse_long or not long)
        if refuse and me in self.board._state and all(t != me for t, _ in self.refused):
            self.refused.append((me, "acquire(False)" if not blocking else "acquire(timeout=...)"))
            if long:
                self.refused_long.append(float(timeout))
            self._failed(me, tried=trying)
            self.board.switch()  # the others run meanwhile, as they would while it waited
            return False
        if self._lock.acquire(False):
            return self._took(me)
        if trying:  # a try that failed lets the others run (a spinning thread would hold up every switch)
            self.tries_failed += 1
            self._failed(me, tried=True)  # and, as after a timed wait that gave up, its retries are not forced
            self.board.switch()
            return False
        self.waited += 1
        deadline = None if untimed else clock() + timeout
        self.board._blocked(self, untimed)
        self._waiters.add(me)
        try:
            while True:
                step = SLICE if deadline is None else max(0.0, min(SLICE, deadline - clock()))
                if self._lock.acquire(timeout=step):
                    break
                self.board._blocked(self, untimed)  # still waiting (a release may have woken it to try)
                self.board._leave_if_abandoned(me)
                if deadline is not None and clock() >= deadline:
                    self._failed(me)
                    return False
                why = self.board._stuck(self) if untimed else self.board._kept_and_retried(self)
                if why is not None and not untimed:
                    self.deadlocks.append(why)
                    raise Deadlock(f"{self.board.name(me)} gave up a lock, kept the one it held, and asked again "
                                   f"for {self.name}: {why}", kept_first=True)  # fmt: skip
                if why is not None:
                    self.deadlocks.append(why)
                    raise Deadlock(f"{self.board.name(me)} would wait forever for {self.name}: {why}")
        finally:
            self._waiters.discard(me)
            self.board._unblocked()
        return self._took(me)

    def _failed(self, me: int, *, tried: bool = False) -> None:
        self.failed_last.add(me)
        if tried:
            self._tried_at[me] = self.board.pause_count.get(me, 0)
        self.board._gave_up(me, self)

    def _took(self, me: int) -> bool:
        self.failed_last.discard(me)
        self.owner = me
        self.taken += 1
        with self.board._cond:
            if self.board._wants.get(me) is self:
                del self.board._wants[me]
            self.board._held.setdefault(me, []).append(self)
            holders = sum(1 for locks in self.board._held.values() if locks)
            self.board.most_holders = max(self.board.most_holders, holders)
            self.board._cond.notify_all()  # a thread handing this lock over waits for this
        if me not in self.board._backed_off:  # a thread that backed off is not forced into the same clash again
            self.board.switch()
        return True

    def release(self) -> None:
        """Release it; a thread of the run waiting for it takes it before this one goes on (a hand-over)."""
        with self.board._cond:
            for held in self.board._held.values():
                if self in held:
                    held.remove(self)
        self.owner = None
        self._lock.release()  # RuntimeError when not locked, as threading.Lock
        board = self.board
        if threading.get_ident() not in board._state:
            return
        board._released_all(threading.get_ident())
        with board._cond:  # hand it over: go on once a waiting thread has it (or none waits any more)
            start = clock()
            while self.owner is None and any(board._state.get(t) == BLOCKED for t in self._waiters):
                if clock() - start > board.bound and not (clock() - start < board.patience and _others_runnable()):
                    board.timeouts += 1
                    break
                board._cond.wait(0.02)

    def locked(self) -> bool:
        """Whether a thread holds it; a switch point (the answer may change before the caller acts on it)."""
        held = self._lock.locked()
        self.board.switch()
        return held

    def held_by_me(self) -> bool:
        return self.owner == threading.get_ident()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<ella_lab.shared.Lock {self.name} {'locked' if self._lock.locked() else 'unlocked'}>"


class Counter:
    """A number that threads read and write in two steps: ``read()`` is a switch point, ``write(value)`` is not."""

    def __init__(self, board: Switchboard | None = None, value: int = 0):
        self.board, self.value = board or _QUIET, value
        self.reads = self.writes = 0

    def read(self) -> int:
        value = self.value
        self.reads += 1
        self.board.switch()
        return value

    def write(self, value: int) -> None:
        self.value = value
        self.writes += 1


class SharedDict(dict):
    """A dict shared by threads whose reads (``d[k]``, ``get``, ``in``, ``setdefault``, ``pop``) are switch points.

    With a ``guard`` lock, ``unguarded_reads`` and ``unguarded_writes`` list the keys read or written (by
    ``d[k] = v``, ``update``, ``|=``, ``setdefault``, ``pop``, ``del``, ``clear``) by a thread that did not hold it.
    ``unguarded_after_refusal`` lists those written by a thread whose last acquire of it returned False.
    ``stale_writes`` lists the keys written under the guard by a thread that had read them without it and not
    read them again under it since: a check-then-act split across the lock. (A read after the guarded update,
    to return the new count, say, is no such bug: it is not listed.) ``split_writes`` lists the keys written under
    the guard by a thread whose last read of them was under an earlier hold of it: read in one ``with lock:``,
    written back in another, whatever the threads' order in this run.
    """

    def __init__(self, board: Switchboard | None = None, guard: Lock | None = None):
        super().__init__()
        self.board, self.guard = board or _QUIET, guard
        self.unguarded_reads: list[Any] = []
        self.unguarded_writes: list[Any] = []
        self.stale_writes: list[Any] = []
        self.unguarded_after_refusal: list[Any] = []  # unguarded writes by a thread whose last acquire gave up
        self._unguarded_seen: dict[int, set[Any]] = {}  # thread -> keys it read without the guard, not re-read under it
        self._guarded_seen: dict[int, dict[Any, int]] = {}  # thread -> key -> the hold (taken) it was read in
        self.split_writes: list[Any] = []  # keys written under the guard, read under an earlier hold of it, not since

    def _read(self, key: Any) -> None:
        if self.guard is not None:
            seen = self._unguarded_seen.setdefault(threading.get_ident(), set())
            if self.guard.held_by_me():
                seen.discard(key)
                self._guarded_seen.setdefault(threading.get_ident(), {})[key] = self.guard.taken
            else:
                self.unguarded_reads.append(key)
                seen.add(key)
        self.board.switch()

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self._read(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().get(key, default)
        self._read(key)
        return value

    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        self._read(key)
        return found

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if not super().__contains__(key):
            self._wrote(key, inserts_only=True)  # never overwrites: an earlier read cannot make it stale
        value = super().setdefault(key, default)
        self._read(key)
        return value

    def _wrote(self, key: Any, *, inserts_only: bool = False) -> None:
        if self.guard is None:
            return
        if not self.guard.held_by_me():
            self.unguarded_writes.append(key)
            if threading.get_ident() in self.guard.failed_last:
                self.unguarded_after_refusal.append(key)
        elif key in self._unguarded_seen.get(threading.get_ident(), ()):
            self.stale_writes.append(key)
        elif not inserts_only and self._guarded_seen.get(threading.get_ident(), {}).get(key, self.guard.taken) != (
            self.guard.taken  # while this thread holds the guard, nobody else takes it: ``taken`` names this hold
        ):
            self.split_writes.append(key)  # read in one `with lock:`, written back in another: a lost update

    def __setitem__(self, key: Any, value: Any) -> None:
        self._wrote(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._wrote(key)
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # as dict.update: each key a write
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> SharedDict:
        self.update(other)
        return self

    def pop(self, key: Any, *default: Any) -> Any:
        self._wrote(key)
        value = super().pop(key, *default)
        self._read(key)
        return value

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self._wrote(key)
        return key, value

    def clear(self) -> None:
        for key in list(self.keys()):
            self._wrote(key)
        super().clear()


class Account:
    """A bank account for the transfer lessons: ``number``, ``balance`` (reading it is a switch point), ``lock``.

    ``writes`` records, per write of ``balance``: (the writer's name, the names of the locks it held); ``reads``
    the same per read.
    """

    def __init__(self, number: int, balance: int, board: Switchboard | None = None):
        self.number, self.board = number, board or _QUIET
        self._balance = balance
        self.lock = Lock(self.board, name=f"account {number}'s lock")
        self.writes: list[tuple[str, frozenset[str]]] = []
        self.reads: list[tuple[str, frozenset[str]]] = []

    @property
    def balance(self) -> int:
        me = threading.get_ident()
        self.reads.append((self.board.name(me), frozenset(lock.name for lock in self.board.held(me))))
        value = self._balance
        self.board.switch()
        return value

    @balance.setter
    def balance(self, value: int) -> None:
        me = threading.get_ident()
        self.writes.append((self.board.name(me), frozenset(lock.name for lock in self.board.held(me))))
        self._balance = value

    def __repr__(self) -> str:
        return f"Account({self.number}, balance={self._balance})"


# -- the notebook's demonstrations ---------------------------------------------------------------


@dataclass
class Race:
    """``threads`` threads, each running ``work(counter, lock)`` ``times`` times: what the counter says."""

    threads: int
    times: int
    counted: int
    switches: int
    waited: int  # acquisitions of the lock that found it held

    @property
    def expected(self) -> int:
        return self.threads * self.times

    @property
    def lost(self) -> int:
        return self.expected - self.counted


def race(work: Callable[[Counter, Lock], Any], *, threads: int = 2, times: int = 100, bound: float = 0.2) -> Race:
    """Run ``work(counter, lock)`` ``times`` times on each of ``threads`` threads, switches forced."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 16:
        raise ValueError(f"threads must be an int from 1 to 16, got {threads!r}")
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 10_000:
        raise ValueError(f"times must be an int from 1 to 10000, got {times!r}")
    board = Switchboard(bound=bound)
    counter, lock = Counter(board), Lock(board, name="the lock")

    def each() -> None:
        for _ in range(times):
            work(counter, lock)

    run = board.run([each] * threads, timeout=max(5.0, times * threads * bound))
    if run.errors or run.alive:
        first = next(iter(run.errors.values()), None)
        raise RuntimeError(f"the race did not finish: {first!r}, still running: {run.alive}") from first
    return Race(threads, times, counter.value, run.switches, lock.waited)


def lock_cost(n: int = 100_000) -> tuple[float, float]:
    """Seconds per step of a loop doing ``count += 1`` on a local int, on one thread: (without a lock, with the step
    inside ``with threading.Lock()``)."""
    check_int("n", n, minimum=1)
    lock = threading.Lock()

    def bare() -> float:
        count, start = 0, time.perf_counter()
        for _ in range(n):
            count += 1  # noqa: SIM113 - the increment is what is timed
        return (time.perf_counter() - start) / n

    def locked() -> float:
        count, start = 0, time.perf_counter()
        for _ in range(n):
            with lock:
                count += 1
        return (time.perf_counter() - start) / n

    return min(bare() for _ in range(3)), min(locked() for _ in range(3))


def lock_cost_claim(costs: tuple[float, float]) -> Claim:
    """:func:`lock_cost`'s two times: taking and releasing a free lock costs under 2 µs (a few hundred ns on a
    desktop; 2 µs leaves room for a slow, busy machine)."""
    bare, locked = costs
    return Claim("taking and releasing a free lock costs under 2 µs", locked - bare, high=2e-6)
