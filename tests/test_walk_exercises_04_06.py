"""The walkthrough's "Your turn" checks in notebooks 04-06: the reference and a differently written answer
pass; BLANK, None, the starter code, a do-nothing and a hanging answer never do; and every wrong answer of
the catalogue (bugs real learners write) is rejected with a message that names its bug."""

import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import pytest

from ella_lab import FallbackChain, Router
from ella_lab.exercises import walk04, walk05, walk06

pytestmark = pytest.mark.timeout(60)


def reference(question, name):
    """The answer that the question's own solution() prints, run as code."""
    namespace = {
        "FallbackChain": FallbackChain,
        "Router": Router,
        "ThreadPoolExecutor": ThreadPoolExecutor,
        "as_completed": as_completed,
    }
    exec(textwrap.dedent(question.solution_text), namespace)
    return namespace[name]


def rejects(question, answer, *phrases):
    """The check says Incorrect, and its message contains every phrase."""
    result = question.check(answer)
    assert result.status == "incorrect", result
    for phrase in phrases:
        assert phrase in result.message, (phrase, result.message)


def rejects_both(question, answer, *phrases):
    """Rejected by the check and by the hidden check (the grader's cases), naming the bug both times."""
    rejects(question, answer, *phrases)
    hidden = question.hidden_check(answer)
    assert hidden.status == "incorrect", hidden
    for phrase in phrases:
        assert phrase in hidden.message, (phrase, hidden.message)


def passes_both(question, answer):
    assert question.check(answer)
    result = question.hidden_check(answer)
    assert result, result


def starter(*args):
    raise NotImplementedError


def does_nothing(*args):
    pass


def hangs(*args):
    threading.Event().wait(30)


@pytest.mark.parametrize(
    "question",
    [walk04.q2, walk04.q1, walk04.q3, walk05.q2, walk05.q3, walk05.q1, walk06.q1, walk06.q2, walk06.q3, walk06.q4],
)
def test_no_answer_is_not_attempted(question):
    for answer in (None,):
        assert question.check(answer).status == "not attempted"
    assert question.check().status == "not attempted"


@pytest.mark.parametrize("question", [walk04.q1, walk05.q3, walk06.q1])
def test_code_questions_starter_nothing_and_hang(question):
    assert question.check(starter).status == "not attempted"
    assert question.check(does_nothing).status == "incorrect"
    assert not question.check("a string")
    hanging = question.check(hangs)
    assert hanging.status == "incorrect" and "did not return" in hanging.message


# -- predictions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "name", "measured"),
    [
        (walk04.q2, "chain_prediction", 0.972),
        (walk04.q3, "backup_share_prediction", 0.24),
        (walk05.q2, "all_answered_prediction", 0.158),
        (walk06.q4, "mean_latency_prediction", 0.0306),
    ],
)
def test_prediction_reference_passes_and_is_compared_with_the_run(question, name, measured):
    result = question.check(reference(question, name), measured=measured)
    assert result, result
    assert "this run measured" in result.message and "the model's" in result.message


def test_prediction_before_the_measurement_says_to_run_it():
    question = walk04.Fallback  # any class; a fresh prediction has no measurement yet
    fresh = walk04.ChainAnswers("fresh")
    assert question is not None
    result = fresh.check(0.97)
    assert result and "run the measurement cell" in result.message


def test_predictions_accept_any_real_number_type():
    assert walk04.q3.check(np.float64(0.24), measured=0.24)
    assert walk05.q2.check(np.float64(0.15), measured=0.158)
    assert walk05.q2.check(np.float32(0.152), measured=0.158)
    for right in (0.15, 0.16, 1 / 6.6, 1 / 7):  # one run in six or seven, written three ways
        assert walk05.q2.check(right, measured=0.158), right
    assert not walk04.q3.check(True, measured=0.24)
    assert not walk04.q3.check("0.24", measured=0.24)


@pytest.mark.parametrize(
    ("question", "wrong", "phrase"),
    [
        (walk04.q2, 0.91, "one backup"),
        (walk04.q2, 0.343, "all three succeed"),
        (walk04.q2, 0.027, "lost"),
        (walk04.q2, 0.1, "multiply"),
        (walk04.q2, 97.3, "percentage"),
        (walk04.q2, 0.5, "too low"),
        (walk04.q3, 0.6, "*asks* the backup"),
        (walk04.q3, 0.36, "lost"),
        (walk04.q3, 0.375, "*answered*"),
        (walk04.q3, 24, "percentage"),
        (walk05.q2, 0.91, "one request's chance"),
        (walk05.q2, 0.09, "one request is lost"),
        (walk05.q2, 0.848, "at least one is lost"),
        (walk05.q2, 0.0008, "the primary serves all 20"),
        (walk05.q2, 1.8, "not a chance"),
        (walk05.q2, -0.8, "adds the chances"),
        (walk05.q2, 0.1216, "not 0.9"),
        (walk05.q2, 0.389, "main.py's default"),
        # fourth review (2026-12-07): accepted within the old tolerance, 0.02 (seen); 0.01 now names them
        (walk05.q2, 0.167, "counts 19 requests"),
        (walk05.q2, 0.138, "counts 21 requests"),
        (walk05.q2, 15.2, "percentage"),
        (walk05.q2, 0.5, "too high"),
        (walk06.q4, 0.0275, "not the 10 ms service"),
        (walk06.q4, 0.02, "mean wait alone"),
        (walk06.q4, 0.055, "K = 4"),
        (walk06.q4, 30, "milliseconds"),
        (walk06.q2, 0.0, "longer* than it"),
        (walk06.q2, 0.1, "times out"),
        (walk06.q2, 1.0, "100 ms"),
    ],
)
def test_prediction_mistakes_are_named_with_the_distance(question, wrong, phrase):
    rejects(question, wrong, phrase, "you predicted", "the model")


# -- 04: fallback over a list of sources ----------------------------------------------------------


def fallback_loop_over_indices(request, sources):  # a correct answer, written differently
    caught = []
    i = 0
    while i < len(sources):
        try:
            answer = sources[i](request)
        except ConnectionError as error:
            caught.append(error)
            i += 1
        else:
            return answer
    raise ExceptionGroup("no source could answer " + str(request), caught)


def fallback_asks_every_source(request, sources):
    answers, errors = [], []
    for source in sources:
        try:
            answers.append(source(request))
        except Exception as exc:
            errors.append(exc)
    if answers:
        return answers[0]
    raise ExceptionGroup("all failed", errors)


def fallback_swallows_errors(request, sources):
    for source in sources:
        try:
            return source(request)
        except Exception:
            pass


def fallback_returns_error_string(request, sources):
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            return str(exc)


def fallback_prints(request, sources):
    for source in sources:
        try:
            print(source(request))
            return
        except Exception:
            continue
    raise ExceptionGroup("all failed", [ConnectionError("x")])


def fallback_only_two(request, sources):
    try:
        return sources[0](request)
    except Exception as first:
        try:
            return sources[1](request)
        except Exception as second:
            raise ExceptionGroup("both failed", [first, second]) from None


def fallback_raises_last_error(request, sources):
    last = None
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            last = exc
    raise last


def fallback_catches_nothing(request, sources):
    for source in sources:
        return source(request)


def fallback_calls_twice(request, sources):
    for source in sources:
        try:
            source(request)
            return source(request)
        except Exception:
            continue
    raise ExceptionGroup("all failed", [ConnectionError("x")])


def fallback_reversed(request, sources):
    errors = []
    for source in reversed(sources):
        try:
            return source(request)
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all failed", errors)


def fallback_new_errors(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            errors.append(ConnectionError(str(exc)))
    raise ExceptionGroup("all failed", errors)


def fallback_plain_exception(request, sources):
    for source in sources:
        try:
            return source(request)
        except Exception:
            continue
    raise Exception("all sources failed")


def fallback_catches_exception(request, sources):  # a bug before a working source vanishes (down/bug/up)
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_skips_falsy(request, sources):
    errors = []
    for source in sources:
        try:
            answer = source(request)
            if answer:
                return answer
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_skips_none(request, sources):
    errors = []
    for source in sources:
        try:
            answer = source(request)
        except Exception as exc:
            errors.append(exc)
            continue
        if answer is not None:
            return answer
    raise ExceptionGroup("all sources failed", errors)


def fallback_first_four(request, sources):
    errors = []
    for source in sources[:4]:
        try:
            return source(request)
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_hard_coded_request(request, sources):
    errors = []
    for source in sources:
        try:
            return source("DataRequest-7")
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_pops_the_list(request, sources):
    errors = []
    while sources:
        source = sources.pop(0)
        try:
            return source(request)
        except Exception as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_swallows_bugs(request, sources):  # keeps the outages, drops any other error: a bug vanishes
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
        except Exception:
            pass
    raise ExceptionGroup("all sources failed", errors)


def fallback_stops_at_a_bug_with_the_errors_so_far(request, sources):  # correct: the bug reaches the caller
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
        except Exception as exc:
            raise ExceptionGroup("a bug", [*errors, exc]) from None
    raise ExceptionGroup("all sources failed", errors)


def fallback_stops_at_a_bug_alone(request, sources):  # correct: the bug reaches the caller, in a group of one
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
        except Exception as exc:
            raise ExceptionGroup("a bug", [exc]) from None
    raise ExceptionGroup("all sources failed", errors)


def fallback_stops_at_a_bug_with_a_new_error(request, sources):  # the bug's own exception is lost
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
        except Exception as exc:
            raise ExceptionGroup("a bug", [*errors, RuntimeError(str(exc))]) from None
    raise ExceptionGroup("all sources failed", errors)


# The next three passed the old checks: every bug was a KeyError, every outage a plain ConnectionError, and a
# bug raised after asking on was accepted.
def fallback_catches_os_error(request, sources):  # except OSError: takes FileNotFoundError/PermissionError too
    errors = []
    for source in sources:
        try:
            return source(request)
        except OSError as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_raises_a_bug_after_asking_on(request, sources):  # notes a bug, asks the next source, then raises it
    errors, bug = [], None
    for source in sources:
        try:
            answer = source(request)
        except ConnectionError as exc:
            errors.append(exc)
            continue
        except Exception as exc:
            bug = bug or exc
            continue
        if bug is not None:
            raise bug
        return answer
    if bug is not None:
        raise bug
    raise ExceptionGroup("all sources failed", errors)


def fallback_exact_connection_error(request, sources):  # type(e) is not ConnectionError: a subclass escapes
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as exc:
            if type(exc) is not ConnectionError:
                raise
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fallback_tests_the_answer_for_none(request, sources):  # a None answer taken for a failure, after the loop
    errors, answer = [], None
    for source in sources:
        try:
            answer = source(request)
            break
        except ConnectionError as exc:
            errors.append(exc)
    if answer is None:
        raise ExceptionGroup("all sources failed", errors)
    return answer


def test_p4_a_none_answer_taken_for_a_failure_is_named():
    """Review 04_05c A4: this answer was told 'with sources up/up, fallback raised ValueError(...): catch each
    source's error' (seen): the source answering None was labelled "up", and the cause, a None answer treated as a
    failure, unsaid. Now the source is named by its answer and the message says what went wrong."""
    for result in (
        walk04.q1.check(fallback_tests_the_answer_for_none),
        walk04.q1.hidden_check(fallback_tests_the_answer_for_none),
    ):
        assert not result
        assert "answering None" in result.message and "answered None" in result.message, result
        assert "instead of returning it" in result.message and "up/up" not in result.message, result


def test_p4_a_bug_is_worded_as_a_bug():
    """Review 04_05c A4: a bug's exception read 'source-1 is down for ...' (seen in this answer's message). Since the
    second review of 04 (2026-12-08) it reads as a real KeyError does, without the word "bug" either (so that no
    answer passes by reading the message)."""
    message = walk04.q1.check(fallback_stops_at_a_bug_with_a_new_error).message
    assert "RuntimeError(\"'price'\")" in message and "source-1 is down" not in message, message


@pytest.mark.parametrize("guess", [0.22, 0.25, 0.26])
def test_p4_backup_share_is_exact(guess):
    """Review 04_05c A5: p (1 − p) = 0.24 is exact, and ±0.02 passed a quarter (0.25) and 0.22, 0.26 (seen)."""
    assert not walk04.q3.check(guess, measured=0.24)
    assert not walk04.q3.hidden_check(guess)


def test_p4_fallback_correct_answers_pass():
    passes_both(walk04.q1, reference(walk04.q1, "fallback"))
    passes_both(walk04.q1, fallback_loop_over_indices)


@pytest.mark.parametrize("answer", [fallback_stops_at_a_bug_with_the_errors_so_far, fallback_stops_at_a_bug_alone])
def test_p4_fallback_that_stops_at_a_bug_and_raises_it_in_a_group_passes(answer):  # seen crashing the old check
    """Cell 14 accepts a bug raised alone or in a group, with or without the outages before it (the check used
    to crash on these: it looked up an error for every source, the ones never asked included)."""
    passes_both(walk04.q1, answer)


@pytest.mark.parametrize(
    ("answer", "phrases"),
    [
        (fallback_asks_every_source, ["was asked although", "return at the first answer"]),
        (fallback_swallows_errors, ["returned None", "swallowing the errors"]),
        (fallback_returns_error_string, ["returned the error", "try the next source"]),
        (fallback_prints, ["returned None", "printing it"]),
        (fallback_only_two, ["without asking source-", "every source"]),
        (fallback_raises_last_error, ["one error", "ExceptionGroup"]),
        (fallback_catches_nothing, ["let ConnectionError", "catch each source's error"]),
        (fallback_calls_twice, ["called 2 times", "once"]),
        (fallback_reversed, ["asked in the order", "list order"]),
        (fallback_new_errors, ["own exceptions"]),
        (fallback_plain_exception, ["raised Exception", "ExceptionGroup"]),
        (fallback_skips_falsy, ["even 0, '' or None", "only an exception"]),
        (fallback_skips_none, ["answered None", "even 0, '' or None"]),
        (fallback_first_four, ["without asking source-", "every source"]),
        (fallback_hard_coded_request, ["'DataRequest-7'", "pass on the request it is given"]),
        (fallback_pops_the_list, ["changed the list of sources", "don't modify the caller's list"]),
        (fallback_swallows_bugs, ["a KeyError (a bug, not an outage)", "the KeyError was lost"]),
        (fallback_catches_exception, ["buggy/up", "the KeyError was lost", "Catch ConnectionError only"]),
        (fallback_stops_at_a_bug_with_a_new_error, ["the KeyError was lost"]),
        (fallback_catches_os_error, ["FileNotFoundError (a bug, not an outage)"]),
        (fallback_raises_a_bug_after_asking_on, ["(a bug, not an outage)"]),
        (fallback_exact_connection_error, ["is a kind of ConnectionError", "subclasses"]),
    ],
    ids=lambda v: getattr(v, "__name__", "")[9:] if callable(v) else "",
)
def test_p4_fallback_wrong_answers_are_named(answer, phrases):
    rejects_both(walk04.q1, answer, *phrases)


def test_p4_visible_check_stops_at_a_bug_and_takes_connection_error_subclasses():
    """`except OSError` and a bug raised after asking on are named by the visible check; so is `type(e) is`."""
    assert "went on to ask source-2" in walk04.q1.check(fallback_raises_a_bug_after_asking_on).message
    assert "`except OSError`" in walk04.q1.check(fallback_catches_os_error).message
    assert "refused" in walk04.q1.check(fallback_exact_connection_error).message


def test_p4_visible_check_has_a_bug_before_a_working_source():
    """`except Exception` going on past a bug passed the old visible check: no case had a source after the bug."""
    assert ("DataRequest-3", "dbu") in walk04.q1.CASES
    result = walk04.q1.check(fallback_catches_exception)
    assert "with sources down/buggy/up" in result.message, result


# -- 05: main() wiring router + fallback ----------------------------------------------------------


def main_in_steps(requests, primary, backup, workers):  # a correct answer, written differently
    router = Router(FallbackChain(sources=(primary, backup)), workers=workers)
    report = router.run(requests)
    print(f"{len(report.failed)} lost")
    return report


def main_prints(requests, primary, backup, workers):
    print(Router(FallbackChain([primary, backup]), workers=workers).run(requests).describe())


def main_no_fallback(requests, primary, backup, workers):
    return Router(primary, workers=workers).run(requests)


def main_backup_first(requests, primary, backup, workers):
    return Router(FallbackChain([backup, primary]), workers=workers).run(requests)


def main_ignores_workers(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup])).run(requests)


def main_one_thread_per_request(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers=len(requests)).run(requests)


def main_without_router(requests, primary, backup, workers):
    chain = FallbackChain([primary, backup])
    for request in requests:
        try:  # noqa: SIM105 (a learner's code)
            chain.fetch(request)
        except Exception:
            pass
    return Router(chain, workers=workers).run([])


def main_returns_summary(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers=workers).run(requests).summary()


def main_asks_both(requests, primary, backup, workers):
    Router(backup, workers=workers).run(requests)
    return Router(FallbackChain([primary, backup]), workers=workers).run(requests)


def main_twice(requests, primary, backup, workers):
    Router(FallbackChain([primary, backup]), workers=workers).run(requests)
    return Router(FallbackChain([primary, backup]), workers=workers).run(requests)


def main_sorts_requests(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers=workers).run(sorted(requests))


def main_workers_positional(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers).run(requests)


def main_misspelt(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers=worker).run(requests)  # noqa: F821 (a learner's typo)


def main_fetches_by_hand(requests, primary, backup, workers):
    chain = FallbackChain([primary, backup])
    for request in requests:
        chain.fetch(request)  # a source's failure escapes main
    return Router(chain, workers=workers).run(requests)


def test_p5_main_correct_answers_pass():
    passes_both(walk05.q3, reference(walk05.q3, "main"))
    passes_both(walk05.q3, main_in_steps)


@pytest.mark.parametrize(
    ("answer", "phrases"),
    [
        (main_prints, ["returned None", "printing"]),
        (main_no_fallback, ["backup was never asked", "FallbackChain"]),
        (main_backup_first, ["before the primary"]),
        (main_ignores_workers, ["ran at once with workers=", "pass workers"]),
        (main_one_thread_per_request, ["requests ran at once with workers=", "pass workers"]),
        (main_without_router, ["one outcome per request"]),
        (main_returns_summary, ["got dict"]),
        (main_asks_both, ["a fallback, not a copy"]),
        (main_twice, ["asked 2 times"]),
        (main_sorts_requests, ["not in the order given", "without sorting"]),
        # seen told "the router records failures in the Report" by the old check, for main's own error
        (main_workers_positional, ["main itself failed", "TypeError", "workers= must be named"]),
        (main_misspelt, ["main itself failed", "NameError"]),
        (main_fetches_by_hand, ["raised", "in the calling thread: no Router ran the requests"]),
    ],
    ids=lambda v: getattr(v, "__name__", "")[5:] if callable(v) else "",
)
def test_p5_main_wrong_answers_are_named(answer, phrases):
    rejects_both(walk05.q3, answer, *phrases)


# -- 06: submit + as_completed with a try per future ----------------------------------------------


def fetch_all_in_order(fetch, requests, workers):  # a correct answer, written differently (result() in order)
    with ThreadPoolExecutor(workers) as pool:
        pairs = [(request, pool.submit(fetch, request)) for request in requests]
    out = {}
    for request, future in pairs:
        error = future.exception(timeout=5)
        out[request] = error if error is not None else future.result()
    return out


def fetch_all_map(fetch, requests, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(requests, pool.map(fetch, requests), strict=True))


def fetch_all_no_try(fetch, requests, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        return {futures[f]: f.result() for f in as_completed(futures)}


def fetch_all_swallows(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:  # noqa: SIM105 (a learner's code)
                answers[futures[future]] = future.result()
            except Exception:
                pass
    return answers


def fetch_all_none_for_errors(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception:
                answers[futures[future]] = None
    return answers


def fetch_all_stringifies(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = str(exc)
    return answers


def fetch_all_prints(fetch, requests, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                print(futures[future], future.result())
            except Exception as exc:
                print(futures[future], exc)


def fetch_all_wrong_labels(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetch, r) for r in requests]
        for request, future in zip(requests, as_completed(futures), strict=True):
            try:
                answers[request] = future.result()
            except Exception as exc:
                answers[request] = exc
    return answers


def fetch_all_default_pool(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = exc
    return answers


def fetch_all_waits_each(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for request in requests:
            try:
                answers[request] = pool.submit(fetch, request).result()
            except Exception as exc:
                answers[request] = exc
    return answers


def fetch_all_sequential(fetch, requests, workers):
    answers = {}
    for request in requests:
        try:
            answers[request] = fetch(request)
        except Exception as exc:
            answers[request] = exc
    return answers


def fetch_all_breaks(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception:
                break
    return answers


def fetch_all_twice(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            request = futures[future]
            try:
                future.result()
                answers[request] = fetch(request)
            except Exception as exc:
                answers[request] = exc
    return answers


def fetch_all_explicit_shutdown(fetch, requests, workers):  # correct: the pool shut down by hand
    answers = {}
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures, timeout=5):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return answers


def fetch_all_no_wait_shutdown(fetch, requests, workers):  # correct: notebook 06's pattern, bounded everywhere
    answers = {}
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures, timeout=5):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = exc
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return answers


def fetch_all_catches_connection_error(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except ConnectionError as exc:
                answers[futures[future]] = exc
    return answers


def fetch_all_one_try_around_the_loop(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        try:
            for future in as_completed(futures):
                answers[futures[future]] = future.result()
        except Exception as exc:
            answers[futures[future]] = exc
    return answers


def fetch_all_map_with_a_try(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            for request, answer in zip(requests, pool.map(fetch, requests)):  # noqa: B905 (a learner's code)
                answers[request] = answer
        except Exception as exc:
            answers[requests[len(answers)]] = exc
    return answers


def fetch_all_never_shuts_down(fetch, requests, workers):
    answers = {}
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = {pool.submit(fetch, r): r for r in requests}
    for future in as_completed(futures):
        try:
            answers[futures[future]] = future.result()
        except Exception as exc:
            answers[futures[future]] = exc
    return answers


def test_p6_fetch_all_correct_answers_pass():
    passes_both(walk06.q1, reference(walk06.q1, "fetch_all"))
    passes_both(walk06.q1, fetch_all_in_order)
    passes_both(walk06.q1, fetch_all_explicit_shutdown)
    passes_both(walk06.q1, fetch_all_no_wait_shutdown)


@pytest.mark.parametrize(
    ("answer", "phrases"),
    [
        (fetch_all_map, ["fetch_all raised", "own try/except"]),
        (fetch_all_no_try, ["fetch_all raised", "own try/except"]),
        (fetch_all_swallows, ["failed and has no entry", "keep the exception"]),
        (fetch_all_none_for_errors, ["its entry is None", "swallowing"]),
        (fetch_all_stringifies, ["is the string", "exception object itself"]),
        (fetch_all_prints, ["returned None", "printing"]),
        (fetch_all_wrong_labels, ["map each future back to its own request"]),
        (fetch_all_default_pool, ["requests ran at once with workers=", "max_workers=workers"]),
        (fetch_all_waits_each, ["at most 1 request(s) ran at once", "submit them all"]),
        (fetch_all_sequential, ["calling thread"]),
        (fetch_all_breaks, ["has no entry"]),
        (fetch_all_twice, ["fetched 2 times"]),
        (fetch_all_catches_connection_error, ["own try/except Exception", "not only ConnectionError"]),
        (fetch_all_one_try_around_the_loop, ["succeeded and has no entry", "the loop stopped early"]),
        (fetch_all_map_with_a_try, ["succeeded and has no entry", "the loop stopped early"]),
        (fetch_all_never_shuts_down, ["still alive after fetch_all returned", "shut the pool down"]),
    ],
    ids=lambda v: getattr(v, "__name__", "")[10:] if callable(v) else "",
)
def test_p6_fetch_all_wrong_answers_are_named(answer, phrases):
    rejects_both(walk06.q1, answer, *phrases)


def test_p6_hidden_check_has_its_own_failures():
    """A fetch_all that special-cases the visible requests passes the check, not the hidden check."""

    def knows_the_visible_cases(fetch, requests, workers):
        answers = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(fetch, r): r for r in requests}
            for future in as_completed(futures):
                try:
                    answers[futures[future]] = future.result()
                except (ConnectionError, ValueError) as exc:  # exactly the visible check's failures
                    answers[futures[future]] = exc
        return answers

    assert walk06.q1.check(knows_the_visible_cases)
    hidden = walk06.q1.hidden_check(knows_the_visible_cases)
    assert hidden.status == "incorrect" and "raised KeyError" in hidden.message, hidden
    assert "raised ValueError" in walk06.q1.check(fetch_all_catches_connection_error).message


# -- 05: the __main__ guard -----------------------------------------------------------------------

GUARDED_DIFFERENTLY = """
def main():
    print("routing 20 requests")

def _entry():
    main()

if "__main__" == __name__:
    _entry()
"""


def test_p5_guard_correct_answers_pass():
    namespace = {}
    exec(textwrap.dedent(walk05.q1.solution_text), namespace)
    passes_both(walk05.q1, namespace["script"])
    passes_both(walk05.q1, GUARDED_DIFFERENTLY)


@pytest.mark.parametrize(
    "given",
    [
        "def main():\n    print('routing 20 requests')\n",
        'def main() -> None:\n    print("routing 20 requests")\n',
        "def main()  ->  None :  # the entry point\n\n    print( 'routing 20 requests' )\n",
    ],
    ids=["single quotes", "annotated", "spaced and commented"],
)
def test_p5_guard_the_given_main_spelled_otherwise_passes(given):
    """Right answers the old check's regex (double quotes, no annotation) told to "keep the given main()"."""
    passes_both(walk05.q1, given + '\n\nif __name__ == "__main__":\n    main()\n')


MAIN = 'def main():\n    print("routing 20 requests")\n'


@pytest.mark.parametrize(
    ("script", "phrases"),
    [
        (MAIN + "\nmain()\n", ["imported", "ran main()", "__name__"]),
        (MAIN, ["main() ran 0 times"]),
        (MAIN + 'if __name__ == "learner_script":\n    main()\n', ["main()"]),
        (MAIN + 'if __name__ == "__main__":\n    main()\n    main()\n', ["main() ran 2 times"]),
        (MAIN + 'if __name__ == "__main__":\n    main(\n', ["the script failed", "SyntaxError"]),
        (MAIN + 'if __name__ == "__main__":\n    main()\nmain()\n', ["imported", "ran main()"]),
        ('print("hello")\n', ["keep the given main()"]),
        (42, ["as a string"]),
        (MAIN + 'if __name__ == "__main__":\n    main\n', ["main() ran 0 times"]),  # from sheet 05's old q2
        (MAIN + 'if __name__ == "__main":\n    main()\n', ["main() ran 0 times"]),
    ],
    ids=[
        "no guard",
        "never called",
        "own name",
        "twice",
        "syntax",
        "guard then call",
        "no main",
        "number",
        "main without parentheses",
        "a typo in __main__",
    ],
)
def test_p5_guard_wrong_answers_are_named(script, phrases):
    rejects_both(walk05.q1, script, *phrases)


STUB_COMMENT = "# YOUR CODE HERE (2 lines): call main() only when this file is the program being run\n"


@pytest.mark.parametrize(
    ("guard", "phrases"),
    [
        ("main()\n", ["imported (as a test would import it), the script ran main()"]),
        ('import sys\nif sys.argv[0].endswith(".py"):\n    main()\n', ["never reads __name__"]),
    ],
)
def test_p5_guard_below_the_kept_stub_comment_is_judged(guard, phrases):
    """Review 04_05c A4: with the stub's comment kept, these were told 'Not attempted' (seen): only the stub's
    own text is not attempted now."""
    script = 'def main():\n    print("routing 20 requests")\n\n' + STUB_COMMENT + guard
    rejects_both(walk05.q1, script, *phrases)


@pytest.mark.parametrize(
    ("guard", "phrases", "absent"),
    [
        # not "ran 0 times": on 3.13 the two strings are one object and main() runs (seen failing in CI on 3.13)
        ('if __name__ is "__main__":\n    main()\n', ["string object", "with `==`, not `is`"], "printing its text"),
        ('import sys\nif sys.argv[0] != "-c":\n    main()\n', ["never reads __name__"], "a part of"),
        ('import sys\nif sys.argv[0].endswith(".py"):\n    main()\n', ["never reads __name__"], "a part of"),
    ],
)
def test_p5_guard_identity_and_argv_are_named(guard, phrases, absent):
    """Review 04_05c A4: `is` got a bare 'ran 0 times', and a guard on sys.argv 'compare the whole name ... a test
    of a part of "__main__"' (seen), though it never reads __name__."""
    script = 'def main():\n    print("routing 20 requests")\n\n\n' + guard
    rejects_both(walk05.q1, script, *phrases)
    assert absent not in walk05.q1.check(script).message


def test_p5_guard_starter_is_not_attempted():
    starter_script = MAIN + "\n# YOUR CODE HERE: call main() only when this file is the program being run\n"
    assert walk05.q1.check(starter_script).status == "not attempted"


@pytest.mark.parametrize(
    ("script", "phrases"),
    [
        # only the printed text: main() itself never runs (passed the old check, which counted the text)
        (MAIN + 'if __name__ == "__main__":\n    print("routing 20 requests")\n', ["main() ran 0 times", "printing"]),
        # the module name the old check imported under (passed the old visible check)
        (MAIN + 'if __name__ != "learner_script":\n    main()\n', ["imported", "ran main()"]),
        # how Python was started, not the guard (passed the old check: it imported only through -c)
        (MAIN + 'import sys\nif sys.argv[0] != "-c":\n    main()\n', ["imported by another script", "ran main()"]),
        # a part of "__main__" (passed the old check: its random module name never contained "main")
        (MAIN + 'if "main" in __name__:\n    main()\n', ["imported", "ran main()"]),
        # dunder-ish tests of __name__ (passed the old check, seen: its names were script_<hex> and main_<hex>)
        (MAIN + 'if __name__.startswith("__"):\n    main()\n', ["imported by another script", "ran main()"]),
        (MAIN + 'if __name__.endswith("main__"):\n    main()\n', ["imported by another script", "ran main()"]),
        (MAIN + 'if __name__.startswith("__main__"):\n    main()\n', ["imported by another script", "ran main()"]),
    ],
    ids=[
        "prints the text",
        "another module name",
        "argv instead of __name__",
        "main in __name__",
        "starts with __",
        "ends with main__",
        "starts with __main__",
    ],
)
def test_p5_guard_fakes_are_caught(script, phrases):
    rejects_both(walk05.q1, script, *phrases)


# -- predictions: edges and wording ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "edges"),
    [(walk04.q3, (0.235, 0.245)), (walk05.q2, (0.1427, 0.1606)), (walk06.q4, (0.0285, 0.0315))],
)
def test_prediction_tolerance_edges_count_as_right(question, edges):
    for edge in edges:
        assert question.check(edge), edge


def test_prediction_messages_give_the_ratio_in_three_digits_and_the_range():
    result = walk04.q2.check(0.98, measured=0.972)
    assert not result and "1.01x the model's 0.973" in result.message and "too high" in result.message
    assert "within 0.005 of 0.973" in result.message
    far = walk04.q2.check(100.0)
    assert "103x the model's" in far.message and "e+" not in far.message
    low = walk05.q2.check(0.1, measured=0.158)
    assert "too low (right is within 0.009 of 0.152)" in low.message and "0.91²⁰" in low.message


def test_p6_q4_a_right_prediction_is_called_right_when_the_run_is_slow():
    """Twice the workers measured 39.4 ms against the model's 30 ms on a busy 2-core machine: the feedback said
    only "on the model's 30.0 ms (this run measured 39.4 ms)", which made a right answer look doubtful."""
    slow = walk06.q4.check(0.030, measured=0.0394)
    assert slow and "Your prediction is right even though the run was slower" in slow.message, slow
    close = walk06.q4.check(0.030, measured=0.031)
    assert close and "even though" not in close.message, close
    wrong = walk06.q4.check(0.055, measured=0.0394)
    assert not wrong and "is right" not in wrong.message, wrong
