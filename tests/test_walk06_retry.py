"""Notebook 06's retry loop (walk06.q3): three differently written correct answers pass the visible and the
hidden check; every bug of the catalogue (loops real learners write) is rejected by both, with a message that
names it. The checks run the answer on a virtual clock (an injected sleep): nothing is timed."""

import textwrap
import threading
import time

import pytest
from waiting import wait_until

from ella_lab.exercises import walk06

pytestmark = pytest.mark.timeout(60)
q = walk06.q3


def reference():
    namespace = {"time": time}
    exec(textwrap.dedent(q.solution_text), namespace)
    return namespace["retry"]


def rejects_both(answer, *phrases):
    for result in (q.check(answer), q.hidden_check(answer)):
        assert result.status == "incorrect", result
        for phrase in phrases:
            assert phrase in result.message, (phrase, result.message)


def passes_both(answer):
    assert q.check(answer)
    result = q.hidden_check(answer)
    assert result, result


# -- correct answers, written differently -------------------------------------------------------------


def retry_while(call, attempts, base, cap, sleep=time.sleep):  # a while loop, the last error kept
    tries, last = 0, None
    while tries < attempts:
        if tries:
            sleep(min(cap, base * 2 ** (tries - 1)))
        tries += 1
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            last = exc
    raise last


def retry_schedule_first(call, attempts, base, cap, sleep=time.sleep):  # the waits computed up front
    waits = [min(cap, base * 2**i) for i in range(attempts - 1)]
    for wait in [*waits, None]:
        try:
            return call()
        except OSError as exc:
            if not isinstance(exc, (ConnectionError, TimeoutError)) or wait is None:
                raise
        sleep(wait)
    raise AssertionError("unreachable")


def retry_doubling(call, attempts, base, cap, sleep=time.sleep):  # the delay doubled in a variable
    delay = base
    for attempt in range(attempts):
        try:
            return call()
        except (TimeoutError, ConnectionError):
            if attempt == attempts - 1:
                raise
        sleep(min(delay, cap))
        delay *= 2
    return None


def retry_recursive(call, attempts, base, cap, sleep=time.sleep):
    try:
        return call()
    except (ConnectionError, TimeoutError):
        if attempts <= 1:
            raise
    sleep(min(cap, base))
    return retry_recursive(call, attempts - 1, base * 2, cap, sleep)


def retry_last_call_outside(call, attempts, base, cap, sleep=time.sleep):  # the last attempt after the loop
    for n in range(1, attempts):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            sleep(min(cap, base * 2 ** (n - 1)))
    return call()


def retry_noted(call, attempts, base, cap, sleep=None):  # any Exception caught, the others re-raised with a note
    sleep = sleep or time.sleep
    for n in range(attempts):
        try:
            return call()
        except Exception as exc:
            if not isinstance(exc, (ConnectionError, TimeoutError)) or n == attempts - 1:
                exc.add_note(f"after {n + 1} attempt(s)")
                raise
        sleep(min(cap, base * (1 << n)))


def retry_zero_first_delay(call, attempts, base, cap, sleep=time.sleep):  # sleep(0) before the first call
    # rejected before ("slept [0 s] before the first try", seen): a 0 s sleep waits nothing
    delay, last = 0, None
    for n in range(attempts):
        sleep(delay)
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            last = exc
        delay = min(cap, base * 2**n)
    raise last


@pytest.mark.parametrize(
    "answer",
    [
        None,
        retry_while,
        retry_schedule_first,
        retry_doubling,
        retry_recursive,
        retry_last_call_outside,
        retry_noted,
        retry_zero_first_delay,
    ],
)
def test_correct_answers_pass_both_checks(answer):
    passes_both(answer or reference())


# -- the catalogue of wrong answers ------------------------------------------------------------------


def sleeps_before_the_first_try(call, attempts, base, cap, sleep=time.sleep):
    last = None
    for n in range(attempts):
        sleep(min(cap, base * 2**n) / 2)  # back off, then try
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            last = exc
    raise last


def swallows_the_last_error(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n < attempts:
                sleep(min(cap, base * 2 ** (n - 1)))
    return None


def swallows_every_error(call, attempts, base, cap, sleep=time.sleep):  # except Exception: return None
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))
        except Exception:
            return None


def one_attempt_too_many(call, attempts, base, cap, sleep=time.sleep):
    for n in range(attempts + 1):  # "attempts" read as retries
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2**n))


def one_attempt_too_few(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts - 1:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def sleeps_after_the_last_failure(call, attempts, base, cap, sleep=time.sleep):
    last = None
    for n in range(attempts):
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            last = exc
            sleep(min(cap, base * 2**n))
    raise last


def no_cap(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(base * 2 ** (n - 1))


def retries_every_exception(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except Exception:
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def retries_every_os_error(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except OSError:  # FileNotFoundError, PermissionError too
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def one_doubling_too_many(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2**n))


def linear_backoff(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * n))


def retries_only_connection_errors(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except ConnectionError:
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def raises_the_first_error(call, attempts, base, cap, sleep=time.sleep):
    first = None
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            first = first or exc
            if n < attempts:
                sleep(min(cap, base * 2 ** (n - 1)))
    raise first


def ignores_the_injected_sleep(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            time.sleep(min(cap, base * 2 ** (n - 1)))


def returns_the_error(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            if n == attempts:
                return exc
            sleep(min(cap, base * 2 ** (n - 1)))


def raises_its_own_error(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n < attempts:
                sleep(min(cap, base * 2 ** (n - 1)))
    raise RuntimeError(f"gave up after {attempts} attempts")


def calls_again_after_an_answer(call, attempts, base, cap, sleep=time.sleep):
    answer = None
    for n in range(1, attempts + 1):
        try:
            answer = call()  # no return: the loop goes on
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))
    return answer


def retries_for_ever(call, attempts, base, cap, sleep=time.sleep):
    n = 0
    while True:  # "until it works"
        try:
            return call()
        except Exception:
            n += 1
            sleep(min(cap, base * 2 ** (n - 1)))


def sleeps_with_a_keyword(call, attempts, base, cap, sleep=time.sleep):  # time.sleep(seconds=...) is a TypeError
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(seconds=min(cap, base * 2 ** (n - 1)))


def retries_only_the_exact_types(call, attempts, base, cap, sleep=time.sleep):  # ConnectionResetError not retried
    for n in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            if type(exc) not in (ConnectionError, TimeoutError) or n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def raises_the_except_name_after_the_loop(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:  # noqa: F841 (the name is deleted at the end of the block)
            if n < attempts:
                sleep(min(cap, base * 2 ** (n - 1)))
    raise exc  # noqa: F821


def returns_only_truthy_answers(call, attempts, base, cap, sleep=time.sleep):  # a falsy answer taken for a failure
    for n in range(1, attempts + 1):
        try:
            answer = call()
            if answer:
                return answer
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
        if n < attempts:
            sleep(min(cap, base * 2 ** (n - 1)))
    return None


def returns_only_answers_not_none(call, attempts, base, cap, sleep=time.sleep):  # None taken for a failure
    for n in range(1, attempts + 1):
        try:
            answer = call()
            if answer is not None:
                return answer
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
        if n < attempts:
            sleep(min(cap, base * 2 ** (n - 1)))
    return None


def swaps_base_and_cap(call, attempts, cap, base, sleep=time.sleep):  # the parameters in the wrong order
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def same_wait_every_time(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base))


def doubles_the_last_wait(call, attempts, base, cap, sleep=time.sleep):  # first wait = base, even over the cap
    delay = base
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(delay)
            delay = min(cap, 2 * delay)


def at_least_base(call, attempts, base, cap, sleep=time.sleep):  # max(base, ...): over the cap when cap < base
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(max(base, min(cap, base * 2 ** (n - 1))))


def xor_for_power(call, attempts, base, cap, sleep=time.sleep):  # ^ is xor in Python: TypeError on a float
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ^ (n - 1)))


def waits_in_milliseconds(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(1000 * min(cap, base * 2 ** (n - 1)))


def drops_the_last_answer(call, attempts, base, cap, sleep=time.sleep):  # the last call made, its answer lost
    for n in range(1, attempts):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            sleep(min(cap, base * 2 ** (n - 1)))
    call()


def raises_after_the_last_answer(call, attempts, base, cap, sleep=time.sleep):  # the last error raised regardless
    last = None
    for n in range(1, attempts):
        try:
            return call()
        except (ConnectionError, TimeoutError) as exc:
            last = exc
            sleep(min(cap, base * 2 ** (n - 1)))
    try:
        call()
    except (ConnectionError, TimeoutError) as exc:
        last = exc
    raise last


def always_calls_twice(call, attempts, base, cap, sleep=time.sleep):  # at least one retry, even with attempts=1
    for n in range(1, max(attempts, 2) + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == max(attempts, 2):
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def caps_the_factor(call, attempts, base, cap, sleep=time.sleep):  # the cap on 2 ** (n - 1), not on the wait
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            if n == attempts:
                raise
            sleep(base * min(cap, 2 ** (n - 1)))


def retries_permission_errors(call, attempts, base, cap, sleep=time.sleep):  # a refused permission retried
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError, PermissionError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


def retries_lookup_errors(call, attempts, base, cap, sleep=time.sleep):  # a missing key retried
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError, LookupError):
            if n == attempts:
                raise
            sleep(min(cap, base * 2 ** (n - 1)))


CATALOGUE = [
    # rejected before too, but told "the same wait every time", its symptom, not its cause (seen)
    (caps_the_factor, ["the cap went on the factor", "min(cap, base * 2 ** (n - 1))"]),
    # passed the old visible check, which had no case with attempts=1 (seen); the hidden check rejected it
    (always_calls_twice, ["with attempts=1 there is no retry", "exactly `attempts` times"]),
    # both passed the old checks, where no case answered on the last attempt
    (drops_the_last_answer, ["on the last attempt", "dropped that answer"]),
    (raises_after_the_last_answer, ["on the last attempt", "raise only when the last attempt fails"]),
    (doubles_the_last_wait, ["over the cap"]),
    (at_least_base, ["over the cap"]),
    (xor_for_power, ["`^`", "exclusive or", "2 ** (n - 1)"]),
    (waits_in_milliseconds, ["milliseconds", "in seconds"]),
    (returns_only_truthy_answers, ["even None, 0 or ''", "as it is"]),
    (returns_only_answers_not_none, ["answered None", "even None, 0 or ''", "as it is"]),
    (swaps_base_and_cap, ["base and cap swapped"]),
    (same_wait_every_time, ["the same wait every time"]),
    (sleeps_before_the_first_try, ["before the first try"]),
    (swallows_the_last_error, ["returned None", "swallowed the last error"]),
    # was told "swallowed the last error ... When the last attempt fails, raise its error": the ValueError came on
    # the first call and is not retried at all (review 06_09d A4)
    (swallows_every_error, ["returned None", "it swallowed the", "not worth retrying", "to the caller at once"]),
    (one_attempt_too_many, ["one too many", "counts every call"]),
    (one_attempt_too_few, ["one too few", "counts every call"]),
    (sleeps_after_the_last_failure, ["after the last call", "only between attempts"]),
    (no_cap, ["over the cap"]),
    (retries_every_exception, ["not worth retrying", "only ConnectionError and TimeoutError"]),
    (retries_every_os_error, ["not worth retrying", "only ConnectionError and TimeoutError"]),
    (one_doubling_too_many, ["one doubling too many"]),
    (linear_backoff, ["linear"]),
    (retries_only_connection_errors, ["TimeoutError is worth retrying"]),
    (raises_the_first_error, ["raised the first error", "raise the last one"]),
    (ignores_the_injected_sleep, ["never called", "not with time.sleep"]),
    (returns_the_error, ["raise it, don't return it"]),
    (raises_its_own_error, ["an error of its own"]),
    (calls_again_after_an_answer, ["return that answer"]),
    (retries_for_ever, ["was still going", "stop after `attempts` calls"]),
    (sleeps_with_a_keyword, ["sleep(wait)", "takes no keyword"]),
    (retries_only_the_exact_types, ["is a kind of ConnectionError", "subclasses"]),
    (raises_the_except_name_after_the_loop, ["deleted when the except block ends"]),
]


@pytest.mark.parametrize(("answer", "phrases"), CATALOGUE, ids=lambda v: getattr(v, "__name__", ""))
def test_each_bug_is_rejected_by_both_checks_naming_it(answer, phrases):
    rejects_both(answer, *phrases)


def test_the_catalogue_has_at_least_six_bugs_and_three_other_correct_answers():
    assert len(CATALOGUE) >= 6
    assert len({retry_while, retry_schedule_first, retry_doubling, retry_recursive}) >= 3


def test_starter_blank_hang_and_non_functions():
    namespace = {"time": time}
    exec(textwrap.dedent(q.stub), namespace)
    assert q.check(namespace["retry"]).status == "not attempted"
    assert q.check().status == "not attempted" and q.check(None).status == "not attempted"
    assert not q.check("retry")

    def hangs(call, attempts, base, cap, sleep=time.sleep):
        time.sleep(10)

    hanging = q.check(hangs)
    assert hanging.status == "incorrect" and "did not return" in hanging.message


def test_no_sleep_parameter_is_named():
    def no_sleep(call, attempts, base, cap):
        return call()

    result = q.check(no_sleep)
    assert result.status == "incorrect" and "sleep=time.sleep" in result.message, result


def test_the_check_passes_its_own_sleep_never_time_sleep():
    """The waits go to the check's virtual clock: an answer is never made to wait for real."""
    given = []

    def records_its_sleep(call, attempts, base, cap, sleep=time.sleep):
        given.append(sleep)
        return reference()(call, attempts, base, cap, sleep=sleep)

    assert q.check(records_its_sleep) and q.hidden_check(records_its_sleep)
    assert given and all(sleep is not time.sleep for sleep in given)


@pytest.mark.parametrize("answer", [doubles_the_last_wait, at_least_base])
def test_the_visible_check_has_a_cap_below_base(answer):
    """These waits pass every case with cap >= base; the old visible check had none below base and passed them."""
    assert any(case.cap < case.base for case in q.CASES)
    result = q.check(answer)
    assert result.status == "incorrect" and "over the cap" in result.message, result


def test_the_hidden_check_has_cases_of_its_own():
    """An answer that special-cases the visible settings passes the check, not the hidden check."""

    def knows_the_visible_cases(call, attempts, base, cap, sleep=time.sleep):
        for n in range(1, attempts + 1):
            try:
                return call()
            except (ConnectionError, TimeoutError):
                if n == attempts:
                    raise
                sleep(min(cap, 0.01 * 2 ** (n - 1)))  # base hard-coded to the visible 10 ms

    assert q.check(knows_the_visible_cases)
    assert not q.hidden_check(knows_the_visible_cases)


def test_a_loop_that_never_stops_is_stopped_not_left_spinning():
    """The check's call and sleep raise into a runaway loop, so the learner's kernel keeps no busy thread."""
    spinning = []

    def retries_for_ever_noting_its_thread(call, attempts, base, cap, sleep=time.sleep):
        spinning.append(threading.current_thread())
        return retries_for_ever(call, attempts, base, cap, sleep)

    result = q.check(retries_for_ever_noting_its_thread)
    assert result.status == "incorrect" and "was still going" in result.message, result
    assert spinning and wait_until(lambda: not any(t.is_alive() for t in spinning), timeout=10)


@pytest.mark.parametrize(
    ("answer", "phrases"),
    [
        (retries_permission_errors, ["PermissionError is not worth retrying"]),
        (retries_lookup_errors, ["KeyError is not worth retrying"]),
    ],
    ids=["permission", "lookup"],
)
def test_retrying_one_more_kind_is_rejected_by_the_visible_check_too(answer, phrases):
    # both passed the old visible check (no PermissionError or KeyError case there), seen; the hidden one caught them
    result = q.check(answer)
    assert result.status == "incorrect", result
    for phrase in phrases:
        assert phrase in result.message, (phrase, result.message)
    rejects_both(answer, *phrases)


def stops_when_the_wait_reaches_the_cap(call, attempts, base, cap, sleep=time.sleep):
    for n in range(1, attempts + 1):
        try:
            return call()
        except (ConnectionError, TimeoutError):
            wait = base * 2 ** (n - 1)
            if n == attempts or wait > cap:
                raise
            sleep(wait)


def test_stopping_at_the_cap_is_named_not_counted_as_one_call_too_few():
    # fifth review: told "one too few: `attempts` counts every call" (seen); the bug is ending the retries at the cap
    rejects_both(stops_when_the_wait_reaches_the_cap, "bounds each wait; it does not end the retries")
