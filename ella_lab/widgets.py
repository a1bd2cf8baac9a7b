"""Interactive explorers for notebooks 03 and 04: sliders re-run a small experiment and redraw.

Each explorer has a plain drawing function beside it, so a notebook shows a static result too
(on a code-hosting site, or when run headless, widgets do not render).
"""

from __future__ import annotations

import math

from .experiments import make_source, request_ids
from .plots import plot_timeline
from .router import Router
from .sources import SimulatedSource
from .timing import format_seconds

__all__ = ["draw_fallback", "draw_timeline", "fallback_explorer", "timeline_explorer"]


def draw_timeline(workers: int = 4, latency_ms: int = 10, requests: int = 16) -> None:
    """Run ``requests`` requests of ``latency_ms`` on ``workers`` threads; draw the timeline, print the makespan."""
    import matplotlib.pyplot as plt

    latency = latency_ms / 1000
    report = Router(SimulatedSource("primary", latency=latency), workers=workers).run(request_ids(requests))
    predicted = math.ceil(requests / workers) * latency
    plot_timeline(report, title=f"{requests} requests, {workers} workers, L = {latency_ms} ms")
    plt.show()
    print(f"makespan: predicted ⌈N/K⌉·L = {format_seconds(predicted)}, measured {format_seconds(report.wall_s)}")


def timeline_explorer():
    """Sliders for workers, latency and requests over ``draw_timeline``."""
    from ipywidgets import IntSlider, interact

    return interact(
        draw_timeline,
        workers=IntSlider(value=4, min=1, max=32, description="workers"),
        latency_ms=IntSlider(value=10, min=1, max=50, description="latency ms"),
        requests=IntSlider(value=16, min=1, max=64, description="requests"),
    )


def draw_fallback(failure_rate: float = 0.3, chain: int = 2, requests: int = 400, correlated: bool = False) -> None:
    """Success rate of a chain of ``chain`` sources at one failure rate, measured beside ``1 - p**k``."""
    import matplotlib.pyplot as plt

    source = make_source(chain, latency=0, failure_rate=failure_rate, correlated=correlated)
    report = Router(source, workers=4).run(request_ids(requests))
    measured = sum(o.ok for o in report) / requests
    served = report.served_by()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.bar(["measured", "model 1 − pᵏ"], [measured, 1 - failure_rate**chain], color=["tab:blue", "grey"])
    left.set_ylim(0, 1.05)
    left.set_ylabel("requests answered (fraction)")
    names = [s.name for s in getattr(source, "sources", [source])] + [None]
    right.bar([str(n or "failed") for n in names], [served.get(n, 0) for n in names], color="tab:orange")
    right.set_ylabel("requests")
    right.set_xlabel("served by")
    fig.suptitle(f"p = {failure_rate:.2f}, {chain} source(s){', correlated' if correlated else ''}")
    fig.tight_layout()
    plt.show()
    print(f"answered {measured:.1%} (model {1 - failure_rate**chain:.1%})")


def fallback_explorer():
    """Sliders for the failure rate and the chain length over ``draw_fallback``."""
    from ipywidgets import Checkbox, FloatSlider, IntSlider, interact

    return interact(
        draw_fallback,
        failure_rate=FloatSlider(value=0.3, min=0, max=1, step=0.05, description="failure rate"),
        chain=IntSlider(value=2, min=1, max=4, description="sources"),
        requests=IntSlider(value=400, min=50, max=2000, step=50, description="requests"),
        correlated=Checkbox(value=False, description="fail together"),
    )
