"""Every backend serves the same seeded workload with the same outcomes: threads, asyncio, processes, Dask."""

import asyncio
import threading

import pytest

from ella_lab import CircuitBreaker, CpuSource, FallbackChain, Retry, Router, ScriptedSource, SimulatedSource
from ella_lab.experiments import request_ids

pytestmark = pytest.mark.usefixtures("no_leaked_workers")


def workload():
    return FallbackChain(
        [
            SimulatedSource("primary", latency=0.001, jitter=0.0005, failure_rate=0.4, seed=5),
            SimulatedSource("backup", latency=0.001, failure_rate=0.4, seed=5),
        ],
        retry=Retry(attempts=2, base=0.0005, seed=5),
    )


def signature(report):
    return [(o.request, o.ok, o.value, o.source, [(a.source, a.number, a.ok) for a in o.attempts]) for o in report]


@pytest.fixture(scope="module")
def reference():
    return signature(Router(workload(), workers=4).run(request_ids(120)))


@pytest.mark.parametrize("executor", ["asyncio", "processes"])
def test_backend_matches_threads(executor, reference):
    report = Router(workload(), workers=4, executor=executor).run(request_ids(120))
    assert signature(report) == reference
    assert any(not ok for _, ok, *_ in reference) and any(len(a) > 1 for *_, a in reference)


def test_dask_local_cluster_matches_threads_and_is_closed(reference):
    report = Router(workload(), workers=8, executor="dask").run(request_ids(120))
    assert signature(report) == reference
    assert all(o.worker.startswith("dask-") for o in report)


def test_dask_uses_a_given_client_unchanged(reference):
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=4, host="127.0.0.1", dashboard_address="127.0.0.1:0")
    with cluster, Client(cluster) as client:
        report = Router(workload(), workers=4, executor="dask", client=client).run(request_ids(120))
        assert signature(report) == reference
        assert client.status == "running"  # the router did not close what it did not open
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3


def test_asyncio_with_plain_callables_and_failures():
    report = Router(ScriptedSource("s", fail_on={"DataRequest-2"}), workers=3, executor="asyncio").run(request_ids(5))
    assert [o.ok for o in report] == [True, True, False, True, True]
    assert report[2].attempts[0].source == "s" and report.summary()["failed"] == 1
    report = Router(lambda r: r * 2, workers=2, executor="asyncio").run([1, 2, 3])
    assert [o.value for o in report] == [2, 4, 6]


def test_asyncio_backend_runs_inside_a_running_event_loop():
    async def inside_jupyter_like_loop():
        return Router(SimulatedSource("s", latency=0.001), workers=4, executor="asyncio").run(range(10))

    report = asyncio.run(inside_jupyter_like_loop())
    assert [o.request for o in report] == list(range(10)) and all(o.ok for o in report)


def test_asyncio_keeps_each_request_concurrent():
    report = Router(SimulatedSource("s", latency=0.05), workers=200, executor="asyncio").run(range(200))
    assert report.wall_s < 1.0  # 200 concurrent 50 ms waits, not 200 x 50 ms = 10 s


def test_processes_serve_cpu_work_with_the_same_answers():
    threads = Router(CpuSource("cpu", work=20_000), workers=2).run(range(8))
    processes = Router(CpuSource("cpu", work=20_000), workers=2, executor="processes").run(range(8))
    assert [o.value for o in processes] == [o.value for o in threads]
    assert all(o.worker.startswith("process-") for o in processes)


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_unpicklable_sources_are_refused_clearly(executor):
    with pytest.raises(TypeError, match=f"executor='{executor}' sends the source to other processes"):
        Router(CircuitBreaker(SimulatedSource("s")), executor=executor).run(range(3))
    # A lambda defined here now travels by value (as a notebook cell's would); one that holds a lock cannot,
    # and the message names the part to blame.
    lock = threading.Lock()
    with pytest.raises(TypeError, match=r"must be picklable.*'lock' \(lock\) cannot be"):
        Router(lambda r: (lock, r)[1], executor=executor).run(range(3))
    assert [o.value for o in Router(lambda r: r * 2, executor=executor).run(range(3))] == [0, 2, 4]


@pytest.mark.parametrize("executor", ["asyncio", "processes", "dask"])
def test_empty_runs(executor):
    report = Router(SimulatedSource("s"), executor=executor).run([])
    assert len(report) == 0


def test_bad_executor_arguments():
    with pytest.raises(
        ValueError, match="executor must be one of 'threads', 'asyncio', 'processes', 'dask'; got 'gpu'"
    ):
        Router(str, executor="gpu")
    with pytest.raises(TypeError, match="client is for executor='dask'"):
        Router(str, client=object())
    with pytest.raises(TypeError, match="max_pending bounds the threads executor's queue"):
        Router(str, max_pending=4, executor="asyncio")
    with pytest.raises(TypeError, match="use run\\(\\)"):
        Router(str, executor="asyncio").submit(1)


@pytest.mark.parametrize("executor", ["asyncio", "processes", "dask"])
def test_no_more_than_workers_requests_at_once(executor):
    # 40 requests of 20 ms on 4 workers take at least 10 rounds: a lower bound, so not a speed test
    report = Router(SimulatedSource("s", latency=0.02), workers=4, executor=executor).run(range(40))
    assert report.wall_s >= 0.18
    assert all(o.ok for o in report)
