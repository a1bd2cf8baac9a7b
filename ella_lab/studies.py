"""The walkthrough's measured studies (notebooks 04, 06 and 09): each runs an experiment, puts the model beside
the measurement in one table, and states the table's times as claims, so a notebook cell shows one idea.

Every table here has, for each measured column ``X``, a column ``model X``: the value the lesson predicts,
exact and the same on every machine (seeded decisions, no clock). The measured column is this machine's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import check_int
from .bench import dispatch, sleep_bound
from .claims import Claim, measure
from .experiments import request_ids, run_once
from .fallback import FallbackChain
from .outcome import Report
from .resilience import Hedge
from .router import Router
from .sources import SimulatedSource
from .timing import clock, format_seconds

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .realio import OutageRun

__all__ = [
    "JITTER_MEAN",
    "TIMER_SLACK",
    "AbandonedRun",
    "MapRun",
    "abandoned_call",
    "abandoned_claims",
    "answered",
    "busiest_window",
    "captured_log",
    "dispatch_costs",
    "efficiency_claims",
    "efficiency_runs",
    "efficiency_spread",
    "fallback_cost",
    "fallback_runs",
    "fallback_study",
    "hedge_study",
    "map_claims",
    "map_until_failure",
    "median_efficiency",
    "model_claims",
    "model_mean_latency",
    "model_service",
    "outage_table",
    "plot_answered",
    "plot_chain_success",
    "plot_efficiency",
    "plot_queue_profile",
    "plot_retry_waits",
    "plot_retry_waves",
    "plot_service_cdf",
    "print_records",
    "queue_claims",
    "queue_profile",
    "replay_fallback_cost",
    "retry_schedule",
    "retry_waves",
    "show_times",
    "timeout_study",
    "whatif_latency",
    "within_se",
]


# --------------------------------------------------------------------------------------------------------
# Tables and their claims

TIMER_SLACK = 1e-4  # seconds a measured time may sit under its model: a chosen allowance (a sleep never ends early)


def _label(names: Sequence[Any], key: Any) -> str:
    """A row's name in a sentence: ``p = 0.05`` for a number, the text itself for a label."""
    keys = key if isinstance(key, tuple) else (key,)
    parts = []
    for name, value in zip(names, keys, strict=True):
        if isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{name} = {value:g}" if name else f"{value:g}")
    return ", ".join(parts)


def model_claims(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    per_sleep: float | str | None = None,
    late: float = 0,
    slack: float = 1e-3,
    over: float = 1.4,
) -> list[Claim]:
    """One claim per row and column ``X``: the measured time is at least ``model X`` and at most ``over`` times it.

    A sleep never ends early, so a time is never under its model (``slack`` seconds allow for the timer); a busy
    machine only adds to it. ``late`` is the number of sleeps on the measured path; or ``per_sleep`` (seconds, or
    the name of a column holding them) counts one sleep per ``per_sleep`` of the model, rounded up.
    """
    if isinstance(columns, str):
        raise TypeError(f"columns must be a list of column names, got {columns!r}")
    if not columns:
        raise ValueError("columns must name at least one measured column, got none")
    missing = [c for c in columns if c not in table or f"model {c}" not in table]
    if missing:
        raise ValueError(f"columns must each have a 'model <column>' beside them in the table, got {missing!r}")
    if not over >= 1:
        raise ValueError(f"over must be >= 1 (the band starts at the model), got {over!r}")
    if isinstance(per_sleep, str) and per_sleep not in table:
        raise ValueError(f"per_sleep must be seconds or a column of the table, got {per_sleep!r}")
    claims = []
    names = list(table.index.names)
    for key, row in table.iterrows():
        for column in columns:
            model = float(row[f"model {column}"])
            sleeps = late
            if per_sleep is not None:
                step = float(row[per_sleep]) if isinstance(per_sleep, str) else float(per_sleep)
                sleeps = math.ceil(model / step - 1e-9)
            claims.append(
                Claim(
                    f"{_label(names, key)}: the {column} is the model's {format_seconds(model)}",
                    float(row[column]),
                    low=model - slack,
                    high=over * model,
                    model=model,
                    late=sleeps,
                )
            )
    return claims


def show_times(table: pd.DataFrame, times: Sequence[str], *, index: bool = True, float_format: str = "%.3f") -> None:
    """Print ``table`` with its ``times`` columns through ``format_seconds`` (the notebooks' one time format)."""
    missing = [c for c in times if c not in table]
    if missing:
        raise ValueError(f"times must be columns of the table, got {missing!r}")
    shown = table.assign(**{c: table[c].map(format_seconds) for c in times})
    print(shown.to_string(index=index, float_format=lambda x: float_format % x))


# --------------------------------------------------------------------------------------------------------
# Notebook 04: the latency cost of one backup


def _quantiles(values: Sequence[float]) -> tuple[float, float]:
    return float(np.quantile(values, 0.5)), float(np.quantile(values, 0.99))


def fallback_runs(
    ps: Sequence[float], *, latency: float, requests: int = 400, workers: int = 16, seed: int = 1, best_of: int = 3
) -> dict[float, Report]:
    """For each failure rate p: a primary and one backup of latency ``latency``, both failing p of their calls.

    Returns the run with the lowest p99 of ``best_of`` (same seeds, so the same failures in each: a busy
    machine only adds time, and its hiccups rarely hit all of them).
    """
    check_int("best_of", best_of, minimum=1)

    def p99(report: Report) -> float:
        return float(np.quantile([o.service_time for o in report], 0.99))

    return {
        p: min(
            (
                run_once(workers=workers, requests=requests, chain=2, latency=latency, failure_rate=p, seed=seed)
                for _ in range(best_of)
            ),
            key=p99,
        )
        for p in ps
    }


def fallback_cost(reports: Mapping[float, Report], *, latency: float) -> pd.DataFrame:
    """The service-time percentiles and the backup's shares of ``fallback_runs``, each beside its model.

    The model: a request takes L when the primary answers and 2 L when it fails (a failure also takes L), so
    the p50 is 2 L once p > 0.5, the p99 once p > 0.01; p of all requests ask the backup, p (1 − p) are served by it.
    """
    import pandas as pd

    rows = []
    for p, report in reports.items():
        p50, p99 = _quantiles([o.service_time for o in report])
        n = len(report)
        rows.append(
            {
                "p": p,
                "p50": p50,
                "model p50": latency * (1 if p < 0.5 else 2),
                "p99": p99,
                "model p99": latency * (1 if p <= 0.01 else 2),
                "asked backup": sum(len(o.attempts) > 1 for o in report) / n,
                "model p": p,
                "served by backup": sum(o.fell_back for o in report) / n,
                "model p(1−p)": p * (1 - p),
            }
        )
    return pd.DataFrame(rows).set_index("p")


def fallback_study(
    ps: Sequence[float], *, latency: float, requests: int = 400, seed: int = 1
) -> tuple[pd.DataFrame, dict[float, Report]]:
    """``fallback_runs`` and its ``fallback_cost`` table, with the table's p50 and p99 checked against the model.

    Each time must lie from its model up to 1.4 times it, plus this machine's measured wake-up delay once per
    sleep on the path (one sleep of L, or two when the primary failed): a sleep never ends early, and a busy
    machine only adds time. On a miss the runs are made again (``ella_lab.claims.measure``). Returns the table
    and the runs (for a figure).
    """

    def run() -> tuple[pd.DataFrame, dict[float, Report]]:
        runs = fallback_runs(ps, latency=latency, requests=requests, seed=seed)
        return fallback_cost(runs, latency=latency), runs

    return measure(run, lambda result: model_claims(result[0], ["p50", "p99"], per_sleep=latency, slack=TIMER_SLACK))


def plot_service_cdf(
    runs: Mapping[float, Report], *, latency: float, span: tuple[float, float] = (0.0, 3.0), ax: Axes | None = None
) -> Axes:
    """The service-time CDF of each run of ``fallback_study``, one line style per p, so that lines that
    overlap (every p is at L for most requests) stay apart in print and for colour-blind readers.

    ``span`` is the x axis in units of L, by default 0 to 3 L, past the model's step at 2 L: a rare request that a
    busy machine held up for much longer would otherwise squeeze both steps into the left edge."""
    from .plots import plot_latency_cdf

    low, high = span
    if not 0 <= low < high:
        raise ValueError(f"span must be (low, high) in units of L with 0 <= low < high, got {span!r}")
    ax = plot_latency_cdf({f"p = {p:g}": r for p, r in runs.items()}, ax=ax, metric="service_time")
    for line, style in zip(ax.get_lines(), _LINE_STYLES * len(runs), strict=False):
        line.set_linestyle(style)
        line.set_linewidth(2)
    ax.set_xlim(low * latency * 1e3, high * latency * 1e3)
    ax.set_xlabel(f"service time (ms), {low:g} L to {high:g} L" if low else f"service time (ms), up to {high:g} L")
    ax.legend(loc="lower right")
    return ax


_LINE_STYLES = ["-", "--", "-.", ":"]


CHAIN_COLOURS = ("#006BA4", "#FF800E", "#595959", "#C85200", "#5F9ED1")  # tableau-colorblind10 without its light
# greys (#ABABAB drew k = 3, the curve that matters most, the faintest)


def plot_chain_success(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """``plot_success`` with its models named in mathematical notation, ``1 − p^k`` with k as an exponent, and each k
    told apart by more than its colour (each dark enough to see, ``CHAIN_COLOURS``): a marker of its own for the
    measured points, a dash of its own for the model's line (readable in grey, or by a colour-blind reader)."""
    import re

    from .plots import plot_success

    markers, dashes = iter("os^Dv" * 4), iter(["--", "-.", ":", (0, (5, 1, 1, 1, 1, 1))] * 5)
    ax = plot_success(df, ax=ax)
    for i, line in enumerate(ax.get_lines()):  # two lines per k, the model's then the measured points
        line.set_color(CHAIN_COLOURS[i // 2 % len(CHAIN_COLOURS)])
        found = re.fullmatch(r"model 1 − p\^(\d+)", str(line.get_label()))
        if found:
            line.set_label(f"model $1 - p^{{{found.group(1)}}}$")
            line.set_linestyle(next(dashes))
        else:
            line.set_marker(next(markers))
    ax.legend(fontsize="small")
    return ax


def replay_fallback_cost(ps: Sequence[float], *, latency: float, requests: int = 400, seed: int = 1) -> pd.DataFrame:
    """``fallback_cost`` without a clock: each request's seeded decisions (who fails) replayed, L or 2 L each.

    Exact on any machine: the same requests ask the backup as in the measured run, and no sleep adds noise.
    """
    import pandas as pd

    ids = request_ids(requests)
    rows = []
    for p in ps:
        primary = SimulatedSource("primary", latency=latency, failure_rate=p, seed=seed)  # as run_once builds them
        backup = SimulatedSource("backup-1", latency=latency, failure_rate=p, seed=seed)
        asked = [primary.fails(r) for r in ids]
        p50, p99 = _quantiles([2 * latency if a else latency for a in asked])
        served = [a and not backup.fails(r) for a, r in zip(asked, ids, strict=True)]
        rows.append(
            {"p": p, "p50": p50, "p99": p99, "asked backup": np.mean(asked), "served by backup": np.mean(served)}
        )
    return pd.DataFrame(rows).set_index("p")


def answered(*, requests: int = 2000, workers: int = 8, **scenario: Any) -> float:
    """The share of ``requests`` that ``run_once(**scenario)`` answers (zero latency: failures are seeded, so exact).

    ``scenario`` is ``make_source``'s: ``chain``, ``failure_rate``, ``seed``, ``correlated``, ``retry`` ...
    """
    check_int("requests", requests, minimum=1)
    report = run_once(workers=workers, requests=requests, latency=0.0, **scenario)
    return sum(o.ok for o in report) / requests


def within_se(measured: Any, model: Any, n: int, *, k: float = 4.0) -> bool:
    """True when every seeded share in ``measured`` lies within ``k`` standard errors of its ``model`` share.

    A share S of ``n`` independent requests has one standard error of √(S(1 − S)/n); 1/n more allows for a count
    (a model of exactly 0 or 1 has no spread, yet a sample can still miss it by one request). ``measured`` and
    ``model`` are numbers, or arrays or pandas Series of the same length. The notebooks use it so that a cell
    shows the table it checks, not the band's arithmetic.
    """
    check_int("n", n, minimum=1)
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise TypeError(f"k must be a number of standard errors, got {k!r} ({type(k).__name__})")
    if not 0 < k < math.inf:
        raise ValueError(f"k must be a positive, finite number of standard errors, got {k!r}")
    got, want = np.asarray(measured, dtype=float), np.asarray(model, dtype=float)
    if got.shape != want.shape and want.ndim != 0:
        raise ValueError(f"measured and model must have the same length, got {got.shape} and {want.shape}")
    if ((want < 0) | (want > 1)).any():
        raise ValueError(f"model must hold shares between 0 and 1, got {model!r}")
    return bool((np.abs(got - want) <= k * np.sqrt(want * (1 - want) / n) + 1 / n).all())


def plot_answered(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bars of the share answered, independent (blue) beside together (orange), for each number of sources, with
    each column's model as a black tick: ``table`` has columns ``independent``, ``together`` and a ``model`` for each
    (``model independent ...``, ``model together ...``)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    x, width = np.arange(len(table)), 0.38
    models = [c for c in table.columns if c.startswith("model ")]
    for shift, column, color in ((-width / 2, "independent", "tab:blue"), (width / 2, "together", "tab:orange")):
        model = next(c for c in table.columns if c.startswith(f"model {column}"))
        ax.bar(x + shift, table[column], width, color=color, label=f"{column}, measured")
        label = "model (black ticks): " + ", ".join(c.removeprefix("model ") for c in models) if shift < 0 else None
        ax.plot(x + shift, table[model], "k_", markersize=22, mew=2, label=label)
    ax.set_xticks(x, [str(k) for k in table.index])
    ax.set_ylabel("requests answered (fraction)")
    ax.set_xlabel("sources in the chain")
    ax.set_ylim(0, 1.45)
    ax.legend(loc="upper left", fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------------------
# Notebooks 04 and 06: a timeout on the primary


def model_service(primary: SimulatedSource, request: Any, timeout: float | None, backup_latency: float) -> float:
    """One request's service time under the model: the primary's seeded latency, cut at the timeout, plus the
    backup's latency when the primary timed out or failed. No clock: the decisions are fixed by the seed."""
    took = primary.latency_for(request)
    if timeout is not None and took > timeout:
        return timeout + backup_latency
    return took + (backup_latency if primary.fails(request) else 0.0)


def timeout_study(
    primaries: SimulatedSource | Mapping[str, SimulatedSource],
    timeouts: Mapping[str, float | None],
    *,
    backup_latency: float,
    requests: int = 200,
    workers: int = 16,
    best_of: int = 3,
    claims: Sequence[str] = (),
) -> pd.DataFrame:
    """Each primary, with each timeout of its own, in front of a backup that never fails: measured beside the model.

    The timeout is the primary's alone (a one-source ``FallbackChain`` with ``timeout=``, first in the chain).
    Each request's time is its best of ``best_of`` runs (its seeded decisions are the same in each; a busy machine
    only adds time). Columns: the share the primary serves, beside the "seeded replay" of it (who serves, from each
    request's seeded decisions, no clock: a draw, e.g. 0.94 of 200 requests at p = 0.05, not the model's 1 − p);
    the p50, p99 and mean service time, each beside its model (``model_service``). Indexed by (primary, timeout),
    or by timeout alone for a single primary.

    ``claims`` names the time columns to check against the model (``model_claims``): from the model up to 1.4
    times it, plus this machine's wake-up delay twice (a request sleeps at most twice: the primary, up to its
    timeout, then the backup); on a miss the study runs again.
    """
    import pandas as pd

    check_int("best_of", best_of, minimum=1)
    if isinstance(claims, str):
        raise TypeError(f"claims must be a list of column names, got {claims!r}")
    if claims:
        return measure(
            lambda: timeout_study(
                primaries, timeouts, backup_latency=backup_latency, requests=requests, workers=workers, best_of=best_of
            ),
            lambda table: model_claims(table, list(claims), late=2, slack=TIMER_SLACK),
        )
    single = isinstance(primaries, SimulatedSource)
    named = {"primary": primaries} if single else dict(primaries)
    ids = request_ids(requests)
    rows = []
    for label, primary in named.items():
        for timeout_label, timeout in timeouts.items():
            first = primary if timeout is None else FallbackChain([primary], timeout=timeout, name="primary")
            chain = FallbackChain([first, SimulatedSource("backup", latency=backup_latency)])
            runs = [Router(chain, workers=workers).run(ids) for _ in range(best_of)]
            service = np.array([[o.service_time for o in run] for run in runs]).min(axis=0)
            model = [model_service(primary, r, timeout, backup_latency) for r in ids]
            serves = [not primary.fails(r) and (timeout is None or primary.latency_for(r) <= timeout) for r in ids]
            p50, p99 = _quantiles(service)
            model_p50, model_p99 = _quantiles(model)
            rows.append(
                {
                    "primary": label,
                    "timeout": timeout_label,
                    "primary serves": runs[0].served_by()["primary"] / len(ids),
                    "seeded replay": np.mean(serves),
                    "p50": p50,
                    "model p50": model_p50,
                    "p99": p99,
                    "model p99": model_p99,
                    "mean": float(np.mean(service)),
                    "model mean": float(np.mean(model)),
                }
            )
    table = pd.DataFrame(rows).set_index(["primary", "timeout"])
    return table.droplevel("primary") if single else table


def hedge_study(
    primary: SimulatedSource,
    *,
    after: float,
    backup_latency: float,
    requests: int = 200,
    workers: int = 16,
    best_of: int = 3,
) -> pd.DataFrame:
    """``Hedge(primary, backup, after=after)``, the backup never failing: the service time's p50 and p99 beside the
    model, checked as claims (the study runs again on a miss).

    Unlike a timeout, a hedge keeps the slow call running, so the model of a request is min(the primary's seeded
    latency, ``after`` + ``backup_latency``), exact with no clock. The primary must never fail (its errors would
    be another lesson). Each request's time is its best of ``best_of`` runs, as in ``timeout_study``; a time may
    lie from its model up to 1.4 times it, plus three wake-ups (the primary's sleep, or the wait of ``after``, the
    backup's sleep and the answer's hand-over). Columns: p50 and p99, each beside its model.
    """
    import pandas as pd

    check_int("best_of", best_of, minimum=1)
    ids = request_ids(requests)
    if any(primary.fails(r) for r in ids):
        raise ValueError(f"primary must never fail (hedge_study models slow calls only), got {primary!r}")
    took = np.array([primary.latency_for(r) for r in ids])
    model = np.minimum(took, after + backup_latency)
    backup = SimulatedSource("backup", latency=backup_latency)

    def run() -> pd.DataFrame:
        runs = [Router(Hedge(primary, backup, after=after), workers=workers).run(ids) for _ in range(best_of)]
        service = np.array([[o.service_time for o in run] for run in runs]).min(axis=0)
        p50, p99 = _quantiles(service)
        model_p50, model_p99 = _quantiles(model)
        row = {"p50": p50, "model p50": model_p50, "p99": p99, "model p99": model_p99}
        return pd.DataFrame([row], index=pd.Index([f"hedge after {format_seconds(after)}"], name="primary"))

    return measure(run, lambda table: model_claims(table, ["p50", "p99"], late=3, slack=TIMER_SLACK))


# --------------------------------------------------------------------------------------------------------
# Notebook 06: threads, queue wait and service time


@dataclass
class MapRun:
    """What ``ThreadPoolExecutor.map`` gave before its first exception: the answers in request order, when the
    pool started each request (seconds from the start), the exception and when ``map`` raised it."""

    answers: list[Any] = field(default_factory=list)
    started: dict[Any, float] = field(default_factory=dict)
    raised: Exception | None = None
    raised_at: float | None = None


def map_until_failure(
    fetch: Any, requests: Sequence[Any], *, workers: int, latency: float | None = None, checked: bool = False
) -> MapRun:
    """Collect ``pool.map(fetch, requests)`` on ``workers`` threads until its first exception, noting when each
    request started: what ``map`` gives the caller when one call fails.

    With ``checked=True`` (notebook 06's 10 requests on 3 workers) the two times of ``map_claims`` are checked,
    and the run measured again on a miss; ``latency`` is the fetch's time per call (by default its ``latency``,
    if above 0).
    """
    check_int("workers", workers, minimum=1)
    if checked:
        latency = (getattr(fetch, "latency", 0) or None) if latency is None else latency
        if latency is None:
            raise ValueError("map_until_failure(checked=True) needs latency=, the fetch's time per call")
        return measure(
            lambda: map_until_failure(fetch, requests, workers=workers), lambda run: map_claims(run, latency)
        )
    run, t0 = MapRun(), clock()

    def fetch_noted(request: Any) -> Any:
        run.started[request] = clock() - t0  # each worker writes its own key: one dict assignment
        return fetch(request)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for answer in pool.map(fetch_noted, requests):
                run.answers.append(answer)
        except Exception as exc:  # the first failure, in request order: map stops there
            run.raised, run.raised_at = exc, clock() - t0
    return run


def map_claims(run: MapRun, latency: float) -> list[Claim]:
    """Notebook 06's sentences about 10 requests on 3 threads, request 4 failing after ``latency``: request 5 starts
    in the second round (from ``latency`` on), ``map`` raises when request 4 fails, at the end of that round,
    before a worker is free for request 9 (at 3 ``latency``), and so request 9 never starts (``map`` cancels it).
    They are timings, so claims, not asserts: a busy machine could start request 9 before ``map`` raised."""
    return [
        Claim(
            "request 5 started in the second round, with 3 and 4, before request 4 failed",
            run.started.get("DataRequest-5", math.inf),
            low=latency,
            high=2 * latency,
            model=latency,
        ),
        Claim(
            "map raised when request 4 failed, before request 9 could start",
            math.inf if run.raised_at is None else run.raised_at,
            low=2 * latency,
            high=3 * latency,
            model=2 * latency,
        ),
        Claim(
            "request 9 never started: map cancelled it when it raised",
            float("DataRequest-9" in run.started),
            high=0,
            unit="",
        ),
    ]


def dispatch_costs(n: int, *, workers: int, repeats: int = 3, checked: bool = False) -> pd.DataFrame:
    """``bench.dispatch``'s cost per request of zero-latency requests, one row per peer (plain loop, the pool, the
    router): ``per_request_s`` and ``vs pool``, its ratio to the pool's.

    ``checked``: judge the notebook's sentence, the router's records cost less than half of the pool's futures,
    and measure again on a miss (``ella_lab.claims.measure``)."""
    import pandas as pd

    check_int("n", n, minimum=1)
    if checked:
        return measure(
            lambda: dispatch_costs(n, workers=workers, repeats=repeats),
            lambda costs: Claim(
                "a request through the router's records costs less than half of one through the pool's futures",
                costs.loc["Router.run", "vs pool"], high=0.5, unit="x",
            ),
        )
    costs = pd.DataFrame(dispatch(n, workers=workers, repeats=repeats)).set_index("peer")
    return costs.assign(**{"vs pool": costs.per_request_s / costs.loc["ThreadPoolExecutor.map", "per_request_s"]})


def efficiency_runs(
    latency: float, ks: Sequence[int], *, per_worker: int, runs: int = 3, checked: bool = False
) -> pd.DataFrame:
    """Sleep-bound efficiency, throughput / (K / L), of the pool and the router: one row per run, not a median,
    so that a figure can show how far one run lies from the next at the same K.

    ``checked``: judge ``efficiency_claims`` on the runs, and run them again on a miss (``ella_lab.claims.measure``).
    """
    import pandas as pd

    check_int("runs", runs, minimum=1)
    if checked:
        return measure(lambda: efficiency_runs(latency, ks, per_worker=per_worker, runs=runs), efficiency_claims)
    rows = [
        {**row, "run": run}
        for run in range(runs)
        for row in sleep_bound(latency, list(ks), per_worker=per_worker, repeats=1)
    ]
    return pd.DataFrame(rows)[["peer", "workers", "run", "wall_s", "efficiency"]]


def median_efficiency(runs: pd.DataFrame) -> pd.DataFrame:
    """The median efficiency of ``efficiency_runs`` at each K (rows) for each peer (columns)."""
    return runs.pivot_table(index="workers", columns="peer", values="efficiency", aggfunc="median")


def efficiency_claims(runs: pd.DataFrame) -> list[Claim]:
    """Notebook 06's sentences about ``efficiency_runs``, judged on the medians of the runs: the two smallest K
    come close to the ideal K / L (70 % or more), no K collapses (30 % or more), and the median at the largest K is
    lower than at the smallest, for both peers."""
    medians = median_efficiency(runs)
    ks = sorted(medians.index)
    few, first, last = ks[:2], ks[0], ks[-1]
    if len(ks) < 2:
        raise ValueError(f"efficiency_claims needs runs at two K or more, got K = {ks}")
    return [
        Claim(f"few threads (K = {few[0]} and {few[1]}) come close to the ideal K / L",
              medians.loc[few].min().min(), low=0.7, model=1.0, unit="%"),
        Claim(f"no K up to {last} collapses (median of the runs)", medians.min().min(), low=0.3, unit="%"),
        Claim(f"the median falls overall as K grows: lower at K = {last} than at K = {first}, for both peers",
              (medians.loc[last] / medians.loc[first]).max(), high=1.0, unit="x"),
    ]


SPREAD_STATS = ("lowest", "median", "highest", "spread")


def efficiency_spread(runs: pd.DataFrame, stats: Sequence[str] = SPREAD_STATS) -> pd.DataFrame:
    """For each K (rows) and peer: the lowest, median and highest efficiency of the runs of ``efficiency_runs``,
    and the spread (highest − lowest), to compare with the gap between neighbouring K; ``stats`` picks which
    (``["median", "spread"]``: a table narrow enough to read at a glance)."""
    unknown = [name for name in stats if name not in SPREAD_STATS]
    if isinstance(stats, str) or unknown or not stats:
        raise ValueError(f"stats must be a non-empty list drawn from {list(SPREAD_STATS)}, got {stats!r}")
    table = runs.groupby(["workers", "peer"]).efficiency.agg(lowest="min", median="median", highest="max")
    table["spread"] = table["highest"] - table["lowest"]
    table = table[list(stats)].unstack("peer").swaplevel(axis=1)
    return table.sort_index(axis=1, level=0, sort_remaining=False)


def plot_efficiency(runs: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The median efficiency of each peer against K, with a band from its lowest to its highest run."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    styles = {"Router.run": ("tab:blue", "o", "-"), "ThreadPoolExecutor.map": ("tab:orange", "s", "--")}
    for peer, group in runs.groupby("peer"):
        by_k = group.groupby("workers").efficiency.agg(["median", "min", "max"]) * 100
        color, marker, line = styles.get(peer, ("tab:gray", "^", ":"))
        ax.fill_between(by_k.index, by_k["min"], by_k["max"], color=color, alpha=0.15, lw=0)
        ax.plot(by_k.index, by_k["median"], color=color, marker=marker, ls=line, label=f"{peer}: median, band of runs")
    ax.axhline(100, color="grey", ls=":", label="ideal K / L (Little's law)")
    ks = sorted(runs.workers.unique())
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlabel("threads K")
    ax.set_ylabel("efficiency: throughput / (K/L) (%)")
    ax.set_ylim(0, 110)
    ax.legend(loc="lower left", fontsize="small")
    return ax


def queue_claims(frame: pd.DataFrame, latency: float) -> list[Claim]:
    """What a queue profile claims: the mean wait and the mean service time sit at their model (up to 1.25x and
    1.4x, plus one wake-up delay per round of ``latency`` on the path), and no request waits less than its model
    (a sleep never ends early)."""
    model_wait = float(frame.model_wait_s.mean())
    return [
        Claim(
            f"the mean queue wait is the model's {format_seconds(model_wait)}",
            float(frame.wait_s.mean()),
            low=model_wait - 1e-3,
            high=1.25 * model_wait + 1e-3,
            model=model_wait,
            late=math.ceil(model_wait / latency - 1e-9),
        ),
        Claim(
            "the mean service time is L",
            float(frame.service_s.mean()),
            low=latency - 1e-3,
            high=1.4 * latency,
            model=latency,
            late=1,
        ),
        Claim(
            "no request waits less than the model's ⌊i/K⌋ · L",
            float((frame.wait_s - frame.model_wait_s).min()),
            low=-1e-3,
        ),
    ]


def queue_profile(k: int, latency: float, n: int, *, best_of: int = 3, checked: bool = False) -> pd.DataFrame:
    """``n`` requests queued at once on ``k`` workers, each taking ``latency``: ``Report.frame()`` of the run with
    the lowest mean wait of ``best_of`` (load only adds waiting), with the model's wait ⌊i/k⌋ · latency beside it.

    ``checked``: judge ``queue_claims`` on the result, and run again on a miss (``ella_lab.claims.measure``)."""
    check_int("best_of", best_of, minimum=1)
    if checked:
        return measure(lambda: queue_profile(k, latency, n, best_of=best_of), lambda f: queue_claims(f, latency))
    runs = [Router(SimulatedSource("source", latency=latency), workers=k).run(request_ids(n)) for _ in range(best_of)]
    frame = min((r.frame() for r in runs), key=lambda f: f.wait_s.mean())
    return frame.assign(model_wait_s=[(i // k) * latency for i in range(n)])


def plot_queue_profile(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Each request's queue wait and service time (stacked bars, this machine) over the model's wait ⌊i/K⌋ · L
    (black steps, exact)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(frame.index, frame.wait_s * 1e3, label="queue wait (this machine)", color="tab:gray")
    ax.bar(
        frame.index,
        frame.service_s * 1e3,
        bottom=frame.wait_s * 1e3,
        label="service time (this machine)",
        color="tab:blue",
    )
    ax.step(frame.index, frame.model_wait_s * 1e3, where="mid", color="black", label="model wait ⌊i/K⌋·L (exact)")
    ax.set_xlabel("request number i")
    ax.set_ylabel("time (ms)")
    ax.legend(loc="upper left")
    return ax


def plot_retry_waits(policies: Mapping[str, Any], *, keys: int = 200, cap_ms: float, ax: Axes | None = None) -> Axes:
    """``plots.plot_backoff``'s waits of ``keys`` requests per policy, made legible: opaque legend markers, three
    times larger; the jitter-free series (every request waits the same, so its dots coincide) drawn as a ringed
    marker on top; the cap a dashed line. A jittered series's dots are spread across a narrow strip (± 0.07 of a
    retry, a fixed pattern, not random), so the ``keys`` waits of one retry do not sit on one vertical line."""
    from .plots import plot_backoff

    ax = plot_backoff(policies, keys=keys, ax=ax)
    for line in ax.get_lines():
        if line.get_label() == "none":  # one point per retry: all ``keys`` requests wait the same
            line.set(marker="o", markersize=7, markerfacecolor="white", markeredgewidth=2, alpha=1, zorder=3)
            line.set_label("none (every request the same wait)")
        else:  # the golden-ratio sequence: evenly spread offsets, the same figure on every run
            xs = np.asarray(line.get_xdata(), dtype=float)
            line.set_xdata(xs + 0.14 * ((np.arange(len(xs)) * 0.6180339887) % 1.0 - 0.5))
    ax.axhline(cap_ms, color="grey", ls="--", lw=1)
    # x in axes fraction, y in data: inside the plot whatever the retries' axis starts at
    ax.annotate(f"cap {cap_ms:g} ms", (0.02, cap_ms), xycoords=ax.get_yaxis_transform(), xytext=(0, 4),
                textcoords="offset points", color="grey")
    ax.set_ylim(0, 1.2 * cap_ms)
    legend = ax.legend(markerscale=2, loc="center left")
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1)
    return ax


JITTER_MEAN = {"none": 1.0, "equal": 0.75, "full": 0.5}  # a jittered wait's mean, as a share of its ceiling


def retry_schedule(policies: Mapping[str, Any], *, keys: int = 2000) -> pd.DataFrame:
    """The mean wait before each retry over ``keys`` requests, beside its model (the ceiling times the jitter's
    mean share, ``JITTER_MEAN``), in ms: one row per retry, one column pair per policy. The draws are seeded, so
    the table is the same on every machine."""
    import pandas as pd

    check_int("keys", keys, minimum=1)
    rows = []
    for mode, policy in policies.items():
        waits = np.array([policy.delays(key) for key in range(keys)])  # keys x retries
        for n in range(1, waits.shape[1] + 1):
            rows.append({"jitter": mode, "retry": n, "mean wait (ms)": 1e3 * waits[:, n - 1].mean(),
                         "model (ms)": 1e3 * JITTER_MEAN[mode] * policy.backoff(n)})
    return pd.DataFrame(rows).pivot(index="retry", columns="jitter")


def retry_waves(
    modes: Sequence[str], *, clients: int = 100, attempts: int = 4, base: float = 0.05, seed: int = 2
) -> dict[str, np.ndarray]:
    """When each of ``clients`` that failed together at time 0 retries (seconds after the failure, every
    client's ``attempts - 1`` retries), per jitter mode: seeded draws of ``Retry.delays``."""
    from .retry import Retry

    check_int("clients", clients, minimum=1)
    return {mode: np.array([np.cumsum(Retry(attempts=attempts, base=base, jitter=mode, seed=seed).delays(client))
                            for client in range(clients)]).ravel()
            for mode in modes}


def busiest_window(times: Mapping[str, np.ndarray], bins: np.ndarray) -> dict[str, int]:
    """The most retries that fall in one of ``bins``' windows, per mode."""
    return {mode: int(np.histogram(t, bins=bins)[0].max()) for mode, t in times.items()}


def plot_retry_waves(times: Mapping[str, np.ndarray], bins: np.ndarray, *, title: str | None = None) -> Figure:
    """One histogram per mode, side by side on a shared scale: how many retries fall in each window of ``bins``
    (seconds, drawn in ms). The jitter-free mode in the palette's second colour, the others in its first."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(times), figsize=(9, 3), sharey=True, squeeze=False)
    for ax, (mode, t) in zip(axes[0], times.items(), strict=True):
        ax.hist(t * 1e3, bins=bins * 1e3, color="C1" if mode == "none" else "C0")
        ax.set_title(f'jitter="{mode}"')
        ax.set_xlabel("time of retry after the failure (ms)")
    window_ms = 1e3 * float(bins[1] - bins[0])
    axes[0][0].set_ylabel(f"retries in a {window_ms:g} ms window")
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def model_mean_latency(n: int, k: int, latency: float) -> float:
    """The mean latency of ``n`` requests queued at once on ``k`` workers: request i waits ⌊i/k⌋ rounds, then
    is served in one round of ``latency``."""
    check_int("n", n, minimum=1)
    check_int("k", k, minimum=1)
    return float(np.mean([(i // k) * latency + latency for i in range(n)]))


def whatif_latency(
    scenarios: Mapping[str, tuple[int, float]], n: int, *, best_of: int = 3, checked: bool = False
) -> pd.DataFrame:
    """For each scenario (workers K, latency L): the mean latency of ``n`` requests queued at once, the best of
    ``best_of`` runs, beside ``model_mean_latency``.

    ``checked``: claim each mean latency from its model up to 1.4 times it, plus one wake-up delay per round of
    L (``model_claims``), and run again on a miss."""
    import pandas as pd

    check_int("best_of", best_of, minimum=1)
    if checked:
        return measure(
            lambda: whatif_latency(scenarios, n, best_of=best_of),
            lambda table: model_claims(table, ["mean latency"], per_sleep="L"),
        )
    rows = []
    for label, (k, latency) in scenarios.items():
        runs = [
            Router(SimulatedSource("source", latency=latency), workers=k).run(request_ids(n)) for _ in range(best_of)
        ]
        rows.append(
            {
                "what if": label,
                "K": k,
                "L": latency,
                "mean latency": min(float(np.mean([o.latency for o in r])) for r in runs),
                "model mean latency": model_mean_latency(n, k, latency),
            }
        )
    return pd.DataFrame(rows).set_index("what if")


# --------------------------------------------------------------------------------------------------------
# Notebook 06: logging from threads


@contextmanager
def captured_log(name: str = "ella_lab", level: int = logging.DEBUG) -> Iterator[list[logging.LogRecord]]:
    """Collect the records of logger ``name`` at ``level`` and above into a list while the block runs.

    Worker threads only append records; nothing is printed until the caller reads the list. The logger's
    level is restored at the end.
    """
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(name)
    handler, before = _Keep(level), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


def print_records(records: Sequence[logging.LogRecord], fmt: str) -> None:
    """Print ``records`` in time order with the format ``fmt``, without their tracebacks.

    ``%(relativeCreated)`` counts milliseconds from the first record printed (in a program it counts from the
    moment ``logging`` was imported), so the times read from 0 whenever the run happens.
    """
    formatter = logging.Formatter(fmt)
    ordered = sorted(records, key=lambda r: r.created)  # a stable sort keeps each thread's order
    for record in ordered:
        since_first = (record.created - ordered[0].created) * 1e3
        fields = {**record.__dict__, "exc_info": None, "exc_text": None, "relativeCreated": since_first}
        print(formatter.format(logging.makeLogRecord(fields)))


# --------------------------------------------------------------------------------------------------------
# Notebook 06: the call a timeout abandons


@dataclass
class AbandonedRun:
    """One request through a chain whose first source hangs past the chain's timeout: who served it and when
    (seconds from the start), whether the hung call was still running then, when it ended, and the warnings the
    library logged."""

    served: Any
    answered_at: float
    still_running: bool
    finished_at: float
    warnings: list[logging.LogRecord]


def abandoned_call(
    *, hang: float = 0.1, timeout: float = 0.02, backup_latency: float = 0.005, checked: bool = False
) -> AbandonedRun:
    """Serve one request through ``FallbackChain([slow_lookup, backup], timeout=timeout)``, where
    ``slow_lookup`` is a plain function that sleeps ``hang`` seconds (nothing can interrupt it), then wait for
    that abandoned call to end on its own (``hang`` + 5 s at most).

    With ``checked=True`` the times of ``abandoned_claims`` are checked, and the run measured again on a miss.
    """
    for name, value in (("hang", hang), ("timeout", timeout), ("backup_latency", backup_latency)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if timeout >= hang:
        raise ValueError(
            f"timeout must be shorter than hang ({hang!r} s), for the call to be abandoned; got {timeout!r}"
        )
    if checked:
        return measure(
            lambda: abandoned_call(hang=hang, timeout=timeout, backup_latency=backup_latency),
            lambda run: abandoned_claims(run, hang=hang, timeout=timeout, backup_latency=backup_latency),
        )
    t0 = clock()
    finished_at: dict[Any, float] = {}
    finished = threading.Event()

    def slow_lookup(request: Any) -> str:
        time.sleep(hang)
        finished_at[request] = clock() - t0
        finished.set()
        return f"late answer for {request}"

    chain = FallbackChain([slow_lookup, SimulatedSource("backup", latency=backup_latency)], timeout=timeout)
    with captured_log("ella_lab", logging.WARNING) as warnings:  # the library warns of every abandoned call
        served = chain.serve("DataRequest-0")
        answered_at = clock() - t0
        still_running = "DataRequest-0" not in finished_at
        finished.wait(hang + 5)
    return AbandonedRun(served, answered_at, still_running, finished_at.get("DataRequest-0", math.inf), list(warnings))


def abandoned_claims(run: AbandonedRun, *, hang: float, timeout: float, backup_latency: float) -> list[Claim]:
    """The chain answers at its timeout plus the backup's latency (two sleeps on the path: up to 1.4 times the
    model), before the abandoned call ends, and that call ends after its ``hang`` (one sleep)."""
    answer = timeout + backup_latency
    return [
        Claim(
            f"the chain answered at its {format_seconds(timeout)} timeout plus the backup's "
            f"{format_seconds(backup_latency)}",
            run.answered_at,
            low=answer - 1e-3,
            high=1.4 * answer,
            model=answer,
            late=2,
        ),
        Claim(
            "the chain answered before the abandoned call ended",
            run.finished_at - run.answered_at,
            low=0.0,
            model=hang - answer,
        ),
        Claim(
            f"the abandoned call finished anyway, after its {format_seconds(hang)}",
            run.finished_at,
            low=hang,
            high=1.5 * hang,
            model=hang,
            late=1,
        ),
    ]


# --------------------------------------------------------------------------------------------------------
# Notebook 09: who served, before, during and after an outage


def outage_table(run: OutageRun, margin: float = 0.05) -> pd.DataFrame:
    """The requests sent before, while and after the primary was down (``run.windows(margin)``), one row each:
    how many, the share the backup served (*by backup*), and, before and after, the primary's planned failures
    (*planned fail*, its seeded plan: exact) and its calls that missed the client's timeout (*timed out*, this
    machine's). Requests sent within ``margin`` of the stop or the restart are in no row. Shares in %, one decimal;
    "–" where a column does not apply (while down, every call to the primary is refused)."""
    import pandas as pd

    w = run.windows(margin)

    def pct(share: float) -> str:
        return "–" if share is None or math.isnan(share) else f"{100 * share:.1f}"

    rows = {}
    for label, name, part in (
        ("before", "before", w.before),
        ("while down", None, w.down),
        ("after", "after", w.after),
    ):
        rows[label] = {
            "requests": len(part),
            "by backup %": pct(float(part.fell_back.mean()) if len(part) else math.nan),
            "planned fail %": pct(w.planned[name] if name else math.nan),
            "timed out %": pct(w.timed_out[name] if name else math.nan),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("sent")
