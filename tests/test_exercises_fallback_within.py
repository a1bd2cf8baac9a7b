"""Sheet 04 q1: a fallback that gives each source its own time budget (per_source seconds). The check's sources
answer, fail, or stall until the check releases them: the wrong answers learners write are named by the visible
and the hidden check; answers written differently pass both. A stall is a wait that never ends, never a timing."""

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from exercise_answers import assert_catalogue, do_nothing, hangs, reference, starter

from ella_lab.exercises import phase4

pytestmark = pytest.mark.timeout(120)
q = phase4.q1


# -- correct, written differently -------------------------------------------------------------------------


def a_pool_per_source(request, sources, per_source):
    errors = []
    for source in sources:
        pool = ThreadPoolExecutor(1)
        try:
            return pool.submit(source, request).result(per_source)
        except TimeoutError:
            errors.append(TimeoutError(f"{source} too slow"))
        except Exception as exc:
            errors.append(exc)
        finally:
            pool.shutdown(wait=False)
    raise ExceptionGroup("no source answered", errors)


def threads_by_hand(request, sources, per_source):
    errors = []
    for source in sources:
        box = queue.Queue()

        def run(source=source, box=box):
            try:
                box.put((True, source(request)))
            except Exception as exc:
                box.put((False, exc))

        threading.Thread(target=run, daemon=True).start()
        try:
            ok, value = box.get(timeout=per_source)
        except queue.Empty:
            errors.append(TimeoutError(f"{source} gave nothing in {per_source} s"))
            continue
        if ok:
            return value
        errors.append(value)
    raise ExceptionGroup(f"{request}: all failed", errors)


def recursive(request, sources, per_source, errors=()):
    if not sources:
        raise ExceptionGroup("all failed", list(errors))
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(sources[0], request)
    pool.shutdown(wait=False)
    try:
        return future.result(timeout=per_source)
    except (ConnectionError, TimeoutError) as exc:
        error = exc if future.done() else TimeoutError("out of time")
    return recursive(request, sources[1:], per_source, (*errors, error))


CORRECT = [reference(phase4, q, "fallback_within"), a_pool_per_source, threads_by_hand, recursive]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: getattr(f, "__name__", "reference"))
def test_answers_written_differently_pass_the_visible_and_the_hidden_check(answer):
    assert q.judge(answer), q.judge(answer)
    assert q.hidden_check(answer), q.hidden_check(answer)


# -- wrong ------------------------------------------------------------------------------------------------


def no_timeout(request, sources, per_source):
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all failed", errors)


def with_block(request, sources, per_source):  # the with block's shutdown waits for the stalled call
    errors = []
    with ThreadPoolExecutor(len(sources)) as pool:
        for source in sources:
            try:
                return pool.submit(source, request).result(timeout=per_source)
            except Exception as exc:
                errors.append(exc)
    raise ExceptionGroup("all failed", errors)


def one_budget_for_all(request, sources, per_source):
    deadline = time.monotonic() + per_source
    pool = ThreadPoolExecutor(len(sources))
    errors = []
    try:
        for source in sources:
            try:
                return pool.submit(source, request).result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                errors.append(TimeoutError("out of time"))
            except ConnectionError as exc:
                errors.append(exc)
    finally:
        pool.shutdown(wait=False)
    raise ExceptionGroup("all failed", errors)


def connection_errors_only(request, sources, per_source):
    pool = ThreadPoolExecutor(len(sources))
    errors = []
    try:
        for source in sources:
            try:
                return pool.submit(source, request).result(timeout=per_source)
            except ConnectionError as exc:
                errors.append(exc)
    finally:
        pool.shutdown(wait=False)
    raise ExceptionGroup("all failed", errors)


def timeouts_dropped(request, sources, per_source):
    pool = ThreadPoolExecutor(len(sources))
    errors = []
    try:
        for source in sources:
            try:
                return pool.submit(source, request).result(timeout=per_source)
            except TimeoutError:
                continue  # not kept: the caller never learns that this source stalled
            except ConnectionError as exc:
                errors.append(exc)
    finally:
        pool.shutdown(wait=False)
    raise ExceptionGroup("all failed", errors)


def a_second_of_its_own(request, sources, per_source):
    return reference(phase4, q, "fallback_within")(request, sources, 1.0)


def all_at_once(request, sources, per_source):  # every source asked together, the first answer wins
    pool = ThreadPoolExecutor(len(sources))
    errors = []
    try:
        futures = [pool.submit(source, request) for source in sources]
        try:
            for future in as_completed(futures, timeout=per_source):
                try:
                    return future.result()
                except ConnectionError as exc:
                    errors.append(exc)
        except TimeoutError:
            errors.append(TimeoutError("out of time"))
    finally:
        pool.shutdown(wait=False)
    raise ExceptionGroup("all failed", errors)


def raises_the_last(request, sources, per_source):
    try:
        return reference(phase4, q, "fallback_within")(request, sources, per_source)
    except ExceptionGroup as group:
        raise group.exceptions[-1] from None


def returns_none(request, sources, per_source):
    try:
        return reference(phase4, q, "fallback_within")(request, sources, per_source)
    except ExceptionGroup:
        return None


BUGS = [
    ("no timeout at all", no_timeout, "which stalls, far longer than per_source"),
    ("a with block waits for the stalled call", with_block, "a `with ThreadPoolExecutor()` block"),
    ("one budget for all the sources", one_budget_for_all, "each source gets its own per_source"),
    ("a TimeoutError escapes", connection_errors_only, "a source out of time is a failure like any other"),
    ("timeouts not kept", timeouts_dropped, "a TimeoutError for each that ran out of time"),
    ("a timeout of its own", a_second_of_its_own, "use the per_source it is given"),
    ("every source at once", all_at_once, "each source gets its own per_source"),
    ("raises only the last error", raises_the_last, "one error: raise ExceptionGroup"),
    ("returns None when all fail", returns_none, "every source failed and fallback_within returned None"),
    ("not a function", "fallback_within", "expected a function fallback_within"),
    ("a hang", hangs, "may still be running"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), BUGS, ids=[b[0] for b in BUGS])
def test_each_wrong_answer_is_rejected_naming_its_bug_by_the_visible_and_the_hidden_check(name, answer, expected):
    assert_catalogue(q, answer, expected)


def test_starter_and_nothing():
    assert q.judge(starter).status == "not attempted"
    assert not q.judge(do_nothing)
