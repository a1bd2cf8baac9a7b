import time

import pytest

from ella_lab import AllSourcesFailed, FallbackChain, Retry, SimulatedSource, SourceError


def fast(name, p=0.0, **kw):
    return SimulatedSource(name, latency=0, failure_rate=p, **kw)


def test_primary_serves_when_it_can():
    served = FallbackChain([fast("primary"), fast("backup")]).serve("r")
    assert served.value == "Result from primary for r"
    assert served.source == "primary"
    assert [(a.source, a.number, a.ok) for a in served.attempts] == [("primary", 0, True)]


def test_falls_back_in_order():
    served = FallbackChain([fast("a", 1.0), fast("b", 1.0), fast("c")]).serve("r")
    assert served.source == "c"
    assert [a.source for a in served.attempts] == ["a", "b", "c"]
    assert [a.ok for a in served.attempts] == [False, False, True]
    assert all(isinstance(a.error, SourceError) for a in served.attempts[:2])


def test_all_failing_raises_a_group_with_every_attempt():
    chain = FallbackChain([fast("a", 1.0), fast("b", 1.0)], retry=Retry(attempts=2, base=0))
    with pytest.raises(AllSourcesFailed) as info:
        chain.serve("r")
    err = info.value
    assert isinstance(err, ExceptionGroup)
    assert len(err.exceptions) == 4 and len(err.attempts) == 4
    assert [(a.source, a.number) for a in err.attempts] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert "all 2 source(s) failed for 'r' after 4 attempts" in str(err)  # one bracket: the group adds its count
    # except* works on it like on any ExceptionGroup
    try:
        raise err
    except* SourceError as group:
        assert len(group.exceptions) == 4


def test_retries_before_falling_back():
    flaky = fast("flaky", 0.5, seed=3)
    chain = FallbackChain([flaky, fast("backup")], retry=[Retry(attempts=5, base=0), None])
    for i in range(50):
        served = chain.serve(i)
        failures_first = [a for a in served.attempts if a.source == "flaky" and not a.ok]
        # the flaky source is retried until it answers or runs out of attempts
        if served.source == "flaky":
            assert len(failures_first) == len(served.attempts) - 1
        else:
            assert len(failures_first) == 5


def test_retry_waits_the_schedule():
    chain = FallbackChain([fast("a", 1.0)], retry=Retry(attempts=3, base=0.02, jitter="none"))
    t = time.perf_counter()
    with pytest.raises(AllSourcesFailed):
        chain.serve("r")
    assert time.perf_counter() - t >= 0.06  # 0.02 + 0.04


def test_non_retryable_errors_fall_back_at_once():
    def broken(request):
        raise KeyError(request)

    chain = FallbackChain([broken, fast("b")], retry=Retry(attempts=3, base=0, on=ConnectionError))
    served = chain.serve("r")
    assert [a.source for a in served.attempts] == ["broken", "b"]


def test_per_attempt_timeout_cuts_a_slow_source():
    chain = FallbackChain([SimulatedSource("slow", latency=2.0), fast("quick")], timeout=0.02)
    t = time.perf_counter()
    served = chain.serve("r")
    assert time.perf_counter() - t < 1.0
    assert served.source == "quick"
    assert isinstance(served.attempts[0].error, TimeoutError)


def test_chain_is_a_source_and_nests():
    inner = FallbackChain([fast("a", 1.0), fast("b")], name="inner")
    outer = FallbackChain([fast("x", 1.0), inner])
    assert outer.fetch("r") == "Result from b for r"
    assert outer("r") == "Result from b for r"
    served = outer.serve("r")  # a nested chain's own attempts are kept, and the real server named
    assert served.source == "b" and [a.source for a in served.attempts] == ["x", "a", "b"]


def test_plain_callables_work_in_a_chain():
    served = FallbackChain([lambda r: 1 / 0, str.upper]).serve("r")
    assert served.value == "R" and served.source == "upper"


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "words"),
    [
        (([],), {}, ValueError, "at least one source"),
        ((42,), {}, TypeError, "sources must be a list"),
        (("ab",), {}, TypeError, "sources must be a list"),
        (([42],), {}, TypeError, "source must be a Source or a callable"),
        (([str],), {"timeout": -1}, ValueError, "timeout"),
        (([str],), {"timeout": 0}, ValueError, "timeout"),
        (([str],), {"retry": 3}, TypeError, "retry"),
        (([str, str],), {"retry": [Retry()]}, TypeError, "one per source"),
    ],
)
def test_bad_arguments(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        FallbackChain(*args, **kwargs)
