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


def test_the_spare_core_note_reads_the_processes_speed_up():
    """Review 08e (A5): the saved run printed "no core to spare: this run cannot tell the GIL from a busy machine"
    beside two processes at 1.81× and two threads at 1.05× (idle 0.49): the processes' gain shows the second core."""
    note = spare_core_note(0.49, 2, processes=1.81, threads=1.05)
    assert "1.81× faster" in note and "more CPU than it did" in note and "did not: the GIL" in note
    assert "cannot tell" not in note
    assert "no GIL" in spare_core_note(0.0, 2, processes=1.8, threads=1.7)
    assert "cannot tell the GIL" in spare_core_note(0.49, 2, processes=1.2, threads=1.0)  # no evidence either way
    assert "a core to spare" in spare_core_note(0.9, 2, processes=1.1, threads=1.0)


def test_cpu_costs_are_the_ratio_and_the_cores_needed():
    cpu = pd.DataFrame({"asyncio": [10e-6, 10e-6], "threads": [30e-6, 50e-6]}, index=[256, 1024])
    costs = cpu_costs(cpu, latency=0.01)
    assert costs["threads / asyncio CPU"].tolist() == pytest.approx([3, 5])
    assert costs["threads cores"].tolist() == pytest.approx([256 / 0.01 * 30e-6, 1024 / 0.01 * 50e-6])
    assert costs["asyncio cores"][1024] == pytest.approx(1.024)
    with pytest.raises(ValueError, match="latency"):
        cpu_costs(cpu, latency=0)


def test_time_runs_warms_up_every_configuration_not_on_threads(monkeypatch):
    served = []
    monkeypatch.setattr(
        experiments,
        "Router",
        lambda source, workers, executor: type(
            "R", (), {"run": lambda self, requests: served.append((executor, list(requests)))}
        )(),
    )
    monkeypatch.setattr(
        experiments, "time_run", lambda *args: {"wall_s": 1.0, "cores used here": 1.0, "idle cores": 0.0}
    )
    time_runs(CpuSource("cpu"), [("threads", 1), ("processes", 2)], range(5), rounds=1)
    assert served == [("processes", [0, 1])]  # untimed, before the timed turns; threads need none
    served.clear()
    time_runs(CpuSource("cpu"), [("processes", 2)], range(5), rounds=1, warm_up=False)
    assert served == []


def gil_table(idle, threads2_cores=1.0, speedups=(1.0, 1.0, 1.8)):
    table = pd.DataFrame(
        {
            "executor": ["threads", "threads", "processes"],
            "workers": [1, 2, 2],
            "cores used here": [1.0, threads2_cores, 0.01],
            "idle cores": [idle, idle, 0.1],
        }
    )
    table["speed-up"] = list(speedups)
    return table


def test_gil_claims_check_the_processes_only_with_a_core_to_spare():
    from ella_lab.engine_claims import gil_claims

    says = [c.says for c in gil_claims(gil_table(idle=0.9), cores=2)]
    assert "with a core to spare, two processes beat one thread" in says and len(says) == 5
    assert len(gil_claims(gil_table(idle=0.2), cores=2)) == 4  # a busy machine: no speed-up claimed
    assert len(gil_claims(gil_table(idle=0.9), cores=2, gil_enabled=False)) == 3  # no GIL to check
    assert len(gil_claims(gil_table(idle=0.9), cores=1)) == 4
    # each claim can fail: two threads on two cores (no GIL), or a second thread that sped the run up
    missed = [
        c.says
        for c in gil_claims(gil_table(idle=0.9, threads2_cores=1.9, speedups=(1.0, 1.9, 1.0)), 2)
        if not c.holds()
    ]
    assert "the GIL: two threads keep at most one core busy" in missed and "no speed-up from a second thread" in missed
    assert "with a core to spare, two processes beat one thread" in missed
    with pytest.raises(ValueError, match="three rows"):
        gil_claims(gil_table(idle=0.9).iloc[:2], cores=2)


def waits_table(threads_cpu=(35e-6, 35e-6, 40e-6, 50e-6), eff_threads=(0.98, 0.95, 0.8, 0.2)):
    index = pd.Index([16, 64, 256, 1024], name="workers")
    return pd.concat({
        "efficiency": pd.DataFrame({"asyncio": [0.97, 0.93, 0.84, 0.7], "threads": list(eff_threads)}, index=index),
        "cpu": pd.DataFrame({"asyncio": [15e-6, 10e-6, 10e-6, 9e-6], "threads": list(threads_cpu)}, index=index),
    }, axis=1)  # fmt: skip


def test_waits_claims_hold_on_a_typical_table_and_fail_off_it():
    from ella_lab.engine_claims import waits_claims

    assert all(c.holds() for c in waits_claims(waits_table(), 0.01))
    missed = [
        c.says
        for c in waits_claims(
            waits_table(threads_cpu=(130e-6, 130e-6, 12e-6, 12e-6), eff_threads=(0.5, 0.95, 0.8, 0.9)), 0.01
        )
        if not c.holds()
    ]
    assert len(missed) == 4, missed  # each of the four can fail
    with pytest.raises(ValueError, match="K = 1024"):
        waits_claims(waits_table().iloc[:3], 0.01)


def test_waits_claims_make_no_absolute_cpu_claim_at_256():
    """Review 08d (A1): "K = 256: the threads need more than half a core" held at 0.51 to 0.63 core on a busy
    2-core machine and fails on a faster or quieter one (the old claim missed this table, seen: 18 µs per thread wait,
    256 / 10 ms × 18 µs = 0.46 core). At 256 only the ratio to a coroutine's CPU is claimed, which scales out."""
    from ella_lab.engine_claims import waits_claims

    fast = waits_table(threads_cpu=(15e-6, 12e-6, 18e-6, 22e-6))
    fast[("cpu", "asyncio")] = [6e-6, 4e-6, 4e-6, 4e-6]
    assert all(c.holds() for c in waits_claims(fast, 0.01)), [c.says for c in waits_claims(fast, 0.01)]
    assert not any("half a core" in c.says and "256" in c.says for c in waits_claims(fast, 0.01))


def test_batching_and_watch_claims():
    from ella_lab.engine_claims import batching_claim, watch_claim

    assert batching_claim(828e-6, 82e-6).holds() and batching_claim(1.4e-3, 5.7e-4).holds()  # 2.5x: the same N
    assert not batching_claim(110e-6, 82e-6).holds() and "on the same requests" in batching_claim(1, 1).says
    claim = watch_claim(4.24, 4800, 0.02, 32)
    assert claim.holds() and claim.low == pytest.approx(3.0) and "= 3 s" in claim.says
    assert not watch_claim(2.9, 4800, 0.02, 32).holds()  # more than 32 at once: below the bound


def test_dask_claims_take_the_threads_efficiency_as_an_argument():
    from ella_lab.engine_claims import dask_claims

    on_dask = pd.DataFrame(
        {"throughput_rps": [630.0, 1850.0], "model_rps": [800.0, 6400.0], "overhead_s": [0.026, 0.25]}
    )
    assert all(c.holds() for c in dask_claims(on_dask, threads_efficiency_64=0.95))
    assert not dask_claims(on_dask, threads_efficiency_64=0.25)[-1].holds()


def test_dask_claims_hold_on_a_fast_quiet_machine():
    """Review 08e (A6): "threads' efficiency at least twice the cluster's" needed ~90 ms of scheduler overhead
    beyond the 4 waves' 120 ms; with 70 ms of overhead in all at K = 64 (the waves' 20 ms and 50 ms more), the share
    is 100 / 170 = 59 % and the threads at 97 % make 1.65×: the old claim (low=2) missed it (seen), "threads do
    better" holds, and still fails where the cluster comes out ahead."""
    from ella_lab.engine_claims import dask_claims

    fast = pd.DataFrame(
        {"throughput_rps": [740.0, 3765.0], "model_rps": [800.0, 6400.0], "overhead_s": [0.008, 0.070]}
    )
    assert all(c.holds() for c in dask_claims(fast, threads_efficiency_64=0.97)), [
        c.says for c in dask_claims(fast, threads_efficiency_64=0.97) if not c.holds()]
    assert not dask_claims(fast, threads_efficiency_64=0.55)[-1].holds()


def test_waits_claims_hold_on_a_slower_machine():
    """Review 08e (A7): "at K ≤ 64 the threads need under half a core" held at 0.20 core here and scales with the
    inverse of the machine's speed: 2.5× slower (0.5 core) missed it (seen); the claim is now under 0.8 of a core."""
    from ella_lab.engine_claims import waits_claims

    slow = waits_table(threads_cpu=(85e-6, 80e-6, 90e-6, 120e-6))
    slow[("cpu", "asyncio")] = [40e-6, 22e-6, 22e-6, 22e-6]
    assert all(c.holds() for c in waits_claims(slow, 0.01)), [
        c.says for c in waits_claims(slow, 0.01) if not c.holds()]
    too_slow = waits_table(threads_cpu=(150e-6, 140e-6, 300e-6, 400e-6))
    assert any("0.8 of a core" in c.says and not c.holds() for c in waits_claims(too_slow, 0.01))
