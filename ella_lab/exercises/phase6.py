"""Exercises for notebook 06, optimization: ``from ella_lab.exercises import phase6 as ex``."""

from __future__ import annotations

import random
import statistics
from typing import Any

from ..outcome import Attempt, Outcome, Report
from ._core import Incorrect, Question, SecondsQuestion, as_real, call_bounded, close_to

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


def _report(rows: list[tuple[str, float, float, float, list[tuple[str, bool, float, float]]]]) -> Report:
    """A report with the stamps the check chose: per request (name, queued, started, finished, attempts), each
    attempt (source, ok, started, finished). A request is answered when its last attempt is."""
    outcomes = []
    for request, queued, started, finished, attempts in rows:
        tried = tuple(
            Attempt(
                source,
                sum(1 for s, *_ in attempts[:i] if s == source),
                None if ok else ConnectionError(source),
                begin,
                end,
            )
            for i, (source, ok, begin, end) in enumerate(attempts)
        )
        ok = tried[-1].ok
        outcomes.append(
            Outcome(
                request,
                ok,
                f"{request} from {tried[-1].source}" if ok else None,
                None if ok else tried[-1].error,
                tried[-1].source if ok else None,
                tried,
                "worker-0",
                queued,
                started,
                finished,
            )
        )
    return Report(outcomes, workers=2, started_at=0.0, finished_at=max(r[3] for r in rows))


# Two reports on a clock of the check's own (seconds from an arbitrary origin): a primary that fails and is
# retried, a backup that answers, one request that every attempt failed. The totals are exact by construction.
_VISIBLE = [
    ("DataRequest-0", 100.0, 100.0, 100.05, [("primary", True, 100.0, 100.05)]),
    (
        "DataRequest-1",
        100.0,
        100.0,
        100.50,
        [("primary", False, 100.0, 100.20), ("primary", False, 100.25, 100.40), ("backup", True, 100.40, 100.50)],
    ),
    ("DataRequest-2", 100.0, 100.05, 100.10, [("primary", True, 100.05, 100.10)]),
    ("DataRequest-3", 100.0, 100.10, 100.90, [("primary", False, 100.10, 100.30), ("backup", False, 100.30, 100.90)]),
]
_HIDDEN = [
    ("order-7", 5.0, 5.5, 6.0, [("cache", False, 5.5, 5.6), ("db", True, 5.6, 6.0)]),
    ("order-3", 5.0, 5.0, 5.25, [("cache", True, 5.0, 5.2)]),  # 50 ms of the worker's own after the call
    ("order-9", 5.25, 6.0, 9.0, [("cache", False, 6.0, 6.5), ("db", False, 6.5, 8.0), ("db", False, 8.5, 9.0)]),
]


class WhereTimeGoes(Question):
    title = "Profile before you fix: where the time of a run goes"
    expects = "a function profile(report)"
    answer_name = "profile"
    hints = (
        "The queue wait of a request is o.started_at - o.queued_at; add it up over every outcome, answered or not.",
        "Each outcome's o.attempts lists every call of a source: a.source and a.finished_at - a.started_at. Add "
        "each attempt's time to its own source, failed attempts and retries included: they cost time too.",
        "Return {'wait': total wait, 'sources': {source: total time in its attempts}}, in seconds, not rounded.",
    )
    solution_text = """
        def profile(report):
            wait, sources = 0.0, {}
            for o in report:
                wait += o.started_at - o.queued_at
                for a in o.attempts:  # failed attempts and retries cost time too
                    sources[a.source] = sources.get(a.source, 0.0) + (a.finished_at - a.started_at)
            return {"wait": wait, "sources": sources}
    """

    def _check(self, profile: Any) -> str:
        self._judge_profile(profile, _VISIBLE)
        return (
            "the queue wait and each source's time, failed attempts and retries included: 0.15 s of waiting, "
            "0.65 s in the primary, 0.7 s in the backup, though the backup served one request: that is where a fix "
            "pays."
        )

    def _check_hidden(self, profile: Any) -> str:
        for rows in (_HIDDEN, _VISIBLE):
            self._judge_profile(profile, rows)
        return "right on every case."

    def _judge_profile(self, profile: Any, rows: list) -> None:
        if not callable(profile):
            raise Incorrect(f"expected a function profile(report), got {profile!r}")
        report = _report(rows)
        got = call_bounded(profile, report, what="profile")
        wait = sum(started - queued for _, queued, started, _, _ in rows)
        sources: dict[str, float] = {}
        for *_, attempts in rows:
            for source, _, begin, end in attempts:
                sources[source] = sources.get(source, 0.0) + end - begin
        if got is None:
            raise Incorrect("profile returned None: return the dict (printing it gives the caller nothing).")
        if not isinstance(got, dict) or set(got) != {"wait", "sources"} or not isinstance(got["sources"], dict):
            raise Incorrect(
                f"profile should return {{'wait': seconds, 'sources': {{name: seconds}}}}; got {got!r:.120}"
            )
        self._wait(got["wait"], wait, rows)
        self._sources(got["sources"], sources, rows)

    @staticmethod
    def _wait(value: Any, wait: float, rows: list) -> None:
        number = as_real(value)
        if number is None:
            raise Incorrect(f"'wait' should be a number of seconds; got {value!r}")
        if close_to(number, wait):
            return
        latency = sum(finished - queued for _, queued, _, finished, _ in rows)
        answered = sum(started - queued for _, queued, started, _, attempts in rows if attempts[-1][1])
        if close_to(number, wait * 1000):
            raise Incorrect(f"'wait' is {number:g}: that is milliseconds; give seconds.")
        if close_to(number, wait / len(rows)):
            raise Incorrect(f"'wait' is {number:g}, the mean wait; the profile adds up the total, {wait:g} s.")
        if close_to(number, latency):
            raise Incorrect(
                f"'wait' is {number:g} s, the total latency (finished - queued); the queue wait ends when a worker "
                "starts the request: started_at - queued_at."
            )
        if close_to(number, answered):
            raise Incorrect(
                f"'wait' is {number:g} s, the wait of the answered requests only: a request that failed waited too."
            )
        raise Incorrect(f"'wait' is {number:g} s; expected the total of started_at - queued_at, {wait:g} s.")

    @staticmethod
    def _sources(value: dict, sources: dict[str, float], rows: list) -> None:
        keys = set(value)
        if not all(isinstance(k, str) for k in keys):
            raise Incorrect(f"key the sources by name (attempt.source, a str); got keys {sorted(map(repr, keys))}")
        if keys != set(sources):
            missing = sorted(set(sources) - keys)
            raise Incorrect(
                f"'sources' has {sorted(keys)}; expected every source an attempt went to, {sorted(sources)}"
                + (f" ({missing[0]} is missing: its attempts failed, but they cost time too)." if missing else ".")
            )
        served: dict[str, float] = {}
        ok_only: dict[str, float] = {}
        first: dict[str, float] = {}
        for _, _, started, finished, attempts in rows:
            if attempts[-1][1]:
                served[attempts[-1][0]] = served.get(attempts[-1][0], 0.0) + finished - started
            seen: set[str] = set()
            for source, ok, begin, end in attempts:
                if ok:
                    ok_only[source] = ok_only.get(source, 0.0) + end - begin
                if source not in seen:
                    first[source] = first.get(source, 0.0) + end - begin
                    seen.add(source)
        for name, expected in sorted(sources.items()):
            number = as_real(value[name])
            if number is None:
                raise Incorrect(f"the time of {name} should be a number of seconds; got {value[name]!r}")
            if close_to(number, expected):
                continue
            if close_to(number, expected * 1000):
                raise Incorrect(f"{name}: {number:g} is milliseconds; give seconds.")
            if close_to(number, served.get(name, 0.0)):
                raise Incorrect(
                    f"{name}: {number:g} s counts the service time of the requests it served; the attempts that "
                    "failed (and those of other sources) belong to the source that made them: add each attempt's time "
                    "to a.source."
                )
            if close_to(number, ok_only.get(name, 0.0)):
                raise Incorrect(
                    f"{name}: {number:g} s counts only its attempts that succeeded; a failed attempt cost time too."
                )
            if close_to(number, first.get(name, 0.0)):
                raise Incorrect(f"{name}: {number:g} s leaves out its retries; every attempt cost time.")
            raise Incorrect(f"{name}: {number:g} s; expected the total of its attempts' durations, {expected:g} s.")


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
q2 = WhereTimeGoes("q2")
q3 = MeanWait("q3")
q4 = WhyJitter("q4")
