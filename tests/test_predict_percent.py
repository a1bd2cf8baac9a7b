"""A prediction's verdict never prints its distance from the model as the bound it missed (437 against 420 ± 4 %)."""

from ella_lab.exercises import walk10
from ella_lab.exercises._predict import _percent


def test_a_miss_just_past_the_bound_prints_enough_digits():
    result = walk10.q1.judge(437)  # 4.05 % from the model 420: "More than 4% … (4.0%)" read as a contradiction
    assert result.status == "incorrect"
    assert "More than 4% from the model (4.05%)" in result.message, result.message


def test_percent_adds_digits_only_where_rounding_would_hide_the_gap():
    assert _percent(0.102, 0.1) == "10.2%"
    assert _percent(0.0405, 0.04) == "4.05%"
    assert _percent(0.0400001, 0.04) == "4.00001%"
    assert _percent(0.04, 0.04) == "4.0%"


def test_percent_on_the_bound_but_for_float_rounding_reads_plainly():
    assert _percent((2 - 1.4) / 2, 0.3) == "30.0%"  # 0.30000000000000004: once printed as 30.000000%
