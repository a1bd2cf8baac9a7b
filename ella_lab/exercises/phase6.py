"""Exercises for notebook 06, optimization: ``from ella_lab.exercises import phase6 as ex``."""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import Future
from typing import Any

from ._core import Incorrect, Question, Rendezvous, SecondsQuestion, as_real, call_bounded, same

__all__ = ["q1", "q2", "q3", "q4"]


class _Rng(random.Random):
    """The ``random.Random`` handed to the learner: counts the numbers drawn from it."""

    def __init__(self, seed: int):
        self.draws = 0
        self.reseeded = False
        super().__init__(seed)
        self.ready = True

    def seed(self, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "ready", False):  # not the constructor's own seeding
            self.reseeded = True
        super().seed(*args, **kwargs)

    def random(self) -> float:
        self.draws += 1
        return super().random()

    def getrandbits(self, k: int) -> int:
        self.draws += 1
        return super().getrandbits(k)


def _ks_uniform(values: list[float]) -> float:
    """The Kolmogorov-Smirnov distance between ``values`` and the uniform distribution on [0, 1]."""
    ordered = sorted(values)
    n = len(ordered)
    return max(max((i + 1) / n - v, v - i / n) for i, v in enumerate(ordered))


class FullJitter(Question):
    title = "Full-jitter backoff"
    expects = "a function full_jitter_delays(attempts, base, cap, rng)"
    answer_name = "full_jitter_delays"
    hints = (
        "There are attempts − 1 waits: one before each retry n = 1, 2, ...",
        "The ceiling before retry n is min(cap, base * 2 ** (n - 1)): base, 2·base, 4·base, ... never above cap.",
        "Full jitter waits a uniform random time between 0 and the ceiling, one new draw per wait, from the rng "
        "you are given: rng.uniform(0, ceiling).",
    )
    solution_text = """
        def full_jitter_delays(attempts, base, cap, rng):
            return [rng.uniform(0, min(cap, base * 2 ** (n - 1))) for n in range(1, attempts)]
    """
    SCENARIO = (6, 0.01, 0.1, range(400))
    HIDDEN = (8, 0.05, 0.5, range(1000, 1300))
    KS_LIMIT = 0.06  # the reference: 0.013 on the visible seeds, 0.036 on the hidden; a skewed draw: 0.15 and up

    def _check(self, delays_for: Any) -> str:
        self._run(delays_for, *self.SCENARIO)
        return "uniform below a doubling, capped ceiling: on average half the wait of no jitter, and no retry waves."

    def _check_hidden(self, delays_for: Any) -> str:
        self._run(delays_for, *self.HIDDEN)
        return "right on every case."

    @staticmethod
    def _as_list(got: Any, attempts: int) -> list[float]:
        if got is None:
            raise Incorrect(f"with attempts={attempts} your function returned None: return the list (not print it).")
        if isinstance(got, (str, bytes, dict, set)) or not hasattr(got, "__iter__"):
            raise Incorrect(f"return a list of waits, one per retry; got {type(got).__name__} {got!r:.60}.")
        waits = list(got)
        if any(as_real(w) is None for w in waits):
            raise Incorrect(f"every wait should be a number of seconds; got {waits!r:.80}.")
        return [as_real(w) for w in waits]

    def _run(self, delays_for: Any, attempts: int, base: float, cap: float, seeds: range) -> None:
        if not callable(delays_for):
            raise Incorrect(f"expected a function full_jitter_delays(attempts, base, cap, rng), got {delays_for!r}")
        one = self._as_list(call_bounded(delays_for, 1, base, cap, _Rng(0), what="full_jitter_delays"), 1)
        if one:
            raise Incorrect(f"with attempts=1 there is no retry, so no wait; got {one!r}.")
        ceilings = [min(cap, base * 2 ** (n - 1)) for n in range(1, attempts)]
        rngs = [_Rng(seed) for seed in seeds]
        saved = random.getstate()
        random.seed(f"ella-check-{seeds[0]}")  # a state of our own: any use of the global generator changes it
        marked = random.getstate()
        try:
            runs = call_bounded(
                lambda: [delays_for(attempts, base, cap, rng) for rng in rngs], what="full_jitter_delays", timeout=4.0
            )
            used_global = random.getstate() != marked
        finally:
            random.setstate(saved)
        if any(rng.reseeded for rng in rngs):
            raise Incorrect(
                "your function reseeds the rng it was given (rng.seed(...)): every caller then gets the same waits, "
                "and the caller's seed is lost. Draw from rng as it is."
            )
        samples = []
        for got in runs:
            waits = self._as_list(got, attempts)
            if len(waits) != attempts - 1:
                raise Incorrect(
                    f"with attempts={attempts} there are {attempts - 1} waits; got {len(waits)}: {waits!r:.80}."
                )
            for n, (delay, ceiling) in enumerate(zip(waits, ceilings, strict=True), start=1):
                if not 0 <= delay <= ceiling + 1e-12:
                    if n == 1 and delay <= 2 * base:
                        raise Incorrect(
                            f"the wait before retry 1 was {delay:.4g} s, above base = {base}: the ceiling before "
                            "retry n is base · 2**(n − 1), so the first is base itself."
                        )
                    raise Incorrect(
                        f"the wait before retry {n} was {delay:.4g} s, outside [0, {ceiling:g}] (cap {cap})."
                    )
            samples.append(waits)
        if used_global:
            raise Incorrect(
                "your function used Python's global random module (random.seed, random.uniform, ...): it changes "
                "every other user's random numbers, and a run cannot be repeated from the rng's seed. Draw every "
                "wait from the rng you were given: rng.uniform(...)."
            )
        for n in range(1, attempts):
            waits = [s[n - 1] for s in samples]
            if statistics.pstdev(waits) < 1e-12:
                if all(rng.draws == 0 for rng in rngs) and abs(waits[0] - ceilings[n - 1]) > 1e-12:
                    raise Incorrect(
                        f"the wait before retry {n} is {waits[0]:.4g} s whatever the seed of the rng you were given: "
                        "your waits do not come from that rng (a random.Random of your own?). Draw from rng."
                    )
                raise Incorrect(
                    f"the wait before retry {n} is always {waits[0]:.4g} s: that is no jitter; draw it at random."
                )
        if all(rng.draws == 0 for rng in rngs):
            raise Incorrect(
                "your waits are random, but none came from the rng you were given (a random.Random of your own, seeded "
                "from the time, say): a seeded run cannot be repeated. Draw with rng.uniform(...)."
            )
        again = self._as_list(
            call_bounded(delays_for, attempts, base, cap, _Rng(seeds[0]), what="full_jitter_delays"), attempts
        )
        if again != samples[0]:
            raise Incorrect(
                "the same seeded rng gave different waits on a second call: some of your randomness does not come "
                "from rng (a global random call, or time), so a run cannot be repeated."
            )
        units = [[w / c for w, c in zip(s, ceilings, strict=True)] for s in samples]
        reused = sum(1 for u in units if max(u) - min(u) < 1e-12)
        if reused > len(units) // 2:
            raise Incorrect(
                "every retry uses the same random draw (each wait is the same fraction of its ceiling): clients "
                "then move in step again. Draw a new number for each wait."
            )
        first = [u[0] for u in units]
        if max(first) <= 0.5 + 1e-9 and abs(statistics.fmean(first) - 0.25) < 0.05:
            raise Incorrect(
                f"the waits before retry 1 stay below base / 2 = {base / 2:g} s: the ceiling before retry n is "
                "base · 2**(n − 1), so the first is base itself (your exponent is one too low)."
            )
        for n in range(1, attempts):
            ratio = statistics.fmean(u[n - 1] for u in units)
            if abs(ratio - 0.75) < 0.05:
                raise Incorrect(
                    f"the waits before retry {n} average 0.75 of the ceiling: that is equal jitter, not full."
                )
            if abs(ratio - 0.5) > 0.06:
                raise Incorrect(
                    f"the waits before retry {n} average {ratio:.2f} of the ceiling; full jitter averages 0.5 "
                    "(uniform between 0 and the ceiling)."
                )
        distance = _ks_uniform([x for u in units for x in u])
        if distance > self.KS_LIMIT:
            raise Incorrect(
                f"the waits are not uniform between 0 and the ceiling (Kolmogorov-Smirnov distance {distance:.2f} > "
                f"{self.KS_LIMIT}): use rng.uniform(0, ceiling), not a curve of your own."
            )


class _Occupancy:
    """Proves that a free thread takes the next request at once: one slow call, many quick ones.

    The slow call (the first request) holds its thread until every other call has started (or 1 s). A pool
    kept busy runs all the others on its other threads meanwhile; code that waits for a whole batch before
    submitting the next leaves those threads idle, and the others start only after the slow call.
    """

    HOLD = 1.0

    def __init__(self, requests: tuple[str, ...]):
        self.requests = requests
        self.lock = threading.Lock()
        self.started: set[str] = set()
        self.during: set[str] = set()  # calls that started before the slow one ended
        self.slow_done = False
        self.everyone = threading.Event()

    def fetch(self, request: str) -> str:
        with self.lock:
            self.started.add(request)
            if not self.slow_done and request != self.requests[0]:
                self.during.add(request)
            if len(self.started) >= len(self.requests):
                self.everyone.set()
        if request == self.requests[0]:
            self.everyone.wait(self.HOLD)
            with self.lock:
                self.slow_done = True
        else:
            time.sleep(0.002)
        return f"Result for {request}"

    def idle(self) -> int:
        """How many of the other calls waited for the slow one, though a thread was free."""
        return len(self.requests) - 1 - len(self.during)


class SafePoolMap(Question):
    title = "A thread pool that loses no answer"
    expects = "a function pool_fetch(fetch, requests, workers)"
    answer_name = "pool_fetch"
    hints = (
        "pool.map stops at the first exception. Submit each request instead: pool.submit(fetch, request).",
        "Keep the futures in request order, then ask each one for its result inside try/except.",
        "Return [(request, value or exception), ...] in the order of `requests`, from a pool of `workers` threads.",
    )
    solution_text = """
        from concurrent.futures import ThreadPoolExecutor

        def pool_fetch(fetch, requests, workers):
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [(request, pool.submit(fetch, request)) for request in requests]
                answers = []
                for request, future in futures:
                    try:
                        answers.append((request, future.result()))
                    except Exception as exc:
                        answers.append((request, exc))
                return answers
    """
    # (requests, the failing ones and what each raises, workers): a source fails in more ways than ConnectionError
    SCENARIO = (
        tuple(f"DataRequest-{i}" for i in range(12)),
        {"DataRequest-4": ConnectionError, "DataRequest-9": TimeoutError},
        4,
    )
    HIDDEN = (
        (tuple(f"order-{i}" for i in range(30, 45)), {"order-41": ValueError, "order-33": ConnectionError}, 3),
        (tuple(f"q{i}" for i in range(9)), {"q0": RuntimeError}, 7),
    )

    def _check(self, pool_fetch: Any) -> str:
        self._run(pool_fetch, *self.SCENARIO)
        return "every answer kept, in order, the failure recorded, and `workers` calls at a time, never more."

    def _check_hidden(self, pool_fetch: Any) -> str:
        for scenario in self.HIDDEN:
            self._run(pool_fetch, *scenario)
        return "right on every case."

    def _run(self, pool_fetch: Any, requests: tuple, failing: dict[str, type[Exception]], workers: int) -> None:
        if not callable(pool_fetch):
            raise Incorrect(f"expected a function pool_fetch(fetch, requests, workers), got {pool_fetch!r}")
        calls: list[tuple[str, str]] = []
        lock = threading.Lock()
        meeting = Rendezvous(workers, wait=1.0, hold=0.1)  # proves `workers` calls at once, and never more

        def fetch(request: str) -> str:
            with lock:
                calls.append((request, threading.current_thread().name))
            meeting.enter()
            try:
                time.sleep(0.01 if request.endswith(("0", "2")) else 0.002)  # some finish out of order
                if request in failing:
                    raise failing[request](f"source failed on {request}")
                return f"Result for {request}"
            finally:
                meeting.leave()

        caller = threading.current_thread().name
        try:
            answers = call_bounded(pool_fetch, fetch, list(requests), workers, what="pool_fetch", timeout=4.0)
        except tuple(failing.values()) as exc:
            if not str(exc).startswith("source failed on "):
                raise
            raise Incorrect(
                f"pool_fetch raised {exc!r}: with pool.map (or an unguarded future.result()) the first exception "
                "hides every later answer; take each future's result in its own try/except."
            ) from None
        if answers is None:
            raise Incorrect("pool_fetch returned None: return the list of (request, answer) pairs (not print it).")
        if not isinstance(answers, (list, tuple)):
            raise Incorrect(
                f"pool_fetch should return a list, got {type(answers).__name__}: one (request, answer) pair per "
                "request, in the order of `requests`."
            )
        answers = list(answers)
        bad = next((a for a in answers if not (isinstance(a, (tuple, list)) and len(a) == 2)), None)
        if bad is not None:
            raise Incorrect(f"each item should be a (request, answer) pair; got {bad!r:.80}.")
        fetched = [r for r, _ in calls]
        twice = next((r for r in requests if fetched.count(r) > 1), None)
        if twice is not None:
            raise Incorrect(f"{twice} was fetched {fetched.count(twice)} times: submit each request once.")
        got = [a[0] for a in answers]
        missing = [r for r in requests if r not in got]
        if missing:
            raise Incorrect(f"request {missing[0]} got no answer; return one (request, answer) pair per request.")
        if len(got) != len(requests):
            raise Incorrect(f"{len(got)} pairs for {len(requests)} requests: one pair per request, no more.")
        if not same(got, list(requests)):
            raise Incorrect("every request is answered, but not in the order of `requests`: keep the futures in order.")
        by_request = dict((r, a) for r, a in answers)
        if any(isinstance(a, Future) for a in by_request.values()):
            raise Incorrect("the answers are Future objects: ask each future for its .result() (inside try/except).")
        for request, kind in failing.items():
            failure = by_request[request]
            if isinstance(failure, str) and "failed" in failure:
                raise Incorrect(
                    f"{request} failed and its answer is the string {failure!r}: keep the exception itself, so a "
                    "failure can never be mistaken for a result."
                )
            if not isinstance(failure, kind):
                raise Incorrect(
                    f"{request} failed with {kind.__name__}; its answer should be that exception itself, got "
                    f"{failure!r} (a source fails in more ways than ConnectionError: catch Exception)."
                )
        wrong = [r for r in requests if r not in failing and not same(by_request[r], f"Result for {r}")]
        if wrong:
            raise Incorrect(f"the answer for {wrong[0]} should be what fetch returned; got {by_request[wrong[0]]!r}.")
        threads = {name for _, name in calls}
        if threads == {caller} or threads == {"ella-exercise"}:
            raise Incorrect("every request ran in the calling thread: run them on a ThreadPoolExecutor of `workers`.")
        if meeting.peak > workers:
            raise Incorrect(
                f"{meeting.peak} calls ran at once with workers={workers}: the pool ignores `workers`; create it "
                "with ThreadPoolExecutor(max_workers=workers)."
            )
        if not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} call(s) ran at once, with workers={workers}: the pool should run "
                "`workers` calls at a time (is it smaller, or do you wait for each result before submitting the next?)"
            )
        self._occupancy(pool_fetch, requests, workers)

    def _occupancy(self, pool_fetch: Any, requests: tuple, workers: int) -> None:
        """A second run: one slow call; a slot that frees must take the next request at once."""
        if workers < 2 or len(requests) <= workers:
            return
        occupancy = _Occupancy(requests)
        answers = call_bounded(pool_fetch, occupancy.fetch, list(requests), workers, what="pool_fetch", timeout=4.0)
        if not same([tuple(a) for a in answers or ()], [(r, f"Result for {r}") for r in requests]):
            raise Incorrect(
                "a second run of pool_fetch, with no failure, did not return every (request, answer) pair in order."
            )
        idle = occupancy.idle()
        if idle:
            raise Incorrect(
                f"while {requests[0]} was slow, {idle} other call(s) waited for it although a thread was free: your "
                "code waits for a whole batch of `workers` before submitting the next. Keep `workers` calls running "
                "while there is work: submit every request to the one pool, then collect the answers."
            )


class MeanWait(SecondsQuestion):
    title = "Where the time goes: the mean queue wait"
    expects = "a number of seconds: mean_wait = ..."
    answer_name = "mean_wait"
    hints = (
        "Request i (counting from 0) starts after ⌊i/K⌋ full rounds, so it waits ⌊i/K⌋ · L.",
        "With N = 40 and K = 4 there are 10 rounds, numbered 0 to 9, each of 4 requests. Average the wait over them.",
    )
    solution_text = """
        mean_wait = sum((i // 4) * 0.010 for i in range(40)) / 40  # = 4.5 · L = 0.045 s
    """
    answer = 0.045
    correct = (
        "0.045 s: the rounds wait 0, L, ..., 9L, a mean of 4.5 L: on average a request waits four and a half times "
        "as long as it is served."
    )
    mistakes = (
        (0.05, "0.05 s is half the makespan; the last round starts at 9 L, not 10 L."),
        (0.09, "0.09 s is how long the last requests wait; the question asks for the mean."),
        (0.1, "0.1 s is the makespan; the question asks for the mean wait."),
        (0.055, "0.055 s is the mean latency, wait plus service; the question asks for the wait alone."),
    )
    otherwise = "list the wait of each round first."


class WhyJitter(Question):
    title = "Reading the retry histogram"
    checked = False
    solution_text = """
        Model answer. Without jitter, every client computes the same waits (base, 2·base, 4·base, ...), so
        clients that failed together retry together: all 100 land in the same 10 ms window, three times, and a
        source that has just recovered is hit by the whole crowd at once and may fail again. Full jitter draws
        each wait uniformly between 0 and the ceiling, so the same 300 retries spread over the whole interval:
        the busiest window holds a fraction of them, the source sees a steady trickle instead of waves, and
        the mean wait is halved as a bonus.
    """


q1 = FullJitter("q1")
q2 = SafePoolMap("q2")
q3 = MeanWait("q3")
q4 = WhyJitter("q4")
