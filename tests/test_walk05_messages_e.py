"""walk05 q2 and q3 messages (review 04_05e A2, A3, 2026-12-07), each seen getting the old message first.

q2: e^(−1.8) = 0.165, the Poisson estimate, was told "0.167 = 0.91¹⁹ (or 1/6) counts 19 requests" (the two are
within 1 % of each other, and the mistakes were tried in order, not nearest first).
q3: a serial main, `[chain.serve(r) for r in requests]`, was told "the router records failures in the Report; let
it", though no Router ran: the requests ran in the calling thread, and the first lost one raised there."""

import math

import pytest
from exercise_answers import assert_catalogue

from ella_lab import FallbackChain, Router
from ella_lab.exercises import walk05

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("answer", "expected", "absent"),
    [
        (math.exp(-1.8), "the Poisson approximation", "counts 19 requests"),
        (0.165, "the Poisson approximation", "counts 19 requests"),
        (1 / 6, "or 1/6, one run in 6", "Poisson"),
        (0.91**19, "counts 19 requests", "Poisson"),
    ],
    ids=["e^-1.8", "0.165", "1/6", "0.91^19"],
)
def test_q2_the_nearest_mistake_names_the_answer(answer, expected, absent):
    result = walk05.q2.check(answer, measured=0.158)
    assert result.status == "incorrect", result
    assert expected in result.message and absent not in result.message, result.message


@pytest.mark.parametrize("right", [0.152, 0.15, 0.16, 1 / 6.6, (1 - 0.3**2) ** 20])
def test_q2_right_answers_still_pass(right):
    assert walk05.q2.check(right, measured=0.158), walk05.q2.check(right, measured=0.158)


def serial(requests, primary, backup, workers):
    chain = FallbackChain([primary, backup])
    return [chain.serve(r) for r in requests]


def test_q3_a_serial_main_is_told_no_router_ran():
    assert_catalogue(walk05.q3, serial, "in the calling thread: no Router ran the requests")
    assert "let it" not in walk05.q3.check(serial).message


def raises_what_the_router_recorded(requests, primary, backup, workers):
    report = Router(FallbackChain([primary, backup]), workers=workers).run(requests)
    for outcome in report:
        if outcome.error is not None:
            raise outcome.error
    return report


def test_q3_a_failure_raised_after_the_router_ran_keeps_its_message():
    assert_catalogue(walk05.q3, raises_what_the_router_recorded, "the router records failures in the Report; let it")


def in_steps(requests, primary, backup, workers):
    chain = FallbackChain([primary, backup])
    router = Router(chain, workers=workers)
    report = router.run(requests)
    return report


@pytest.mark.parametrize("main", [in_steps])
def test_q3_right_answers_still_pass(main):
    assert walk05.q3.check(main), walk05.q3.check(main)
    assert walk05.q3.hidden_check(main), walk05.q3.hidden_check(main)
