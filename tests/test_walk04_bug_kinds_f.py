"""walk04 q1, final fresh review of 04 (2026-12-08, A1): two false accepts, each seen passing the old checks first.

The checks' bugs raised only KeyError, FileNotFoundError, NameError and TypeError, so a tuple of other usual bug
types beside ConnectionError, ``except (ConnectionError, ValueError)`` or ``except (ConnectionError, AttributeError,
ZeroDivisionError, RuntimeError)``, got ✓ from both. Both checks now have a ValueError, an AttributeError, a
ZeroDivisionError and a RuntimeError bug, each before a source that answers, their messages worded as real errors.
"""

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk04

pytestmark = pytest.mark.timeout(60)


def with_value_error(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, ValueError) as e:
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


def with_four_bug_types(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, AttributeError, ZeroDivisionError, RuntimeError) as e:
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


def with_only_zero_division(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, ZeroDivisionError) as e:
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


def with_only_runtime_error(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, RuntimeError) as e:
            errors.append(e)
    raise ExceptionGroup("all failed", errors)


WRONG = [
    ("ConnectionError, ValueError", with_value_error, "raised a ValueError (a bug, not an outage)"),
    ("ConnectionError and three bug types", with_four_bug_types, "(a bug, not an outage) and fallback returned"),
    ("ConnectionError, ZeroDivisionError", with_only_zero_division, "raised a ZeroDivisionError (a bug"),
    ("ConnectionError, RuntimeError", with_only_runtime_error, "raised a RuntimeError (a bug"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), WRONG, ids=[w[0] for w in WRONG])
def test_a_tuple_of_other_bug_types_is_named_by_both_checks(name, answer, expected):
    assert_catalogue(walk04.q1, answer, expected)


@pytest.mark.parametrize("kind", ["ValueError", "AttributeError", "ZeroDivisionError", "RuntimeError"])
def test_no_bug_message_says_bug_or_down(kind):
    made = [make("x") for make in walk04.q1.RAISES.values()]
    (error,) = [e for e in made if type(e).__name__ == kind]
    assert "bug" not in str(error).lower() and "down" not in str(error).lower(), error
