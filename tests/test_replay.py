"""The replay's frame data is the run's: queue length = queued but not yet taken; one bar per request, per worker."""

import pytest

from ella_lab.guide import GuideRun, run_guide_router
from ella_lab.outcome import Attempt, Outcome, Rejected, Report
from ella_lab.replay import MAX_BARS, Replay, Timeline, replay, timeline

T0 = 100.0  # perf_counter readings have an arbitrary origin: the replay must subtract the run's start


def outcome(request, worker, queued, started, finished, *, ok=True, source="primary", first="primary"):
    error = None if ok else ConnectionError(request)
    attempts = (Attempt(first, 0, error, T0 + started, T0 + finished),)
    return Outcome(
        request, ok, request if ok else None, error, source if ok else None, attempts, worker,
        T0 + queued, T0 + started, T0 + finished,
    )  # fmt: skip


@pytest.fixture
def report():
    """Two workers, four requests: two queued at 0 and taken at once, two queued at 0.1 and taken later."""
    return Report(
        [
            outcome("a", "worker-0", 0.0, 0.0, 0.2),
            outcome("b", "worker-1", 0.0, 0.0, 0.3, source="backup"),  # fell back
            outcome("c", "worker-0", 0.1, 0.2, 0.4, ok=False),
            outcome("d", "worker-1", 0.1, 0.3, 0.5),
        ],
        workers=2,
        started_at=T0,
        finished_at=T0 + 0.5,
    )


def test_queue_length_counts_queued_but_not_started(report):
    tl = timeline(report)
    assert [tl.queue_length(t) for t in (-0.01, 0.0, 0.05, 0.1, 0.25, 0.35, 0.5)] == [0, 0, 0, 2, 1, 0, 0]
    assert tl.max_queue_length() == 2
    assert tl.end == pytest.approx(0.5)


def test_one_bar_per_request_from_start_to_finish_on_its_worker(report):
    tl = timeline(report, "hand-made")
    assert tl.title == "hand-made" and tl.workers == ("worker-0", "worker-1")
    spans = [(b.worker, b.request, round(b.start, 9), round(b.end, 9), b.kind) for b in tl.bars]
    assert spans == [
        ("worker-0", "a", 0.0, 0.2, "ok"),
        ("worker-1", "b", 0.0, 0.3, "fell back"),
        ("worker-0", "c", 0.2, 0.4, "failed"),
        ("worker-1", "d", 0.3, 0.5, "ok"),
    ]


def test_bars_grow_frame_by_frame(report):
    tl = timeline(report)
    shown = tl.bars_at(0.25)
    assert [b.request for b in shown] == ["a", "b", "c"]  # d has not started
    assert [round(b.end, 9) for b in shown] == [0.2, 0.25, 0.25]  # cut at the frame's time


def test_frame_data(report):
    r = replay(report, frames=6)
    assert isinstance(r, Replay) and len(r.times) == 6
    assert r.times[0] == 0 and r.times[-1] == pytest.approx(0.5)
    queued_not_started = [
        sum(o.queued_at - T0 <= t for o in report) - sum(o.started_at - T0 <= t for o in report) for t in r.times
    ]
    assert r.queue_lengths == [queued_not_started] and max(queued_not_started) == 2
    assert r.bars_shown == [[sum(o.started_at - T0 <= t for o in report) for t in r.times]]
    assert r.bars_shown[0][0] == 2 and r.bars_shown[0][-1] == 4


def test_side_by_side_share_one_time_axis(report):
    short = Report(report.outcomes[:2], workers=2, started_at=T0, finished_at=T0 + 0.3)
    r = report.replay(short, titles=["four", "two"], frames=6)
    assert [tl.title for tl in r.timelines] == ["four", "two"]
    assert r.times[-1] == pytest.approx(0.5)  # the longer run sets the axis
    assert [bars[-1] for bars in r.bars_shown] == [4, 2]


@pytest.mark.timeout(30)
def test_the_guides_run_shows_its_idle_tail():
    # idle_timeout=0.5, not 0.05: the guide's workers wait that long for the first request (a main thread held
    # up 60 ms after starting them served nothing), and the last one's exit is matched within half of it
    run = run_guide_router(3, 6, latency=0.01, idle_timeout=0.5)
    tl = timeline(run)
    served = [b for b in tl.bars if b.kind == "ok"]
    idle = [b for b in tl.bars if b.kind == "idle"]
    assert sorted(b.request for b in served) == run.requests
    assert len(idle) == 3 and all(b.end <= run.wall_s for b in idle)
    assert all(b.end == min(b.start + 0.5, run.wall_s) for b in idle)  # its get(timeout=...), then it leaves
    assert max(b.end for b in idle) == pytest.approx(run.wall_s, abs=0.5 * 0.5)  # the last to leave ends the run
    assert tl.max_queue_length() == 6 and tl.queue_length(run.wall_s) == 0


def guide_run(*, wall, joined=True, died=None, idle_timeout=0.2):
    """Two rounds on two workers (answers at 0.05 and 0.1 s; w1 has one request), by hand: deterministic."""
    events = [(0.0, "w0", "r0"), (0.0, "w1", "r1"), (0.05, "w0", "r2")]
    died = died or {}
    answered = [r for _, w, r in events if w not in died]
    return GuideRun(
        requests=["r0", "r1", "r2"], results=[f"x for {r}" for r in answered], events=events, wall_s=wall,
        work_done_s=0.1, joined=joined, died=died, idle_timeout=idle_timeout,
    )  # fmt: skip


def test_each_guide_worker_leaves_one_idle_timeout_after_its_last_answer():
    idle = {
        b.worker: (round(b.start, 9), round(b.end, 9)) for b in timeline(guide_run(wall=0.3)).bars if b.kind == "idle"
    }
    assert idle == {"w0": (0.1, 0.3), "w1": (0.05, 0.25)}  # w1 answered a round early, so it left a round early


def test_a_hung_guide_run_has_no_idle_bar_after_its_workers_left():
    run = guide_run(wall=1.0, joined=False, died={"w1": "ConnectionError('r1')"})  # join() hung for 1 s
    idle = [(b.worker, round(b.start, 9), round(b.end, 9)) for b in timeline(run).bars if b.kind == "idle"]
    assert idle == [("w0", 0.1, 0.3)]  # not to 1.0: w0 left at 0.3; the dead w1 never idled


def test_requests_refused_by_a_full_queue_get_their_own_row():
    refused = Outcome("z", False, None, Rejected("full"), None, (), "router", T0 + 0.1, T0 + 0.1, T0 + 0.1)
    rep = Report([outcome("a", "worker-0", 0.0, 0.0, 0.2), refused], workers=1, started_at=T0, finished_at=T0 + 0.2)
    tl = timeline(rep)
    assert tl.workers == ("worker-0", "rejected") and "router" not in tl.workers
    assert [(b.worker, b.kind) for b in tl.bars] == [("worker-0", "ok"), ("rejected", "rejected")]
    assert tl.queued == (0.0,) and tl.max_queue_length() == 0  # a refused request never sat in the queue


def test_a_huge_run_merges_touching_bars(report):
    n = MAX_BARS + 500
    rows = [outcome(f"r{i}", f"worker-{i % 2}", 0.0, i // 2 * 0.001, (i // 2 + 1) * 0.001) for i in range(n)]
    big = Report(rows, workers=2, started_at=T0, finished_at=T0 + n / 2 * 0.001)
    tl = timeline(big)
    assert len(tl.bars) == 2 and sorted(len(b.request) for b in tl.bars) == [n // 2, n - n // 2]
    ragged = [outcome(f"r{i}", "worker-0", 0.0, i * 0.01, i * 0.01 + 0.001, ok=i % 2 == 0) for i in range(n)]
    with pytest.warns(UserWarning, match="bars"):
        timeline(Report(ragged, workers=1, started_at=T0, finished_at=T0 + n * 0.01))


def test_a_frame_shows_a_queue_that_lasts_less_than_a_frame():
    one = Report([outcome("only", "worker-0", 0.00001, 0.0002, 0.01)], workers=3, started_at=T0, finished_at=T0 + 0.01)
    r = one.replay(frames=30, fps=5)
    assert max(r.queue_lengths[0]) == 1 == r.timelines[0].max_queue_length()
    assert len(r.times) == 31 and r.fps == 5  # one frame added, at the peak; fps passed through


@pytest.mark.timeout(30)
def test_a_dead_guide_worker_has_a_failed_bar_and_no_idle_tail():
    run = run_guide_router(2, 4, latency=0.01, idle_timeout=0.5, fail_on={"DataRequest-1"}, join_timeout=1.0)
    tl = timeline(run)
    (dead,) = run.died
    assert [b.request for b in tl.bars if b.kind == "failed"] == ["DataRequest-1"]
    assert not [b for b in tl.bars if b.kind == "idle" and b.worker == dead]


@pytest.mark.timeout(120)
def test_html_is_self_contained_and_small(report):
    html = replay(report, report, frames=40).html
    assert "<script" in html and html.count("data:image/png;base64") == 40 + 1  # the frames, and a still
    assert '<img src="data:image/png;base64,' in html  # shown before (or without) the script
    assert "http" not in html and "fa fa-" not in html  # nothing fetched from the network, even icons
    assert len(html) < 2_000_000  # well inside notebook and embed limits


def test_a_timeline_passes_through(report):
    tl = timeline(report)
    assert timeline(tl) is tl and isinstance(tl, Timeline)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((), {}, TypeError, "at least one run"),
        (("report",), {}, TypeError, "run must be a Report"),
        ((None,), {}, TypeError, "run must be a Report"),
        ((1.5,), {}, TypeError, "run must be a Report"),
    ],
)
def test_bad_runs(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        replay(*args, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"frames": 61}, ValueError, "frames must be <= 60"),
        ({"frames": 1}, ValueError, "frames must be >= 2"),
        ({"frames": 10.0}, TypeError, "frames must be an int"),
        ({"titles": "one"}, ValueError, "titles must give one title per run"),
        ({"titles": ["a", "b"]}, ValueError, "titles must give one title per run"),
        ({"fps": 0}, ValueError, "fps must be >= 1"),
        ({"titles": [1]}, TypeError, "titles must be strings"),
    ],
)
def test_bad_options(report, kwargs, error, words):
    with pytest.raises(error, match=words):
        replay(report, **kwargs)


def test_the_guide_beside_a_sentinel_run_ends_showing_its_answers_and_idle_bars(report):
    # notebook 03's side-by-side replay: the guide's row ends with its answers and one idle bar per worker
    # that idled; the router's with its answers only (was asserted in the notebook's cell, plumbing for a learner)
    movie = replay(guide_run(wall=0.3), report, titles=["the guide", "sentinels"])
    guide_line, sentinel_line = movie.timelines
    idle = [bar for bar in guide_line.bars if bar.kind == "idle"]
    assert len(idle) == 2 and not [bar for bar in sentinel_line.bars if bar.kind == "idle"]
    assert [bars[-1] for bars in movie.bars_shown] == [3 + 2, 4]
