"""Interactive explorers for notebooks 03 and 04: sliders re-run a small experiment and redraw.

Each explorer has a plain drawing function beside it, so a notebook shows a static result too
(on a code-hosting site, or when run headless, widgets do not render).

An explorer never captures the output of code that runs while its cell executes (no ``with output:``, no
``interact``): each redraw renders the figure to PNG in the kernel and sets the ``Output`` widget's
``outputs`` itself, one state update sent *to* the front end. A captured output makes a front end send
the widget's new state *back* to the kernel while the cell is still running, and nbclient (0.10-0.11)
sends it on the same ZeroMQ socket on which it is waiting for the cell's reply: on a busy machine the
reply can arrive during that send, the socket's wake-up is lost, and the client waits until its
timeout with the kernel idle (issue 17: Run All of notebook 03 stuck for its whole 600 s timeout).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from typing import Any

from .experiments import make_source, request_ids
from .plots import plot_timeline
from .router import Router
from .sources import SimulatedSource
from .timing import format_seconds

__all__ = ["Explorer", "draw_fallback", "draw_timeline", "fallback_explorer", "fallback_model", "timeline_explorer"]


TIMELINE_SIZE = (7.0, 4.0)
FALLBACK_SIZE = (8.0, 3.0)


def _timeline(fig: Any, workers: int, latency_ms: int, requests: int) -> str:
    """Run ``requests`` requests of ``latency_ms`` on ``workers`` threads; draw on ``fig``; return the makespan line."""
    latency = latency_ms / 1000
    report = Router(SimulatedSource("primary", latency=latency), workers=workers).run(request_ids(requests))
    predicted = math.ceil(requests / workers) * latency
    plot_timeline(report, ax=fig.subplots(), title=f"{requests} requests, {workers} workers, L = {latency_ms} ms")
    return f"makespan: predicted ⌈N/K⌉·L = {format_seconds(predicted)}, measured {format_seconds(report.wall_s)}"


def fallback_model(failure_rate: float, chain: int, correlated: bool = False) -> tuple[str, float]:
    """The share a chain of ``chain`` sources answers, and its formula: ``1 − pᵏ`` when the sources fail
    independently, ``1 − p`` when they fail together (one shared failure pattern: a request lost by the
    primary is lost by every backup)."""
    if correlated:
        return "1 − p", 1 - failure_rate
    return "1 − pᵏ", 1 - failure_rate**chain


def _fallback(fig: Any, failure_rate: float, chain: int, requests: int, correlated: bool) -> str:
    """A chain of ``chain`` sources: the share answered beside ``fallback_model``, drawn on ``fig``; a summary line."""
    source = make_source(chain, latency=0, failure_rate=failure_rate, correlated=correlated)
    report = Router(source, workers=4).run(request_ids(requests))
    measured = sum(o.ok for o in report) / requests
    served = report.served_by()
    formula, model = fallback_model(failure_rate, chain, correlated)
    left, right = fig.subplots(1, 2)
    left.bar(["measured", f"model {formula}"], [measured, model], color=["tab:blue", "grey"])
    left.set_ylim(0, 1.05)
    left.set_ylabel("requests answered (fraction)")
    names = [s.name for s in getattr(source, "sources", [source])] + [None]
    right.bar([str(n or "failed") for n in names], [served.get(n, 0) for n in names], color="tab:orange")
    right.set_ylabel(f"requests (of {requests})")
    right.set_xlabel("served by")
    fig.suptitle(f"p = {failure_rate:.2f}, {chain} source(s){', correlated' if correlated else ''}")
    fig.tight_layout()
    return f"answered {measured:.1%} (model {formula} = {model:.1%})"


def _show(draw: Callable[..., str], size: tuple[float, float], *args: Any) -> None:
    """Draw on a pyplot figure (the notebook shows it), then print the drawing's line."""
    import matplotlib.pyplot as plt

    text = draw(plt.figure(figsize=size), *args)
    plt.show()
    print(text)


def draw_timeline(workers: int = 4, latency_ms: int = 10, requests: int = 16) -> None:
    """Run ``requests`` requests of ``latency_ms`` on ``workers`` threads; draw the timeline, print the makespan."""
    _show(_timeline, TIMELINE_SIZE, workers, latency_ms, requests)


def draw_fallback(failure_rate: float = 0.3, chain: int = 2, requests: int = 400, correlated: bool = False) -> None:
    """Success rate of a chain of ``chain`` sources at one failure rate, measured beside ``fallback_model``."""
    _show(_fallback, FALLBACK_SIZE, failure_rate, chain, requests, correlated)


class Explorer:
    """Controls over a drawing: every change re-runs ``draw(fig, **values)`` in the kernel and shows the result.

    The figure is a plain ``matplotlib.figure.Figure`` (never pyplot's, so nothing else shows it), rendered
    to PNG here; the PNG and the drawing's line become the ``Output`` widget's ``outputs`` in one update.
    Sliders report a value when released (``continuous_update=False``), so a drag runs one experiment.
    ``redraws`` counts the drawings made.
    """

    def __init__(self, draw: Callable[..., str], controls: dict[str, Any], size: tuple[float, float]):
        from ipywidgets import Output, VBox

        self.draw, self.controls, self.size = draw, controls, size
        self.output = Output()
        self.widget = VBox([*controls.values(), self.output])
        self.redraws = 0
        for control in controls.values():
            control.observe(self.redraw, names="value")
        self.redraw()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self, change: Any = None) -> None:
        """Run the drawing with the controls' values; replace what the output shows."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.size)
        text = self.draw(fig, **self.values())
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=90)
        picture = {
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png.getvalue()).decode("ascii"), "text/plain": repr(fig)},
            "metadata": {},
        }
        self.output.outputs = (picture, {"output_type": "stream", "name": "stdout", "text": text + "\n"})
        self.redraws += 1

    def show(self) -> Explorer:
        """Display the controls and the output in the notebook; returns self."""
        from IPython.display import display

        display(self.widget)
        return self

    def _ipython_display_(self) -> None:
        """Shown once by ``show()`` already: a cell ending in ``timeline_explorer()`` does not show it twice."""


def _slider(value: int, low: int, high: int, description: str) -> Any:
    from ipywidgets import IntSlider

    return IntSlider(value=value, min=low, max=high, description=description, continuous_update=False)


def timeline_explorer() -> Explorer:
    """Sliders for workers, latency and requests over the timeline of ``draw_timeline``; shown at once."""
    controls = {
        "workers": _slider(4, 1, 32, "workers"),
        "latency_ms": _slider(10, 1, 50, "latency ms"),
        "requests": _slider(16, 1, 64, "requests"),
    }
    return Explorer(_timeline, controls, TIMELINE_SIZE).show()


def fallback_explorer() -> Explorer:
    """Sliders for the failure rate and the chain length over ``draw_fallback``; shown at once."""
    from ipywidgets import Checkbox, FloatSlider

    controls = {
        "failure_rate": FloatSlider(
            value=0.3, min=0, max=1, step=0.05, description="failure rate", continuous_update=False
        ),
        "chain": _slider(2, 1, 4, "sources"),
        "requests": _slider(400, 50, 2000, "requests"),
        "correlated": Checkbox(value=False, description="fail together"),
    }
    controls["requests"].step = 50
    return Explorer(_fallback, controls, FALLBACK_SIZE).show()
