"""Exercises for notebook 04, fallback and recovery: ``from ella_lab.exercises import phase4 as ex``."""

from __future__ import annotations

from typing import Any

from ._core import (
    Incorrect,
    NotAttempted,
    Question,
    SecondsQuestion,
    as_real,
    call_bounded,
    check_number,
    close_to,
    same,
)

__all__ = ["q1", "q2", "q3", "q4"]


class _Probe:
    """A source for the checks: answers (possibly with a falsy value) or raises, and counts its calls."""

    def __init__(self, name: str, fails: bool | type[Exception], answer: Any = None):
        self.name, self.calls = name, 0
        self.error: type[Exception] | None = (ConnectionError if fails is True else fails) or None
        self.answer = answer

    @property
    def fails(self) -> bool:
        return self.error is not None

    def message(self) -> str:
        return f"{self.name} is down"

    def __call__(self, request: str) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error(self.message())
        return f"{request} from {self.name}" if self.answer is None else self.answer

    def __repr__(self) -> str:
        return self.name


class Fallback(Question):
    title = "Fallback over a list of sources"
    expects = "a function fallback(request, sources)"
    answer_name = "fallback"
    hints = (
        'Loop over the sources in order; return as soon as one returns a value (whatever it is, even "" or 0).',
        "Wrap each call in try/except Exception (a source may fail in many ways, not only ConnectionError) and "
        "keep the errors in a list.",
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

    # A pattern: per source, False (up), True (down: ConnectionError) or the exception class it raises;
    # an optional answer of the first source that is up (a falsy one: it is still an answer).
    PATTERNS = ((False, False), (True, False), (True, TimeoutError, False), ((TimeoutError, False), ""))
    HIDDEN = (
        (False,),
        (True, ValueError, True, False),
        (RuntimeError, False, False),
        (False, True, True),
        ((True, False), 0),
    )
    ALL_DOWN = (ConnectionError, TimeoutError, ValueError, ConnectionError)

    def _run(self, fallback: Any, pattern: tuple, request: str, answer: Any = None) -> tuple[list[_Probe], Any, Any]:
        sources = [_Probe(f"source-{i}", fails) for i, fails in enumerate(pattern)]
        good = next((s for s in sources if not s.fails), None)
        if good is not None and answer is not None:
            good.answer = answer
        given = list(sources)
        try:
            value, error = call_bounded(fallback, request, given, what="fallback"), None
        except (Incorrect, NotAttempted):
            raise
        except Exception as exc:
            value, error = None, exc
        if given != sources:
            raise Incorrect(
                f"fallback changed the list of sources it was given (now {given!r}, was {sources!r}): do not modify "
                "the list you were given; loop over it (the caller uses it again for the next request)."
            )
        return sources, value, error

    def _check(self, fallback: Any) -> str:
        self._cases(fallback, self.PATTERNS, "DataRequest-1", 3)
        return "first answer wins, sources asked in order, and total failure carries every error."

    def _check_hidden(self, fallback: Any) -> str:
        self._cases(fallback, self.HIDDEN, "order-42", 4)
        return "right on every case."

    def _cases(self, fallback: Any, patterns: tuple, request: str, down: int) -> None:
        if not callable(fallback):
            raise Incorrect(f"expected a function fallback(request, sources), got {fallback!r}")
        for case in patterns:
            pattern, answer = (case[0], case[1]) if isinstance(case[0], tuple) else (case, None)
            sources, value, error = self._run(fallback, pattern, request, answer)
            state = [
                "up" if not s.fails else "down" if s.error is ConnectionError else s.error.__name__ for s in sources
            ]
            good = next(s for s in sources if not s.fails)
            expected = f"{request} from {good.name}" if answer is None else answer
            if answer is not None and not same(value, expected) and good.calls == 1:
                raise Incorrect(
                    f"with sources {state}, {good.name} answered {answer!r} and fallback "
                    f"{'raised ' + repr(error) if error is not None else 'returned ' + repr(value)}: an empty answer "
                    '("", 0) is still an answer. Return what the source returned; only an exception means that it '
                    "failed (never test `if answer:`)."
                )
            if error is not None:
                failed = next((s for s in sources if s.fails and type(error) is s.error), None)
                if failed is not None and not isinstance(error, ConnectionError):
                    unasked = f", and {good.name}, which was up, was never asked" if not good.calls else ""
                    raise Incorrect(
                        f"with sources {state}, {failed.name} raised {error!r} and fallback let it out{unasked}: catch "
                        "every Exception around each source, not only ConnectionError (a source may time out, or fail "
                        "in a way of its own), and go on to the next."
                    )
                raise Incorrect(
                    f"with sources {state}, fallback raised {error!r}; {good.name} was up and should have answered."
                )
            if value is None:
                raise Incorrect(
                    f"with sources {state}, fallback returned None: return the answer (printing it, or catching "
                    "and passing, gives the caller nothing)."
                )
            asked = [s.calls for s in sources]
            want = [1 if i <= sources.index(good) else 0 for i in range(len(sources))]
            if not same(value, expected):
                raise Incorrect(
                    f"with sources {state}, fallback returned {value!r}; expected {good.name}'s answer "
                    f"{expected!r}. Call the sources themselves, with the request you were given."
                )
            if asked != want:
                raise Incorrect(
                    f"with sources {state}, the sources were called {asked} times; expected {want}: ask each in "
                    "order, once, and stop at the first answer."
                )
        sources, value, error = self._run(fallback, self.ALL_DOWN[:down], request)
        if error is None:
            raise Incorrect(
                f"every source failed, yet fallback returned {value!r}: it should raise, so that a failure never "
                "looks like an answer."
            )
        if not isinstance(error, ExceptionGroup):
            raise Incorrect(
                f"every source failed and fallback raised {error!r}: raise an ExceptionGroup(message, errors) with "
                "every source's error (a RuntimeError, or an Exception holding a list, hides them from "
                "`except*` and from the caller's handlers)."
            )
        got = [(type(e), str(e)) for e in error.exceptions]
        if got != [(s.error, s.message()) for s in sources]:
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
