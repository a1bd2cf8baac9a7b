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


class _Answer:
    def __init__(self, finished_at):
        self.finished_at = finished_at


class _Report(list):  # what router_claims reads of a Report: wall_s, finished_at, each outcome's finished_at
    def __init__(self, wall_s, finished_at, last_answer):
        super().__init__([_Answer(last_answer - 0.05), _Answer(last_answer)])
        self.wall_s, self.finished_at = wall_s, finished_at


def test_router_claims_hold_the_rounds_and_no_idle_tail():
    from ella_lab.guide import router_claims, virtual_run

    model = virtual_run(3, 10, latency=0.05)
    rounds, tail = router_claims(_Report(0.205, 10.205, 10.2), model, idle=0.2)
    assert rounds.holds() and tail.holds() and (tail.high, tail.late) == (0.05, 1)
    assert "4 rounds" in rounds.says
    assert not router_claims(_Report(0.205, 10.3, 10.2), model, idle=0.2)[1].holds()  # a 100 ms tail
    assert not router_claims(_Report(0.41, 10.41, 10.4), model, idle=0.2)[0].holds()  # twice the rounds


def test_idle_bar_claims_want_whole_timeouts_and_the_sentinels_done_first():
    import pytest

    from ella_lab.guide import idle_bar_claims
    from ella_lab.replay import Bar, Timeline

    def line(end, *idle):
        bars = tuple(Bar(f"w{i}", None, start, start + length, "idle") for i, (start, length) in enumerate(idle))
        return Timeline("t", ("w0", "w1"), bars, (), (), end)

    sentinels = line(0.2)
    whole, first = idle_bar_claims(line(0.4, (0.15, 0.2), (0.2, 0.2)), sentinels, idle=0.2)
    assert whole.holds() and first.holds() and (whole.low, first.high) == (0.9 * 0.2, -0.1)
    assert not idle_bar_claims(line(0.3, (0.15, 0.2), (0.2, 0.1)), sentinels, idle=0.2)[0].holds()  # a cut bar
    assert not idle_bar_claims(line(0.25, (0.05, 0.2)), sentinels, idle=0.2)[1].holds()  # over too soon
    with pytest.raises(ValueError, match="no idle bar"):
        idle_bar_claims(sentinels, sentinels, idle=0.2)


def test_overlap_and_serial_claims():
    from ella_lab.guide import overlap_claim, serial_claim

    together = overlap_claim("overlap", 0.021, latency=0.02, calls=8)
    assert together.holds() and (together.low, together.high, together.model, together.late) == (0.02, 0.08, 0.02, 2)
    assert not overlap_claim("overlap", 0.16, latency=0.02, calls=8).holds()  # one at a time
    one_by_one = serial_claim("serial", 0.165, latency=0.02, calls=8)
    assert one_by_one.holds() and (one_by_one.low, one_by_one.model, one_by_one.late) == (0.16, 0.16, 8)
    assert not serial_claim("serial", 0.03, latency=0.02, calls=8).holds()  # they overlapped
