"""Notebook 10's claims about a run, as library functions: they hold on the seeded simulation of the run they
describe, and miss on a run that does not do what they say."""

import math

import pytest

from ella_lab.metastable import NotedAIMD, collapse_claims, cure_claims, hedge_claims, limit_cuts, served_share
from ella_lab.sim import recovery_time, simulate

RATE, CAPACITY = 140, 200
CONTROLS = ["budget", "throttle", "limit", "drop_expired"]


def missed(claims):
    return [c.says for c in claims if not c.holds()]


def test_collapse_claims_hold_on_the_simulated_collapse():
    run = simulate(control="none", duration=8.0)
    claims = collapse_claims(run, rate=RATE, capacity=CAPACITY)
    assert len(claims) == 4 and missed(claims) == []


def test_collapse_claims_miss_on_a_run_that_recovers():
    run = simulate(control="drop_expired", duration=8.0)
    assert set(missed(collapse_claims(run, rate=RATE, capacity=CAPACITY))) >= {
        "down for 5 s after the trigger ended: goodput a small fraction of C",
        "no recovery in the 5 s after the trigger",
        "3 tries a request once every try times out",
    }


@pytest.mark.parametrize("control", CONTROLS)
def test_cure_claims_hold_on_each_simulated_cure(control):
    run = simulate(control=control, duration=6.0)
    claims = cure_claims(control, run, run, rate=RATE)
    assert missed(claims) == [], [(c.says, c.measured) for c in claims]
    assert all(c.model is not None for c in claims)  # each beside the simulation's value


@pytest.mark.parametrize("control", CONTROLS)
def test_cure_claims_miss_on_a_run_that_stays_down(control):
    down = simulate(control="none", duration=6.0)
    said = missed(cure_claims(control, down, simulate(control=control, duration=6.0), rate=RATE))
    assert f"{control}: it recovers, as the simulation says" in said


def test_the_budget_and_limit_claims_can_miss_on_their_own():
    none = simulate(control="none", duration=6.0)
    said = missed(cure_claims("budget", none, simulate(control="budget", duration=6.0), rate=RATE))
    assert "budget: in the second after the trigger, tries near 1.1 x the load" in said  # about 3 x
    said = missed(cure_claims("limit", none, simulate(control="limit", duration=6.0), rate=RATE))
    assert {
        "the limit serves most new requests once the server is healthy",
        "the limit keeps the queue short: never above 40 of its 50 places",
    } <= set(said)


def test_served_share_is_near_one_when_served_and_zero_when_down():
    assert served_share(simulate(control="drop_expired", duration=6.0)) == pytest.approx(1.0, abs=0.05)
    assert served_share(simulate(control="none", duration=6.0)) == 0.0
    assert not math.isnan(served_share(simulate(control="limit", duration=6.0), since=3.5))


def test_measure_cure_runs_the_control_and_measures_again_on_a_miss(monkeypatch):
    from ella_lab import metastable

    runs = []
    limit, none = simulate(control="limit", duration=6.0), simulate(control="none", duration=6.0)

    def fake_loopback(control, *, rate, duration):  # the simulation stands in for the 6 s real run
        runs.append((control, rate, duration))
        return limit if len(runs) > 1 else none  # the first run stays down: a miss, measured again

    monkeypatch.setattr(metastable, "run_loopback", fake_loopback)
    assert metastable.measure_cure("limit", limit, rate=RATE, tries=2) is limit
    assert runs == [("limit", RATE, 6.0), ("limit", RATE, 6.0)]
    with pytest.raises(ValueError, match="control"):
        metastable.measure_cure("none", none, rate=RATE)


def test_cure_table_puts_measured_and_simulated_side_by_side():
    from ella_lab.metastable import cure_table

    sims = {"none": simulate(control="none", duration=8.0), "limit": simulate(control="limit", duration=6.0)}
    real = {"none": sims["none"], "limit": simulate(control="limit", duration=6.0, seed=3)}
    table = cure_table(real, sims)
    assert list(table.index) == ["none", "limit"]
    assert table.loc["none", "recovery, measured"] == "never" == table.loc["none", "recovery, simulated"]
    assert table.loc["none", "served from t = 4 s, simulated"] == 0
    assert table.loc["limit", "served from t = 4 s, simulated"] == round(served_share(sims["limit"]), 3)
    with pytest.raises(ValueError, match="same controls"):
        cure_table({"none": sims["none"]}, sims)


def test_hedge_claims_hold_on_the_lessons_numbers_and_miss_without_a_cut_or_with_no_hedges():
    base = {"p99_s": 0.286, "extra": 0.0}
    assert missed(hedge_claims([base, {"p99_s": 0.0251, "extra": 0.030}])) == []
    assert missed(hedge_claims([base, {"p99_s": 0.200, "extra": 0.030}])) == [
        "hedging at p95 within 5 % cuts the p99 at least threefold (the tail is 150 to 450 ms, the hedged p99 "
        "tens of ms)"
    ]
    assert missed(hedge_claims([base, {"p99_s": 0.0251, "extra": 0.004}])) == [
        "hedging at p95 sends fewer than 5 % extra calls, at least the 2 % tail: the calls that outlast d"
    ]
    with pytest.raises(ValueError, match="pair must be"):
        hedge_claims([base])


def test_measure_cures_judges_runs_made_side_by_side_in_processes(monkeypatch, caplog):
    from ella_lab import metastable

    seen = []
    monkeypatch.setattr(metastable, "measure", lambda run, claims, tries: seen.append(run()) or seen[-1])
    sims = {c: simulate(control=c, duration=3.0) for c in ("budget", "limit")}
    real = metastable.measure_cures(sims, rate=RATE, duration=3.0)  # two real 3 s runs, each in its own process
    assert list(real) == ["budget", "limit"]
    assert [r.settings["control"] for r in real.values()] == ["budget", "limit"]
    assert all(r.settings["duration"] == 3.0 for r in real.values())
    assert "one after the other" not in caplog.text  # made in the processes, not here after they failed


def test_measure_cures_runs_here_when_processes_fail(monkeypatch, caplog):
    from ella_lab import backends, metastable

    runs = []
    limit = simulate(control="limit", duration=6.0)

    def no_processes():
        raise OSError("no processes in this sandbox")

    def fake_loopback(control, *, rate, duration):
        runs.append(control)
        return limit

    monkeypatch.setattr(backends, "_process_context", no_processes)
    monkeypatch.setattr(metastable, "run_loopback", fake_loopback)
    real = metastable.measure_cures({"limit": limit, "drop_expired": limit}, rate=RATE)
    assert runs == ["limit", "drop_expired"] and set(real) == {"limit", "drop_expired"}
    assert "one after the other" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"simulated": {"none": None}}, "simulated must name cures only"),
        ({"simulated": {"limt": None}}, "'limt'"),
        ({"side_by_side": 0}, "side_by_side"),
        ({"side_by_side": 2.5}, "side_by_side"),
        ({"rate": -1}, "rate"),
    ],
)
def test_measure_cures_refuses_bad_arguments(kwargs, named):
    from ella_lab.metastable import measure_cures

    arguments = {"simulated": {"limit": None}, "rate": RATE} | kwargs
    simulated = arguments.pop("simulated")
    with pytest.raises((ValueError, TypeError), match=named):
        measure_cures(simulated, **arguments)


def test_measure_cure_refuses_a_first_run_that_is_not_a_result():
    from ella_lab.metastable import measure_cure

    with pytest.raises(TypeError, match="first must be a SimResult"):
        measure_cure("limit", simulate(control="limit", duration=6.0), rate=RATE, first={"t": [0.0]})


def test_healthy_goodput_starts_after_the_clients_start_up():
    from ella_lab.metastable import healthy_goodput

    run = simulate(control="none", duration=8.0)
    frame = run.frame()
    assert healthy_goodput(run) == frame[(frame.t >= 0.2) & (frame.t < 1.0)].goodput.mean() == 138.75
    # a slow start-up (the first bins at 50/s, as seen on a busy machine) no longer pulls it down
    run.goodput[0] = run.goodput[1] = 5
    assert healthy_goodput(run) == 138.75 and healthy_goodput(run, since=0.0) < 0.9 * RATE


def test_collapse_claims_miss_before_the_trigger_when_goodput_is_far_from_the_load():
    run = simulate(control="none", duration=8.0)
    says = "before the trigger (from 0.2 s, once the clients run), goodput about the load"
    assert says not in missed(collapse_claims(run, rate=RATE, capacity=CAPACITY))
    assert says in missed(collapse_claims(run, rate=RATE * 1.15, capacity=CAPACITY))  # goodput under 90 %
    assert says in missed(collapse_claims(run, rate=RATE * 0.85, capacity=CAPACITY))  # goodput over 110 %


def test_goodput_stalls_counts_the_runs_of_zero_bins():
    from ella_lab.metastable import goodput_stalls

    run = simulate(control="limit", duration=6.0)
    assert goodput_stalls(run, 1, 3) == 2  # the seeded run of notebook 10's section (d)
    run.goodput[:] = [0, 0, 5, 0, 5, 0, 0] + [5] * (len(run.goodput) - 7)
    assert goodput_stalls(run, 0, 0.7) == 3 and goodput_stalls(run, 0.7, 6) == 0


def test_after_trigger_table_reads_the_second_after_the_trigger_and_the_healthy_server():
    from ella_lab.metastable import after_trigger_table

    runs = {"none": simulate(control="none", duration=6.0), "limit": simulate(control="limit", duration=6.0)}
    table = after_trigger_table(runs, rate=RATE)
    assert list(table.index) == ["none", "limit"]
    assert list(table.columns) == ["tries / load, 3-4 s", "longest queue", "goodput from 4 s", "lowest 0.1 s bin"]
    frame = runs["none"].frame()
    assert table.loc["none", "tries / load, 3-4 s"] == round(frame.query("3 <= t < 4").offered.mean() / RATE, 2)
    assert table.loc["none", "goodput from 4 s"] == 0 and table.loc["none", "longest queue"] == 50
    assert table.loc["limit", "goodput from 4 s"] > 0.9 * RATE
    with pytest.raises(ValueError, match="rate"):
        after_trigger_table(runs, rate=0)


def test_limit_cuts_finds_the_longest_run_of_cuts_in_the_seeded_run():
    cuts = limit_cuts()
    assert cuts["cuts"] == 30 and cuts["before"] == 41.0  # the seeded run of section (d)
    # the lowest of the whole run, the number q3's check reports ('ranged from 1.73'), under the end of the cuts
    assert f"{cuts['lowest']:.3g}" == "1.73" and cuts["lowest"] <= cuts["after"]
    assert cuts["after"] == pytest.approx(41.0 * 0.9**30)  # each a cut by 0.9, none clamped
    assert limit_cuts(trigger=0.0)["cuts"] < cuts["cuts"]  # without the trigger: fewer in a row
    with pytest.raises(ValueError, match="control or limit"):
        limit_cuts(control="none")


def test_the_noted_aimd_decides_as_the_aimd_and_notes_each_decision():
    noted = NotedAIMD(8, minimum=1, maximum=200)
    assert noted.update(8.0, 0.0, False, 3) == pytest.approx(7.2)
    assert noted.update(7.2, 0.0, True, 4) == pytest.approx(8.2)
    assert noted.update(8.2, 0.0, True, 1) == pytest.approx(8.2)  # 2 x 1 < 8.2: not in use, no growth
    assert [ok for ok, _, _ in noted.trace] == [False, True, True] and noted.decisions == 3
    assert noted.lowest == pytest.approx(7.2) and noted.highest == pytest.approx(8.2)


@pytest.mark.parametrize(
    ("scenario", "recovers"),
    [
        ({"rate": 100}, True),  # 50 % load: the slowed server just keeps up
        ({"rate": 100, "trigger": 0.5}, True),
        ({"trigger": 0.5}, False),  # 70 %: a 0.5 s trigger is enough to stay down
        ({"rate": 120, "trigger": 0.5}, True),  # 60 %: a 0.5 s trigger is short enough
        ({"timeout": 0.5}, True),  # 250 ms behind a full queue, under the timeout
        ({"control": "budget", "budget_ratio": 0.5}, False),  # 1.5 x 140 = 210 > C
        ({"slowdown": 3, "rate": 80}, False),  # 67/s slowed, under the 80 offered; then 240 tries a second
    ],
)
def test_notebook_10s_try_this_answers_hold_in_the_seeded_simulation(scenario, recovers):
    run = simulate(duration=8.0, **scenario)
    assert (recovery_time(run) < math.inf) is recovers
    if recovers and scenario.get("rate") == 100:
        assert max(run.queue) < 10  # the queue never fills
