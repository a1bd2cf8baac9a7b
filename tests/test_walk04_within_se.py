"""``within_se``: notebook 04's check that a seeded share lies within k standard errors of its model."""

import math

import numpy as np
import pandas as pd
import pytest

from ella_lab.studies import within_se


def test_a_share_inside_the_band_passes_and_one_just_outside_fails():
    se = math.sqrt(0.7 * 0.3 / 2000)  # one standard error of 0.7 over 2,000 requests: about 1.0 point
    band = 4 * se + 1 / 2000
    assert within_se(0.7 + 0.99 * band, 0.7, n=2000)
    assert not within_se(0.7 + 1.01 * band, 0.7, n=2000)
    assert not within_se(0.7 - 1.01 * band, 0.7, n=2000)


def test_every_value_of_a_series_must_be_inside():
    model = pd.Series([1.0, 0.91, 0.7])
    assert within_se(pd.Series([1.0, 0.905, 0.71]), model, n=2000)
    assert not within_se(pd.Series([1.0, 0.905, 0.80]), model, n=2000)  # one value out: the whole check fails


def test_a_model_of_zero_or_one_allows_one_request_either_way():
    assert within_se(np.array([1 / 400, 1 - 1 / 400]), np.array([0.0, 1.0]), n=400)
    assert not within_se(2 / 400, 0.0, n=400)


def test_k_widens_the_band():
    assert not within_se(0.745, 0.7, n=2000)
    assert within_se(0.745, 0.7, n=2000, k=4.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 2.0}, TypeError, "n"),
        ({"n": 10, "k": 0}, ValueError, "k"),
        ({"n": 10, "k": math.nan}, ValueError, "k"),
        ({"n": 10, "k": True}, TypeError, "k"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, names):
    with pytest.raises(error, match=rf"^{names} must"):
        within_se(0.5, 0.5, **kwargs)


def test_a_model_outside_zero_one_or_of_another_length_is_refused():
    with pytest.raises(ValueError, match="model must hold shares"):
        within_se(0.5, 1.5, n=10)
    with pytest.raises(ValueError, match="same length"):
        within_se([0.5, 0.5], [0.5, 0.5, 0.5], n=10)
