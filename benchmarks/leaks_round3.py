"""Issue 18's reproducers, each run 20 times in one process: threads, file descriptors and memory stay flat.

    .venv/bin/python benchmarks/leaks_round3.py [--runs 20]

For each reproducer: the live threads, open file descriptors and resident memory (RSS) after the 1st,
5th, 10th and last run (the thread count once hung calls have been released). Each reproducer runs
under ``if __name__ == "__main__":`` with its functions defined here, in ``__main__``, as a notebook
cell's would be (the processes engine sends them by value).
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time

from ella_lab import FallbackChain, Retry, Router
from ella_lab.resilience import Hedge
from ella_lab.sources import Source

RELEASE = threading.Event()  # set at the end: every hung call returns


class Hostile:
    def __repr__(self):
        raise SystemExit("hostile repr")

    def __reduce__(self):
        raise SystemExit("hostile reduce")


def slow_on_hostile(request):
    if isinstance(request, Hostile):
        time.sleep(0.1)
    return request


def hangs_on_tenths(request):
    if request % 10 == 0:
        RELEASE.wait(600)
    return request


def hang(request):
    RELEASE.wait(600)
    return "hung"


def backup(request):
    return "backup"


def fails(request):
    raise ValueError("no")


def triple(request):
    return request * 3


class Slow(Source):
    name = "slow"

    def fetch(self, request, *, attempt=0, timeout=None):
        time.sleep(0.5)
        return "late"


def hostile_requests():
    return Router(slow_on_hostile, workers=2, timeout=0.02).run([1, Hostile(), 3, Hostile()])


def abandoned_cap():
    return Router(hangs_on_tenths, workers=4, timeout=0.05).run(range(100))


def abandoned_cap_retry():
    return Router(hangs_on_tenths, workers=4, timeout=0.05, retry=Retry(2, base=0.001)).run(range(100))


HEDGE = Hedge(hang, backup, after=0.02, max_workers=4)


def hedge_no_timeout():
    return Router(HEDGE, workers=3).run(range(20))


def slow_source():
    return Router(Slow(), workers=2, timeout=0.05).run(range(4))


def big_request_chain():
    big = "x" * (1 << 20)
    report = Router(FallbackChain([fails], retry=Retry(2, base=0.0)), workers=2).run([big] * 200)
    return report


def main_on_processes():
    return Router(triple, workers=2, executor="processes").run([1, 2, Hostile(), 4])


def closed_dask_client(client):
    try:
        Router(triple, executor="dask", client=client).run([1])
    except ValueError:
        return None
    raise AssertionError("a closed client was accepted")


KEPT: list = []  # the last report of each reproducer is kept, as a notebook keeps a cell's result


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def measure(name: str, reproducer, runs: int) -> None:
    rows = []
    for run in range(1, runs + 1):
        KEPT[:] = [reproducer()]
        if run in (1, 5, 10, runs):
            gc.collect()
            rows.append((run, threading.active_count(), fds(), rss_mib()))
    print(f"{name:24s} " + "  ".join(f"run {r:2d}: {t:3d} threads {f:3d} fds {m:6.1f} MiB" for r, t, f, m in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print(f"start: {threading.active_count()} threads, {fds()} fds, {rss_mib():.1f} MiB")
    for name, reproducer in [
        ("hostile requests", hostile_requests),
        ("abandoned-call cap", abandoned_cap),
        ("cap, with a retry", abandoned_cap_retry),
        ("hedge, no timeout", hedge_no_timeout),
        ("Source ignoring timeout", slow_source),
        ("1 MiB request x 200", big_request_chain),
        ("__main__ on processes", main_on_processes),
    ]:
        measure(name, reproducer, runs)
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0") as cluster:
        client = Client(cluster)
        client.close()
        measure("closed Dask client", lambda: closed_dask_client(client), runs)
    RELEASE.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(t.name.startswith("ella-") for t in threading.enumerate()) > 8:
        time.sleep(0.1)
    gc.collect()
    print(f"end, hung calls released: {threading.active_count()} threads, {fds()} fds, {rss_mib():.1f} MiB")


if __name__ == "__main__":
    main()
