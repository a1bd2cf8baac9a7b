"""walk05 q3, main(): the wrong answers that sheet 05 q1 used to catch, now that the sheet no longer re-asks
main() (it asks for a test of it). Each is named by the walkthrough's visible and hidden check."""

import pytest
from exercise_answers import assert_catalogue

from ella_lab import FallbackChain, Retry, Router
from ella_lab.exercises import walk05

pytestmark = pytest.mark.timeout(60)


def main_other_requests(requests, primary, backup, workers):
    with Router(FallbackChain([primary, backup]), workers=workers) as router:
        for future in [router.submit(r) for r in requests]:
            future.result(timeout=10)
    return Router(FallbackChain([primary, backup]), workers=workers).run([])  # not a report of these requests


def main_retries_the_primary(requests, primary, backup, workers):
    chain = FallbackChain([primary, backup], retry=Retry(attempts=2, base=0.001))
    return Router(chain, workers=workers).run(requests)


def main_returns_the_summary(requests, primary, backup, workers):
    return Router(FallbackChain([primary, backup]), workers=workers).run(requests).summary()


def main_one_router_per_request(requests, primary, backup, workers):
    return [Router(FallbackChain([primary, backup]), workers=workers).run([r]) for r in requests]


MOVED = [
    ("a report of other requests", main_other_requests, "one outcome per request"),
    ("retries the primary", main_retries_the_primary, "the primary was asked 2 times"),
    ("returns the summary", main_returns_the_summary, "main should return the Report"),
    ("one router per request", main_one_router_per_request, "main should return the Report"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), MOVED, ids=[m[0] for m in MOVED])
def test_the_wrong_mains_sheet_05_caught_are_named_by_the_walkthrough(name, answer, expected):
    assert_catalogue(walk05.q3, answer, expected)
