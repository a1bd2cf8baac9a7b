"""Exercises for notebook 04, fallback and recovery: ``from ella_lab.exercises import phase4 as ex``."""

from __future__ import annotations

from typing import Any

from ._core import Incorrect, Question, SecondsQuestion, as_real, call_bounded, check_number, close_to

__all__ = ["q1", "q2", "q3", "q4"]


class _Probe:
    """A source for the checks: answers or raises, and counts its calls."""

    def __init__(self, name: str, fails: bool):
        self.name, self.fails, self.calls = name, fails, 0

    def __call__(self, request: str) -> str:
        self.calls += 1
        if self.fails:
            raise ConnectionError(f"{self.name} is down")
        return f"{request} from {self.name}"

    def __repr__(self) -> str:
        return self.name


class Fallback(Question):
    title = "Fallback over a list of sources"
    expects = "a function fallback(request, sources)"
    answer_name = "fallback"
    hints = (
        "Loop over the sources in order; return as soon as one returns a value.",
        "Wrap each call in try/except Exception and keep the errors in a list.",
        'After the loop, every source has failed: raise ExceptionGroup("all sources failed", errors).',
    )
    solution_text = """
        def fallback(request, sources):
            errors = []
            for source in sources:
                try:
                    return source(request)
                except Exception as exc:
                    errors.append(exc)
            raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)
    """

    PATTERNS = ((False, False), (True, False), (True, True, False))
    HIDDEN = ((False,), (True, True, True, False), (True, False, False), (False, True, True))

    def _run(
        self, fallback: Any, pattern: tuple[bool, ...], request: str
    ) -> tuple[list[_Probe], Any, BaseException | None]:
        sources = [_Probe(f"source-{i}", fails) for i, fails in enumerate(pattern)]
        try:
            return sources, call_bounded(fallback, request, sources, what="fallback"), None
        except ConnectionError as exc:
            return sources, None, exc
        except ExceptionGroup as exc:
            return sources, None, exc

    def _check(self, fallback: Any) -> str:
        self._cases(fallback, self.PATTERNS, "DataRequest-1", 3)
        return "first answer wins, sources asked in order, and total failure carries every error."

    def _check_hidden(self, fallback: Any) -> str:
        self._cases(fallback, self.HIDDEN, "order-42", 4)
        return "right on every case."

    def _cases(self, fallback: Any, patterns: tuple, request: str, down: int) -> None:
        if not callable(fallback):
            raise Incorrect(f"expected a function fallback(request, sources), got {fallback!r}")
        for pattern in patterns:
            sources, value, error = self._run(fallback, pattern, request)
            state = ["down" if f else "up" for f in pattern]
            good = next(s for s in sources if not s.fails)
            expected = f"{request} from {good.name}"
            if error is not None:
                raise Incorrect(
                    f"with {state} sources, fallback raised {error!r}; {good.name} was up and should have answered."
                )
            if value is None:
                raise Incorrect(
                    f"with sources {state}, fallback returned None: return the answer (printing it, or catching "
                    "and passing, gives the caller nothing)."
                )
            if value != expected:
                raise Incorrect(
                    f"with sources {state}, fallback returned {value!r}; expected {good.name}'s answer "
                    f"{expected!r}. Call the sources themselves, with the request you were given."
                )
            asked = [s.calls for s in sources]
            want = [1 if i <= sources.index(good) else 0 for i in range(len(sources))]
            if asked != want:
                raise Incorrect(
                    f"with sources {state}, the sources were called {asked} times; expected {want}: ask each in "
                    "order, once, and stop at the first answer."
                )
        sources, value, error = self._run(fallback, (True,) * down, request)
        if error is None:
            raise Incorrect(
                f"every source failed, yet fallback returned {value!r}: it should raise, so that a failure never "
                "looks like an answer."
            )
        if not isinstance(error, ExceptionGroup):
            raise Incorrect(
                f"every source failed and fallback raised {error!r}: raise an ExceptionGroup with every source's "
                "error, so the caller can see them all."
            )
        if [str(e) for e in error.exceptions] != [f"source-{i} is down" for i in range(down)]:
            raise Incorrect(
                f"the ExceptionGroup should hold the {down} errors in order; it holds {list(error.exceptions)!r}."
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


q1 = Fallback("q1")
q2 = ChainSuccess("q2")
q3 = FallbackTail("q3")
q4 = TogetherOrApart("q4")
