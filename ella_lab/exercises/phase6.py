"""Exercises for notebook 06, optimization: ``from ella_lab.exercises import phase6 as ex``."""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

from ._core import Incorrect, Question, SecondsQuestion, call_bounded

__all__ = ["q1", "q2", "q3", "q4"]


class FullJitter(Question):
    title = "Full-jitter backoff"
    expects = "a function full_jitter_delays(attempts, base, cap, rng)"
    hints = (
        "There are attempts − 1 waits: one before each retry n = 1, 2, ...",
        "The ceiling before retry n is min(cap, base * 2 ** (n - 1)): base, 2·base, 4·base, ... never above cap.",
        "Full jitter waits a uniform random time between 0 and the ceiling: rng.uniform(0, ceiling).",
    )
    solution_text = """
        def full_jitter_delays(attempts, base, cap, rng):
            return [rng.uniform(0, min(cap, base * 2 ** (n - 1))) for n in range(1, attempts)]
    """
    ATTEMPTS, BASE, CAP, SAMPLES = 6, 0.01, 0.1, 400

    def _check(self, delays_for: Any) -> str:
        if not callable(delays_for):
            raise Incorrect(f"expected a function full_jitter_delays(attempts, base, cap, rng), got {delays_for!r}")
        ceilings = [min(self.CAP, self.BASE * 2 ** (n - 1)) for n in range(1, self.ATTEMPTS)]
        one = call_bounded(delays_for, 1, self.BASE, self.CAP, random.Random(0), what="full_jitter_delays")
        if one is None or len(list(one)) != 0:
            raise Incorrect(f"with attempts=1 there is no retry, so no wait; got {one!r}.")
        samples = []
        for seed in range(self.SAMPLES):
            got = call_bounded(
                delays_for, self.ATTEMPTS, self.BASE, self.CAP, random.Random(seed), what="full_jitter_delays"
            )
            got = list(got) if got is not None else None
            if got is None or len(got) != self.ATTEMPTS - 1:
                raise Incorrect(f"with attempts={self.ATTEMPTS} there are {self.ATTEMPTS - 1} waits; got {got!r}.")
            for n, (delay, ceiling) in enumerate(zip(got, ceilings, strict=True), start=1):
                if not 0 <= delay <= ceiling + 1e-12:
                    if n == 1 and delay <= 2 * self.BASE:
                        raise Incorrect(
                            f"the wait before retry 1 was {delay:.4g} s, above base = {self.BASE}: the ceiling before "
                            "retry n is base · 2**(n − 1), so the first is base itself."
                        )
                    raise Incorrect(
                        f"the wait before retry {n} was {delay:.4g} s, outside [0, {ceiling:g}] (cap {self.CAP})."
                    )
            samples.append(got)
        for n, ceiling in enumerate(ceilings, start=1):
            waits = [s[n - 1] for s in samples]
            if statistics.pstdev(waits) < 1e-9:
                raise Incorrect(
                    f"the wait before retry {n} is always {waits[0]:.4g} s: that is no jitter; draw it at random."
                )
            ratio = statistics.fmean(waits) / ceiling
            if abs(ratio - 0.75) < 0.05:
                raise Incorrect(
                    f"the waits before retry {n} average 0.75 of the ceiling: that is equal jitter, not full."
                )
            if abs(ratio - 0.5) > 0.06:
                raise Incorrect(
                    f"the waits before retry {n} average {ratio:.2f} of the ceiling; full jitter averages 0.5 "
                    "(uniform between 0 and the ceiling)."
                )
        return "uniform below a doubling, capped ceiling: on average half the wait of no jitter, and no retry waves."


class SafePoolMap(Question):
    title = "A thread pool that loses no answer"
    expects = "a function pool_fetch(fetch, requests, workers)"
    hints = (
        "pool.map stops at the first exception. Submit each request instead: pool.submit(fetch, request).",
        "Keep the futures in request order, then ask each one for its result inside try/except.",
        "Return [(request, value or exception), ...] in the order of `requests`.",
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
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))
    FAILING = "DataRequest-4"

    def _check(self, pool_fetch: Any) -> str:
        if not callable(pool_fetch):
            raise Incorrect(f"expected a function pool_fetch(fetch, requests, workers), got {pool_fetch!r}")
        threads: set[str] = set()
        lock = threading.Lock()

        def fetch(request: str) -> str:
            with lock:
                threads.add(threading.current_thread().name)
            time.sleep(0.01 if request.endswith(("0", "2")) else 0.002)  # some finish out of order
            if request == self.FAILING:
                raise ConnectionError(f"source failed on {request}")
            return f"Result for {request}"

        try:
            answers = call_bounded(pool_fetch, fetch, list(self.REQUESTS), 4, what="pool_fetch")
        except ConnectionError as exc:
            raise Incorrect(
                f"pool_fetch raised {exc!r}: with pool.map the first exception hides every later answer; "
                "take each future's result in its own try/except."
            ) from None
        answers = list(answers) if answers is not None else []
        got = [a[0] if isinstance(a, tuple) and len(a) == 2 else a for a in answers]
        missing = [r for r in self.REQUESTS if r not in got]
        if missing:
            raise Incorrect(f"request {missing[0]} got no answer; return one (request, answer) pair per request.")
        if got != list(self.REQUESTS):
            raise Incorrect("every request is answered, but not in the order of `requests`: keep the futures in order.")
        by_request = dict(answers)
        if not isinstance(by_request[self.FAILING], ConnectionError):
            raise Incorrect(
                f"{self.FAILING} failed; its answer should be the exception itself, got {by_request[self.FAILING]!r}."
            )
        wrong = [r for r in self.REQUESTS if r != self.FAILING and by_request[r] != f"Result for {r}"]
        if wrong:
            raise Incorrect(f"the answer for {wrong[0]} should be what fetch returned; got {by_request[wrong[0]]!r}.")
        if len(threads) < 2:
            raise Incorrect("every request ran in one thread: run them on a ThreadPoolExecutor with `workers` threads.")
        if len(threads) > 4:
            raise Incorrect(f"the requests ran on {len(threads)} threads; use at most `workers` (4) of them.")
        return "every answer kept, in order, the failure recorded, and the work spread over the pool."


class MeanWait(SecondsQuestion):
    title = "Where the time goes: the mean queue wait"
    expects = "a number of seconds: mean_wait = ..."
    hints = (
        "Request i (counting from 0) starts after ⌊i/K⌋ full rounds, so it waits ⌊i/K⌋ · L.",
        "With N = 40 and K = 4 there are 10 rounds, numbered 0 to 9, each of 4 requests. Average the wait over them.",
    )
    solution_text = """
        mean_wait = sum((i // 4) * 0.010 for i in range(40)) / 40  # = 4.5 · L = 0.045 s
    """
    answer = 0.045
    correct = "0.045 s: the rounds wait 0, L, ..., 9L; their mean is 4.5 L, four times the service time."
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
