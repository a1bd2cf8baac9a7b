"""Sheet 09 q1: a fetch that retries, honouring Retry-After. The check plays a scripted server through an
injected ``get`` and ``sleep`` (no real time): the wrong answers learners write are named by the visible and the
hidden check; answers written differently pass both."""

import time
import urllib.error

import pytest
from exercise_answers import assert_catalogue, do_nothing, hangs, reference, starter

from ella_lab.exercises import phase9

pytestmark = pytest.mark.timeout(60)
q = phase9.q1


def _header(exc):
    headers = getattr(exc, "headers", None)  # an HTTPMessage: empty is falsy, so test for None
    return None if headers is None else headers.get("Retry-After")


def _wait(exc, n, base):
    retry_after = _header(exc)
    return float(retry_after) if retry_after is not None else base * 2**n


def _retryable(exc):
    return isinstance(exc, ConnectionError) or (
        isinstance(exc, urllib.error.HTTPError) and (exc.code == 429 or exc.code >= 500)
    )


# -- correct, written differently -------------------------------------------------------------------------


def while_loop(get, url, attempts, base, sleep):
    n = 0
    while True:
        try:
            return get(url)
        except (urllib.error.HTTPError, ConnectionError) as exc:
            if not _retryable(exc) or n + 1 >= attempts:
                raise
            sleep(_wait(exc, n, base))
            n += 1


def recursive(get, url, attempts, base, sleep, n=0):
    try:
        return get(url)
    except Exception as exc:
        if not _retryable(exc) or attempts <= 1:
            raise
        sleep(_wait(exc, n, base))
        return recursive(get, url, attempts - 1, base, sleep, n + 1)


def waits_first_then_calls(get, url, attempts, base, sleep):  # the wait computed from the last error, up front
    last = None
    for n in range(attempts):
        if last is not None:
            header = _header(last)
            sleep(int(header) if header else base * (2**n) / 2)
        try:
            return get(url)
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429:
                raise
            last = exc
        except ConnectionError as exc:
            last = exc
    raise last


CORRECT = [reference(phase9, q, "fetch_retrying"), while_loop, recursive, waits_first_then_calls]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: getattr(f, "__name__", "reference"))
def test_answers_written_differently_pass_the_visible_and_the_hidden_check(answer):
    assert q.judge(answer), q.judge(answer)
    assert q.hidden_check(answer), q.hidden_check(answer)


# -- wrong: the bugs of a retry loop --------------------------------------------------------------------------


def sleeps_first(get, url, attempts, base, sleep):
    for n in range(attempts):
        sleep(base * 2**n)
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc) or n == attempts - 1:
                raise


def sleeps_after_the_last(get, url, attempts, base, sleep):
    error = None
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc):
                raise
            error = exc
            sleep(_wait(exc, n, base))
    raise error


def one_attempt_too_many(get, url, attempts, base, sleep):
    for n in range(attempts + 1):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc) or n == attempts:
                raise
            sleep(_wait(exc, n, base))


def ignores_retry_after(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc) or n == attempts - 1:
                raise
            sleep(base * 2**n)


def retries_everything(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if n == attempts - 1:
                raise
            sleep(_wait(exc, n, base))


def swallows_the_last_error(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc):
                raise
            if n < attempts - 1:
                sleep(_wait(exc, n, base))
    return None


def raises_a_new_error(get, url, attempts, base, sleep):
    try:
        return reference(phase9, q, "fetch_retrying")(get, url, attempts, base, sleep)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"gave up after {attempts} attempts") from exc


def header_as_text(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc) or n == attempts - 1:
                raise
            header = _header(exc)
            sleep(header if header is not None else base * 2**n)


def real_time_sleep(get, url, attempts, base, sleep):
    return reference(phase9, q, "fetch_retrying")(get, url, attempts, base, time.sleep)


def same_wait_every_time(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except Exception as exc:
            if not _retryable(exc) or n == attempts - 1:
                raise
            sleep(_wait(exc, 0, base))


def http_errors_only(get, url, attempts, base, sleep):
    for n in range(attempts):
        try:
            return get(url)
        except urllib.error.HTTPError as exc:
            if not _retryable(exc) or n == attempts - 1:
                raise
            sleep(_wait(exc, n, base))


def no_wait(get, url, attempts, base, sleep):
    return reference(phase9, q, "fetch_retrying")(get, url, attempts, base, lambda seconds: None)


BUGS = [
    ("sleeps before the first try", sleeps_first, "slept before the first call"),
    ("sleeps after the last failure", sleeps_after_the_last, "slept after the last attempt failed"),
    ("one attempt too many", one_attempt_too_many, ("get was called 4 times: attempts=3 allows 3 in all", "in all")),
    (
        "ignores Retry-After",
        ignores_retry_after,
        ("but the server said Retry-After: 3", "but the server said Retry-After: 7"),
    ),
    ("retries a 404", retries_everything, ("retried after HTTP 404", "retried after HTTP 400")),
    ("swallows the last error", swallows_the_last_error, "every attempt failed and your code returned None"),
    ("raises a new error", raises_a_new_error, "raise the last error itself"),
    ("sleeps on the header's text", header_as_text, ("sleep got '3', a str", "sleep got '7', a str")),
    ("time.sleep, not the sleep given", real_time_sleep, "waited with time.sleep"),
    ("no backoff growth", same_wait_every_time, "the wait doubles at each retry"),
    ("a drop ends the loop", http_errors_only, "a dropped connection (ConnectionError) ended your loop"),
    ("no wait at all", no_wait, "called get again without waiting"),
    ("print instead of return", lambda *args: print(args), "never called get(url), and returned None"),
    ("not a function", "fetch_retrying", "expected a function"),
    ("a hang", hangs, "may still be running"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), BUGS, ids=[b[0] for b in BUGS])
def test_each_wrong_answer_is_rejected_naming_its_bug_by_the_visible_and_the_hidden_check(name, answer, expected):
    assert_catalogue(q, answer, expected)


def test_starter_and_nothing():
    assert q.judge(starter).status == "not attempted"
    assert q.judge(None).status == "not attempted"
    assert not q.judge(do_nothing)


def test_the_hidden_cases_differ_from_the_visible_ones():
    assert not set(q.HIDDEN) & set(q.CASES)
    assert any(attempts == 1 for _, attempts, _ in q.HIDDEN)  # a single attempt: no wait at all
