"""The guide's Phase 3 router exactly as the guide designed it, so its two defects can be measured.

The worker loop below is the guide's ``data_worker``, with three changes for the classroom only:
the queues are local to each run (not module globals), ``print`` becomes a recorded event (worker
threads never print), and ``fail_on`` lets one request raise inside the fetch. Every wait that the
guide leaves unbounded (``data_queue.join()``, ``thread.join()``) is bounded here, so the hang is
*shown* (``joined=False``) instead of freezing the notebook.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .claims import Claim
from .timing import clock

if TYPE_CHECKING:
    from .outcome import Report
    from .replay import Timeline

__all__ = [
    "GuideRun",
    "VirtualRun",
    "fallback_fetch",
    "guide_claims",
    "idle_bar_claims",
    "join_and_look",
    "makespan_claim",
    "overlap_claim",
    "router_claims",
    "run_guide_router",
    "serial_claim",
    "virtual_run",
]


@dataclass
class GuideRun:
    """What a run of the guide's router did."""

    requests: list[str]
    results: list[str]  # what result_queue held at the end
    events: list[tuple[float, str, str]]  # (seconds since start, worker, request) per "Handling" line
    wall_s: float  # until run_guide_router returned
    work_done_s: float  # until the last result was put
    joined: bool  # did data_queue.join() return within the bound?
    died: dict[str, str] = field(default_factory=dict)  # worker -> the exception that killed it
    alive_after: list[str] = field(default_factory=list)  # workers still running when we gave up waiting
    idle_timeout: float | None = None  # each worker's get(timeout=...): it leaves this long after its last answer

    @property
    def lost(self) -> list[str]:
        """Requests that never produced a result."""
        answered = {r.rsplit(" for ", 1)[1] for r in self.results}
        return [r for r in self.requests if r not in answered]

    @property
    def idle_tail_s(self) -> float:
        """Time between the last result and the return: the workers idling out on ``get(timeout=...)``."""
        return self.wall_s - self.work_done_s


def run_guide_router(
    num_sources: int = 3,
    n_requests: int = 10,
    *,
    latency: float = 0.5,
    idle_timeout: float = 2.0,
    fail_on: Collection[str] = (),
    join_timeout: float = 10.0,
) -> GuideRun:
    """Run the guide's ``run_router`` (Phase 3) once; every wait is bounded by ``join_timeout``."""
    data_queue: queue.Queue = queue.Queue()
    result_queue: queue.Queue = queue.Queue()
    events: list[tuple[float, str, str]] = []
    died: dict[str, str] = {}
    last_result = [0.0]
    t0 = clock()

    def data_worker(source_id: int) -> None:  # the guide's worker, line for line
        while True:
            try:
                request = data_queue.get(timeout=idle_timeout)
                events.append((clock() - t0, f"Source-{source_id}", request))  # was: print(...)
                if request in fail_on:  # added: the fetch fails for this request
                    raise ConnectionError(f"Source-{source_id} could not fetch {request}")
                time.sleep(latency)
                result_queue.put(f"Result from Source-{source_id} for {request}")
                last_result[0] = clock() - t0
                data_queue.task_done()
            except queue.Empty:
                break

    def guarded(source_id: int) -> None:  # records what would otherwise be a traceback on stderr
        try:
            data_worker(source_id)
        except Exception as exc:
            died[f"Source-{source_id}"] = repr(exc)

    threads = []
    for i in range(num_sources):
        t = threading.Thread(target=guarded, args=(i,), name=f"guide-Source-{i}", daemon=True)
        t.start()
        threads.append(t)
    requests = [f"DataRequest-{request_id}" for request_id in range(n_requests)]
    for request in requests:
        data_queue.put(request)

    deadline = t0 + join_timeout
    with data_queue.all_tasks_done:  # data_queue.join(), but giving up at the deadline
        joined = data_queue.all_tasks_done.wait_for(lambda: not data_queue.unfinished_tasks, deadline - clock())
    for t in threads:  # the guide's thread.join(), bounded
        t.join(max(0.0, deadline - clock()))
    results = []
    while not result_queue.empty():
        results.append(result_queue.get())
    return GuideRun(
        requests=requests,
        results=results,
        events=sorted(events),
        wall_s=clock() - t0,
        work_done_s=last_result[0],
        joined=joined,
        died=died,
        alive_after=[t.name for t in threads if t.is_alive()],
        idle_timeout=idle_timeout,
    )


def join_and_look(tasks: queue.Queue, results: dict, *, timeout: float) -> dict | None:
    """``tasks.join()``, bounded: a copy of ``results`` taken the moment it returned, or None if it did not.

    What a caller of ``join()`` would read first: an answer stored after ``task_done()`` may be missing from
    it. The wait runs in a helper thread, so a ``join()`` that never returns is reported, not a frozen caller.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    seen: list[dict] = []

    def join_then_look() -> None:
        tasks.join()
        seen.append(dict(results))

    waiter = threading.Thread(target=join_then_look, name="ella-join-and-look", daemon=True)
    waiter.start()
    waiter.join(timeout)
    return seen[0] if seen else None


@dataclass(frozen=True)
class VirtualRun:
    """The same router on a virtual clock: exact times, no thread, no machine (see :func:`virtual_run`)."""

    work_done_s: float  # when the last answer is ready
    wall_s: float  # when the run returns: after the idle timeouts, if the workers wait for one
    rounds: int  # the most requests one worker served


def virtual_run(workers: int, n_requests: int, *, latency: float, idle_timeout: float | None = None) -> VirtualRun:
    """``n_requests`` fetches of exactly ``latency`` on ``workers`` workers, each taking the next request when free.

    With ``idle_timeout`` (the guide's exit), each worker leaves that long after its last answer; without
    it (sentinels), the run ends with the last answer. Nothing is slept or measured: the exact shape that a
    measurement on a real machine approaches (⌈N/K⌉·L, plus one idle timeout for the guide's workers).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if isinstance(n_requests, bool) or not isinstance(n_requests, int) or n_requests < 0:
        raise ValueError(f"n_requests must be an int >= 0, got {n_requests!r}")
    if not isinstance(latency, int | float) or isinstance(latency, bool) or latency < 0:
        raise ValueError(f"latency must be a number of seconds >= 0, got {latency!r}")
    free_at = [0.0] * workers  # when each worker is next free
    served = [0] * workers
    for _ in range(n_requests):
        w = min(range(workers), key=lambda i: (free_at[i], i))  # the first free worker takes the next request
        free_at[w] += latency
        served[w] += 1
    done = max(free_at) if n_requests else 0.0
    wall = done if idle_timeout is None else max(free_at) + idle_timeout
    return VirtualRun(work_done_s=done, wall_s=wall, rounds=max(served))


def makespan_claim(says: str, seconds: float, model: VirtualRun) -> Claim:
    """A measured run time against the virtual clock's: from the model's time to 1.5 × it, one late wake-up
    allowed per round (each round ends with a sleep)."""
    return Claim(says, seconds, low=model.wall_s, high=1.5 * model.wall_s, model=model.wall_s, late=model.rounds)


def guide_claims(run: GuideRun, model: VirtualRun) -> list[Claim]:
    """The three sentences a run of the guide's router backs, against ``model`` (``virtual_run`` with the same
    idle timeout): the rounds of work, then a whole idle timeout on an empty queue, so both in all."""
    idle = model.wall_s - model.work_done_s
    return [
        Claim(f"the work takes {model.rounds} rounds of L", run.work_done_s, low=model.work_done_s,
              high=1.5 * model.work_done_s, model=model.work_done_s, late=model.rounds),
        Claim("then the last worker spends the whole timeout on an empty queue", run.idle_tail_s, low=0.95 * idle,
              high=1.5 * idle, model=idle, late=2),
        Claim(f"the run lasts {model.rounds}·L + IDLE", run.wall_s, high=1.5 * model.wall_s, model=model.wall_s,
              late=model.rounds + 1),
    ]  # fmt: skip


def router_claims(report: Report, model: VirtualRun, *, idle: float) -> list[Claim]:
    """A sentinel router's run against ``model`` (``virtual_run`` with no idle timeout): its rounds of L, and no
    idle tail: it returns within a quarter of ``idle`` (the guide's timeout) after its last answer, one late
    wake-up allowed (the last worker's, on its sentinel)."""
    tail = report.finished_at - max(outcome.finished_at for outcome in report)
    return [
        makespan_claim(f"the router needs {model.rounds} rounds of L", report.wall_s, model),
        Claim("no idle tail after the last answer", tail, high=idle / 4, late=1),
    ]


def idle_bar_claims(guide: Timeline, sentinels: Timeline, *, idle: float) -> list[Claim]:
    """The replay's two timelines: every idle bar of the guide's run lasts a whole timeout (at least 90 % of
    ``idle``: the bars are cut where run_router returned, so a short one means it returned early), and the
    sentinel run is over at least half a timeout before the guide's (one late wake-up allowed)."""
    bars = [bar.end - bar.start for bar in guide.bars if bar.kind == "idle"]
    if not bars:
        raise ValueError(f"guide has no idle bar: {guide.title!r}")
    return [
        Claim("every idle bar lasts a full timeout (so run_router returned one IDLE after the last answer)",
              min(bars), low=0.9 * idle, model=idle),
        Claim("the sentinel run is over while the guide's workers idle", sentinels.end - guide.end, high=-idle / 2,
              late=1),
    ]  # fmt: skip


def overlap_claim(says: str, seconds: float, *, latency: float, calls: int) -> Claim:
    """``calls`` calls of ``latency`` each, on as many threads, overlap: one latency, at most half of the
    ``calls`` latencies (starting the threads takes longer on a busy machine), two late wake-ups allowed (the
    fetch's sleep, the join)."""
    return Claim(says, seconds, low=latency, high=calls / 2 * latency, model=latency, late=2)


def serial_claim(says: str, seconds: float, *, latency: float, calls: int) -> Claim:
    """``calls`` calls of ``latency`` each, one at a time: ``calls`` latencies, up to 1.5 × that, one late
    wake-up allowed per call."""
    return Claim(says, seconds, low=calls * latency, high=1.5 * calls * latency, model=calls * latency, late=calls)


def fallback_fetch(primary: str, backup: str) -> str:
    """The guide's Phase 4 sketch, verbatim but for ``print``: the primary always "fails", and the
    "backup" is only a string; nothing is fetched, retried or timed."""
    try:
        # Simulate primary source failure
        raise ConnectionError("Primary failed")
    except Exception:
        return f"Recovered from Backup for {primary}"  # Return result from backup
