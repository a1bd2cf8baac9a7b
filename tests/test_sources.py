import threading
import time

import pytest

from ella_lab import CpuSource, FunctionSource, SimulatedSource, Source, SourceError, as_source
from ella_lab.sources import call_with_timeout


def test_fetch_names_source_and_request():
    src = SimulatedSource("primary", latency=0)
    assert src.fetch("DataRequest-1") == "Result from primary for DataRequest-1"
    assert src("DataRequest-1") == "Result from primary for DataRequest-1"


def test_fetch_sleeps_its_latency():
    src = SimulatedSource("s", latency=0.03)
    t = time.perf_counter()
    src.fetch("r")
    assert time.perf_counter() - t >= 0.03


def test_source_error_is_a_connection_error():
    assert issubclass(SourceError, ConnectionError)
    src = SimulatedSource("s", latency=0, failure_rate=1.0)
    with pytest.raises(SourceError, match="s failed on 'r'"):
        src.fetch("r")


def test_failure_fraction_is_close_to_the_rate():
    src = SimulatedSource("s", latency=0, failure_rate=0.3, seed=7)
    fails = sum(src.fails(f"r{i}") for i in range(20_000))
    assert 0.28 < fails / 20_000 < 0.32


def test_failures_depend_only_on_seed_name_request_attempt():
    a = SimulatedSource("s", latency=0, failure_rate=0.5, seed=1)
    b = SimulatedSource("s", latency=0, failure_rate=0.5, seed=1)
    keys = [(f"r{i}", att) for i in range(200) for att in range(3)]
    pattern = [a.fails(r, att) for r, att in keys]
    assert pattern == [b.fails(r, att) for r, att in reversed(keys)][::-1]
    # and from another thread, in another order, the same
    seen = []
    t = threading.Thread(target=lambda: seen.extend(a.fails(r, att) for r, att in keys))
    t.start()
    t.join()
    assert seen == pattern
    # a different seed, name or attempt changes the pattern
    assert pattern != [SimulatedSource("s", failure_rate=0.5, seed=2).fails(r, att) for r, att in keys]
    assert pattern != [SimulatedSource("t", failure_rate=0.5, seed=1).fails(r, att) for r, att in keys]
    assert [a.fails(f"r{i}", 0) for i in range(200)] != [a.fails(f"r{i}", 1) for i in range(200)]


def test_failure_group_makes_sources_fail_together():
    a = SimulatedSource("a", failure_rate=0.5, failure_group="dc1")
    b = SimulatedSource("b", failure_rate=0.5, failure_group="dc1")
    c = SimulatedSource("c", failure_rate=0.5)
    fa = [a.fails(i) for i in range(300)]
    assert fa == [b.fails(i) for i in range(300)]
    assert fa != [c.fails(i) for i in range(300)]


def test_jitter_is_seeded_and_bounded():
    src = SimulatedSource("s", latency=0.01, jitter=0.004, seed=3)
    values = [src.latency_for(i) for i in range(500)]
    assert all(0.006 <= v <= 0.014 for v in values)
    assert len(set(values)) > 400
    assert values == [SimulatedSource("s", latency=0.01, jitter=0.004, seed=3).latency_for(i) for i in range(500)]


def test_timeout_shorter_than_latency_waits_only_the_timeout():
    src = SimulatedSource("slow", latency=1.0)
    t = time.perf_counter()
    with pytest.raises(TimeoutError, match="slow did not answer"):
        src.fetch("r", timeout=0.02)
    assert time.perf_counter() - t < 0.5


def test_timeout_longer_than_latency_answers():
    assert SimulatedSource("s", latency=0.001).fetch("r", timeout=1) == "Result from s for r"


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"latency": -1}, ValueError, "latency"),
        ({"latency": "fast"}, TypeError, "latency"),
        ({"failure_rate": 1.5}, ValueError, "failure_rate"),
        ({"failure_rate": -0.1}, ValueError, "failure_rate"),
        ({"failure_rate": float("nan")}, ValueError, "failure_rate"),
        ({"jitter": -0.1}, ValueError, "jitter"),
        ({"seed": 1.5}, TypeError, "seed"),
    ],
)
def test_bad_arguments_name_parameter_and_value(kwargs, exc, words):
    with pytest.raises(exc, match=words) as info:
        SimulatedSource("s", **kwargs)
    assert repr(next(iter(kwargs.values())))[:3] in str(info.value)


def test_bad_name():
    with pytest.raises(TypeError, match="name"):
        SimulatedSource("")


def test_cpu_source_does_work_and_can_time_out():
    src = CpuSource("cpu", work=20_000)
    assert src.fetch("r").startswith("Result from cpu for r")
    assert src.fetch("r") == src.fetch("r")
    with pytest.raises(TimeoutError):
        CpuSource("cpu", work=50_000_000).fetch("r", timeout=0.01)
    with pytest.raises(ValueError, match="work"):
        CpuSource("cpu", work=-1)


def test_as_source_accepts_sources_callables_and_fetchers():
    src = SimulatedSource("s", latency=0)
    assert as_source(src) is src
    fn = as_source(str.upper)
    assert isinstance(fn, FunctionSource) and fn.name == "upper" and fn.fetch("a") == "A"

    class Fetcher:
        name = "duck"

        def fetch(self, request):
            return request * 2

    duck = as_source(Fetcher())
    assert isinstance(duck, Source) and duck.name == "duck" and duck.fetch(2) == 4
    assert duck.fetch(3, timeout=1) == 6


@pytest.mark.parametrize("bad", [42, "primary", None, [1, 2]])
def test_as_source_refuses_what_cannot_answer(bad):
    with pytest.raises(TypeError, match="source must be a Source or a callable") as info:
        as_source(bad)
    assert repr(bad) in str(info.value)


def test_function_source_timeout_abandons_a_stalled_call():
    stall = threading.Event()
    src = FunctionSource(lambda r: stall.wait(5), name="stuck")
    t = time.perf_counter()
    with pytest.raises(TimeoutError, match="stuck did not answer"):
        src.fetch("r", timeout=0.05)
    assert time.perf_counter() - t < 1
    stall.set()


def test_call_with_timeout_passes_values_and_errors_through():
    assert call_with_timeout(lambda x: x + 1, 1, 1.0) == 2
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda x: 1 / x, 0, 1.0)
    with pytest.raises(ValueError, match="timeout"):
        call_with_timeout(lambda x: x, 0, -1)


def test_scripted_source_fails_exactly_where_told():
    from ella_lab import ScriptedSource

    src = ScriptedSource("s", latency=0, fail_on={"b"})
    assert src.fetch("a") == "Result from s for a"
    for attempt in range(3):
        with pytest.raises(SourceError, match="s failed on 'b'"):
            src.fetch("b", attempt=attempt)
    with pytest.raises(TimeoutError):
        ScriptedSource("slow", latency=1).fetch("a", timeout=0.01)
    with pytest.raises(ValueError, match="latency"):
        ScriptedSource("s", latency=-1)


def test_heavy_tail_is_a_seeded_fraction_of_slow_calls():
    src = SimulatedSource("s", latency=0.002, tail_rate=0.02, tail_factor=50, seed=1)
    delays = [src.latency_for(i) for i in range(10_000)]
    slow = [d for d in delays if d > 0.002]
    assert 150 < len(slow) < 250 and set(slow) == {0.1}
    assert delays == [SimulatedSource("s", latency=0.002, tail_rate=0.02, seed=1).latency_for(i) for i in range(10_000)]
    with pytest.raises(ValueError, match="tail_factor"):
        SimulatedSource("s", tail_factor=0.5)
    with pytest.raises(ValueError, match="tail_rate"):
        SimulatedSource("s", tail_rate=2)
