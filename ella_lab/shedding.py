"""Notebook 07's overload experiments, section (d): bounded queues under overload, and bulkheads.

``queue_row`` sums up one open-loop run (``experiments.paced``) of a router, measuring each latency both
from the enqueue and from the moment the client meant to send; ``queue_model`` gives the same row for calls
that take exactly their nominal time (a deterministic capacity model, no threads), and ``beside_model`` sets
the two side by side; ``dependency_rows`` splits a run by dependency (the requests' name prefix).
``overload_claims`` and ``bulkhead_claims`` state what the notebook's prose says of the two tables, against
their models. Kept here so that the notebook's cells
show the experiment, not the bookkeeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_real
from .claims import Claim
from .experiments import paced
from .outcome import Report
from .router import Router
from .timing import format_seconds

__all__ = ["beside_model", "bulkhead_claims", "bulkhead_table", "dependency_rows", "overload_claims", "paced_together",
           "queue_model", "queue_row"]

# Section (d)'s overload: 800 requests sent at 1,600/s to 4 workers of 5 ms (800/s), queues bounded at 20.
REQUESTS, RATE, CAPACITY, SEND_S, WORKERS = 800, 1600, 800, 0.5, 4
HELD = 20 + 4  # a bounded router holds 20 queued requests and 4 in service
# The bulkheads: 120 requests per dependency at 200/s (0.6 s); slow = 100 ms a call on its own 4 workers and 10 slots.
PER_DEPENDENCY, DEPENDENCY_RATE, SLOW_WORKERS, SLOW_CALL, SLOW_HELD = 120, 200, 4, 0.1, 4 + 10


def queue_row(report: Report, rate: float) -> dict[str, float]:
    """One run of the overload experiment: answered, rejected, two p99s, how long the client took to send.

    Request i was meant to be sent at ``started_at + i / rate`` (``paced``'s schedule); "p99 from enqueue"
    starts each latency when the request entered the router's queue, "p99 from intended send" at that
    intended moment, so it includes any time the client was held back. Latencies are of answered requests.
    """
    rate = check_real("rate", rate)
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate!r}")
    intended = report.started_at + np.arange(len(report)) / rate
    answered = [(o, t) for o, t in zip(report, intended, strict=True) if o.ok]
    if not answered:
        raise ValueError(f"report must hold at least one answered request; got {len(report)}, none answered")
    return {"answered": len(answered), "rejected": report.summary().get("rejected", 0),
            "p99 from enqueue": float(np.quantile([o.latency for o, _ in answered], 0.99)),
            "p99 from intended send": float(np.quantile([o.finished_at - t for o, t in answered], 0.99)),
            "client sent for": max(o.queued_at for o in report) - report.started_at,
            "run took": report.wall_s, "mean call": float(np.mean([o.service_time for o, _ in answered]))}


def queue_model(requests: int, rate: float, *, workers: int, call: float, max_pending: int | None = None,
                on_full: str = "block") -> dict[str, float]:
    """``queue_row``'s numbers for calls that take exactly ``call`` seconds and threads that wake on time.

    Request i is meant to be sent at i / ``rate``; a worker serves the queue in order as soon as it is free.
    With ``max_pending``, a request that finds that many waiting (not yet in service) either waits in the client
    until one starts (``on_full="block"``) or is rejected at once (``"reject"``). Exact: no clock, no threads.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise ValueError(f"requests must be an int >= 1, got {requests!r}")
    rate, call = check_real("rate", rate), check_real("call", call)
    if rate <= 0 or call <= 0:
        raise ValueError(f"rate and call must be > 0, got rate={rate!r}, call={call!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if max_pending is not None and (isinstance(max_pending, bool) or not isinstance(max_pending, int)
                                    or max_pending < 1):
        raise ValueError(f"max_pending must be None or an int >= 1, got {max_pending!r}")
    if on_full not in ("block", "reject"):
        raise ValueError(f"on_full must be 'block' or 'reject', got {on_full!r}")
    free = [0.0] * workers  # when each worker is next free
    waiting: deque[float] = deque()  # the start times of admitted requests, in order (starts never decrease)
    sent = 0.0
    enqueue_waits, intended_waits, rejected, finished = [], [], 0, 0.0
    for i in range(requests):
        meant = i / rate
        sent = max(meant, sent)  # the client sends in order, never before it meant to
        while waiting and waiting[0] <= sent:
            waiting.popleft()  # started by now: no longer pending
        if max_pending is not None and len(waiting) >= max_pending:
            if on_full == "reject":
                rejected += 1
                continue
            sent = waiting[len(waiting) - max_pending]  # blocked until enough of those ahead have started
            while waiting and waiting[0] <= sent:
                waiting.popleft()
        worker = min(range(workers), key=free.__getitem__)
        start = max(sent, free[worker])
        free[worker] = finished_at = start + call
        finished = max(finished, finished_at)
        waiting.append(start)
        enqueue_waits.append(finished_at - sent)
        intended_waits.append(finished_at - meant)
    return {"answered": requests - rejected, "rejected": rejected,
            "p99 from enqueue": float(np.quantile(enqueue_waits, 0.99)),
            "p99 from intended send": float(np.quantile(intended_waits, 0.99)),
            "client sent for": sent, "run took": finished, "mean call": call}


def beside_model(measured: pd.DataFrame, model: pd.DataFrame, times: Sequence[str] = ()) -> pd.DataFrame:
    """``measured`` turned on its side (one row per quantity, one column per run), each cell "measured (model)".

    Rows and columns are matched by label; ``times`` are the quantities shown through ``format_seconds``, the others
    as numbers. Narrow enough to read without scrolling, with each model value right beside its measurement.
    """
    missing = [c for c in measured if c not in model] + [c for c in times if c not in measured]
    if missing:
        raise ValueError(f"every column must be in both tables, and times among them; got {missing!r}")

    def shown(value: float, column: str) -> str:
        return format_seconds(value) if column in times else f"{value:,.0f}"

    return pd.DataFrame({label: {column: f"{shown(row[column], column)} ({shown(model.loc[label, column], column)})"
                                 for column in measured} for label, row in measured.iterrows()}
                        ).rename_axis(columns="measured (model)")


def overload_claims(table: pd.DataFrame) -> list[Claim]:
    """What the prose says of the three queues ("unbounded", "block at 20", "reject at 20"), one row each.

    Each model is ``queue_model`` run again at a row's own mean call (a 5 ms sleep wakes late on this machine).
    """
    unbounded, block, reject = (table.loc[k] for k in ["unbounded", "block at 20", "reject at 20"])
    enqueue, intended = "p99 from enqueue", "p99 from intended send"
    sheds = 1 - (CAPACITY * SEND_S + HELD) / REQUESTS  # served while sending, plus those held at the end
    # the capacity model again, with this machine's mean call (a 5 ms sleep that wakes late) for the nominal 5 ms
    slower = queue_model(REQUESTS, RATE, workers=WORKERS, call=float(unbounded["mean call"]))
    bounded, rounds = [], (HELD - WORKERS) // WORKERS + 1  # 20 queued on 4 workers, then its own call: 6 calls
    for label, row in (("block at 20", block), ("reject at 20", reject)):
        # an accepted request waits for the 20 queued ahead on 4 workers, then its own call: 6 sleeps, each of which
        # may wake late; the model at the row's own mean call (review 07e: a saved 88.5 ms against 30 ms passed)
        full = queue_model(REQUESTS, RATE, workers=WORKERS, call=float(row["mean call"]), max_pending=HELD - WORKERS,
                           on_full=label.split()[0])[enqueue]
        bounded.append(Claim(f"{label}: from the enqueue, a p99 of a full queue ahead, 20 / 4 + 1 = 6 calls",
                             row[enqueue], low=0.9 * full, high=2 * full, model=full, late=rounds))
    return [
        *bounded,
        Claim("unbounded: the run takes 800 calls of this machine's mean time on 4 workers", unbounded["run took"],
              low=0.95 * slower["run took"], high=1.15 * slower["run took"], model=slower["run took"]),
        # the last requests are sent as sending ends and answered as the run ends: the p99 grows with the run
        Claim("unbounded: the p99 from the intended send is the run's end less the end of sending",
              unbounded[intended] / (unbounded["run took"] - unbounded["client sent for"]), low=0.9, high=1.05,
              model=slower[intended] / (slower["run took"] - slower["client sent for"]), unit="x"),
        Claim("the unbounded queue: a long wait (p99 over 5x the bounded one's)", unbounded[enqueue] / reject[enqueue],
              low=5, unit="x"),
        Claim("blocking hides the wait from an enqueue clock (over 5x longer from the intended send)",
              block[intended] / block[enqueue], low=5, unit="x"),
        Claim("from the intended send, blocking waits of the same order as the unbounded queue",
              block[intended] / unbounded[intended], low=0.67, high=1.5, model=1, unit="x"),
        Claim("rejection hides nothing: from the intended send, about the p99 from enqueue", reject[intended],
              high=2 * reject[enqueue] + 0.005, model=reject[enqueue], late=1),
        # unbounded, the client sends 800 requests in 0.5 s; blocked, all but the 24 held go at the router's 800/s
        Claim("blocking slows the client to the router's pace: about twice as long to send",
              block["client sent for"] / unbounded["client sent for"], low=1.5, high=2.5,
              model=(REQUESTS - HELD) / CAPACITY / SEND_S, unit="x"),
        Claim("shedding: about half is rejected", reject["rejected"] / REQUESTS, low=sheds - 0.13,
              high=sheds + 0.13, model=sheds, unit="%"),
    ]


def dependency_rows(report: Report, names: Iterable[str]) -> dict[str, dict[str, float]]:
    """Per dependency (a prefix of the requests' names): answered, rejected, and the p90 of answered latencies."""
    rows = {}
    for name in names:
        mine = [o for o in report if str(o.request).startswith(name)]
        latencies = [o.latency for o in mine if o.ok]
        rows[name] = {"answered": len(latencies), "rejected": len(mine) - len(latencies),
                      "p90 latency": float(np.quantile(latencies, 0.9)) if latencies else float("nan")}
    return rows


def paced_together(clients: Mapping[str, tuple[Router, Sequence[Any]]], rate: float) -> dict[str, Report]:
    """Several open-loop clients at once, each sending its requests through its own router at ``rate`` per second
    (``experiments.paced``, one thread per client); their reports, by name. A bulkhead each: one router per
    dependency, their clients sending at the same time, as they would share one router."""
    if not clients:
        raise ValueError("clients must name at least one (router, requests); got none")
    with ThreadPoolExecutor(len(clients), thread_name_prefix="client") as pool:
        jobs = {name: pool.submit(paced, router, requests, rate) for name, (router, requests) in clients.items()}
        return {name: job.result() for name, job in jobs.items()}


def bulkhead_table(shared: Report, walled: Mapping[str, Report]) -> pd.DataFrame:
    """One table: each dependency served by ``shared`` (one router for all), then by its own router in ``walled``."""
    names = list(walled)
    own = {name: dependency_rows(report, [name])[name] for name, report in walled.items()}
    table = pd.concat({"one shared router": pd.DataFrame(dependency_rows(shared, names)).T,
                       "a bulkhead each": pd.DataFrame(own).T})
    return table.astype({"answered": int, "rejected": int})


def bulkhead_claims(table: pd.DataFrame) -> list[Claim]:
    """What the prose says of the bulkhead table: fast keeps its 5 ms alone, suffers when sharing; slow pays."""
    shared_fast, walled_fast = table.loc[("one shared router", "fast")], table.loc[("a bulkhead each", "fast")]
    shared_slow, walled_slow = table.loc[("one shared router", "slow")], table.loc[("a bulkhead each", "slow")]
    # alone, slow's 4 workers finish 5 rounds of 100 ms (20 calls) while its client sends for 0.6 s, and hold the 4 in
    # service and 10 queued at the end: 120 - 34 = 86 shed, exactly the capacity model's count (the rougher
    # 120 - (0.6 s x 40/s + 14) = 82 counted the 4 still in service twice)
    sheds = queue_model(PER_DEPENDENCY, DEPENDENCY_RATE, workers=SLOW_WORKERS, call=SLOW_CALL,
                        max_pending=SLOW_HELD - SLOW_WORKERS, on_full="reject")["rejected"]
    return [
        Claim("with a bulkhead each, fast rejects nothing", walled_fast["rejected"], high=0, unit=""),
        Claim("with a bulkhead each, fast keeps its 5 ms", walled_fast["p90 latency"], high=0.02, model=0.005, late=1),
        Claim("sharing, fast is rejected with slow", shared_fast["rejected"], low=20, unit=""),
        Claim("sharing, fast waits behind slow: its p90 over four times its own 5 ms", shared_fast["p90 latency"],
              low=0.02, late=1),
        Claim("with its own bulkhead, slow sheds its own excess", walled_slow["rejected"],
              low=sheds - 11, high=sheds + 11, model=sheds, unit=""),
        # its 4 workers against up to 8 shared, and a full queue of 10 ahead of it on 4 workers (about 350 ms)
        Claim("with its own bulkhead, slow sheds more than when it shared",
              walled_slow["rejected"] / shared_slow["rejected"], low=1.1, unit="x"),
        Claim("... and its answers wait longer: a longer p90 than when it shared",
              walled_slow["p90 latency"] / shared_slow["p90 latency"], low=1.2, unit="x"),
    ]
