import pytest

from ella_lab import Retry


def test_no_jitter_is_capped_exponential():
    r = Retry(attempts=6, base=0.01, cap=0.05, jitter="none")
    assert r.delays() == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05])


def test_full_jitter_is_uniform_below_the_ceiling():
    r = Retry(attempts=4, base=0.1, cap=1.0, jitter="full", seed=1)
    for key in range(300):
        for n, d in enumerate(r.delays(key), start=1):
            assert 0 <= d <= r.backoff(n)
    firsts = [r.delays(k)[0] for k in range(2000)]
    assert 0.045 < sum(firsts) / len(firsts) < 0.055  # mean of U(0, 0.1)


def test_equal_jitter_keeps_half_the_ceiling():
    r = Retry(attempts=4, base=0.1, jitter="equal", seed=1)
    for key in range(300):
        for n, d in enumerate(r.delays(key), start=1):
            assert r.backoff(n) / 2 <= d <= r.backoff(n)


def test_schedule_is_seeded():
    assert Retry(seed=5).delays("r") == Retry(seed=5).delays("r")
    assert Retry(seed=5).delays("r") != Retry(seed=6).delays("r")
    assert Retry(seed=5).delays("r") != Retry(seed=5).delays("s")


def test_one_attempt_means_no_retry():
    assert Retry(attempts=1).delays() == []


def test_should_retry_filters_by_class():
    r = Retry(on=(ConnectionError, TimeoutError))
    assert r.should_retry(ConnectionError()) and r.should_retry(TimeoutError())
    assert not r.should_retry(ValueError())


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"attempts": 0}, ValueError, "attempts must be >= 1, got 0"),
        ({"attempts": 2.5}, TypeError, "attempts must be an int, got 2.5"),
        ({"jitter": "half"}, ValueError, "jitter must be one of 'none', 'equal', 'full'; got 'half'"),
        ({"base": -1}, ValueError, "base"),
        ({"cap": "x"}, TypeError, "cap"),
        ({"on": 3}, TypeError, "on must be an exception class"),
    ],
)
def test_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        Retry(**kwargs)


def test_repr_is_readable():
    assert repr(Retry(attempts=3, jitter="full")) == "Retry(attempts=3, base=0.01, cap=1.0, jitter='full', seed=0)"
