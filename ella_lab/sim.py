"""A metastable failure in simulated time: clients with timeouts and retries against a server with a queue.

``simulate(...)`` is a deterministic discrete-event simulation (seeded, no threads, no sleeping) of
the system notebook 10 runs for real on loopback: an open-loop stream of requests at ``rate`` per
second, each tried up to ``attempts`` times with a ``timeout``; a server with ``capacity`` service
slots and a queue of ``queue`` places (beyond it: an immediate 503); a trigger that multiplies the
service time by ``slowdown`` for ``trigger`` seconds. The server keeps working on requests whose
client has given up (wasted work) unless ``drop_expired``, which drops a try that would end after its
deadline if served in the expected time (``service`` x the slowdown now, not the try's own jittered
draw, which a real server cannot know). The client controls are the library's own decision objects,
run on simulated time: ``RetryBudget``, ``ThrottleWindow``, ``AIMD``.

One run takes milliseconds, so a phase diagram (offered load x trigger length) takes seconds.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ._checks import check_int, check_real
from .overload import AIMD, ThrottleWindow
from .resilience import RetryBudget

__all__ = [
    "CONTROLS",
    "SimResult",
    "bin_count",
    "format_recovery",
    "phase_diagram",
    "recovery_time",
    "simulate",
    "stayed_down",
]

CONTROLS = ("none", "budget", "throttle", "limit", "drop_expired")
MAX_ATTEMPTS = 20  # tries per request; more is no retry policy, and would run for ever on immediate 503s
MAX_BINS = 100_000  # per series: more points than any plot shows, and a few MiB for all the series together
MAX_CAPACITY = 10_000  # service slots: a limit's AIMD grows to 50 x this, within AIMD's own bound
MAX_TRIES = 5_000_000  # rate x duration x attempts in one run: about 15 s of simulation on a slow laptop
MAX_GRID_TRIES = 20_000_000  # the same over every run of one phase_diagram(...)


def bin_count(span: float, bin_s: float, *, name: str = "bin_s") -> int:
    """How many bins of ``bin_s`` seconds cover ``span`` seconds: the one count every parallel series uses.

    A span within a billionth of a whole number of bins is that number: ``(start + 8.0) - start`` can
    come out a hair over 8 s when ``start + 8.0`` is rounded (a clock reading just under a power of
    two), and that hair is no extra bin. More than ``MAX_BINS`` is refused, naming ``name``.
    """
    if not bin_s > 0:
        raise ValueError(f"{name} must be > 0, got {bin_s!r}")
    exact = span / bin_s
    nearest = round(exact)
    bins = nearest if abs(exact - nearest) <= 1e-9 * max(1.0, exact) else math.ceil(exact)
    if bins > MAX_BINS:
        raise ValueError(
            f"{name}={bin_s!r} cuts {span:g} s into {exact:.3g} bins, more than {MAX_BINS:,}: "
            f"use {name} >= {span / MAX_BINS:.3g}"
        )
    return max(1, bins)


def check_tries(rate: float, duration: float, attempts: int, *, most: int = MAX_TRIES, what: str = "") -> float:
    """The tries a run may send (``rate x duration x attempts``), refused beyond ``most``: the work of one call."""
    tries = rate * duration * attempts
    if tries > most:
        raise ValueError(
            f"rate x duration x attempts must be at most {most:,} tries{what}, got {rate:g} x {duration:g} x "
            f"{attempts} = {tries:,.0f}: lower rate, duration or attempts"
        )
    return tries


def _built(factory: Any, names: dict[str, str], **kwargs: Any) -> Any:
    """``factory(**kwargs)``, its argument errors naming the parameter as our caller spelled it.

    ``simulate(budget_ratio=-1)`` is refused by ``RetryBudget(ratio=...)``; the message says ``budget_ratio``.
    """
    try:
        return factory(**kwargs)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        for inner, outer in names.items():
            if message.startswith(f"{inner} "):
                raise type(exc)(outer + message[len(inner) :]) from None
        raise


@dataclass
class SimResult:
    """Time series in bins of ``bin_s`` seconds, and the run's settings."""

    bin_s: float
    settings: dict[str, Any]
    goodput: list[float] = field(default_factory=list)  # answers that reached a waiting client, per second
    offered: list[float] = field(default_factory=list)  # attempts sent (first tries + retries), per second
    first_tries: list[float] = field(default_factory=list)  # new requests, per second
    queue: list[int] = field(default_factory=list)  # the longest queue seen at the server in the bin
    wasted: list[float] = field(default_factory=list)  # service given to requests nobody waited for, per second
    latency_p50: list[float] = field(default_factory=list)  # of the answers delivered in the bin (seconds)

    @property
    def times(self) -> list[float]:
        """Each bin's start, rounded to 1 ns: bin 24 of 0.1 s starts at 2.4, not 2.4000000000000004 (past 2.4)."""
        return [round(i * self.bin_s, 9) for i in range(len(self.goodput))]

    def frame(self):
        """The time series as a pandas DataFrame, one row per bin."""
        import pandas as pd

        series = {
            "t": self.times,
            "goodput": self.goodput,
            "offered": self.offered,
            "first_tries": self.first_tries,
            "queue": self.queue,
            "wasted": self.wasted,
            "latency_p50": self.latency_p50,
        }
        lengths = {name: len(values) for name, values in series.items()}
        if len(set(lengths.values())) > 1:  # a builder's bug: say which series, not pandas' "same length"
            raise ValueError(f"the series of this SimResult have different lengths: {lengths}")
        return pd.DataFrame(series)


class _Attempt:
    __slots__ = ("deadline", "done", "number", "request", "sent")

    def __init__(self, request: int, number: int, sent: float, deadline: float):
        self.request, self.number, self.sent, self.deadline = request, number, sent, deadline
        self.done = False  # the client has its answer or has given up on this attempt


def simulate(
    *,
    rate: float = 140.0,
    capacity: int = 4,
    service: float = 0.020,
    service_jitter: float = 0.25,
    queue: int = 50,
    timeout: float = 0.150,
    attempts: int = 3,
    duration: float = 8.0,
    trigger_at: float = 1.0,
    trigger: float = 2.0,
    slowdown: float = 2.0,
    control: str = "none",
    arrivals: str = "paced",
    budget_ratio: float = 0.1,
    budget_cap: float = 10.0,
    throttle_k: float = 2.0,
    throttle_window: float = 0.25,
    limit: AIMD | None = None,
    seed: int = 0,
    bin_s: float = 0.1,
) -> SimResult:
    """Run the overload scenario in simulated time; see the module's docstring for the model.

    ``arrivals`` is ``"paced"`` (one request every 1/rate s, as ``ella_lab.experiments.paced`` sends them)
    or ``"poisson"`` (random gaps, seeded). Nothing after ``duration`` is counted.
    """
    rate = check_real("rate", rate, maximum=1e6)
    capacity = check_int("capacity", capacity, minimum=1)
    if capacity > MAX_CAPACITY:
        raise ValueError(f"capacity must be <= {MAX_CAPACITY:,} service slots, got {capacity!r}")
    service = check_real("service", service, maximum=3600.0)
    service_jitter = check_real("service_jitter", service_jitter, maximum=1.0)
    queue_places = check_int("queue", queue, minimum=0)
    if queue_places > 10 * MAX_CAPACITY:
        raise ValueError(f"queue must be <= {10 * MAX_CAPACITY:,} places, got {queue!r}")
    timeout = check_real("timeout", timeout, maximum=3600.0)
    attempts = check_int("attempts", attempts, minimum=1)
    if attempts > MAX_ATTEMPTS:
        raise ValueError(f"attempts must be <= {MAX_ATTEMPTS}, got {attempts!r}")
    duration = check_real("duration", duration, maximum=3600.0)
    trigger_at = check_real("trigger_at", trigger_at, maximum=3600.0)
    trigger = check_real("trigger", trigger, maximum=3600.0)
    slowdown = check_real("slowdown", slowdown, minimum=1.0, maximum=1000.0)
    bin_s = check_real("bin_s", bin_s, maximum=3600.0)
    check_int("seed", seed, minimum=-(2**63))
    if control not in CONTROLS:
        raise ValueError(f"control must be one of {', '.join(map(repr, CONTROLS))}; got {control!r}")
    if arrivals not in ("paced", "poisson"):
        raise ValueError(f"arrivals must be 'paced' or 'poisson', got {arrivals!r}")
    if limit is not None and not isinstance(limit, AIMD):
        raise TypeError(f"limit must be an AIMD(...) or None, got {limit!r}")
    for name, value in (("bin_s", bin_s), ("timeout", timeout), ("service", service), ("duration", duration)):
        if value <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    check_tries(rate, duration, attempts)
    if bin_s > duration:
        raise ValueError(f"bin_s must be <= duration ({duration!r}), got {bin_s!r}")
    bins = bin_count(duration, bin_s)
    # checked whatever the control, each naming the parameter as passed here (budget_ratio, not ratio)
    budget = _built(RetryBudget, {"ratio": "budget_ratio", "cap": "budget_cap"}, ratio=budget_ratio, cap=budget_cap)
    throttle = _built(
        ThrottleWindow, {"k": "throttle_k", "window": "throttle_window"}, k=throttle_k, window=throttle_window
    )
    budget = budget if control == "budget" else None
    throttle = throttle if control == "throttle" else None

    rng = random.Random(seed)
    aimd = (limit or AIMD(initial=capacity * 2, minimum=1, maximum=capacity * 50)) if control == "limit" else None
    limit_now = float(aimd.initial) if aimd else math.inf
    inflight = 0
    drop_expired = control == "drop_expired"

    good, sent, first, wasted = [0] * bins, [0] * bins, [0] * bins, [0] * bins
    queue_max: list[int] = [0] * bins  # the longest queue seen in each bin, as FlakyService.timeline() reports
    lat: list[list[float]] = [[] for _ in range(bins)]
    settings = {
        "rate": rate,
        "capacity": capacity,
        "service": service,
        "queue": queue_places,
        "timeout": timeout,
        "attempts": attempts,
        "duration": duration,
        "trigger_at": trigger_at,
        "trigger": trigger,
        "slowdown": slowdown,
        "control": control,
        "arrivals": arrivals,
        "seed": seed,
    }

    events: list[tuple[float, int, int, Any]] = []  # (time, order, sequence, payload)
    sequence = 0

    def push(time: float, order: int, payload: Any) -> None:
        nonlocal sequence
        if time >= duration:
            return  # past the end of the run: not simulated, not counted
        sequence += 1
        heapq.heappush(events, (time, order, sequence, payload))

    waiting: deque[_Attempt] = deque()
    busy = 0
    t, request = 0.0, 0
    gap = (lambda: 1.0 / rate) if arrivals == "paced" else (lambda: rng.expovariate(rate))
    t = gap() if arrivals == "poisson" else 0.0
    while t < duration and rate > 0:
        push(t, 2, ("arrive", request))
        request += 1
        t += gap()
    started_at: dict[int, float] = {}

    def bin_of(time: float) -> int:
        return min(bins - 1, int(time / bin_s))

    def expected_time(now: float) -> float:
        """The service time the server expects now: ``service``, times ``slowdown`` during the trigger."""
        slow = trigger_at <= now < trigger_at + trigger
        return service * (slowdown if slow else 1.0)

    def service_time(now: float) -> float:
        return expected_time(now) * rng.uniform(1 - service_jitter, 1 + service_jitter)

    def note_queue(now: float) -> None:
        i = bin_of(now)
        queue_max[i] = max(queue_max[i], len(waiting))

    def start_service(now: float) -> None:
        nonlocal busy
        while busy < capacity and waiting:
            attempt = waiting.popleft()
            if drop_expired and now + expected_time(now) > attempt.deadline:
                # it would be late by the expected service time (a server cannot know this try's own draw):
                # dropped unworked, and told so at once (503), as FlakyService does
                push(now, 1, ("reject", attempt))
                continue
            busy += 1
            push(now + service_time(now), 0, ("finish", attempt))
        note_queue(now)

    def send(now: float, req: int, number: int) -> None:
        """The client sends attempt ``number`` of ``req`` (or refuses it locally: that request then fails)."""
        nonlocal inflight
        if throttle is not None:
            p = throttle.probability(now)
            throttle.record_request(now)
            if p > 0 and rng.random() < p:
                return  # refused by the client: the request fails here, at no cost to the server
        if aimd is not None:
            if inflight >= int(limit_now):
                return  # over the concurrency limit: fail fast
            inflight += 1
        sent[bin_of(now)] += 1
        attempt = _Attempt(req, number, now, now + timeout)
        if busy + len(waiting) >= capacity + queue_places:
            push(now, 1, ("reject", attempt))  # every slot and queue place taken: 503 at once
            return
        waiting.append(attempt)
        start_service(now)
        push(attempt.deadline, 3, ("deadline", attempt))

    def failed(now: float, attempt: _Attempt) -> None:
        """An attempt failed (timeout or 503): retry at once if the policy allows."""
        nonlocal limit_now, inflight
        if aimd is not None:
            limit_now = aimd.update(limit_now, now - attempt.sent, False, inflight)
            inflight -= 1
        if attempt.number + 1 >= attempts:
            return
        if budget is not None and not budget.try_retry():
            return
        send(now, attempt.request, attempt.number + 1)

    while events:
        now, _, _, (kind, payload) = heapq.heappop(events)
        if kind == "arrive":
            first[bin_of(now)] += 1
            started_at[payload] = now
            if budget is not None:
                budget.record_request()
            send(now, payload, 0)
        elif kind == "finish":
            busy -= 1
            attempt = payload
            if attempt.done:  # nobody is waiting for this answer any more
                wasted[bin_of(now)] += 1
            else:
                attempt.done = True
                good[bin_of(now)] += 1
                lat[bin_of(now)].append(now - started_at[attempt.request])
                if throttle is not None:
                    throttle.record_accept(now)
                if aimd is not None:
                    limit_now = aimd.update(limit_now, now - attempt.sent, True, inflight)
                    inflight -= 1
            start_service(now)
        elif kind in ("deadline", "reject"):
            attempt = payload
            if not attempt.done:
                attempt.done = True
                failed(now, attempt)

    per_s = 1.0 / bin_s
    result = SimResult(bin_s=bin_s, settings=settings)
    result.goodput = [g * per_s for g in good]
    result.offered = [x * per_s for x in sent]
    result.first_tries = [f * per_s for f in first]
    result.queue = queue_max
    result.wasted = [w * per_s for w in wasted]
    result.latency_p50 = [sorted(x)[len(x) // 2] if x else math.nan for x in lat]
    return result


def recovery_time(result: SimResult | Any, *, threshold: float = 0.9, hold: float = 0.5) -> float:
    """Seconds from the trigger's end until goodput (mean over ``hold`` s) is back to ``threshold`` x new requests.

    ``math.inf`` when it never is before the run ends (the system stayed down: metastable). Works on
    a ``SimResult`` and on any object with the same series and settings (a measured run).
    """
    threshold = check_real("threshold", threshold, maximum=1.0)
    hold = check_real("hold", hold, maximum=3600.0)
    settings = result.settings
    end = settings["trigger_at"] + settings["trigger"]
    span = max(1, round(hold / result.bin_s))
    for i in range(len(result.goodput) - span + 1):
        if i * result.bin_s < end:
            continue
        good = sum(result.goodput[i : i + span])
        wanted = sum(result.first_tries[i : i + span])
        if good >= threshold * wanted:
            return max(0.0, round(i * result.bin_s - end, 9))
    return math.inf


def _grid(
    loads: Any, triggers: Any, *, after: Any, trigger_at: Any, settings: dict[str, Any], repeats: int = 1
) -> tuple[list[float], list[float], float, float, float]:
    """The checked grid of a map (loads, triggers, after, trigger_at, answers/s), its whole work bounded.

    ``repeats`` is how many times the grid runs (once per seed): the bound is on them all, checked before the first.
    """
    from .experiments import _grid as checked_list

    for name in ("rate", "trigger", "duration"):
        if name in settings:
            raise TypeError(f"phase_diagram sets {name} itself (from loads, triggers and after); do not pass {name}=")
    loads = [check_real("loads", load, maximum=100.0) for load in checked_list("loads", loads)]
    triggers = [check_real("triggers", trigger, maximum=3600.0) for trigger in checked_list("triggers", triggers)]
    after = check_real("after", after, maximum=3600.0)
    trigger_at = check_real("trigger_at", trigger_at, maximum=3600.0)
    capacity = check_int("capacity", settings.get("capacity", 4), minimum=1)
    service = check_real("service", settings.get("service", 0.020), maximum=3600.0)
    attempts = check_int("attempts", settings.get("attempts", 3), minimum=1)
    if service <= 0:
        raise ValueError(f"service must be > 0, got {service!r}")
    capacity_rps = capacity / service
    if max(loads) * capacity_rps > 1e6:
        raise ValueError(
            f"loads: {max(loads):g} x capacity / service ({capacity_rps:g} answers/s) is more than 1e6 requests/s"
        )
    work = repeats * sum(load * capacity_rps * (trigger_at + trigger + after) * min(attempts, MAX_ATTEMPTS)
                         for load in loads for trigger in triggers)  # fmt: skip
    if work > MAX_GRID_TRIES:
        runs = repeats * len(loads) * len(triggers)
        raise ValueError(
            f"loads x triggers x after: these {runs} runs would send up to {work:,.0f} tries, "
            f"more than {MAX_GRID_TRIES:,}: fewer or lower loads, fewer or shorter triggers, a shorter after"
            + (", or fewer seeds" if repeats > 1 else "")
        )
    return loads, triggers, after, trigger_at, capacity_rps


def _map(
    loads: list[float],
    triggers: list[float],
    *,
    control: str,
    after: float,
    trigger_at: float,
    capacity_rps: float,
    settings: dict[str, Any],
):
    """The runs of a checked grid: one row per (load, trigger)."""
    import pandas as pd

    rows = []
    for load in loads:
        for trigger in triggers:
            result = simulate(
                rate=load * capacity_rps,
                trigger=trigger,
                trigger_at=trigger_at,
                duration=trigger_at + trigger + after,
                control=control,
                **settings,
            )
            recovery = recovery_time(result)
            rows.append({"load": load, "trigger": trigger, "recovery_s": recovery, "recovered": recovery < math.inf})
    return pd.DataFrame(rows)


def phase_diagram(
    loads: float | list[float],
    triggers: float | list[float],
    *,
    control: str = "none",
    after: float = 8.0,
    trigger_at: float = 1.0,
    **settings: Any,
):
    """Recovery time for each (offered load, trigger length): where the system recovers and where it stays down.

    ``loads`` are fractions of the server's capacity (``capacity / service`` answers per second), one or
    a list, as ``triggers`` (seconds). Each run lasts until ``after`` seconds past its trigger's end.
    Returns a DataFrame with columns load, trigger, recovery_s (``inf``: it stayed down) and recovered.
    The whole grid's work is bounded (``MAX_GRID_TRIES`` tries), checked before the first run.
    """
    loads, triggers, after, trigger_at, capacity_rps = _grid(
        loads, triggers, after=after, trigger_at=trigger_at, settings=settings
    )
    return _map(
        loads,
        triggers,
        control=control,
        after=after,
        trigger_at=trigger_at,
        capacity_rps=capacity_rps,
        settings=settings,
    )


def stayed_down(
    loads: float | list[float],
    triggers: float | list[float],
    *,
    seeds: list[int] | range,
    control: str = "none",
    after: float = 8.0,
    trigger_at: float = 1.0,
    **settings: Any,
):
    """How many of ``seeds`` stayed down, for each (load, trigger): ``phase_diagram`` once per seed, counted.

    For random runs (``arrivals="poisson"``), where one seed's map is one draw: the count says how often
    a cell stays down. Returns a DataFrame, one row per load, one column per trigger. The work of every
    seed's grid together is bounded as one ``phase_diagram``'s, checked before the first run.
    """
    import pandas as pd

    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__"):
        raise TypeError(f"seeds must be a list or range of ints, got {seeds!r}")
    if not len(seeds):
        raise ValueError("seeds must name at least one seed, got none")
    if "seed" in settings:
        raise TypeError("stayed_down runs each of seeds; do not pass seed=")
    loads, triggers, after, trigger_at, capacity_rps = _grid(  # bounds len(seeds) before it is walked
        loads, triggers, after=after, trigger_at=trigger_at, settings=settings, repeats=len(seeds)
    )
    seeds = [check_int("seeds", seed, minimum=-(2**63)) for seed in seeds]
    runs = pd.concat(
        _map(
            loads,
            triggers,
            control=control,
            after=after,
            trigger_at=trigger_at,
            capacity_rps=capacity_rps,
            settings={**settings, "seed": seed},
        )
        for seed in seeds
    )
    down = (~runs.recovered).groupby([runs.load, runs.trigger]).sum().unstack("trigger").astype(int)
    down.columns.name = "trigger (s)"
    return down


def format_recovery(seconds: float) -> str:
    """A recovery time for people: ``never`` for a system that stayed down, else the time."""
    from .timing import format_seconds

    return "never" if seconds == math.inf else format_seconds(seconds)
