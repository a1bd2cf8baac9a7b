"""Notebook 04 "Your turn", fallback and recovery: ``from ella_lab.exercises import walk04 as walk``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ._core import BLANK, Incorrect, Question
from ._walk import Prediction, Probe, answer_of

__all__ = ["BLANK", "____", "q1", "q2", "q3"]

____ = BLANK  # the blank a learner replaces by a number


class ChainAnswers(Prediction):
    title = "Predict: three sources at p = 0.3"
    example = "0.8"
    model = 1 - 0.3**3
    tolerance = 0.005
    why = "A request is lost only if all three sources fail it: 0.3³ = 0.027, so 1 − 0.027 = 0.973 are answered."
    mistakes = (
        (0.91, "0.91 is two sources (one backup); three sources are two backups."),
        (0.7**3, "0.343 = 0.7³ is the chance that all three succeed; a request needs only one of them."),
        (0.027, "0.027 = 0.3³ is the share that is lost; the question asks for the share answered."),
        (0.1, "1 − 3 · 0.3 adds the failure chances; independent failures multiply."),
        (0.7, "0.7 is one source alone: the backups answer most of what the primary misses."),
    )
    hints = ("A request is lost only when every source fails it. With independent failures, multiply.",)
    stub = """
        chain_prediction = ____  # a fraction between 0 and 1
    """
    solution_text = """
        chain_prediction = 1 - 0.3**3  # 0.973: lost only when all three fail, 0.3 · 0.3 · 0.3
    """


def _raising(error: Callable[[], Exception]) -> Callable[[str], Exception]:
    """An exception for a probe, worded as it would be in real code rather than "<source> is down for <request>", so
    that no check can be passed by reading the message ("down", "bug") instead of the type."""

    def make(text: str) -> Exception:
        return error()

    return make


class Fallback(Question):
    title = "Write a fallback over a list of sources"
    expects = "a function fallback(request, sources)"
    hints = (
        "Loop over the sources in order; `return source(request)` inside a try returns the first answer.",
        "In `except ConnectionError as exc:` keep `exc` in a list, and go on to the next source.",
        'After the loop every source has failed: raise ExceptionGroup("all sources failed", errors).',
        "Any other error is a bug: let it reach the caller as it is (an ExceptionGroup holding it, alone or with "
        "the errors so far, is accepted too), and ask no further source.",
    )
    stub = """
        def fallback(request, sources):
            # YOUR CODE HERE (about 7 lines): try each source in order and return the first answer;
            # when all fail, raise ExceptionGroup("...", errors) with every error, in order.
            raise NotImplementedError
    """
    solution_text = """
        def fallback(request, sources):
            errors = []
            for source in sources:
                try:
                    return source(request)
                except ConnectionError as exc:  # a source's failure; a bug of ours still shows
                    errors.append(exc)
            raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)
    """
    # (request, pattern): one source per letter, ``d`` down (ConnectionError "<source> is down for <request>"),
    # ``r`` down (ConnectionRefusedError "[Errno 111] Connection refused", a kind of ConnectionError, worded without
    # "down"), ``u`` up, ``0`` / ``e`` / ``n`` up but answering 0, "" or None (an answer all the same), ``b`` / ``f``
    # / ``m`` / ``t`` / ``v`` / ``a`` / ``z`` / ``x`` a bug (raises KeyError, FileNotFoundError (an OSError that is not
    # a ConnectionError), NameError as in cell 13, TypeError, ValueError, AttributeError, ZeroDivisionError,
    # RuntimeError; no bug's message says "bug" or "down", so only the type tells);
    # every pattern of ``d`` and ``r`` only is a total failure. A bug must reach the caller, and no later source be
    # asked: raised as it is, or in an ExceptionGroup (alone, or with the outages before it in order, the bug first or
    # last); catching it and going on to the next source loses it as soon as that source answers ("dbu"), and a
    # tuple of the usual bug types beside ConnectionError is caught by "dmu", "dtu", "dvu", "dau", "dzu" and "dxu". Two
    # outages before a bug ("ddbu", "ddfdu") tell whether the outages beside it keep their order. Twelve
    # sources (source-0 .. source-11) in both sets of cases: their names sort apart from their positions (source-10
    # before source-2), so a loop over sorted(sources, key=repr) (or str, or the name) asks them out of order and is
    # caught.
    CASES = (
        ("DataRequest-7", "uu"),
        ("DataRequest-7", "du"),
        ("DataRequest-7", "ddu"),
        ("DataRequest-7", "drdu"),
        ("DataRequest-3", "d0u"),
        ("DataRequest-3", "nu"),
        ("DataRequest-3", "dddddu"),
        ("DataRequest-7", "dddddddddddu"),
        ("DataRequest-7", "dddd"),
        ("DataRequest-3", "dddddd"),
        ("DataRequest-7", "d"),
        ("DataRequest-3", "dbu"),
        ("DataRequest-7", "dfd"),
        ("DataRequest-3", "dmu"),
        ("DataRequest-7", "dtu"),
        ("DataRequest-7", "ddbu"),
        ("DataRequest-3", "dvu"),
        ("DataRequest-7", "dau"),
        ("DataRequest-3", "dzu"),
        ("DataRequest-7", "dxu"),
    )
    HIDDEN_CASES = (
        ("order-41", "u"),
        ("order-42", "duu"),
        ("order-41", "ddddddddu"),
        ("order-42", "dddddddddduu"),
        ("order-42", "deu"),
        ("order-42", "rnu"),
        ("order-42", "0u"),
        ("order-41", "d"),
        ("order-42", "ddrdddd"),
        ("order-41", "db"),
        ("order-41", "bu"),
        ("order-42", "bdd"),
        ("order-42", "ddfdu"),
        ("order-41", "rmu"),
        ("order-42", "tu"),
        ("order-41", "drtdu"),
        ("order-42", "vu"),
        ("order-41", "rau"),
        ("order-42", "zdu"),
        ("order-41", "drxu"),
    )
    REPLIES: ClassVar[dict[str, Any]] = {"0": 0, "e": "", "n": None}
    RAISES: ClassVar[dict[str, Callable[[str], Exception]]] = {
        "d": ConnectionError,
        "r": _raising(lambda: ConnectionRefusedError(111, "Connection refused")),
        "b": _raising(lambda: KeyError("price")),
        "f": _raising(lambda: FileNotFoundError(2, "No such file or directory", "prices.csv")),
        "m": _raising(lambda: NameError("name 'reqest' is not defined")),
        "t": _raising(lambda: TypeError("unsupported operand type(s) for +: 'int' and 'str'")),
        "v": _raising(lambda: ValueError("invalid literal for int() with base 10: 'n/a'")),
        "a": _raising(lambda: AttributeError("'NoneType' object has no attribute 'json'")),
        "z": _raising(lambda: ZeroDivisionError("division by zero")),
        "x": _raising(lambda: RuntimeError("dictionary changed size during iteration")),
    }
    DOWN = frozenset("dr")
    BUGS = frozenset("bfmtvazx")
    NAMES: ClassVar[dict[str, str]] = {
        "d": "down",
        "r": "refused",
        "b": "buggy",
        "f": "buggy",
        "m": "buggy",
        "t": "buggy",
        "v": "buggy",
        "a": "buggy",
        "z": "buggy",
        "x": "buggy",
        "0": "answering 0",
        "e": "answering ''",
        "n": "answering None",
    }

    def _check(self, fallback: Any) -> str:
        return self._cases(fallback, self.CASES)

    def _check_hidden(self, fallback: Any) -> str:
        return self._cases(fallback, self.HIDDEN_CASES)

    def _cases(self, fallback: Any, cases: tuple[tuple[str, str], ...]) -> str:
        if not callable(fallback):
            raise Incorrect(f"expected a function fallback(request, sources), got {fallback!r}")
        for request, pattern in cases:
            if set(pattern) <= self.DOWN:
                self._all_fail(fallback, request, pattern)
            elif set(pattern) & self.BUGS:
                self._bug(fallback, request, pattern)
            else:
                self._one_answers(fallback, request, pattern)
        return (
            "first answer wins, sources asked in order and once, and a total failure carries every error. The "
            "cases: up to twelve sources; answers 0, '' and None; a source that is down raising "
            "ConnectionRefusedError (a kind of ConnectionError, its message without the word 'down'); bugs raising "
            "KeyError, NameError, TypeError, ValueError, AttributeError, ZeroDivisionError or RuntimeError with a "
            "working source after them, and a FileNotFoundError (an OSError, "
            "not a ConnectionError) with a source after it that is not asked."
        )

    def _run(self, fallback: Any, request: str, pattern: str) -> tuple[list[Probe], Any, Exception | None]:
        """Run ``fallback`` over one source per letter of ``pattern``, on a copy of the list of sources."""
        journal: list[str] = []
        probes = [
            Probe(
                f"source-{i}",
                {request: self.RAISES[state]} if state in self.RAISES else {},
                journal=journal,
                **({"reply": self.REPLIES[state]} if state in self.REPLIES else {}),
            )
            for i, state in enumerate(pattern)
        ]
        given = list(probes)
        value, error = answer_of(fallback, request, given, what="fallback")
        if given != probes:
            raise Incorrect(
                f"fallback changed the list of sources it was given (now {given}): loop over it, don't modify the "
                "caller's list."
            )
        asked = {r for p in probes for r, _ in p.calls}
        if asked - {request}:
            raise Incorrect(
                f"fallback asked the sources for {sorted(map(str, asked - {request}))[0]!r}, but the request was "
                f"{request!r}: pass on the request it is given."
            )
        return probes, value, error

    def _where(self, pattern: str) -> str:
        return f"with sources {'/'.join(self.NAMES.get(s, 'up') for s in pattern)}"

    @staticmethod
    def _escaped_subclass(where: str, error: Exception | None, probes: list[Probe]) -> None:
        """A source's ConnectionRefusedError (a kind of ConnectionError) let through: the type compared exactly, or
        the message read ("down") instead of the type."""
        if (
            isinstance(error, ConnectionError)
            and type(error) is not ConnectionError
            and any(error is e for p in probes for e in p.errors.values())
        ):
            raise Incorrect(
                f"{where}, fallback let {error!r} escape: {type(error).__name__} is a kind of ConnectionError (the "
                "source is down). Catch with `except ConnectionError:` or isinstance(), which take its subclasses; "
                "neither `type(e) is ConnectionError` nor the message's words tell an outage."
            )

    def _one_answers(self, fallback: Any, request: str, pattern: str) -> None:
        probes, value, error = self._run(fallback, request, pattern)
        where = self._where(pattern)
        good = next(i for i, s in enumerate(pattern) if s not in self.DOWN)
        counts = [len(p.calls) for p in probes]
        order = list(dict.fromkeys(probes[0].journal))
        if order and order != [p.name for p in probes[: len(order)]]:
            raise Incorrect(
                f"{where}, the sources were asked in the order {order}: ask them in list order, from source-0."
            )
        for i, n in enumerate(counts):
            if n > 1:
                raise Incorrect(
                    f"{where}, source-{i} was called {n} times for one request: call each source once, and keep "
                    "its answer in a variable."
                )
        if error is not None:
            self._escaped_subclass(where, error, probes)
            if any(error is p.errors.get(request) for p in probes):
                raise Incorrect(
                    f"{where}, fallback let {error!r} escape: catch each source's error and try the next source."
                )
            if counts[good] and pattern[good] in self.REPLIES:
                raise Incorrect(
                    f"{where}, source-{good} answered {probes[good].answer(request)!r} and fallback raised {error!r} "
                    "instead of returning it: any value a source returns is an answer, even 0, '' or None; only an "
                    "exception means try the next source (test whether the call raised, not what it returned)."
                )
            if counts[good] == 0:
                raise Incorrect(
                    f"{where}, fallback raised {error!r} without asking source-{good}, which was up: loop over "
                    f"every source in the list (there are {len(pattern)})."
                )
            raise Incorrect(f"{where}, fallback raised {error!r}: catch each source's error and try the next source.")
        expected = probes[good].answer(request)
        later = [i for i in range(good + 1, len(pattern)) if counts[i]]
        if later and pattern[good] in self.REPLIES:
            raise Incorrect(
                f"{where}, source-{good} answered {expected!r} and fallback went on to source-{later[0]}: any value a "
                "source returns is an answer, even 0, '' or None; only an exception means try the next one."
            )
        if later:
            raise Incorrect(
                f"{where}, source-{later[0]} was asked although source-{good} had answered: return at the first answer."
            )
        if value == expected and type(value) is type(expected):
            return
        if value is None:
            raise Incorrect(
                f"{where}, fallback returned None: return the answer (printing it gives the caller nothing)."
            )
        if isinstance(value, BaseException) or (isinstance(value, str) and "is down" in value):
            raise Incorrect(
                f"{where}, fallback returned the error {value!r} as if it were an answer: a failure means "
                "try the next source."
            )
        skipped = [i for i in range(good) if counts[i] == 0]
        if skipped:
            raise Incorrect(f"{where}, source-{skipped[0]} was never asked: ask the sources in order, from the first.")
        raise Incorrect(f"{where}, fallback returned {value!r}; expected source-{good}'s answer, {expected!r}.")

    def _all_fail(self, fallback: Any, request: str, pattern: str) -> None:
        probes, value, error = self._run(fallback, request, pattern)
        n = len(pattern)
        down = f"with all {n} sources down" if n > 1 else "with its only source down"
        counts = [len(p.calls) for p in probes]
        if counts != [1] * n:
            raise Incorrect(f"{down}, the sources were called {counts} times; expected each once.")
        if error is None:
            if value is None:
                raise Incorrect(
                    f"{down}, fallback returned None: swallowing the errors hides the failure; "
                    "raise an ExceptionGroup with them."
                )
            raise Incorrect(
                f"{down}, fallback returned {value!r}: a failure is not an answer; raise an "
                "ExceptionGroup holding every error."
            )
        if not isinstance(error, ExceptionGroup):
            self._escaped_subclass(down, error, probes)
            raise Incorrect(
                f"{down}, fallback raised {error!r}, one error: raise "
                f"ExceptionGroup(message, errors) with {f'all {n}' if n > 1 else 'that one'}, so the caller sees "
                "every cause."
            )
        self._holds_every_error(error, probes, request)

    def _bug(self, fallback: Any, request: str, pattern: str) -> None:
        """A source with a bug (KeyError, FileNotFoundError, NameError, TypeError, ValueError, AttributeError,
        ZeroDivisionError, RuntimeError) after sources that are down: the bug
        must reach the caller, and no later source be asked (cell 17: stop at it).

        Accepted: the bug itself, or an ExceptionGroup that holds it, alone or with the errors of the sources
        asked before it, in order, the bug first or last. A bug caught and passed over is lost as soon as a later
        source answers.
        """
        probes, value, error = self._run(fallback, request, pattern)
        at = next(i for i, s in enumerate(pattern) if s in self.BUGS)
        where = self._where(pattern)
        bug = probes[at].errors.get(request)
        if bug is None:
            raise Incorrect(f"{where}, source-{at} was never asked: ask every source, in order, until one answers.")
        kind = type(bug).__name__
        if error is not bug and not (isinstance(error, ExceptionGroup) and any(e is bug for e in error.exceptions)):
            if error is not None and self._wraps(error, bug):
                raise Incorrect(
                    f"{where}, source-{at} raised a {kind} (a bug, not an outage) and fallback raised {error!r}, "
                    f"chained to the {kind}: raise the {kind} as it is, or in an ExceptionGroup. Wrapping it "
                    f"in another type hides its kind: a caller's `except {kind}` no longer sees it."
                )
            outcome = f"raised {error!r}" if error is not None else f"returned {value!r}"
            raise Incorrect(
                f"{where}, source-{at} raised a {kind} (a bug, not an outage) and fallback {outcome}: the {kind} was "
                "lost. Catch ConnectionError only, so that any other error reaches the caller (or stop at it and "
                "raise it, alone or in the ExceptionGroup with the errors so far); a bug caught and passed over "
                "vanishes as soon as a later source answers."
            )
        later = [i for i in range(at + 1, len(probes)) if probes[i].calls]
        if later:
            wide = (
                f" A {kind} is an OSError but not a ConnectionError: `except OSError` (or Exception) catches bugs too."
                if isinstance(bug, OSError)
                else ""
            )
            raise Incorrect(
                f"{where}, source-{at} raised a {kind} (a bug, not an outage) and fallback went on to ask "
                f"source-{later[0]} before raising it: stop at a bug, since asking on cannot mend it.{wide} Catch "
                "ConnectionError only, so that any other error goes to the caller at once."
            )
        if error is bug:
            return  # a bug is not an outage: it reached the caller at once
        asked = [p.errors[request] for p in probes if request in p.errors]  # the sources' errors, in order
        got = list(error.exceptions)
        if not all(any(e is a for a in asked) for e in got):
            raise Incorrect(
                f"{where}, the ExceptionGroup holds the {kind} but also new exceptions: keep the sources' own "
                "exceptions, as caught."
            )
        outages = [e for e in got if e is not bug]  # the bug may come first or last; the outages keep their order
        positions = [next(i for i, a in enumerate(asked) if a is e) for e in outages]
        at_an_end = got[0] is bug or got[-1] is bug
        if positions != sorted(set(positions)) or not at_an_end or len(outages) != len(got) - 1:
            raise Incorrect(
                f"{where}, the ExceptionGroup holds the {kind}, but the sources' errors in it are not in the order "
                f"they were asked (or one is there twice): keep the errors so far in order, the {kind} first or last."
            )
        # the bug reached the caller, in a group

    @staticmethod
    def _wraps(error: BaseException, bug: BaseException) -> bool:
        """Whether ``error``, not a group, is another exception chained to ``bug`` (``raise Other(...) from bug``, or
        raised while handling it): the bug's kind hidden behind another type."""
        if isinstance(error, BaseExceptionGroup):
            return False  # a group with a new exception in the bug's place: the bug was lost
        seen: set[int] = set()
        cause: BaseException | None = error
        while cause is not None and id(cause) not in seen:
            if cause is bug:
                return True
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        return False

    @staticmethod
    def _holds_every_error(error: ExceptionGroup, probes: list[Probe], request: str) -> None:
        """A total failure (every source down, every one asked): the group holds each source's error, in order."""
        n = len(probes)
        expected = [p.errors[request] for p in probes]
        got = list(error.exceptions)
        if len(got) > n and [id(e) for e in got[-n:]] == [id(e) for e in expected]:
            raise Incorrect(
                f"the ExceptionGroup holds {len(got)} errors; expected {n}, one per source: the first "
                f"{len(got) - n} are from earlier calls. Create the errors list inside the function (a default "
                "`errors=[]`, or a list made outside it, lives on from one call to the next)."
            )
        if len(got) != n:
            raise Incorrect(f"the ExceptionGroup holds {len(got)} error(s); expected {n}, one per source.")
        if [id(e) for e in got] != [id(e) for e in expected]:
            if sorted(map(id, got)) == sorted(map(id, expected)):
                raise Incorrect("the ExceptionGroup holds every error, but not in the order the sources were asked.")
            raise Incorrect("the ExceptionGroup should hold the sources' own exceptions, as caught, not new ones.")


class BackupShare(Prediction):
    title = "Predict: how much does the backup serve at p = 0.6?"
    example = "0.5"
    model = 0.6 * (1 - 0.6)
    tolerance = 0.005
    why = (
        "A fraction p = 0.6 of all requests ask the backup, and it answers 1 − p = 0.4 of those: "
        "p (1 − p) = 0.24 of all requests."
    )
    mistakes = (
        (0.6, "0.6 is the share that *asks* the backup; it fails 60 % of those too."),
        (0.36, "0.36 = p² is the share that both sources fail: lost, not served."),
        (0.375, "0.375 is the backup's share of the *answered* requests, 0.24 / 0.64; the question counts all."),
        (0.4, "0.4 is the share the primary serves."),
        (0.64, "0.64 = 1 − p² is the share answered by either source."),
    )
    hints = ("First: which requests ask the backup at all? Then: how many of those does it answer?",)
    stub = """
        backup_share_prediction = ____  # a fraction of all requests, between 0 and 1
    """
    solution_text = """
        backup_share_prediction = 0.6 * (1 - 0.6)  # 0.24: the primary fails 60 %, the backup answers 40 % of those
    """


q1 = Fallback("q1")
q2 = ChainAnswers("q2")
q3 = BackupShare("q3")
