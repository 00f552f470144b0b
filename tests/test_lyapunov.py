"""Exact logarithmic order parameters of heavy-tailed Jacobians (esd.heavy.lyapunov)."""

import math

import numpy as np
import pytest

from esd import InvalidParameter
from esd.heavy.lyapunov import levy_mean_log, log_spectrum_moments
from esd.heavy.scale_map import mean_log_slope
from validation.sampling import sample_network, standard_stable, stationary_inputs


def _log_dphi_tanh(h):
    a = np.abs(h)
    return math.log(4.0) - 2.0 * a - 2.0 * np.log1p(np.exp(-2.0 * a))


@pytest.mark.parametrize("alpha, reference", [(1.0, 0.27036), (1.5, 0.44069)])
def test_levy_mean_log_against_slogdet(alpha, reference):
    """(1/N) log|det H| of square i.i.d. stable matrices in the Lévy normalisation."""
    assert levy_mean_log(alpha) == pytest.approx(reference, abs=2e-5)
    rng = np.random.default_rng(0)
    n = 1000
    c_alpha = math.gamma(alpha) * math.sin(math.pi * alpha / 2) / math.pi
    a_n = (2 * c_alpha * n) ** (1 / alpha)
    vals = [np.linalg.slogdet(standard_stable(rng, alpha, (n, n)) / a_n)[1] / n for _ in range(4)]
    assert np.mean(vals) == pytest.approx(levy_mean_log(alpha), abs=0.03)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.8])
def test_levy_log_quadrature_integrates_the_density_to_one(alpha):
    from esd.heavy.lyapunov import _levy_log_integrals
    mass, _ = _levy_log_integrals(alpha)
    assert mass == pytest.approx(1.0, abs=1e-8)


def test_mean_log_singular_value_sums_layers():
    m = log_spectrum_moments("tanh", 1.0, 0.1, 1.5, 3)
    layer = m.per_layer[0]
    assert len(m.per_layer) == 3
    assert layer["mean_log_slope"] == pytest.approx(mean_log_slope("tanh", layer["gamma"], 1.5))
    c = math.gamma(1.5) * math.sin(0.75 * math.pi) / math.pi
    assert layer["mean_log_weight_singular_value"] == pytest.approx(
        math.log(2 * c) / 1.5 + levy_mean_log(1.5), rel=1e-12)
    assert m.mean_log_singular_value == pytest.approx(3 * m.lyapunov_mean)
    assert m.moment_order_bound == 1.5 and m.reason == ""
    d = m.to_dict()
    assert d["log_abs_eigenvalue_moments"] == {"1": m.mean_log_singular_value, "2": math.inf}


@pytest.mark.parametrize("act, alpha, bound", [("tanh", 1.0, 1.0), ("sigmoid", 0.8, 0.8),
                                               ("erf", 1.5, 0.75), ("hard-tanh", 1.5, 0.0)])
def test_divergent_means_say_why(act, alpha, bound):
    m = log_spectrum_moments(act, 1.0, 0.1, alpha, 2)
    assert m.mean_log_singular_value == -math.inf and m.lyapunov_mean == -math.inf
    assert m.moment_order_bound == bound and "-inf" in m.reason


def test_invalid_input():
    with pytest.raises(InvalidParameter, match="alpha"):
        log_spectrum_moments("tanh", 1.0, 0.1, 2.0, 1)
    with pytest.raises(InvalidParameter, match="alpha"):
        levy_mean_log(0.0)
    with pytest.raises(InvalidParameter):
        log_spectrum_moments("relu", 1.0, 0.1, 1.5, 1)


@pytest.mark.slow
def test_mean_log_singular_value_against_networks():
    """(1/N) log|det J| of tanh networks with stable(1.5) weights, N = 1500, via
    sum log phi'(h) + log|det W| (exact algebra at finite N; the theory is its N -> inf
    limit). Heavy tails make the sample spread large; 10 networks, 4 standard errors."""
    for depth in (1, 2):
        theory = log_spectrum_moments("tanh", 1.0, 0.1, 1.5, depth).mean_log_singular_value
        vals = []
        for k in range(10):
            rng = np.random.default_rng([1500, k, depth])
            net = sample_network("tanh", "stable", 1.0, 0.1, depth, 1500, alpha=1.5, rng=rng)
            x = np.asarray(stationary_inputs(net, 1, rng=rng))[0]
            tot = 0.0
            for layer in range(depth):
                h = net.W[layer] @ x + net.b[layer]
                tot += _log_dphi_tanh(h).sum() + np.linalg.slogdet(net.W[layer])[1]
                x = np.tanh(h)
            vals.append(tot / 1500)
        se = np.std(vals, ddof=1) / math.sqrt(len(vals))
        assert abs(np.mean(vals) - theory) < 4 * se + 0.02
