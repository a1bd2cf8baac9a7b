"""Notebook 04 says q1's check accepts a fallback that also catches ``TimeoutError`` (an outage, not a bug)."""

from ella_lab.exercises import walk04


def fallback(request, sources):
    errors = []
    for source in sources:
        try:
            return source(request)
        except (ConnectionError, TimeoutError) as exc:
            errors.append(exc)
    raise ExceptionGroup(f"all {len(sources)} sources failed for {request}", errors)


def test_catching_timeout_error_too_passes_the_check_and_the_hidden_one():
    walk04.q1._check(fallback)
    walk04.q1._check_hidden(fallback)
