"""Replay a finished run as an animation: the queue's length above, the workers' bars growing below.

``replay(report)`` (or ``report.replay()``) returns a ``Replay``: its frame data (``times``,
``queue_lengths``, ``bars_shown``) for checks, and self-contained HTML/JavaScript (matplotlib's
``to_jshtml``, PNG frames embedded) that a notebook shows without a server. Several runs side by side
share one time axis, so the faster one visibly ends first. A run of the guide's own router
(``ella_lab.guide.GuideRun``) is replayed too, its idle tail drawn as grey "waiting" bars.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ._checks import check_int
from ._shown import shown as shown_value
from .guide import GuideRun

if TYPE_CHECKING:  # a Report is recognised by what it holds: this module builds on outcome, never the reverse
    from .outcome import Report

__all__ = ["Bar", "Replay", "Timeline", "replay", "timeline"]

COLORS = {
    "ok": "tab:green",
    "fell back": "tab:orange",
    "failed": "tab:red",
    "rejected": "tab:purple",
    "idle": "lightgrey",
}
MAX_FRAMES = 60
MAX_BARS = 1000  # beyond this, touching bars of one worker and kind are merged (drawing is ~1 ms per bar)
REJECTED_ROW = "rejected"  # requests refused by a full queue (on_full="reject"): no worker ever took them


@dataclass(frozen=True)
class Bar:
    """One stretch of one worker's time: a request it served (``ok``, ``fell back``, ``failed``) or ``idle``.

    A request ``rejected`` by a full queue is an instant on the row ``rejected``; a merged bar's ``request`` is a tuple.
    """

    worker: str
    request: Any
    start: float  # seconds since the run started
    end: float
    kind: str


@dataclass(frozen=True, eq=False)
class Timeline:
    """What a replay draws of one run: when each request was queued and started, and every worker's bars."""

    title: str
    workers: tuple[str, ...]
    bars: tuple[Bar, ...]
    queued: tuple[float, ...]  # when each request was put on the queue (s since the start)
    started: tuple[float, ...]  # when a worker took each request that was taken
    end: float  # when the run returned

    @cached_property
    def queue_steps(self) -> tuple[list[float], list[int]]:
        """The queue's length as a step function: at ``times[i]`` it becomes ``lengths[i]``."""
        changes = sorted([(q, 1) for q in self.queued] + [(s, -1) for s in self.started])
        times, lengths, length = [], [], 0
        for t, change in changes:
            length += change
            if times and times[-1] == t:
                lengths[-1] = length
            else:
                times.append(t)
                lengths.append(length)
        return times, lengths

    def queue_length(self, t: float) -> int:
        """Requests queued but not yet taken by a worker at time ``t``."""
        times, lengths = self.queue_steps
        i = bisect_right(times, t)
        return lengths[i - 1] if i else 0

    def max_queue_length(self) -> int:
        """The longest the queue was, over the whole run."""
        return max(self.queue_steps[1], default=0)

    def peak_time(self) -> float:
        """The first moment the queue is at its longest (a frame is put there, so the replay shows the peak)."""
        times, lengths = self.queue_steps
        top = self.max_queue_length()
        return next((t for t, n in zip(times, lengths, strict=True) if n == top), 0.0)

    def bars_at(self, t: float) -> list[Bar]:
        """The bars begun by time ``t``, each cut at ``t`` (how the replay's frame at ``t`` draws them)."""
        return [Bar(b.worker, b.request, b.start, min(b.end, t), b.kind) for b in self.bars if b.start <= t]

    @classmethod
    def from_report(cls, report: Report, title: str = "") -> Timeline:
        """One bar per request, from the moment a worker took it to its answer."""
        t0 = report.started_at
        bars = tuple(
            Bar(
                REJECTED_ROW if _rejected(o) else o.worker,
                o.request,
                o.started_at - t0,
                o.finished_at - t0,
                "rejected" if _rejected(o) else "failed" if not o.ok else "fell back" if o.fell_back else "ok",
            )
            for o in report
        )
        served = [b for b in bars if b.kind != "rejected"]
        workers = sorted({b.worker for b in served}, key=lambda w: (len(w), w))
        if len(served) < len(bars):
            workers.append(REJECTED_ROW)
        return cls(
            title=title or f"{report.workers} worker(s)",
            workers=tuple(workers),
            bars=_merged(bars, report.wall_s),
            queued=tuple(o.queued_at - t0 for o in report if not _rejected(o)),
            started=tuple(b.start for b in served),
            end=report.wall_s,
        )

    @classmethod
    def from_guide(cls, run: GuideRun, title: str = "", latency: float | None = None) -> Timeline:
        """The guide's router: its requests are all queued at the start; each worker idles from its last
        answer in ``get(timeout=idle_timeout)`` and leaves when it times out (or when the run returns); a
        worker that died has no idle bar.

        The guide records when a request was taken, not when it was answered: a bar lasts ``latency``
        (by default the time from the last request taken to the last result put, which is one fetch).
        """
        answered = {r.rsplit(" for ", 1)[1] for r in run.results}
        taken = [(t, w, r) for t, w, r in run.events if r in answered]
        if latency is None:
            latency = run.work_done_s - max(t for t, _, _ in taken) if taken else 0.0
        bars = [
            Bar(w, r, t, t + latency if r in answered else t, "ok" if r in answered else "failed")
            for t, w, r in run.events
        ]
        workers = sorted({b.worker for b in bars} | set(run.died), key=lambda w: (len(w), w))
        idle = getattr(run, "idle_timeout", None)
        if idle is None:  # an older GuideRun: the last worker to answer idles out just before the return
            idle = run.idle_tail_s if run.joined else run.wall_s
        for worker in workers:
            if worker not in run.died:
                last = max((b.end for b in bars if b.worker == worker), default=0.0)
                bars.append(Bar(worker, None, last, min(last + idle, run.wall_s), "idle"))
        return cls(
            title=title or f"the guide's router, {len(workers)} workers",
            workers=tuple(workers),
            bars=tuple(bars),
            queued=tuple(0.0 for _ in run.requests),
            started=tuple(t for t, _, _ in run.events),
            end=run.wall_s,
        )


def _rejected(outcome: Any) -> bool:
    """Refused by a full queue (``on_full="reject"``): answered by the router itself, never by a worker."""
    return bool(getattr(outcome, "rejected", False))


def _merged(bars: tuple[Bar, ...], horizon: float) -> tuple[Bar, ...]:
    """``bars``, or, beyond ``MAX_BARS``, each worker's touching bars of one kind merged into one (a tuple of requests).

    Bars closer than a pixel (``horizon / 400``) look like one bar anyway; a run too varied to merge gets a warning.
    """
    if len(bars) <= MAX_BARS:
        return bars
    gap = horizon / 400
    merged: list[list] = []  # [worker, requests, start, end, kind]
    for bar in sorted(bars, key=lambda b: (b.worker, b.start)):
        run = merged[-1] if merged else None
        if run is not None and (run[0], run[4]) == (bar.worker, bar.kind) and bar.start - run[3] <= gap:
            run[1].append(bar.request)
            run[3] = max(run[3], bar.end)
        else:
            merged.append([bar.worker, [bar.request], bar.start, bar.end, bar.kind])
    out = tuple(Bar(w, tuple(r), s, e, k) for w, r, s, e, k in merged)
    if len(out) > MAX_BARS:
        warnings.warn(
            f"the replay draws {len(out)} bars (from {len(bars)} requests): it may take a while; replay a smaller run",
            stacklevel=3,
        )
    return out


# The player's buttons use Font Awesome icons from a CDN; text symbols keep the replay working offline.
_ICONS = {
    "fa fa-minus": "−",
    "fa fa-fast-backward": "◀◀",
    "fa fa-step-backward": "|◀",
    "fa fa-play fa-flip-horizontal": "◀",
    "fa fa-pause": "❚❚",
    "fa fa-play": "▶",
    "fa fa-step-forward": "▶|",
    "fa fa-fast-forward": "▶▶",
    "fa fa-plus": "+",
}
_STYLESHEET = re.compile(r"<link[^>]*font-awesome[^>]*>\s*")
_ICON = re.compile(r'<i class="(fa [^"]*)"></i>')


def offline(html: str) -> str:
    """``to_jshtml`` output with no link to the network: the icon stylesheet dropped, icons as text."""
    return _ICON.sub(lambda m: _ICONS.get(m.group(1), "·"), _STYLESHEET.sub("", html))


def timeline(run: Report | GuideRun | Timeline, title: str = "") -> Timeline:
    """The ``Timeline`` of a ``Report``, a ``GuideRun`` or a ``Timeline`` (returned as it is)."""
    if isinstance(run, Timeline):
        return run
    if isinstance(run, GuideRun):
        return Timeline.from_guide(run, title)
    if hasattr(run, "outcomes") and hasattr(run, "started_at"):  # a Report
        return Timeline.from_report(run, title)  # type: ignore[arg-type]
    raise TypeError(f"run must be a Report, a GuideRun or a Timeline, got {shown_value(run)} ({type(run).__name__})")


class Replay:
    """An animation of one or more runs on one time axis; shown as HTML in a notebook."""

    def __init__(self, timelines: Sequence[Timeline], frames: int, fps: int = 12):
        self.timelines = list(timelines)
        horizon = max(tl.end for tl in self.timelines) or 1e-3
        self.horizon = horizon
        even = [horizon * i / (frames - 1) for i in range(frames)]
        missed = [tl for tl in self.timelines if max(tl.queue_length(t) for t in even) < tl.max_queue_length()]
        self.times = sorted(set(even) | {tl.peak_time() for tl in missed})  # a frame shows each queue's peak
        self.fps = fps

    @property
    def queue_lengths(self) -> list[list[int]]:
        """Per run, the queue's length at each frame."""
        return [[tl.queue_length(t) for t in self.times] for tl in self.timelines]

    @property
    def bars_shown(self) -> list[list[int]]:
        """Per run, how many bars each frame shows."""
        return [[len(tl.bars_at(t)) for t in self.times] for tl in self.timelines]

    def figure(self, frame: int = -1):
        """The figure of one frame (the last by default), as a still image."""
        fig, update = self._scene()
        update(frame % len(self.times))
        return fig

    def _scene(self, flatten: bool = False):
        """A figure with every artist made once, and a function that moves them to frame ``i``.

        ``flatten``: draw what never moves (axes, ticks, labels, titles) once into a backdrop image, so
        that each frame draws only the bars and lines; text is most of the cost of a frame.
        """
        from matplotlib.figure import Figure

        ms, n = 1e3, len(self.timelines)
        fig = Figure(figsize=(4.0 * n + 0.6, 3.6), dpi=72)
        fig.subplots_adjust(
            left=0.6 / (4.0 * n + 0.6) + 0.06 / n, right=0.98, top=0.9, bottom=0.14, wspace=0.25, hspace=0.12
        )
        axes = fig.subplots(2, n, squeeze=False, height_ratios=[1, 2])
        top = max(max(tl.max_queue_length() for tl in self.timelines), 1)
        moving = []  # per run: (queue line, bar rectangles, bars, time cursor)
        for column, tl in enumerate(self.timelines):
            above, below = axes[0][column], axes[1][column]
            (line,) = above.step([], [], where="post", color="tab:blue", linewidth=2)
            above.set_xlim(0, self.horizon * ms)
            above.set_ylim(-0.3, top + 0.5)
            above.set_title(tl.title, fontsize="medium")
            above.set_ylabel("queued", fontsize="small")
            above.tick_params(labelbottom=False, labelsize="small")
            row = {w: i for i, w in enumerate(tl.workers)}
            rectangles = below.barh(
                [row[b.worker] for b in tl.bars],
                [0.0] * len(tl.bars),
                left=[b.start * ms for b in tl.bars],
                color=[COLORS[b.kind] for b in tl.bars],
                edgecolor="black",
                linewidth=0.5,
                height=0.6,
            ).patches
            for rectangle, bar in zip(rectangles, tl.bars, strict=True):
                rectangle.set_hatch("//" if bar.kind == "idle" else None)
            cursor = below.axvline(0, color="black", linewidth=0.8)
            below.set_xlim(0, self.horizon * ms)
            below.set_ylim(max(len(tl.workers), 1) - 0.5, -0.5)  # an empty run still gets one row
            below.set_yticks(range(len(tl.workers)), tl.workers, fontsize="small")
            below.set_xlabel("ms since the run started", fontsize="small")
            below.tick_params(labelsize="small")
            moving.append((line, rectangles, tl, cursor))
        axes[1][0].set_ylabel("worker", fontsize="small")
        if flatten:
            self._flatten(
                fig, [artist for line, rectangles, _, cursor in moving for artist in (line, cursor, *rectangles)]
            )

        def update(i: int) -> list:
            t = self.times[i]
            for line, rectangles, tl, cursor in moving:
                times, lengths = tl.queue_steps
                k = bisect_right(times, t)  # the queue's changes up to t
                line.set_data([0.0] + [s * ms for s in times[:k]] + [t * ms], [0, *lengths[:k], tl.queue_length(t)])
                for rectangle, bar in zip(rectangles, tl.bars, strict=True):
                    shown = bar.start <= t
                    rectangle.set_visible(shown)
                    # a failure is an instant: keep it visible as a sliver
                    rectangle.set_width(max(min(bar.end, t) - bar.start, self.horizon / 400) * ms if shown else 0)
                cursor.set_xdata([t * ms, t * ms])
            return []

        return fig, update

    @staticmethod
    def _flatten(fig, moving: list) -> None:
        """Replace every artist but ``moving`` by one image of them, drawn behind."""
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        shown = [artist.get_visible() for artist in moving]
        for artist in moving:
            artist.set_visible(False)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        backdrop = np.asarray(canvas.buffer_rgba()).copy()
        for artist, visible in zip(moving, shown, strict=True):
            artist.set_visible(visible)
        for ax in fig.axes:
            ax.set_axis_off()
            ax.title.set_visible(False)
        fig.figimage(backdrop, 0, 0, origin="upper", zorder=-1)

    @cached_property
    def html(self) -> str:
        """The animation as self-contained HTML and JavaScript (its frames embedded as PNG)."""
        import matplotlib
        from matplotlib.animation import FuncAnimation

        fig, update = self._scene(flatten=True)
        animation = FuncAnimation(fig, update, frames=len(self.times))
        with matplotlib.rc_context({"savefig.dpi": "figure", "savefig.bbox": None}):  # frames match the backdrop
            html = animation.to_jshtml(fps=self.fps, default_mode="once")
            still = io.BytesIO()
            update(len(self.times) - 1)
            fig.savefig(still, format="png")
        # Until its script runs (a notebook opened, not yet run or trusted), the player shows the last frame.
        src = "data:image/png;base64," + base64.b64encode(still.getvalue()).decode()
        return offline(html).replace('<img id="_anim_img', f'<img src="{src}" id="_anim_img', 1)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        titles = ", ".join(tl.title for tl in self.timelines)
        return f"<Replay of {titles}: {len(self.times)} frames>"


def replay(
    *runs: Report | GuideRun | Timeline, titles: Sequence[str] | None = None, frames: int = 30, fps: int = 10
) -> Replay:
    """An animated replay of finished runs, side by side on one time axis (``frames`` <= 60)."""
    if not runs:
        raise TypeError("replay() needs at least one run (a Report or a GuideRun)")
    check_int("frames", frames, minimum=2)
    check_int("fps", fps, minimum=1)
    if frames > MAX_FRAMES:
        raise ValueError(f"frames must be <= {MAX_FRAMES} (each frame is an embedded image), got {frames!r}")
    if titles is not None and (isinstance(titles, str) or len(titles) != len(runs)):
        raise ValueError(f"titles must give one title per run ({len(runs)}), got {titles!r}")
    if titles is not None and not all(isinstance(title, str) for title in titles):
        raise TypeError(f"titles must be strings, got {titles!r}")
    names = list(titles) if titles is not None else [""] * len(runs)
    return Replay([timeline(run, name) for run, name in zip(runs, names, strict=True)], frames, fps)
