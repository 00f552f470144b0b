"""The Pareto tail shape of importance weights (validation/tails.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.kacrice import kac_rice
from validation.tails import pareto_k


@pytest.mark.parametrize("k", [0.3, 1.0])
def test_pareto_shape_is_recovered(k):
    # w = U^(-k) has P(w > t) = t^(-1/k): a generalised Pareto tail of shape k
    lw = -k * np.log(np.random.default_rng(4).random(100000))
    assert abs(pareto_k(lw) - k) < 0.15
    assert pareto_k(lw + 50.0) == pytest.approx(pareto_k(lw))


def test_light_tail_and_degenerate_inputs():
    assert pareto_k(np.log(np.random.default_rng(5).exponential(size=50000))) < 0.3
    assert math.isnan(pareto_k(np.zeros(100)))
    assert math.isnan(pareto_k(np.ones(10)))
    assert math.isnan(pareto_k(np.r_[np.nan, np.zeros(99)]))


def test_kac_rice_reports_the_tail_shape():
    r = kac_rice("sigmoid", 1.5, 0.5, 2, 10, samples=4000, seed=1)
    assert r.pareto_k < 0.5 and r.reliable and r.to_dict()["pareto_k"] == r.pareto_k
