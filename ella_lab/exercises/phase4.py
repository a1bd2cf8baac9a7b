"""Exercises for notebook 04, fallback and recovery: ``from ella_lab.exercises import phase4 as ex``."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from ._core import (
    RUNAWAY,
    Incorrect,
    NotAttempted,
    Question,
    SecondsQuestion,
    as_real,
    call_bounded,
    check_number,
    close_to,
)

__all__ = ["q1", "q2", "q3", "q4"]


class _Source:
    """A source for the check, by letter: ``u`` answers at once, ``q`` in 10 ms, ``d`` raises ConnectionError at
    once, ``s`` stalls (it blocks until the check releases it, after the verdict). Every call goes in ``journal``."""

    def __init__(self, name: str, kind: str, journal: list, release: threading.Event):
        self.name, self.kind, self.journal, self.release = name, kind, journal, release
        self.error: ConnectionError | None = None

    def __call__(self, request: str) -> str:
        self.journal.append((self.name, request, time.perf_counter()))
        if self.kind == "s":
            self.release.wait(10.0)
            return f"{request} from {self.name}, too late"
        if self.kind == "q":
            time.sleep(0.01)
        if self.kind == "d":
            self.error = ConnectionError(f"{self.name} is down")
            raise self.error
        return f"{request} from {self.name}"

    def __repr__(self) -> str:
        return self.name


class FallbackWithin(Question):
    title = "A fallback that gives each source its own time budget"
    expects = "a function fallback_within(request, sources, per_source)"
    answer_name = "fallback_within"
    hints = (
        "Run each call on a thread pool: future = pool.submit(source, request), then "
        "future.result(timeout=per_source) returns its answer or raises TimeoutError when the source is too slow.",
        "Ask the sources in order; keep each failure (a ConnectionError, or a TimeoutError of your own for a "
        "source out of time) and go on; when all have failed, raise ExceptionGroup(message, errors).",
        "A stalled call cannot be stopped: never wait for it. Make the pool yourself and finish with "
        "pool.shutdown(wait=False) in a finally (a `with ThreadPoolExecutor()` block waits for it at its end).",
    )
    solution_text = """
        from concurrent.futures import ThreadPoolExecutor

        def fallback_within(request, sources, per_source):
            pool = ThreadPoolExecutor(max_workers=max(1, len(sources)))
            errors = []
            try:
                for source in sources:
                    future = pool.submit(source, request)
                    try:
                        return future.result(timeout=per_source)  # each source its own budget
                    except TimeoutError:  # out of time: leave it running, ask the next one
                        errors.append(TimeoutError(f"{source!r} gave no answer within {per_source} s"))
                    except ConnectionError as exc:
                        errors.append(exc)
            finally:
                pool.shutdown(wait=False)  # never wait for a source that stalls
            raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)
    """
    # (request, one letter per source (see _Source), per_source in seconds)
    CASES = (
        ("DataRequest-3", "su", 0.3),
        ("DataRequest-5", "dsu", 0.3),
        ("DataRequest-8", "ssq", 0.3),
        ("DataRequest-1", "ds", 0.3),
        ("DataRequest-0", "uu", 0.3),
    )
    HIDDEN = (
        ("order-17", "sdu", 0.2),
        ("order-42", "ssdq", 0.2),
        ("order-11", "sd", 0.2),
        ("order-5", "u", 0.2),
    )

    def _check(self, fallback_within: Any) -> str:
        self._cases(fallback_within, self.CASES)
        return (
            "sources asked in order, each given its own per_source seconds and no more, the first answer returned "
            "without waiting for a stalled call, and every failure (TimeoutError included) in the ExceptionGroup."
        )

    def _check_hidden(self, fallback_within: Any) -> str:
        self._cases(fallback_within, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, fallback_within: Any, cases: tuple) -> None:
        if not callable(fallback_within):
            raise Incorrect(
                f"expected a function fallback_within(request, sources, per_source), got {fallback_within!r}"
            )
        for request, pattern, per_source in cases:
            release = threading.Event()
            try:
                self._case(fallback_within, request, pattern, per_source, release)
            finally:
                release.set()  # the stalled calls end now, whatever the verdict

    def _case(self, answer: Any, request: str, pattern: str, per_source: float, release: threading.Event) -> None:
        journal: list[tuple[str, str, float]] = []
        sources = [_Source(f"source-{i}", kind, journal, release) for i, kind in enumerate(pattern)]
        where = f"with sources {'/'.join(self.KINDS[k] for k in pattern)} and per_source={per_source:g}"
        stalls = pattern.count("s")
        try:
            value, error = (
                call_bounded(
                    answer,
                    request,
                    list(sources),
                    per_source,
                    what="fallback_within",
                    timeout=stalls * per_source + 1.5,
                ),
                None,
            )
        except NotAttempted:
            raise
        except Incorrect as exc:
            raise Incorrect(self._hung(where, journal, sources) or str(exc)) from None
        except Exception as exc:
            value, error = None, exc
        ended = time.perf_counter()
        asked = [name for name, _, _ in journal]
        order = [s.name for s in sources][: len(asked)]
        if asked != order:
            if len(set(asked)) < len(asked):
                twice = next(n for n in asked if asked.count(n) > 1)
                raise Incorrect(f"{where}, {twice} was asked {asked.count(twice)} times: ask each source once.")
            raise Incorrect(
                f"{where}, the sources were asked in the order {asked}: ask them one after the other, in list order, "
                "each only when the one before has failed or run out of time."
            )
        self._judge_times(where, journal, sources, per_source, ended)
        first = next((i for i, k in enumerate(pattern) if k in "uq"), None)
        if first is not None:
            self._answered(where, sources, first, value, error, asked, per_source)
            return
        self._all_failed(where, sources, value, error, len(asked))

    KINDS: ClassVar[dict[str, str]] = {"u": "up", "q": "up", "d": "down", "s": "stalled"}

    def _hung(self, where: str, journal: list, sources: list[_Source]) -> str | None:
        """Why the answer did not return, when a stalled source explains it (None: it does not)."""
        asked = {name for name, _, _ in journal}
        if not any(s.kind == "s" and s.name in asked for s in sources):
            return None
        last = next(s for s in sources if s.name == journal[-1][0])
        if last.kind == "s":
            return (
                f"{where}, fallback_within waited for {last.name}, which stalls, far longer than per_source: give "
                f"each source at most per_source seconds (future.result(timeout=per_source)), then ask the next. "
                f"{RUNAWAY}"
            )
        return (
            f"{where}, fallback_within did not return, though it had moved past the stalled source: a `with "
            "ThreadPoolExecutor()` block (or shutdown(wait=True)) waits at its end for the stalled call, which may "
            f"never end. Make the pool yourself and shut it down with wait=False. {RUNAWAY}"
        )

    def _judge_times(self, where: str, journal: list, sources: list[_Source], per_source: float, ended: float) -> None:
        """A stalled source must get about per_source: not much less (given up early), not much more (ignored)."""
        stamps = [t for _, _, t in journal] + [ended]
        for i, (name, _, at) in enumerate(journal):
            if sources[i].kind != "s":
                continue
            given = stamps[i + 1] - at
            if given > 1.5 * per_source + 0.25:
                raise Incorrect(
                    f"{where}, {name} (stalled) was given {given:.2f} s before fallback_within moved on: use the "
                    f"per_source it is given ({per_source:g} s), not a time of your own."
                )
            if given < 0.5 * per_source:
                raise Incorrect(
                    f"{where}, fallback_within moved on from {name} (stalled) after {given:.2f} s, before its "
                    f"per_source of {per_source:g} s ran out: each source gets its own per_source (not what is left "
                    "of a total), and the next source is asked only once the one before has failed or run out of time."
                )

    def _answered(self, where, sources, first, value, error, asked, per_source) -> None:
        good = sources[first]
        if error is not None:
            if isinstance(error, TimeoutError):
                raise Incorrect(
                    f"{where}, fallback_within raised {error!r}: a source out of time is a failure like any other; "
                    "keep its TimeoutError and ask the next source."
                )
            if isinstance(error, ExceptionGroup) and len(error.exceptions) > first:  # it was asked too
                raise Incorrect(
                    f"{where}, {good.name} answers in 10 ms at most but fallback_within gave up on it: each source "
                    f"gets its own per_source ({per_source:g} s), not what is left of one budget for all."
                )
            if any(error is s.error for s in sources):
                raise Incorrect(f"{where}, fallback_within let {error!r} escape: keep it and ask the next source.")
            raise Incorrect(f"{where}, fallback_within raised {error!r}; expected {good.name}'s answer.")
        if len(asked) > first + 1:
            raise Incorrect(f"{where}, {asked[first + 1]} was asked although {good.name} had answered.")
        if value is None:
            raise Incorrect(f"{where}, fallback_within returned None: return the answer (not print it).")
        if not (isinstance(value, str) and value.endswith(f" from {good.name}")) or "too late" in value:
            raise Incorrect(f"{where}, fallback_within returned {value!r}; expected {good.name}'s answer.")

    def _all_failed(self, where, sources, value, error, asked) -> None:
        n = len(sources)
        if asked < n:
            raise Incorrect(f"{where}, only {asked} of the {n} sources were asked: ask each until one answers.")
        if error is None:
            raise Incorrect(
                f"{where}, every source failed and fallback_within returned {value!r}: raise an ExceptionGroup "
                "holding every failure, so the caller sees them."
            )
        if not isinstance(error, ExceptionGroup):
            raise Incorrect(
                f"{where}, every source failed and fallback_within raised {error!r}, one error: raise "
                f"ExceptionGroup(message, errors) with all {n}, in order."
            )
        got = list(error.exceptions)
        if len(got) != n:
            raise Incorrect(
                f"{where}, the ExceptionGroup holds {len(got)} error(s) for {n} sources: one per source, a "
                "TimeoutError for each that ran out of time."
            )
        for source, exc in zip(sources, got, strict=True):
            if source.kind == "d" and exc is not source.error:
                raise Incorrect(
                    f"{where}, the group should hold {source.name}'s own ConnectionError, as caught, in order."
                )
            if source.kind == "s" and not isinstance(exc, TimeoutError):
                raise Incorrect(
                    f"{where}, the group holds {exc!r} for {source.name}, which stalled: a TimeoutError says what "
                    "happened to it."
                )


class ChainSuccess(Question):
    title = "The success rate of a chain"
    expects = "a function chain_success(p, k)"
    answer_name = "chain_success"
    hints = (
        "A request is lost only if every one of the k sources fails it.",
        "With independent failures, the chance that all k fail is p multiplied by itself k times.",
    )
    solution_text = """
        def chain_success(p, k):
            return 1 - p**k
    """
    CASES = ((0.3, 1), (0.3, 2), (0.5, 3), (0.0, 2), (1.0, 3), (0.9, 4))
    HIDDEN = ((0.2, 3), (0.05, 2), (0.7, 5), (0.25, 1))

    def _check(self, chain_success: Any) -> str:
        self._cases(chain_success, self.CASES)
        return "1 − pᵏ: one backup at p = 0.3 lifts 70 % to 91 %."

    def _check_hidden(self, chain_success: Any) -> str:
        self._cases(chain_success, self.HIDDEN + self.CASES)
        return "right on every case."

    def _cases(self, chain_success: Any, cases: tuple) -> None:
        if not callable(chain_success):
            raise Incorrect(f"expected a function chain_success(p, k), got {chain_success!r}")
        for p, k in cases:
            call = f"chain_success({p}, {k})"
            got = call_bounded(chain_success, p, k, what="chain_success")
            if close_to(got, 1 - p**k):
                continue
            if close_to(got, (1 - p) ** k):
                raise Incorrect(
                    f"{call} returned {as_real(got):.4g}, the chance that every source succeeds; a request needs "
                    "only one."
                )
            if close_to(got, 1 - p * k) or close_to(got, max(0.0, 1 - p * k)):
                raise Incorrect(f"{call} returned {as_real(got):.4g}: failure chances multiply, they do not add.")
            if close_to(got, 1 - p):
                raise Incorrect(f"{call} returned {as_real(got):.4g}: your formula ignores k, the backups.")
            if close_to(got, p**k):
                raise Incorrect(
                    f"{call} returned {as_real(got):.4g}, the chance that every source fails: 1 minus that."
                )
            check_number(got, 1 - p**k, call=call, unit="fraction")
            raise Incorrect(f"{call} returned {got!r}; work it out by hand for p = {p}, k = {k}.")


class FallbackTail(SecondsQuestion):
    title = "The p99 latency with one backup"
    expects = "a number of seconds: p99 = ..."
    answer_name = "p99"
    hints = (
        "95 % of requests take 10 ms. What do the other 5 % take, given a failure also takes 10 ms?",
        "The 99th percentile is the time that 99 % of requests stay under. Where does the 99 % mark fall?",
    )
    solution_text = """
        p99 = 0.020  # 95 % take 10 ms, 5 % take 10 ms + 10 ms; the 99 % mark falls among the slow 5 %
    """
    answer = 0.020
    correct = "20 ms: 5 % of requests pay for a failed attempt, and the 99 % mark falls among them."
    mistakes = (
        (0.010, "10 ms is the median. 5 % of requests fall back, more than the 1 % the p99 leaves out."),
        (0.0105, "0.0105 s is the mean, L · (1 + p); the question asks for a percentile."),
    )
    otherwise = "sketch what share of requests takes which time."


class TogetherOrApart(Question):
    title = "Backups that fail together"
    checked = False
    solution_text = """
        Model answer. 1 − pᵏ holds only if the sources fail independently. A second backup in the same data
        centre shares the first backup's causes of failure (power, network link, a bad deploy, an overloaded
        upstream), so when one is down the other most likely is too: the chance that all fail stays near p,
        and the success rate stays near 1 − p however many such backups are added. Backups help in proportion
        to how independent their failures are: another region, another provider, another code path.
    """


q1 = FallbackWithin("q1")
q2 = ChainSuccess("q2")
q3 = FallbackTail("q3")
q4 = TogetherOrApart("q4")
