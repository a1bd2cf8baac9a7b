"""walk04 q1, second fresh review of 04 (2026-12-08): three false accepts, each seen passing the old checks first.

1. A wide tuple, ``except (ConnectionError, ValueError, TypeError, AttributeError, NameError)``, passed both checks,
   whose only bugs were a KeyError and a FileNotFoundError: it takes the notebook's own NameError bug (cell 13) for an
   outage. Both checks now have a NameError bug and a TypeError bug before a source that answers.
2. Deciding by the message's words passed both: every outage said "… is down for …" and every bug "bug in …". Now a
   refused connection says "[Errno 111] Connection refused" and no bug's message says "bug" (or "down").
3. A bug placed in the middle of the group passed the visible check (no visible case had two outages before a bug)
   and failed the hidden "ddfdu": the visible cases now have "ddbu".
"""

import textwrap

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk04

pytestmark = pytest.mark.timeout(60)


def wide_tuple(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, ValueError, TypeError, AttributeError, NameError) as e:
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


def by_the_word_down(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as e:
            if "down" in str(e):
                errors.append(e)
            else:
                raise
    raise ExceptionGroup("all failed", errors)


def by_the_word_bug(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except Exception as e:
            if "bug" in str(e):
                raise
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


def bug_in_the_middle(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as e:
            errors.append(e)
        except Exception as e:
            raise ExceptionGroup("bug", [errors[0], e, *errors[1:]] if errors else [e]) from None
    raise ExceptionGroup("all failed", errors)


WRONG = [
    ("a wide tuple of error types", wide_tuple, "raised a NameError (a bug, not an outage)"),
    ("decides by the word 'down'", by_the_word_down, "neither `type(e) is ConnectionError` nor the message's words"),
    ("decides by the word 'bug'", by_the_word_bug, "(a bug, not an outage) and fallback returned"),
    ("a bug in the middle of the group", bug_in_the_middle, "keep the errors so far in order"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), WRONG, ids=[w[0] for w in WRONG])
def test_the_review_s_false_accepts_are_named_by_both_checks(name, answer, expected):
    assert_catalogue(walk04.q1, answer, expected)


def reference(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:  # a source's failure; a bug of ours still shows
            errors.append(exc)
    raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)


def with_timeouts(request, sources):  # a TimeoutError is an outage too
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, TimeoutError) as exc:
            errors.append(exc)
    raise ExceptionGroup("every source failed", errors)


def by_isinstance(request, sources):  # catches everything, re-raises what is not an outage
    errors = []
    for source in sources:
        try:
            answer = source(request)
        except Exception as exc:
            if not isinstance(exc, ConnectionError):
                raise
            errors.append(exc)
        else:
            return answer
    raise ExceptionGroup("down", errors)


def bug_grouped_last(request, sources):  # stops at a bug and raises it after the outages so far
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
        except Exception as exc:
            raise ExceptionGroup("a bug after outages", [*errors, exc]) from None
    raise ExceptionGroup("all failed", errors)


@pytest.mark.parametrize("answer", [reference, with_timeouts, by_isinstance, bug_grouped_last])
def test_right_answers_written_differently_pass_both_checks(answer):
    assert walk04.q1.check(answer), walk04.q1.check(answer)
    assert walk04.q1.hidden_check(answer), walk04.q1.hidden_check(answer)


def test_the_solution_passes():
    namespace = {}
    exec(textwrap.dedent(walk04.q1.solution_text), namespace)
    answer = namespace["fallback"]
    assert walk04.q1.check(answer), walk04.q1.check(answer)
    assert walk04.q1.hidden_check(answer), walk04.q1.hidden_check(answer)
