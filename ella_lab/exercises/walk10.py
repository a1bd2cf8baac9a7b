"""Your turn in notebook 10, overload and metastable failures: ``from ella_lab.exercises import walk10 as ex``.

q1 predicts the tries a second the server gets once every try times out; q2 the calls that reach the bottom of
three layers that each try 3 times; q3 writes the AIMD rule of the concurrency limit, checked step by step and
then run in the seeded simulation of the notebook's section (d), where each of its decisions is compared with
the library's ``AIMD``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

from ..metastable import NotedAIMD
from ..overload import AIMD
from ..sim import format_recovery, recovery_time, simulate
from ._core import BLANK, Incorrect, Question, as_real, call_bounded
from ._predict import PredictQuestion

__all__ = ["BLANK", "____", "q1", "q2", "q3"]

____ = BLANK  # the blank a learner replaces by a number

RATE, TRIES, LAYERS = 140, 3, 3
MINIMUM, MAXIMUM, INCREASE, DECREASE = 1, 200, 1, 0.9


class TriesPerSecond(PredictQuestion):
    title = "Predict: the tries a second the server gets once every try times out"
    expects = "a number of tries a second, like 300"
    unit = "/s"
    rel = 0.04  # the model is exact (420) and measured within a few per cent; 400 (2 x C) is 4.8 % off
    hints = (
        "The clients send 140 new requests a second whatever the server does (an open-loop load).",
        "Once the queue wait is longer than the 150 ms timeout, every try times out: how many tries does each "
        "request make with Retry(attempts=3)?",
        "3 tries a request × 140 requests a second.",
    )
    stub = """
        predicted_tries_per_second = ____  # tries a second reaching the server, for example 300
    """
    solution_text = """
        predicted_tries_per_second = 3 * 140  # = 420: every request makes all 3 tries, 140 requests a second
    """

    def model(self) -> float:
        return float(TRIES * RATE)

    def slip(self, value: float, model: float) -> str | None:
        known = (
            (
                RATE,
                "140 is one try a request, the load before the trigger: once every try times out, each request "
                "makes all 3 tries.",
            ),
            ((TRIES - 1) * RATE, "280 counts the 2 retries of each request but not its first try."),
            (
                200,
                "200 is what the server can answer (C), not what it gets: the clients keep sending, answered or "
                "not (an open-loop load), and each request tries 3 times.",
            ),
            (100, "100 is what the slowed server can answer during the trigger, not what it gets."),
            (
                400,
                "400 is 2 × C (2 × 200), or 3 × 140 rounded: the exact count is 3 × 140 = 420, and it does not "
                "depend on C, only on what the clients send, 140 requests a second, each making all 3 tries.",
            ),
            (TRIES, "3 is tries per request; the question asks for tries a second: 140 requests a second make them."),
            (
                (TRIES + 1) * RATE,
                "560 counts 4 tries: Retry(attempts=3) makes 3 tries in all, the first and 2 retries.",
            ),
            (TRIES**LAYERS * RATE, "3,780 multiplies over three layers; here only the client retries."),
            (300, "300 is the example of the format in the cell, not a prediction: put your own number there."),
        )
        for wrong, why in known:
            if math.isclose(value, wrong, rel_tol=1e-6):
                return why
        return None

    def why(self, model: float, measured: float | None) -> str:
        return (
            "Every request now makes all 3 tries, so the server gets 3 × 140 = 420 tries a second, more than twice its "
            "C = 200: the retries, not the clients, keep it overloaded."
        )


class CallsThroughLayers(PredictQuestion):
    title = "Predict: the calls at the bottom of three layers that each try 3 times"
    expects = "a number of calls, like 10"
    rel = 0.0  # a count: exact
    hints = (
        "Start at the top: the client tries the front end 3 times.",
        "Each of those 3 calls makes the front end try the back end 3 times; each of those, the database 3 times.",
    )
    stub = """
        predicted_calls_three_layers = ____  # calls at the bottom for one request, for example 10
    """
    solution_text = """
        predicted_calls_three_layers = 3 * 3 * 3  # = 27: each layer's 3 tries each make the layer below try 3 times
    """

    def model(self) -> float:
        return float(TRIES**LAYERS)

    def slip(self, value: float, model: float) -> str | None:
        known = (
            (
                9,
                "9 is 3 + 3 + 3, adding the layers (or 3 × 3, two layers): each try of a layer makes the layer "
                "below try 3 times, so the tries multiply.",
            ),
            (
                3,
                "3 is one layer's tries; the layers above retry too, and each of their tries starts the layers "
                "below again.",
            ),
            (
                64,
                "64 = 4³ is the SRE book's example with 3 retries, 4 tries, a layer; Retry(attempts=3) makes 3 "
                "tries in all.",
            ),
            (8, "8 = 2³ counts the retries only; each layer makes 3 tries in all, the first one included."),
            (6, "6 adds the retries of the three layers (2 + 2 + 2); the tries multiply."),
            (81, "81 = 3⁴ counts a fourth layer; the database itself does not retry."),
            (
                40,
                "40 = 1 + 3 + 9 + 27 counts the calls at every layer, the request itself included; the question "
                "asks for the calls that reach the database, at the bottom.",
            ),
            (
                39,
                "39 = 3 + 9 + 27 counts the calls into the front end, the back end and the database; the question "
                "asks for the database's alone.",
            ),
            (
                28,
                "28 = 27 + 1 counts the request itself; the question asks for the calls that reach the database: 27.",
            ),
            (
                13,
                "13 = 1 + 3 + 9 counts the calls into the client, the front end and the back end; the database, one "
                "layer further down, gets 3 calls for each of the back end's 9.",
            ),
            (
                12,
                "12 = 3 + 9 adds the calls into the front end and the back end; the database, one layer further "
                "down, gets 3 calls for each of the back end's 9.",
            ),
            (
                0,
                "0 counts no call: the database is down, but every call still reaches it, and fails there. Each try "
                "of each layer is a call.",
            ),
            (10, "10 is the example of the format in the cell, not a prediction: put your own count there."),
        )
        if not _whole(value):
            return f"{value!r} is not a whole number: a count of calls is."
        for wrong, why in known:
            if round(value) == wrong:
                return why
        if round(value) != model:
            return "The count is exact: each try is one call, with no timing in it to leave room."
        return None

    def _show(self, value: float) -> str:
        """A count in full: 27.000001 is not shown as 27 (but (1/3)**-3, 27.000000000000004, is)."""
        return f"{value:,.0f}" if _whole(value) else repr(value)

    def _comparison(self, value: float, model: float, measured: float | None) -> str:
        """A count is the same as the measurement only when it is the same count, not 0.5 % away."""
        if measured is None or (_whole(value) and round(value) == round(measured)):
            return super()._comparison(value, model, measured)
        return (
            f"You predicted {self._show(value)}; the model says {self._show(model)}; measured: {self._show(measured)}."
        )

    def why(self, model: float, measured: float | None) -> str:
        return (
            "Each layer's 3 tries each make the layer below try 3 times: 3 × 3 × 3 = 27. The load at the bottom "
            "grows with the power of the depth, which is why only one layer should retry."
        )


def _whole(value: float) -> bool:
    """A whole number, up to float rounding: (1/3)**-3 is 27.000000000000004, and a count of 27."""
    return math.isclose(value, round(value), rel_tol=1e-9, abs_tol=1e-12)


def reference_limit(limit: float, ok: bool, inflight: int) -> float:
    """The AIMD rule of ``ella_lab.overload.AIMD`` with notebook 10's settings (+1, × 0.9, within 1 and 200)."""
    return AIMD(MINIMUM, minimum=MINIMUM, maximum=MAXIMUM, increase=INCREASE, decrease=DECREASE).update(
        limit, 0.0, ok, inflight
    )


def _call(rule: Callable, limit: float, ok: bool, inflight: int) -> float:
    """The learner's ``rule(limit, ok, inflight)`` as a float; ``Incorrect`` naming the call when it is not a number."""
    got = call_bounded(rule, limit, ok, inflight, timeout=2.0, what=f"next_limit({limit:g}, {ok}, {inflight})")
    number = as_real(got)
    if number is None or not math.isfinite(number):
        forgot = " (did you forget the `return`?)" if got is None else ""
        raise Incorrect(
            f"next_limit({limit:g}, {ok}, {inflight}) returned {got!r}{forgot}: return the new limit, a number."
        )
    return number


def _same(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


class _Compared(NotedAIMD):
    """The library's AIMD, noted, which also asks the learner's rule at every decision and keeps the first
    disagreement.

    The simulation goes on with the library's value, so every decision is judged on the inputs a run really meets.
    """

    def __init__(self, rule: Callable):
        super().__init__(8, minimum=MINIMUM, maximum=MAXIMUM, increase=INCREASE, decrease=DECREASE)
        self.rule, self.miss = rule, None

    def update(self, limit: float, rtt: float, ok: bool, inflight: int) -> float:
        want = super().update(limit, rtt, ok, inflight)
        got = self.rule(limit, ok, inflight)
        number = as_real(got)
        if self.miss is None and (number is None or not _same(number, want)):
            self.miss = (limit, ok, inflight, got, want)
        return want


class AIMDRule(Question):
    title = "Write the AIMD rule of the concurrency limit"
    expects = "a function next_limit(limit, ok, inflight) returning the new limit"
    hints = (
        "Three cases: a failure (ok is False) multiplies the limit by 0.9; an answer adds 1, but only when "
        "2 * inflight >= limit; otherwise the limit stays as it is.",
        "Keep the result within 1 and 200 after the change: min(200, max(1, limit)). Never below 1: with a limit "
        "under 1 no try could be sent, so no answer would ever come back to raise it again.",
        "Why grow only when the limit is in use: with few tries in flight, an answer says nothing about how many "
        "more the server could take. A limit that grew on every answer during a quiet hour would sit at 200 when "
        "the next trigger comes, and protect nothing (like the budget that banks its past, in section (e)).",
    )
    stub = """
        def next_limit(limit, ok, inflight):
            # YOUR CODE HERE (3 to 6 lines): the new limit after one try ended.
            # ok: True for an answer, False for a timeout or a 503; inflight: the tries in flight, this one included.
            raise NotImplementedError
    """
    solution_text = """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit = limit * 0.9  # overload: back off at once, multiplicatively
            elif 2 * inflight >= limit:
                limit = limit + 1  # an answer while the limit is in use: probe for one more
            return min(200, max(1, limit))  # never below 1 (nothing could be sent), never above 200
    """

    # (limit, ok, inflight): the first case a rule gets wrong names its bug (see _diagnosis). inflight is at least 1
    # in every case, as in the library: it counts the try that just ended (ConcurrencyLimit and the simulation call
    # the rule before they take that try off).
    CASES = (
        (10.0, True, 5),
        (10.0, True, 1),
        (37.5, False, 3),  # a failure with the limit barely in use still cuts it
        (8.0, True, 3),  # 2 * 3 < 8: no growth (inflight counted twice grows, 2 * 4 >= 8; 3 >= 8 // 2 does not)
        (
            7.5,
            True,
            3,
        ),  # 2 * 3 < 7.5: no growth (the limit floor-divided grows, 3 >= 7.5 // 2; 2 * 3 >= 7.5 - 1 does not)
        (7.0, True, 3),  # 2 * 3 < 7: no growth (nor with 2 * inflight >= limit - 1)
        (6.4, True, 3),  # 2 * 3 < 6.4: compared with the limit as it is, not rounded to 6
        (8.0, True, 8),  # a full limit grows too
        (4.5, True, 6),  # more in flight than the limit (tries sent before a cut): an answer still adds 1
        (100.0, False, 100),
        (5.0, False, 5),
        (5.0, False, 8),  # more in flight than the limit (tries sent before a cut): a failure still cuts
        (1.0, False, 1),
        (1.1, False, 1),  # 0.99 is clamped to 1, not left at 1.1
        (1.5, False, 1),  # 1.5 × 0.9 = 1.35, above the floor of 1: the new limit is 1.35, not clamped to 1
        (200.0, True, 150),
        (199.5, True, 150),  # 200.5 is clamped to 200, not left at 199.5
        (6.0, True, 3),
        (1.2, True, 1),
    )
    HIDDEN_CASES = (
        (40.0, True, 20),
        (8.0, True, 1),  # before (40, True, 19): a rule that grows on every answer fails here, told so
        (40.0, True, 19),
        (37.5, False, 3),
        (12.0, True, 12),
        (3.2, True, 5),
        (9.5, True, 4),
        (9.0, True, 4),
        (3.0, False, 6),
        (2.0, False, 1),
        (1.9, False, 1),
        (1.05, False, 1),
        (200.0, True, 199),
        (199.9, True, 100),
        (3.3, True, 2),
        (123.0, False, 123),
        (64.0, False, 2),
    )
    SCENARIO: ClassVar[dict[str, Any]] = {
        "duration": 6.0
    }  # section (d)'s run of the limit: 140 a second, a 2 s trigger
    HIDDEN_SCENARIO: ClassVar[dict[str, Any]] = {"duration": 7.0, "rate": 170.0, "trigger": 2.5, "seed": 7}

    def _check(self, rule: Any) -> str:
        return self._verdict(rule, self.CASES, self.SCENARIO)

    def _check_hidden(self, rule: Any) -> str:
        return self._verdict(rule, self.HIDDEN_CASES, self.HIDDEN_SCENARIO)

    def _verdict(self, rule: Any, cases: tuple, scenario: dict[str, Any]) -> str:
        if not callable(rule):
            raise Incorrect(f"give the function next_limit itself (no parentheses); got {rule!r}")
        for limit, ok, inflight in cases:
            got, want = _call(rule, limit, ok, inflight), reference_limit(limit, ok, inflight)
            if not _same(got, want):
                _refuse_own_state(rule, limit, inflight)
                raise Incorrect(_diagnosis(limit, ok, inflight, got, want))
        compared = _Compared(rule)
        run = call_bounded(
            lambda: simulate(control="limit", limit=compared, **scenario),
            timeout=20.0,
            what="the simulation with your next_limit",
        )
        if compared.miss is not None:
            limit, ok, inflight, got, want = compared.miss
            raise Incorrect(f"in the simulated run, {_diagnosis(limit, ok, inflight, as_real(got), want)}")
        recovered = recovery_time(run)
        when = "as soon as the trigger ended" if recovered == 0 else f"{format_recovery(recovered)} after the trigger"
        which = "the simulated run of section (d)" if scenario == self.SCENARIO else "a simulated run"
        return (
            f"right at every step, and at all {compared.decisions:,} decisions of {which} "
            f"({scenario.get('rate', 140):g} requests a second, a {scenario.get('trigger', 2.0):g} s trigger): "
            f"the limit ranged from {compared.lowest:.3g} to {compared.highest:.3g}, the queue never passed "
            f"{max(run.queue)} of its 50 places, and the system recovered {when}. The limit caps the tries in "
            "flight, queued ones included, well above the 4 service slots: answers raise it while it is in use, "
            "and timeouts cut it as soon as the waits pass 150 ms, so the queue drains before it fills."
        )


def _refuse_own_state(rule: Callable, limit: float, inflight: int) -> None:
    """``Incorrect`` when the same failure, asked twice, gives two limits: the rule keeps a limit of its own.

    A rule that ignores its ``limit`` and cuts a state it holds returns a new value at each call; a rule of its
    arguments alone returns the same one, so asking twice cannot blame a stateless rule.
    """
    first, second = _call(rule, limit, False, inflight), _call(rule, limit, False, inflight)
    if not _same(first, second):
        raise Incorrect(
            f"next_limit({limit:g}, False, {inflight}) returned {first!r}, then {second!r}, asked twice with the same "
            "arguments: your rule keeps a limit of its own. Use the limit you are given; the caller holds the state "
            "(ConcurrencyLimit keeps the limit and passes it in at every call), so the same arguments give the same "
            "new limit."
        )


def _rounded_places(got: float, want: float) -> int | None:
    """The decimal places ``want`` was rounded to, to give ``got`` (0 to 9), or None when it was not."""
    if _same(got, want):
        return None
    return next((places for places in range(10) if got == round(want, places)), None)


def _step(got: float, limit: float) -> str:
    """How ``got`` grew from ``limit``: a round factor (× 1.1) or a small whole amount added (+ 2), both when both
    fit (44 from 40 is × 1.1 or + 4; 12 from 10 is + 2 or × 1.2: one step cannot tell them apart), else the amount
    added."""
    added, factor = got - limit, got / limit
    whole = abs(added - round(added)) < 1e-9 and 1 <= round(added) <= 5
    round_factor = abs(factor - round(factor, 2)) < 1e-9
    if whole and round_factor:
        plus, times = f"+ {round(added)}", f"× {round(factor, 2):g}"
        return f"{plus} ({times} here)" if round(added) <= 2 else f"{times} ({plus} here)"
    if whole:
        return f"+ {round(added)}"
    if round_factor:
        return f"× {round(factor, 2):g}"
    return f"+ {added:.3g}"


def _diagnosis(limit: float, ok: bool, inflight: int, got: float | None, want: float) -> str:
    """What a rule that returned ``got`` for ``(limit, ok, inflight)`` most likely did wrong."""
    call = f"next_limit({limit!r}, {ok}, {inflight}) returned {got!r}, the rule gives {want!r}:"
    if got is None:
        return f"{call} return the new limit, a number."
    places = _rounded_places(got, want)
    if ok:
        if got < limit and _same(got, max(MINIMUM, limit * DECREASE)):
            crowded = (
                f", even with more tries in flight than the limit ({inflight} of {limit:g}: the tries sent before "
                "a cut are still in flight)"
                if inflight > limit
                else ""
            )
            return f"{call} an answer (ok True) must never lower the limit{crowded}; a failure (ok False) does."
        if _same(want, MAXIMUM) and _same(got, limit) and want > limit:
            return (
                f"{call} near the ceiling, add 1 and then clamp: {limit:g} + 1 = {limit + INCREASE:g}, kept to 200. "
                "A rule that skips the increase when it would pass 200 leaves the limit short of it."
            )
        if 2 * inflight < limit and got > limit and 2 * inflight >= math.floor(limit):
            return (
                f"{call} 2 * {inflight} = {2 * inflight} is less than {limit:g}, so the limit stays: compare "
                "2 * inflight with the limit itself, a float. A comparison with the limit rounded down to a whole "
                "number (or 2 * inflight > limit - 1, the same test) grows here (the limit lets ⌊limit⌋ tries "
                "through, but its growth is decided on the float)."
            )
        if 2 * inflight < limit and got > limit and inflight >= limit // 2 and limit == math.floor(limit):
            return (
                f"{call} 2 * {inflight} = {2 * inflight} is less than {limit:g}, so the limit stays: grow only when at "
                "least half the limit is in flight, 2 * inflight >= limit. A comparison with limit - 1, or with "
                f"limit // 2 (= {limit // 2:g}, the half rounded down), grows one try too early."
            )
        if 2 * inflight < limit and got > limit and inflight >= limit // 2:
            return (
                f"{call} 2 * {inflight} = {2 * inflight} is less than {limit:g}: {limit:g} // 2 = {limit // 2:g} "
                "drops the half; floor division rounds half the limit down, so the limit grows with fewer than "
                "half of it in flight. Compare 2 * inflight >= limit, or inflight >= limit / 2."
            )
        if 2 * inflight < limit and got > limit and 2 * (inflight + 1) >= limit:
            return (
                f"{call} inflight already counts the try that just ended, so 2 * {inflight} = {2 * inflight} is "
                f"less than {limit:g} and the limit stays: adding 1 to inflight counts this try twice."
            )
        if 2 * inflight < limit and got > limit:
            return (
                f"{call} with only {inflight} of {limit:g} places in flight, the limit is not what holds the tries "
                "back, so an answer says nothing about room for more: grow only when 2 * inflight >= limit. A limit "
                "that grows while idle reaches 200 in a quiet hour and protects nothing at the next trigger."
            )
        if inflight >= limit and _same(got, limit) and want > limit:
            return (
                f"{call} with {inflight} tries in flight the limit of {limit:g} is full: grow here too. The rule is "
                "2 * inflight >= limit, with no upper bound on inflight: a full limit is the clearest sign that it "
                "holds tries back."
            )
        if 2 * inflight == limit and _same(got, limit) and want > limit:
            return (
                f"{call} at exactly half the limit in flight, grow too: the rule is 2 * inflight >= limit, at least "
                "half (not more than half, and not only when it is full); and inflight already counts the try that "
                "just ended, so take nothing off it."
            )
        if 2 * inflight >= limit and _same(got, limit) and want > limit:
            return (
                f"{call} grow after an answer when at least half the limit is in flight (2 * inflight >= limit), "
                "not only when it is full: once a cut leaves the limit a fraction (8.1, say), only ⌊limit⌋ = 8 "
                "tries are let through, so inflight never reaches it and the limit would never grow again."
            )
        if want > limit and _same(got, inflight + INCREASE):
            return (
                f"{call} add 1 to the limit, not to the tries in flight: {limit:g} + 1 = {want:g}. inflight is not "
                "the limit: it can be under it (and a limit set from it drops what it has learned) or over it, the "
                "tries sent before a cut still in flight (and a limit set from it undoes the cut)."
            )
        if want > limit and _same(got, limit + 1 / limit):
            return (
                f"{call} an answer adds 1 (additive increase), not 1 / limit: {limit:g} + 1 = {want:g}. TCP adds "
                "1 / window (in segments) for each acknowledgement, about one segment a round trip; this rule, like "
                "Netflix's AIMDLimit, adds 1 for each answer while at least half the limit is in flight."
            )
        if got > limit and want > limit and got < MAXIMUM:
            return (
                f"{call} an answer adds 1 (additive increase), not {_step(got, limit)}: {limit:g} + 1 = {want:g}. "
                "A limit that grows by more overshoots what the server can take, and the cuts that follow swing it "
                "up and down; + 1 probes for room one try at a time."
            )
        if got > MAXIMUM:
            return f"{call} keep the limit at most 200: clamp after adding, min(200, max(1, limit))."
    else:
        if got > want and _same(want, MINIMUM) and not _same(got, limit):
            return (
                f"{call} the floor is 1, not {got:g}: cut, then clamp with max(1, limit). A floor of 1 keeps one "
                "try going, which is all it takes for answers to raise the limit again."
            )
        if _same(got, want + INCREASE) and 2 * inflight >= want:
            return (
                f"{call} a failure cut the limit to {want:.4g} and then the growth added 1: only an answer (ok True) "
                "grows it. Test ok on both branches (if not ok: ... elif 2 * inflight >= limit: ...)."
            )
        if got > limit:
            return f"{call} a failure (ok False) must lower the limit; an answer raises it."
        if _same(got, limit) and inflight > limit:
            return (
                f"{call} a failure cuts even when tries sent before a cut are still in flight ({inflight} of a "
                f"limit of {limit:g}): each timeout says the server is overloaded, whatever is in flight, so "
                "every failure cuts."
            )
        if _same(got, limit) and 2 * inflight < limit:
            return (
                f"{call} a timeout or a 503 cuts the limit however few tries are in flight: the server is "
                f"overloaded whether {inflight} or {limit:g} of your tries wait there. Only the growth waits for "
                "the limit to be in use."
            )
        if _same(got, limit) and _same(want, MINIMUM):
            return (
                f"{call} cut, then clamp: {limit:g} × 0.9 = {limit * DECREASE:.3g} is under 1, so the limit goes "
                f"to 1. A rule that skips the cut when it would pass 1 leaves the limit at {limit:g}: "
                "max(1, limit * 0.9)."
            )
        if _same(got, MINIMUM) and want > MINIMUM:
            return (
                f"{call} a failure cuts the limit by 0.9, down to 1 at the lowest: {limit:g} × 0.9 = {want:.4g}, "
                "not 1. Dropping to 1 at once throws away what the limit has learned; × 0.9 backs off a step at a "
                "time."
            )
        if _same(got, limit) and want < limit and got <= 2 * MINIMUM:
            return (
                f"{call} the floor is 1: {limit:g} × 0.9 = {want:.4g}, over 1, so the limit goes there. A floor "
                f"at {got:g} stops the cut short where the limit is smallest."
            )
        if got != want and not _same(got, limit) and got == math.floor(want):
            return (
                f"{call} keep the limit a float: rounding it down to a whole number after × 0.9 takes 1 off every "
                "whole limit under 10 (int(5 × 0.9) = 4), an additive decrease where the limit matters most."
            )
        if got != want and not _same(got, limit) and got == math.ceil(want):
            return (
                f"{call} keep the limit a float: rounding it up to a whole number after × 0.9 leaves every whole "
                "limit under 10 where it is (math.ceil(5 × 0.9) = 5), and round() every one under 5 "
                "(round(4 × 0.9) = 4): no decrease where the limit matters most."
            )
        if _same(got, limit - INCREASE):
            return (
                f"{call} the decrease is multiplicative (× 0.9), not 1 less: from a limit of 100, subtracting 1 "
                "takes 50 timeouts to halve it, while the queue keeps growing; × 0.9 takes 7."
            )
        factor = got / limit
        if _same(want, limit * DECREASE) and 0 < factor < 1 and abs(factor - round(factor, 2)) < 1e-9:
            return (
                f"{call} a failure cuts by × 0.9, not × {round(factor, 2):g}: {limit:g} × 0.9 = {want:.4g}. A "
                "deeper cut empties the pipe on every timeout, and the + 1 steps take long to climb back."
            )
        if got < MINIMUM:
            return (
                f"{call} never below 1: with a limit under 1 no try is sent, so no answer ever comes back to "
                "raise it: the client would stop for good. Clamp after the change: min(200, max(1, limit))."
            )
    if places is not None:
        return (
            f"{call} that is the rule's value rounded to {places} decimal place{'s' if places != 1 else ''}. Return "
            "the limit unrounded: × 0.9 and + 1 change it at every step, and a rounding at every step drifts away "
            "from the rule."
        )
    if _same(got, MAXIMUM) or _same(got, MINIMUM):
        return f"{call} check the clamp: min(200, max(1, limit)) (max and min the other way round give 200 or 1)."
    return f"{call} a failure multiplies by 0.9; an answer adds 1 when 2 * inflight >= limit; within 1 and 200."


q1 = TriesPerSecond("q1")
q2 = CallsThroughLayers("q2")
q3 = AIMDRule("q3")
