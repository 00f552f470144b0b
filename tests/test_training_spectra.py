"""Power-law fits of weight spectra: the Cauchy and stable check values, the gaussian bulk,
Pareto samples of known exponent, invariances, the layer report and refused inputs."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from esd.exceptions import InvalidParameter
from training.spectra import HEAVY_RANGE, PowerLawFit, esd_of_weights, fit_power_law, layer_power_laws
from validation.sampling import standard_stable

REGIMES = {"very heavy-tailed", "heavy-tailed", "not heavy-tailed"}


def _cauchy(n, seed, m=None):
    return np.tan(np.pi * (np.random.default_rng(seed).random((n, m or n)) - 0.5))


@pytest.fixture(scope="module")
def cauchy_500():
    """Eigenvalues and fits of three N = 500 Cauchy matrices (W = C / N: alpha is scale-free)."""
    evs = [esd_of_weights(_cauchy(500, s) / 500) for s in (0, 1, 2)]
    return evs, [fit_power_law(ev) for ev in evs]


def test_cauchy_matrix_has_tail_exponent_one_and_a_half(cauchy_500):
    # Theory 1 + mu/2 = 1.5 (mu = 1). Measured over seeds 0-19 at N = 500: alpha = 1.496 with
    # std 0.063 per fit (powerlaw's own stderr is 0.045; the KS choice of x_min adds the
    # rest), no detectable bias. The mean of three fits has std 0.036, so 0.11 is 3 std.
    alphas = [f.alpha for f in cauchy_500[1]]
    assert abs(np.mean(alphas) - 1.5) < 0.11, alphas
    assert all(f.regime == "very heavy-tailed" for f in cauchy_500[1])
    assert all(f.loglikelihood_ratio_exponential > 0 for f in cauchy_500[1])


def test_stable_matrix_exponent_follows_its_index(cauchy_500):
    # Theory 1 + 1.5/2 = 1.75. Measured over seeds 0-19 at N = 500: alpha = 1.880 with std
    # 0.103 per fit, a finite-N bias of +0.13 (the stable law approaches its t^-1.5 tail more
    # slowly than Cauchy its t^-1). Accepted: 1.88 +- 3 std of a mean of three (0.18).
    alphas = [fit_power_law(esd_of_weights(standard_stable(np.random.default_rng(s), 1.5, (500, 500)))).alpha
              for s in (0, 1, 2)]
    assert 1.70 < np.mean(alphas) < 2.06, alphas
    assert np.mean(alphas) > np.mean([f.alpha for f in cauchy_500[1]])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_gaussian_matrix_is_not_heavy_tailed(seed):
    # Marchenko-Pastur with its sharp edge. Measured over seeds 0-19 at N = 500: the KS-minimal
    # fit gives alpha from 4.6 to 23 and the exponential always has the better likelihood
    # (R from -5.4 to -0.8); every fit with alpha <= 6 has p < 1e-4, so it is rejected.
    fit = fit_power_law(esd_of_weights(np.random.default_rng(seed).standard_normal((500, 500))))
    assert fit.regime == "not heavy-tailed", fit
    assert fit.loglikelihood_ratio_exponential < 0, fit


@pytest.mark.parametrize("alpha, regime", [(4.0, "heavy-tailed"), (8.0, "not heavy-tailed")])
def test_pareto_samples_recover_exponents_above_three(alpha, regime):
    # p(x) = (alpha - 1) x^-alpha on [1, inf), 1000 samples. Measured over seeds 0-9: 4.08 +- 0.12
    # and 8.17 +- 0.28, so 0.4 and 0.9 are >= 3 std. powerlaw's default alpha range [0, 3]
    # would pin the first at 3 and make the second unreachable.
    x = np.random.default_rng(0).random(1000) ** (-1.0 / (alpha - 1.0))
    fit = fit_power_law(x)
    assert abs(fit.alpha - alpha) < (0.4 if alpha < HEAVY_RANGE[1] else 0.9), fit
    assert fit.regime == regime


def test_scale_invariance_and_esd_against_eigvalsh():
    w = _cauchy(200, 4)
    assert fit_power_law(esd_of_weights(7.0 * w)).alpha == pytest.approx(
        fit_power_law(esd_of_weights(w)).alpha, rel=1e-9)
    rng = np.random.default_rng(0)
    for shape in [(6, 6), (6, 4), (4, 6)]:
        small = rng.standard_normal(shape)
        ev = esd_of_weights(small)
        assert ev.shape == (min(shape),)
        assert np.all(np.diff(ev) >= 0) and np.all(ev >= 0)
        # W^T W has n_in eigenvalues; when n_in > n_out the extra ones are zeros
        expected = np.linalg.eigvalsh(small.T @ small / shape[0])[-min(shape):]
        assert np.allclose(ev, expected, atol=1e-12)
    assert esd_of_weights(np.ones((3, 9))).shape == (3,)
    assert esd_of_weights(np.ones((9, 3), dtype=np.float32)).shape == (3,)


def test_fixed_xmin_xmax_and_min_tail(cauchy_500):
    ev, fit = cauchy_500[0][0], cauchy_500[1][0]
    assert fit.n == 500 and fit.n_tail == np.sum(ev >= fit.xmin)
    fixed = fit_power_law(ev, xmin=fit.xmin)
    assert fixed.alpha == pytest.approx(fit.alpha, rel=1e-9) and fixed.n_tail == fit.n_tail
    capped = fit_power_law(ev, xmin=fit.xmin, xmax=ev[-6])
    assert capped.n_tail == fit.n_tail - 5 and capped.n == 500
    deep = fit_power_law(ev, min_tail=400)
    assert deep.n_tail >= 400
    # rank-deficiency zeros are not eigenvalues of the tail
    assert fit_power_law(np.concatenate([np.zeros(50), ev])).alpha == pytest.approx(fit.alpha, rel=1e-9)


def test_fit_prints_nothing(capfd):
    fit_power_law(esd_of_weights(_cauchy(64, 0)))
    assert capfd.readouterr() == ("", "")


def test_layer_power_laws_report():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((64, 64)), _cauchy(64, 1), rng.standard_normal((2, 64))]
    rows = layer_power_laws(weights)
    assert [r["layer"] for r in rows] == [1, 2, 3]
    assert [r["shape"] for r in rows] == [[64, 64], [64, 64], [2, 64]]
    assert rows[1]["regime"] != "not heavy-tailed" and rows[1]["alpha"] < HEAVY_RANGE[0]
    assert rows[2]["regime"] == "too small to fit" and rows[2]["alpha"] is None
    fields = set(PowerLawFit.__dataclass_fields__) | {"layer", "shape", "eigenvalues_max", "eigenvalues_mean"}
    assert all(set(r) == fields for r in rows)
    assert rows[2]["eigenvalues_max"] == pytest.approx(esd_of_weights(weights[2])[-1])
    json.dumps(rows, allow_nan=False)
    with pytest.raises(InvalidParameter, match="min_tail"):
        layer_power_laws(weights, min_tail=1)


_BAD_W = st.one_of(
    st.tuples(st.integers(2, 5), st.integers(2, 5), st.sampled_from([np.nan, np.inf, -np.inf]))
      .map(lambda t: np.where(np.eye(t[0], t[1]) > 0, t[2], 1.0)),
    st.integers(0, 6).map(np.ones),
    st.tuples(st.integers(0, 1), st.integers(0, 6)).map(lambda t: np.ones(t)),
    st.tuples(st.integers(0, 6), st.integers(0, 1)).map(lambda t: np.ones(t)),
    st.integers(2, 3).map(lambda n: np.ones((n, n, n))),
    st.sampled_from([np.array([["a", "b"], ["c", "d"]]), np.ones((3, 3), dtype=complex),
                     np.ones((3, 3), dtype=bool), np.array([[None, 1], [1, 1]]), "W", [[1, 2], [3]]]),
)


@settings(max_examples=30, deadline=None)
@given(_BAD_W)
def test_bad_matrices_are_named(w):
    with pytest.raises(InvalidParameter, match="W"):
        esd_of_weights(w)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 9), st.integers(0, 20))
def test_too_few_positive_values_are_refused(n_pos, n_zero):
    ev = np.concatenate([np.zeros(n_zero), np.arange(1.0, n_pos + 1.0)])
    with pytest.raises(InvalidParameter, match="eigenvalues"):
        fit_power_law(ev)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([
    ({"eigenvalues": np.ones((4, 4))}, "eigenvalues"),
    ({"eigenvalues": np.array([1.0, np.nan] * 10)}, "eigenvalues"),
    ({"eigenvalues": np.array(["1"] * 20)}, "eigenvalues"),
    ({"min_tail": 2}, "min_tail"), ({"min_tail": 10.0}, "min_tail"), ({"min_tail": True}, "min_tail"),
    ({"xmin": -1.0}, "xmin"), ({"xmin": np.nan}, "xmin"), ({"xmin": "1"}, "xmin"), ({"xmin": 15.0}, "xmin"),
    ({"xmax": 0.0}, "xmax"), ({"xmax": 5.0}, "eigenvalues"), ({"xmin": 3.0, "xmax": 2.0}, "xmax"),
]))
def test_bad_fit_arguments_are_named(case):
    kwargs, name = case
    kwargs = {"eigenvalues": np.arange(1.0, 21.0), **kwargs}
    with pytest.raises(InvalidParameter, match=name):
        fit_power_law(kwargs.pop("eigenvalues"), **kwargs)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=3, max_size=40), st.integers(3, 12))
def test_any_positive_sample_fits_or_is_refused(values, min_tail):
    # ties, constant samples and tiny ones included: a fit or a named refusal, nothing else
    try:
        fit = fit_power_law(np.array(values), min_tail=min_tail)
    except InvalidParameter as err:
        assert err.name == "eigenvalues" and len(values) < min_tail
        return
    assert fit.regime in REGIMES and min_tail <= fit.n_tail <= fit.n == len(values)
    json.dumps(fit.to_dict(), allow_nan=False)
