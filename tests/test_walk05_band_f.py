"""walk05 q2, final fresh review of 05 (2026-12-08, A2): the acceptance band was not monotone, seen first.

With a tolerance of 0.01 around the model 0.91²⁰ = 0.152, 0.161 got ✓ while 0.164, nearer the Poisson estimate
e^(−1.8) = 0.165, got that mistake's message: the right band ran up to within 0.002 of a mistake's 1 % band. The
tolerance is now 0.009 (0.15, 0.16, 1/6.6 and 1/7 are still right), and every mistake's band lies outside the right one.
"""

import math

import pytest

from ella_lab.exercises import walk05

pytestmark = pytest.mark.timeout(60)

q2 = walk05.q2


@pytest.mark.parametrize("answer", [0.161, 0.162])
def test_just_above_the_band_is_too_high(answer):
    result = q2.check(answer, measured=0.158)
    assert result.status == "incorrect", result
    assert "too high" in result.message, result.message


def test_every_mistake_band_lies_outside_the_right_band():
    low, high = q2.model - q2.tolerance, q2.model + q2.tolerance
    for wrong, _ in q2.mistakes:
        edge_low, edge_high = wrong * 0.99, wrong / 0.99  # math.isclose(x, wrong, rel_tol=0.01) at its edges
        assert edge_high < low or edge_low > high + 0.0025, (wrong, low, high)
        assert not math.isclose(wrong, q2.model, rel_tol=0.01)


@pytest.mark.parametrize("right", [0.152, 0.15, 0.16, 1 / 6.6, 1 / 7, 0.144, (1 - 0.3**2) ** 20])
def test_right_answers_pass(right):
    assert q2.check(right, measured=0.158), q2.check(right, measured=0.158)
    assert q2.hidden_check(right), q2.hidden_check(right)
