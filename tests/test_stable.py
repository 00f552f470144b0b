"""Exact stable mean field (docs/theory/heavy-tailed.md): density, expectations, scale map, simulation."""

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esd import InvalidParameter, get_activation
from esd.light.meanfield import q_star
from esd.heavy.scale_map import (alpha_moment, gamma_star, layer_scales, mean_log_slope, scale_map,
                                 slope_expect, stable_kl)
from esd.heavy.stable import stable_abs_moment, stable_pdf
from esd.heavy.stable_quadrature import stable_expect
from validation.sampling import sample_network, standard_stable


def mp_stable_pdf(x, alpha, dps=30):
    """Fourier inversion ``(1/pi) Re int_0^inf exp(i x t - t^alpha) dt`` by mpmath.

    The contour is rotated to ``t = s e^(i phi)``, phi = min(pi/2, pi/(4 alpha)), where
    both exp(i x t) and exp(-t^alpha) decay: an integral independent of Zolotarev's.
    """
    with mp.workdps(dps):
        x, a = mp.mpf(x), mp.mpf(alpha)
        if x == 0:
            return mp.gamma(1 + 1 / a) / mp.pi
        phi = min(mp.pi / 2, mp.pi / (4 * a))
        e, ea = mp.expj(phi), mp.expj(a * phi)
        pts = sorted({mp.mpf(0), 1 / x, mp.mpf(1), 10 / x, mp.mpf(10), mp.inf})
        return mp.re(mp.quad(lambda s: mp.exp(1j * x * s * e - s ** a * ea) * e, pts)) / mp.pi


def mp_tail_series(x, alpha, terms=80, dps=30):
    """Convergent (alpha < 1) series ``(1/pi) sum (-1)^(k+1) Gamma(alpha k + 1)/k! sin(pi alpha k/2) x^(-alpha k - 1)``."""
    with mp.workdps(dps):
        a, X = mp.mpf(alpha), mp.mpf(x)
        return mp.fsum((-1) ** (k + 1) * mp.gamma(a * k + 1) / mp.factorial(k)
                       * mp.sin(mp.pi * a * k / 2) * X ** (-a * k - 1) for k in range(1, terms)) / mp.pi


# -- density ----------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9, 1 - 1e-7, 1 + 1e-7, 1.05, 1.5, 1.9, 1.99])
def test_pdf_matches_mpmath_fourier_inversion(alpha):
    x = [1e-3, 0.1, 0.7, 1.0, 2.5, 10.0, 100.0, 1e3]
    ref = np.array([float(mp_stable_pdf(v, alpha)) for v in x])
    np.testing.assert_allclose(stable_pdf(np.array(x), alpha), ref, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.1, 0.3, 0.8, 0.97])
def test_pdf_far_tail_matches_convergent_series(alpha):
    x = np.array([1e4, 1e10, 1e50, 1e200])
    ref = np.array([float(mp_tail_series(v, alpha)) for v in x])
    np.testing.assert_allclose(stable_pdf(x, alpha), ref, rtol=1e-12)


def test_pdf_closed_forms_and_continuity():
    x = np.linspace(-8.0, 8.0, 33)
    np.testing.assert_allclose(stable_pdf(x, 1.0), 1.0 / (math.pi * (1.0 + x * x)), rtol=1e-15)
    np.testing.assert_allclose(stable_pdf(x, 2.0), np.exp(-x * x / 4) / math.sqrt(4 * math.pi), rtol=1e-15)
    # The density is smooth in alpha: within 1e-9 of 1 it is the Cauchy density to ~1e-8.
    for a in (1 - 1e-9, 1 + 1e-9):
        np.testing.assert_allclose(stable_pdf(x, a), stable_pdf(x, 1.0), rtol=1e-7)
    # alpha -> 2: N(0, 2) in the bulk, differences O(2 - alpha).
    bulk = np.linspace(-3.0, 3.0, 13)
    np.testing.assert_allclose(stable_pdf(bulk, 2 - 1e-6), stable_pdf(bulk, 2.0), atol=1e-6)
    assert stable_pdf(0.0, 1.3) == pytest.approx(math.gamma(1 + 1 / 1.3) / math.pi, rel=1e-15)
    assert stable_pdf(np.inf, 1.3) == 0.0
    assert stable_pdf(np.zeros((2, 3)), 0.7).shape == (2, 3)
    np.testing.assert_array_equal(stable_pdf(-x, 1.4), stable_pdf(x, 1.4))


@pytest.mark.parametrize("alpha", [0.1, 0.3, 1.0, 1.2, 1.8, 2.0])
def test_density_normalised_and_abs_moments(alpha):
    assert stable_expect(lambda h: np.ones_like(h), 1.0, alpha) == pytest.approx(1.0, abs=1e-14)
    # |h|^p is integrated out to 1e300, leaving a tail ~ 1e300^(p - alpha): p < alpha - 0.05
    for p in (-0.5, 0.2 * alpha, min(0.8 * alpha, alpha - 0.05)):
        got = stable_expect(lambda h: np.abs(h) ** p, 1.0, alpha)
        assert got == pytest.approx(stable_abs_moment(p, alpha), rel=1e-12)


def test_abs_moment_closed_form_special_cases():
    assert stable_abs_moment(0.5, 1.0) == pytest.approx(1.0 / math.cos(math.pi / 4), rel=1e-15)
    assert stable_abs_moment(2.0, 2.0) == pytest.approx(2.0, rel=1e-15)       # N(0, 2)
    assert stable_abs_moment(1.5, 1.5) == math.inf
    assert stable_abs_moment(1.0, 1.5) == pytest.approx(2 / math.pi * math.gamma(1 - 1 / 1.5), rel=1e-15)


# -- expectations and the scale map --------------------------------------------------------------
@pytest.mark.parametrize("sw,sb", [(0.5, 0.0), (1.0, 0.1), (3.0, 0.5), (10.0, 2.0)])
def test_cauchy_sigmoid_gamma_star_is_exact(sw, sb):
    # sigmoid(h) + sigmoid(-h) = 1 and the Cauchy law is symmetric: E phi = 1/2 exactly.
    assert alpha_moment("sigmoid", 0.37, 1.0) == pytest.approx(0.5, abs=1e-14)
    assert gamma_star("sigmoid", sw, sb, 1.0) == pytest.approx(sw / 2 + sb, rel=1e-10)


def _mp_cauchy_expect(f, gamma, kinks=()):
    """E f(gamma C), C standard Cauchy, folded to s >= 0, by mpmath at 30 digits."""
    with mp.workdps(30):
        g = lambda s: (f(gamma * s) + f(-gamma * s)) / (mp.pi * (1 + s * s))
        pts = sorted({mp.mpf(0), mp.mpf(1), *[mp.mpf(abs(k)) / gamma for k in kinks if k]}) + [mp.inf]
        return mp.quad(g, pts)


@pytest.mark.parametrize("act,gamma", [("tanh", 0.3), ("tanh", 2.5), ("erf", 1.1),
                                       ("hard-tanh", 0.6), ("hard-tanh", 4.0), ("sigmoid", 1.7)])
def test_alpha_moment_cauchy_against_mpmath(act, gamma):
    phis = {"tanh": mp.tanh, "erf": lambda h: mp.erf(mp.sqrt(mp.pi) * h / 2),
            "hard-tanh": lambda h: max(-1, min(1, h)), "sigmoid": lambda h: 1 / (1 + mp.exp(-h))}
    kinks = (-1, 1) if act == "hard-tanh" else ()
    ref = _mp_cauchy_expect(lambda h: abs(phis[act](h)), mp.mpf(gamma), kinks)
    assert alpha_moment(act, gamma, 1.0) == pytest.approx(float(ref), rel=1e-9)


@pytest.mark.parametrize("act,gamma,alpha", [("tanh", 1.3, 1.5), ("erf", 0.8, 0.7),
                                             ("hard-tanh", 1.2, 1.2), ("sigmoid", 2.0, 0.5)])
def test_alpha_moment_against_monte_carlo(act, gamma, alpha):
    rng = np.random.default_rng(20250101)
    h = gamma * standard_stable(rng, alpha, 1_000_000)
    v = np.abs(get_activation(act).phi(h)) ** alpha
    se = v.std() / math.sqrt(v.size)
    assert abs(alpha_moment(act, gamma, alpha) - v.mean()) < 4.5 * se


@pytest.mark.slow
def test_alpha_moment_against_mpmath_fourier_density():
    # E|tanh(1.3 S)|^1.5 with the density from mpmath's Fourier inversion on [0, 60] and
    # the (here accurate) asymptotic tail series beyond.
    def tail_pdf(s):
        a = mp.mpf(1.5)
        return mp.fsum((-1) ** (k + 1) * mp.gamma(a * k + 1) / mp.factorial(k)
                       * mp.sin(mp.pi * a * k / 2) * s ** (-a * k - 1) for k in range(1, 12)) / mp.pi
    with mp.workdps(20):
        f = lambda s: 2 * mp.tanh(mp.mpf("1.3") * s) ** mp.mpf(1.5)
        body = mp.quad(lambda s: f(s) * mp_stable_pdf(s, 1.5, dps=20), [0, 1, 5, 20, 60])
        tail = mp.quad(lambda s: f(s) * tail_pdf(s), [60, 1000, mp.inf])
    assert alpha_moment("tanh", 1.3, 1.5) == pytest.approx(float(body + tail), rel=1e-9)


@pytest.mark.parametrize("act", ["tanh", "erf", "sigmoid", "hard-tanh"])
def test_alpha_two_is_the_gaussian_mean_field(act):
    # alpha = 2: gamma S ~ N(0, 2 gamma^2), so q = 2 gamma^2 and the map is the length map
    # of sqrt(2) sigma_w, sqrt(2) sigma_b.
    a = get_activation(act)
    assert alpha_moment(act, 0.8, 2.0) == pytest.approx(a.length_map(2 * 0.8 ** 2), rel=1e-10)
    g = gamma_star(act, 1.7, 0.3, 2.0)
    assert 2 * g * g == pytest.approx(q_star(a, math.sqrt(2) * 1.7, math.sqrt(2) * 0.3), rel=1e-10)
    # continuity at the Gaussian end
    assert alpha_moment(act, 0.8, 2 - 1e-7) == pytest.approx(alpha_moment(act, 0.8, 2.0), abs=1e-5)


def test_gamma_star_is_a_fixed_point():
    for act, alpha in [("tanh", 0.8), ("erf", 1.5), ("hard-tanh", 1.0), ("sigmoid", 1.3)]:
        g = gamma_star(act, 2.0, 0.2, alpha)
        assert scale_map(act, g, 2.0, 0.2, alpha) == pytest.approx(g, rel=1e-12)
        assert gamma_star(act, 2.0, 0.2, alpha, gamma0=5.0) == pytest.approx(g, rel=1e-12)


def test_gamma_star_small_weights():
    # Gaussian end: tanh with sigma_w < 1, sigma_b = 0 collapses to 0 (as q* does).
    assert gamma_star("tanh", 0.5, 0.0, 2.0) == 0.0
    # alpha < 2: E|tanh(g S)|^alpha ~ 2 alpha C_alpha g^alpha log(1/g) as g -> 0, so the map
    # pushes small scales up and the fixed point stays positive, if small.
    g = gamma_star("tanh", 0.5, 0.0, 1.5)
    assert 0.0 < g < 0.05
    assert scale_map("tanh", g, 0.5, 0.0, 1.5) == pytest.approx(g, rel=1e-10)


def test_layer_scales_paths():
    sw, sb = [1.0, 2.0, 3.0], 0.1
    via_gamma0 = layer_scales("tanh", sw, sb, 1.3, 3, gamma0=0.5)
    m = alpha_moment("tanh", 0.5, 1.3)
    via_moment = layer_scales("tanh", sw, sb, 1.3, 3, input_moment=m)
    np.testing.assert_allclose(via_gamma0, via_moment, rtol=1e-13)
    assert via_gamma0[0] == pytest.approx((1.0 * m + 0.1 ** 1.3) ** (1 / 1.3), rel=1e-13)
    for l in (1, 2):
        assert via_gamma0[l] == pytest.approx(scale_map("tanh", via_gamma0[l - 1], sw[l], sb, 1.3), rel=1e-13)
    stat = layer_scales("erf", 1.5, 0.2, 0.9, 4)
    np.testing.assert_allclose(stat, gamma_star("erf", 1.5, 0.2, 0.9), rtol=0)
    assert stat.shape == (4,)


@pytest.mark.parametrize("depth", [3])
def test_cauchy_tanh_network_scales_match_simulation(depth):
    """Simulated cauchy tanh network, N = 2000: pre-activations are Cauchy with the scales
    of the recursion. Two checks per layer: (i) given the previous layer, |h| / gamma_hat has
    median 1 (gamma_hat from the exact finite-N formula); (ii) gamma_hat agrees with
    layer_scales within the sampling error of mean_j |x_j|."""
    n, sw, sb, gamma0, n_in = 2000, 1.5, 0.2, 1.0, 3
    net = sample_network("tanh", "cauchy", sw, sb, depth=depth, width=n, rng=7)
    rng = np.random.default_rng(8)
    x = np.tanh(gamma0 * standard_stable(rng, 1.0, (n_in, n)))
    theory = layer_scales("tanh", sw, sb, 1.0, depth, gamma0=gamma0)
    for l in range(depth):
        m = np.abs(x).mean(axis=1)                       # mean_j |x_j|^alpha per input
        se_m = np.abs(x).std(axis=1) / math.sqrt(n)
        gamma_hat = sw * m + sb
        h = x @ np.asarray(net.W[l]).T + np.asarray(net.b[l])
        ratio = np.abs(h) / gamma_hat[:, None]
        # median of |C| is 1; its standard error per input is pi / (2 sqrt(n))
        med = np.median(ratio, axis=1)
        assert np.all(np.abs(med - 1.0) < 4.5 * math.pi / (2 * math.sqrt(n)))
        assert np.all(np.abs(gamma_hat - theory[l]) < 5.0 * sw * se_m + 1e-12)
        x = np.tanh(h)


# -- slopes -------------------------------------------------------------------------------------
def test_slope_expect_cauchy_against_mpmath():
    ref = _mp_cauchy_expect(lambda h: mp.sech(h) ** 4, mp.mpf("1.4"))
    assert slope_expect("tanh", lambda d: d * d, 1.4, 1.0) == pytest.approx(float(ref), rel=1e-9)
    # hard-tanh: slope 1 on |h| < 1: E phi'^2 = P(|gamma C| < 1) = (2/pi) arctan(1/gamma)
    assert slope_expect("hard-tanh", lambda d: d * d, 2.0, 1.0) == pytest.approx(
        2 / math.pi * math.atan(0.5), rel=1e-12)


def test_mean_log_slope_cases():
    assert mean_log_slope("linear", 1.0, 1.5) == 0.0
    for act in ("relu", "hard-tanh"):
        assert mean_log_slope(act, 1.0, 1.5) == -math.inf
    for act in ("tanh", "sigmoid", "erf"):
        assert mean_log_slope(act, 1.0, 0.9) == -math.inf          # E|S| = inf
    assert mean_log_slope("erf", 1.0, 1.5) == -math.inf            # E S^2 = inf
    assert mean_log_slope("erf", 0.7, 2.0) == pytest.approx(-math.pi * 0.49 / 2, rel=1e-15)
    assert mean_log_slope("hard-tanh", 0.0, 1.5) == 0.0             # h = 0 surely
    # alpha = 2 against the Gaussian trapezoid of esd.activations (a separate code path)
    for act in ("tanh", "sigmoid"):
        a = get_activation(act)
        ref = a.gauss_expect(lambda h: np.log(a.dphi(h)), 2 * 0.9 ** 2)
        assert mean_log_slope(act, 0.9, 2.0) == pytest.approx(ref, rel=1e-10)


def test_mean_log_slope_tanh_against_monte_carlo():
    # log sech^2 h = log 4 - 2|h| - 2 log1p(e^(-2|h|)): |h| has infinite variance at
    # alpha = 1.5, so Monte Carlo checks the bounded remainder (standard error) and the
    # quadrature checks E|S| against its closed form.
    gamma, alpha = 1.2, 1.5
    rng = np.random.default_rng(3)
    h = gamma * standard_stable(rng, alpha, 1_000_000)
    r = -2 * np.log1p(np.exp(-2 * np.abs(h)))
    e_abs = stable_expect(np.abs, 1.0, alpha)
    assert e_abs == pytest.approx(stable_abs_moment(1.0, alpha), rel=1e-12)
    remainder = mean_log_slope("tanh", gamma, alpha) - math.log(4.0) + 2 * gamma * e_abs
    assert abs(remainder - r.mean()) < 4.5 * r.std() / math.sqrt(r.size)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["relu", "linear"])
def test_unbounded_activation_refused(act):
    with pytest.raises(InvalidParameter, match="infinite"):
        alpha_moment(act, 1.0, 1.5)
    with pytest.raises(InvalidParameter, match="infinite"):
        gamma_star(act, 1.0, 0.1, 0.8)


def test_divergent_expectation_refused():
    with pytest.raises(InvalidParameter, match="does not converge"):
        stable_expect(lambda h: np.abs(h) ** 1.2, 1.0, 1.2)


@pytest.mark.parametrize("call", [
    lambda: stable_pdf(1.0, 0.0), lambda: stable_pdf(1.0, 2.5), lambda: stable_pdf(np.nan, 1.0),
    lambda: stable_pdf(1.0, "1"), lambda: stable_expect(np.tanh, -1.0, 1.0),
    lambda: stable_expect(np.tanh, 1.0, 0.01), lambda: stable_expect("tanh", 1.0, 1.0),
    lambda: stable_expect(lambda h: np.full_like(h, np.nan), 1.0, 1.0),
    lambda: scale_map("tanh", 1.0, 0.0, 0.1, 1.0), lambda: scale_map("tanh", 1.0, 1.0, -0.1, 1.0),
    lambda: gamma_star("tanh", 1.0, 0.1, 1.0, gamma0=0.0), lambda: gamma_star("nope", 1.0, 0.1, 1.0),
    lambda: layer_scales("tanh", 1.0, 0.1, 1.0, 0), lambda: layer_scales("tanh", [1.0, 2.0], 0.1, 1.0, 3),
    lambda: layer_scales("tanh", 1.0, 0.1, 1.0, 2, input_moment=0.3, gamma0=1.0),
    lambda: layer_scales("tanh", 1.0, 0.1, 1.0, 2, input_moment=-1.0),
    lambda: stable_abs_moment(-1.0, 1.0), lambda: slope_expect("tanh", None, 1.0, 1.0),
])
def test_invalid_parameters(call):
    with pytest.raises(InvalidParameter):
        call()


bad_alpha = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=2.0, exclude_min=True),
                      st.just(float("nan")), st.just(float("inf")))


@settings(max_examples=40, deadline=None)
@given(bad_alpha)
def test_bad_alpha_always_refused(alpha):
    for call in (lambda: stable_pdf(0.5, alpha), lambda: scale_map("tanh", 1.0, 1.0, 0.0, alpha),
                 lambda: gamma_star("erf", 1.0, 0.0, alpha)):
        with pytest.raises(InvalidParameter):
            call()


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(max_value=0.0), st.just(float("nan"))),
       st.one_of(st.floats(max_value=-1e-300), st.just(float("nan"))))
def test_bad_scales_always_refused(sigma_w, sigma_b):
    with pytest.raises(InvalidParameter):
        scale_map("tanh", 1.0, sigma_w, 0.1, 1.0)
    with pytest.raises(InvalidParameter):
        scale_map("tanh", 1.0, 1.0, sigma_b, 1.0)
    with pytest.raises(InvalidParameter):
        layer_scales("tanh", [1.0, sigma_w], 0.1, 1.0, 2)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.2, 2.0), st.floats(1e-3, 1e3), st.floats(-1e6, 1e6))
def test_pdf_positive_finite_below_its_maximum(alpha, scale, x):
    p = stable_pdf(np.array([x, x / scale]), alpha)
    assert np.all(np.isfinite(p)) and np.all(p >= 0.0)
    assert np.all(p <= stable_pdf(0.0, alpha) * (1 + 1e-12))


# -- KL divergence between scales ----------------------------------------------------------------
@pytest.mark.parametrize("c", [0.1, 0.5, 2.0, 10.0, 1000.0])
def test_stable_kl_closed_forms_and_limits(c):
    cauchy = math.log((1 + c) ** 2 / (4 * c))
    assert stable_kl(1.0, c, 1.0) == pytest.approx(cauchy, rel=1e-14)
    assert stable_kl(3.0, 3.0 * c, 1.0) == pytest.approx(cauchy, rel=1e-14)   # scale-free
    assert stable_kl(1.0, c, 1.0 - 1e-6) == pytest.approx(cauchy, rel=1e-4)   # quadrature path
    if c > 1:   # for c < 1 the alpha -> 2 limit is not uniform (heavy tails cost only log c)
        gauss = 0.5 * (1 / c ** 2 - 1) + math.log(c)
        assert stable_kl(1.0, c, 2.0) == pytest.approx(gauss, rel=1e-14)
        if c == 2.0:   # the quadrature path near alpha = 2 (a few seconds)
            assert stable_kl(1.0, c, 1.9999) == pytest.approx(gauss, rel=1e-3)


def test_stable_kl_against_scipy_levy_stable():
    """Independent reference: scipy's levy_stable density (beta = 0, scale 1 is our S) and
    adaptive quadrature of p log(p / p_c)."""
    from scipy import integrate, stats
    alpha, c = 1.5, 0.4
    p = lambda x: stats.levy_stable.pdf(x, alpha, 0.0)   # noqa: E731
    f = lambda x: p(x) * np.log(p(x) / (p(x / c) / c))   # noqa: E731
    ref = 2 * sum(integrate.quad(f, lo, hi, limit=200)[0]
                  for lo, hi in [(0, 1), (1, 5), (5, 30), (30, 300), (300, np.inf)])
    assert stable_kl(1.0, c, alpha) == pytest.approx(ref, rel=1e-6)
    assert stable_kl(2.0, 2.0, alpha) == 0.0
    with pytest.raises(InvalidParameter, match="gamma_q"):
        stable_kl(1.0, 0.0, alpha)
