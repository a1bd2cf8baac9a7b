"""walk04 q1 messages (review 04_05e A4, 2026-12-07), each seen getting the old message first: an errors list that
outlives a call (a mutable default, or a module-level list) was told only "the ExceptionGroup holds 27 error(s);
expected 4"; the hidden case with one source said "with all 1 sources down". Right answers still pass both."""

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk04

pytestmark = pytest.mark.timeout(60)


def default_list(request, sources, errors=[]):  # noqa: B006 (the bug under test)
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


ERRORS = []


def module_list(request, sources):
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            ERRORS.append(exc)
    raise ExceptionGroup("all sources failed", ERRORS)


@pytest.mark.parametrize("fallback", [default_list, module_list], ids=["default", "module-level"])
def test_errors_kept_from_earlier_calls_are_named(fallback):
    ERRORS.clear()
    assert_catalogue(walk04.q1, fallback, "are from earlier calls. Create the errors list inside the function")


def last_error_only(request, sources):
    error = None
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            error = exc
    raise error


def test_one_source_down_is_said_in_the_singular():
    result = walk04.q1.hidden_check(last_error_only)
    assert result.status == "incorrect" and "with its only source down" in result.message, result.message
    assert "all 1" not in result.message
    assert "with all 4 sources down" in walk04.q1.check(last_error_only).message


def in_a_list(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
    raise ExceptionGroup("all sources failed", errors)


def fresh_default(request, sources, errors=None):
    errors = [] if errors is None else errors
    for source in sources:
        try:
            return source(request)
        except ConnectionError as exc:
            errors.append(exc)
    raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)


def collected_then_raised(request, sources):
    errors = []
    for source in sources:
        try:
            answer = source(request)
        except ConnectionError as exc:
            errors.append(exc)
            continue
        return answer
    raise ExceptionGroup("down", errors)


@pytest.mark.parametrize("fallback", [in_a_list, fresh_default, collected_then_raised])
def test_right_answers_pass_both_checks(fallback):
    assert walk04.q1.check(fallback), walk04.q1.check(fallback)
    assert walk04.q1.hidden_check(fallback), walk04.q1.hidden_check(fallback)
