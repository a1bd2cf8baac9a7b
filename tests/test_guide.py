"""The guide's own design, measured: the idle tail and the lost request (with bounded waits)."""

from ella_lab.guide import run_guide_router

# The guide's workers also give up if the first request comes later than idle_timeout after they start: the
# timeouts here leave 0.5 s for that (with 0.05 s, a main thread held up 60 ms after starting them served nothing)


def test_guide_design_idles_out_after_the_work():
    run = run_guide_router(3, 10, latency=0.02, idle_timeout=0.5)
    assert run.joined and not run.lost and not run.died
    assert len(run.results) == 10
    assert run.work_done_s >= 0.08  # 4 rounds of 20 ms
    assert run.idle_tail_s >= 0.49  # every worker waits out get(timeout=0.5) before join() returns


def test_guide_design_loses_a_request_and_never_joins():
    run = run_guide_router(3, 10, latency=0.01, idle_timeout=0.5, fail_on={"DataRequest-4"}, join_timeout=1.0)
    assert run.lost == ["DataRequest-4"]
    assert not run.joined  # data_queue.join() would have waited forever
    assert len(run.died) == 1 and "DataRequest-4" in next(iter(run.died.values()))
    assert len(run.results) == 9
    assert run.wall_s < 2


def test_guide_fallback_sketch_never_fetches():
    from ella_lab.guide import fallback_fetch

    assert fallback_fetch("DataRequest-1", "anything") == "Recovered from Backup for DataRequest-1"


def test_join_and_look_copies_the_results_the_moment_join_returns():
    import queue
    import threading

    import pytest

    from ella_lab.guide import join_and_look

    tasks, results = queue.Queue(), {}
    tasks.put("r")
    tasks.get()
    results["r"] = "answer"
    done = threading.Timer(0.05, tasks.task_done)  # the worker marks it done a moment later
    done.start()
    seen = join_and_look(tasks, results, timeout=5)
    results["late"] = "stored after join() returned"
    assert seen == {"r": "answer"}  # a copy: what the caller of join() would read then
    tasks.put("never done")
    assert join_and_look(tasks, results, timeout=0.05) is None  # join() never returns: reported, not hung
    with pytest.raises(ValueError, match="timeout"):
        join_and_look(tasks, results, timeout=0)


def test_guide_claims_and_the_makespan_claim_follow_the_model():
    from ella_lab.guide import GuideRun, guide_claims, makespan_claim, virtual_run

    model = virtual_run(3, 10, latency=0.05, idle_timeout=0.2)
    like_the_model = GuideRun([], [], [], wall_s=0.41, work_done_s=0.205, joined=True)
    work, idle, wall = guide_claims(like_the_model, model)
    assert (work.late, idle.late, wall.late) == (4, 2, 5) and work.holds() and idle.holds() and wall.holds()
    no_tail = GuideRun([], [], [], wall_s=0.21, work_done_s=0.205, joined=True)
    assert not guide_claims(no_tail, model)[1].holds()
    sentinels = virtual_run(3, 10, latency=0.05)
    claim = makespan_claim("4 rounds", 0.21, sentinels)
    assert (claim.low, claim.high, claim.late) == (0.2, 0.2 * 1.5, 4) and claim.holds()
    assert not makespan_claim("4 rounds", 0.19, sentinels).holds()
