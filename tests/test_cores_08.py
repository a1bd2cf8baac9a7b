"""Notebook 08's machine facts and GIL timing: the cores this process may use (affinity and CPU quota), the idle
cores it could have used, one timed run and the turns of three, and the CPU cost of waits."""

import os
from collections import namedtuple

import pandas as pd
import pytest

from ella_lab import CpuSource, SimulatedSource, claims, experiments
from ella_lab.experiments import cpu_costs, idle_core_seconds, spare_core_note, time_run, time_runs

CpuTimes = namedtuple("CpuTimes", "user system idle")


def cgroup(tmp_path, v2=None, v1=None):
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return str(tmp_path)


@pytest.mark.parametrize(
    ("v2", "v1", "quota"),
    [
        ("150000 100000", None, 1.5),  # docker --cpus=1.5 on cgroup v2
        ("max 100000", None, None),  # no quota
        (None, (50000, 100000), 0.5),  # cgroup v1
        (None, (-1, 100000), None),  # v1, no quota
        (None, None, None),  # neither (macOS, Windows, no cgroup fs)
        ("garbage", None, None),
    ],
)
def test_the_cpu_quota_is_read_from_either_cgroup_version(tmp_path, v2, v1, quota):
    assert claims._cpu_quota(cgroup(tmp_path, v2, v1)) == quota


def test_cores_are_the_affinity_capped_by_the_quota(tmp_path, monkeypatch):
    """The notebook counted len(os.sched_getaffinity(0)) only: under docker --cpus=1 on a 4-CPU host it said 4
    cores, the model 2×, and its idle-core gate passed on the host's idle CPUs (the review's A7)."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    (tmp_path / "a").mkdir()
    assert claims._cores(cgroup(tmp_path / "a", "100000 100000")) == 1
    assert claims._cores(str(tmp_path / "none")) == 4
    (tmp_path / "b").mkdir()
    assert claims._cores(cgroup(tmp_path / "b", "800000 100000")) == 4  # a quota above the affinity: the affinity
    assert experiments.usable_cores() == claims._cores() >= 0.01


def test_idle_is_counted_over_the_cpus_this_process_may_use(monkeypatch):
    """psutil.cpu_times().idle counts every CPU of the host: with CPU 0 ours and busy, CPU 1 idle and not ours,
    the old count said 10 idle core-seconds; the cores this process may use had none."""
    import psutil

    monkeypatch.setattr(psutil, "cpu_times", lambda percpu=False: [CpuTimes(9, 1, 0.0), CpuTimes(0, 0, 10.0)])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert idle_core_seconds() == 0.0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 7}, raising=False)  # 7: not listed, skipped
    assert idle_core_seconds() == 10.0


def test_a_timed_run_caps_the_idle_cores_by_the_room_its_cores_leave(monkeypatch):
    ticks = iter([0.0, 100.0])  # 100 idle core-seconds during a short run: a host's idle CPUs beyond a quota
    monkeypatch.setattr(experiments, "idle_core_seconds", lambda: next(ticks))
    monkeypatch.setattr(experiments, "usable_cores", lambda: 1.0)
    run = time_run(SimulatedSource("s", latency=0.001), "threads", 2, range(4))
    assert set(run) == {"wall_s", "cores used here", "idle cores"}
    assert run["wall_s"] > 0 and 0 <= run["idle cores"] <= 1.0 - run["cores used here"] + 1e-9


def test_time_runs_keeps_each_configurations_fastest_run_in_order():
    table = time_runs(CpuSource("cpu", work=1000), [("threads", 2), ("threads", 1)], range(4), rounds=2)
    assert list(zip(table.executor, table.workers, strict=True)) == [("threads", 2), ("threads", 1)]
    assert (table.wall_s > 0).all() and (table["idle cores"] >= 0).all()
    with pytest.raises(ValueError, match="rounds"):
        time_runs(CpuSource("cpu"), [("threads", 1)], range(2), rounds=0)
    with pytest.raises(ValueError, match="configs"):
        time_runs(CpuSource("cpu"), [], range(2))


def test_the_spare_core_note_says_what_the_run_can_show():
    assert "cannot tell the GIL from a busy machine" in spare_core_note(0.0, 2)
    assert "cannot tell the GIL from a busy machine" in spare_core_note(0.5, 8)
    assert "a core to spare" in spare_core_note(0.9, 2)
    assert spare_core_note(1.0, 1).startswith("1 core:") and spare_core_note(1.0, 1.5).startswith("1.5 cores:")


def test_cpu_costs_are_the_ratio_and_the_cores_needed():
    cpu = pd.DataFrame({"asyncio": [10e-6, 10e-6], "threads": [30e-6, 50e-6]}, index=[256, 1024])
    costs = cpu_costs(cpu, latency=0.01)
    assert costs["threads / asyncio CPU"].tolist() == pytest.approx([3, 5])
    assert costs["threads cores"].tolist() == pytest.approx([256 / 0.01 * 30e-6, 1024 / 0.01 * 50e-6])
    assert costs["asyncio cores"][1024] == pytest.approx(1.024)
    with pytest.raises(ValueError, match="latency"):
        cpu_costs(cpu, latency=0)
