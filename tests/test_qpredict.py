"""The Q(N, L) predictors of docs/theory/q-predictors.md against closed forms (issue 4)."""

import math

import numpy as np
import pytest

import esd
from esd.qtheory.predict import kac_rice_rate, log_growth, predict_q


@pytest.mark.parametrize("sigma2, depth", [(3.0, 1), (3.0, 3), (5.0, 2)])
def test_log_growth_of_gaussian_relu_closed_form(sigma2, depth):
    # Gaussian relu (p = 1/2): F(r) = 1 - p + r^(2/L) / sigma^2 up to b = chi^(L/2), so
    # ∫ log max(1, r) dF = L / (2 sigma^2) (chi log chi - chi + 1), chi = sigma^2 / 2.
    spec = esd.NetworkSpec("relu", sigma_w=math.sqrt(sigma2), sigma_b=0.0, depth=depth)
    chi = sigma2 / 2.0
    exact = depth / (2.0 * sigma2) * (chi * math.log(chi) - chi + 1.0)
    assert log_growth(esd.JacobianESD(spec)) == pytest.approx(exact, rel=1e-8)


def test_log_growth_is_zero_inside_the_unit_disc():
    spec = esd.NetworkSpec("tanh", sigma_w=0.9, sigma_b=0.1, depth=4)
    assert log_growth(esd.JacobianESD(spec)) == 0.0


def test_identical_layers_make_the_rate_linear_in_depth():
    # Radii of the eigenvalue law scale as a power L of the one-layer radii (note in
    # docs/theory/q-predictors.md), so ∫ log max(1, |lambda|) grows linearly with L at the
    # stationary point.
    rates = [kac_rice_rate(esd.NetworkSpec("tanh", sigma_w=2.0, sigma_b=0.1, depth=L),
                           esd.q_star(esd.get_activation("tanh"), 2.0, 0.1))["log_growth"]
             for L in (1, 2, 4)]
    np.testing.assert_allclose(rates, [rates[0], 2 * rates[0], 4 * rates[0]], rtol=1e-6)


def test_gaussian_sigmoid_below_two_is_a_contraction():
    # phi' <= 1/4 and ||W|| -> 2 sigma_w: Lipschitz bound (sigma_w / 2)^L < 1 (docs/theory/fixed-points.md).
    for depth in (1, 3, 8):
        p = predict_q(esd.NetworkSpec("sigmoid", sigma_w=1.5, sigma_b=0.5, depth=depth), 30)
        assert p.contraction["q_is_one"]
        assert p.contraction["lipschitz_bound"] == pytest.approx(0.75 ** depth, rel=1e-9)
        assert p.kac_rice["rate"] == 0.0 and p.kac_rice["q_all"] == 1.0
        assert p.unstable_count["q_all"] == 1.0


def test_chaotic_tanh_predicts_growth():
    p = predict_q(esd.NetworkSpec("tanh", sigma_w=3.0, sigma_b=0.1, depth=2), 20)
    assert p.kac_rice["rate"] > 0.04 and p.kac_rice["q_all"] > 2.0
    assert p.unstable_count["fraction_outside_unit_circle"] > 0.1
    assert not p.contraction["q_is_one"]
    assert p.to_dict()["kac_rice"]["rate"] == p.kac_rice["rate"]


def test_bad_input():
    spec = esd.NetworkSpec("tanh", sigma_w=1.0, depth=2)
    with pytest.raises(esd.InvalidParameter, match="width"):
        predict_q(spec, 0)
    with pytest.raises(esd.InvalidParameter, match="spec"):
        predict_q("tanh", 10)
    with pytest.raises(esd.InvalidParameter, match="q0"):
        kac_rice_rate(spec, -1.0)


def test_heavy_tailed_predictors_from_the_cavity_solver():
    from esd.qtheory.predict import heavy_counts, heavy_rates, predict_q_heavy
    rates = heavy_rates("sigmoid", 6.0, 0.5, 1, population=300, repeats=2, rng=4,
                        input_scales=(2.0, 0.5))
    # gamma* is always among the solved scales (sorted): the unstable count is read there
    assert [f["input_scale_over_gamma_star"] for f in rates["family"]] == [0.5, 1.0, 2.0]
    # Cauchy + sigmoid: E phi = 1/2 exactly, so gamma_1 = sigma_w/2 + sigma_b from any input
    assert rates["gamma_star"] == pytest.approx(3.5)
    for f in rates["family"]:
        assert f["gamma_L"] == pytest.approx(3.5, rel=1e-9)
        c = 3.5 / f["input_scale"]
        assert f["kl"] == pytest.approx(math.log((1 + c) ** 2 / (4 * c)), abs=1e-12)
        assert f["rate"] == pytest.approx(f["log_growth"] - f["kl"])
    assert rates["stationary"]["kl"] == 0.0
    assert rates["best"]["rate"] == max(f["rate"] for f in rates["family"])
    p = heavy_counts(rates, 30)
    f = p["unstable_count"]["fraction_outside_unit_circle"]
    assert 0.0 <= f < 0.1 and p["unstable_count"]["q_all"] == pytest.approx(1.0 + 30 * f)
    assert p["kac_rice"]["q_all"] == pytest.approx(math.exp(30 * p["kac_rice"]["rate"]))
    fp = p["unstable_count_fixed_point"]
    assert fp["q_all"] == pytest.approx(1.0 + 30 * fp["fraction_outside_unit_circle"])
    assert p["kac_rice_fixed_point"]["rate"] >= 0.0
    assert p["contraction"]["q_is_one"] is False
    with pytest.raises(esd.InvalidParameter, match="width"):
        predict_q_heavy("tanh", 1.0, 0.1, 1, 0)
    with pytest.raises(esd.InvalidParameter, match="width"):
        heavy_counts(rates, 0)
    with pytest.raises(esd.InvalidParameter, match="input_scales"):
        heavy_rates("tanh", 1.0, 0.1, 1, input_scales=(1.0, -2.0))
