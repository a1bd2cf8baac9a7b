"""Notebook 09's experiments (ella_lab.realio): the primary stopped mid-run, its windows and figure, the sweep."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from ella_lab import FallbackChain, FlakyService, HttpSource, Router
from ella_lab.realio import OutageRun, plot_outage, primary_outage, sockets_sweep

REQUESTS = [f"DataRequest-{i}" for i in range(120)]


@pytest.fixture(scope="module")
def outage():
    with FlakyService("primary", latency=0.002, seed=1) as primary, FlakyService("backup", latency=0.002) as backup:
        chain = FallbackChain([HttpSource("primary", primary.url, timeout=0.5), HttpSource("backup", backup.url)])
        run = primary_outage(Router(chain, workers=4), primary, REQUESTS, rate=200, stop_at=0.2, restart_at=0.4)
        yield run, primary.running


def test_nothing_is_lost_and_the_primary_is_back(outage):
    run, running = outage
    assert isinstance(run, OutageRun) and running  # restarted before primary_outage returned
    frame = run.report.frame()
    assert list(frame.request) == REQUESTS and frame.ok.all()
    assert 0.2 <= run.down_from < run.down_to and run.down_to >= 0.4  # timers never fire early
    assert (frame.source == "backup").any() and (frame.source == "primary").any()


def test_the_windows_split_the_requests_by_when_they_were_sent(outage):
    run, _ = outage
    w = run.windows(margin=0.05)
    assert (w.before.queued_s < run.down_from - 0.05).all() and (w.after.queued_s > run.down_to + 0.05).all()
    assert ((w.down.queued_s > run.down_from + 0.05) & (w.down.queued_s < run.down_to - 0.05)).all()
    assert set(w.before.request).isdisjoint(w.down.request) and set(w.down.request).isdisjoint(w.after.request)
    assert len(w.down) > 0 and w.refused_s >= 0 and w.backup_s > 0
    with pytest.raises(ValueError, match="margin"):
        run.windows(margin=-1)


def test_the_figure_shades_the_outage_as_measured(outage):
    run, _ = outage
    fig = plot_outage(run)
    top, bottom = fig.axes
    span = top.patches[0]  # axvspan's rectangle, in data x
    assert span.get_x() == pytest.approx(run.down_from)
    assert span.get_x() + span.get_width() == pytest.approx(run.down_to)
    assert top.get_ylabel() == "served by the backup (%)" and bottom.get_ylim()[0] == 0
    plt.close(fig)


def test_the_outage_refuses_a_restart_before_the_stop():
    with FlakyService("p", latency=0.001) as primary:
        with pytest.raises(ValueError, match="restart_at"):
            primary_outage(Router(HttpSource("p", primary.url), workers=1), primary, ["a"], rate=10, stop_at=0.5,
                           restart_at=0.5)
        assert primary.running


def test_the_sweep_has_one_row_per_k():
    curves = sockets_sweep([1, 2], latency=0.002, per_worker=4, repeats=1)
    assert list(curves.index) == [1, 2]
    assert list(curves["model"]) == [500, 1000] and (curves["real ok"] == 1).all()
    assert (curves["CPU per request (µs)"] > 0).all() and (curves["real sockets"] > 0).all()
    with pytest.raises(ValueError, match="workers"):
        sockets_sweep([0])
