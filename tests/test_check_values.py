"""Check values of docs/theory/check-values.md and of the radial law (docs/theory/light-tailed.md), to 1e-8
relative or better."""

import math

import mpmath as mp
import numpy as np
import pytest

from esd import JacobianESD, NetworkSpec
from esd.light.meanfield import mean_field


@pytest.mark.parametrize("L", [1, 2, 5, 10, 30])
def test_relu_critical_moments(L):
    sol = JacobianESD(NetworkSpec("relu", sigma_w=math.sqrt(2.0), depth=L))
    assert sol.moments[0] == pytest.approx(1.0, rel=1e-12)
    assert sol.moments[1] == pytest.approx(1.0 + 2.0 * L, rel=1e-12)


def test_relu_L10_m2_is_21():
    sol = JacobianESD(NetworkSpec("relu", sigma_w=math.sqrt(2.0), depth=10))
    assert sol.moments[1] == pytest.approx(21.0, rel=1e-12)


@pytest.mark.parametrize("act,weights,sw,sb,L", [
    ("tanh", "gaussian", 1.5, 0.1, 3), ("tanh", "orthogonal", 1.2, 0.05, 7),
    ("sigmoid", "gaussian", 4.0, 0.5, 2), ("erf", "orthogonal", 2.0, 0.2, 4),
    ("hard-tanh", "gaussian", 1.1, 0.1, 5),
])
def test_m1_m2_closed_forms(act, weights, sw, sb, L):
    sol = JacobianESD(NetworkSpec(act, weights=weights, sigma_w=sw, sigma_b=sb, depth=L))
    mf = sol.mean_field
    m1 = np.prod(mf.chi)
    ratio = mf.mu[:, 1] / mf.mu[:, 0] ** 2
    m2 = m1 ** 2 * (1 + np.sum(ratio)) if weights == "gaussian" else m1 ** 2 * (1 + np.sum(ratio - 1))
    assert sol.moments[0] == pytest.approx(m1, rel=1e-12)
    assert sol.moments[1] == pytest.approx(m2, rel=1e-12)


@pytest.mark.parametrize("L,edge", [(1, 4.0), (2, 6.75), (3, 256 / 27), (6, 7 ** 7 / 6 ** 6)])
def test_fuss_catalan_right_edge(L, edge):
    sol = JacobianESD(NetworkSpec("linear", sigma_w=1.0, depth=L))
    assert sol.support[1] == pytest.approx((L + 1) ** (L + 1) / L ** L, rel=1e-12)
    assert sol.support[1] == pytest.approx(edge, rel=1e-10)
    assert sol.support[0] == 0.0


def test_fuss_catalan_moments():
    # Fuss-Catalan numbers binom((L+1)k, k)/(Lk+1) for L = 3.
    sol = JacobianESD(NetworkSpec("linear", sigma_w=1.0, depth=3))
    fc = [math.comb(4 * k, k) / (3 * k + 1) for k in range(1, 5)]
    np.testing.assert_allclose(sol.moments, fc, rtol=1e-12)


def test_marchenko_pastur_density():
    sol = JacobianESD(NetworkSpec("linear", sigma_w=1.0, depth=1))
    x = np.linspace(0.05, 3.95, 40)
    np.testing.assert_allclose(sol.density(x), np.sqrt(4 * x - x * x) / (2 * np.pi * x), rtol=1e-10)


@pytest.mark.parametrize("L", [1, 3, 10])
def test_critical_relu_right_edge_exact(L):
    # x(m) = (1+m) (2m+1)^L / m on the real branch; the edge is its minimum over m > 0.
    sol = JacobianESD(NetworkSpec("relu", sigma_w=math.sqrt(2.0), depth=L))
    with mp.workdps(30):
        f = lambda m: (1 + m) * (2 * m + 1) ** L / m
        dlog = lambda m: 1 / (1 + m) + 2 * L / (2 * m + 1) - 1 / m
        m0 = mp.findroot(dlog, (mp.mpf(1e-4), mp.mpf(10)), solver="illinois", verify=False)
        m_star = mp.findroot(dlog, m0)
        edge = float(f(m_star))
    assert sol.support[1] == pytest.approx(edge, rel=1e-10)


def test_critical_bernoulli_edge_asymptotics():
    # e L / p for large L: L = 10, p = 1/2 gives 54.3; the exact edge is within 0.5%.
    sol = JacobianESD(NetworkSpec("relu", sigma_w=math.sqrt(2.0), depth=10))
    assert sol.support[1] == pytest.approx(math.e * 10 / 0.5, rel=5e-3)


@pytest.mark.parametrize("L", [1, 2, 3, 10])
def test_relu_radial_law(L):
    # Critical gaussian relu: F(r) = 1 - p + r^(2/L) / sigma_w^2 (docs/theory/light-tailed.md).
    sol = JacobianESD(NetworkSpec("relu", sigma_w=math.sqrt(2.0), depth=L))
    r = np.array([0.01, 0.1, 0.3, 0.5, 0.8, 0.95])
    expected = 0.5 + r ** (2.0 / L) / 2.0
    np.testing.assert_allclose(sol.radial_cdf(r), expected, rtol=1e-10)
    assert sol.spectral_radius == pytest.approx(1.0, rel=1e-12)
    assert sol.atom_at_zero == pytest.approx(0.5, rel=1e-15)
    assert sol.fraction_outside_unit_circle == 0.0


def test_radial_law_noncritical_relu():
    sw = 1.7
    L = 4
    sol = JacobianESD(NetworkSpec("relu", sigma_w=sw, depth=L))
    # Gaussian Bernoulli(p): S(u) = prod 1/(sigma^2 (1+u)) (1+u)/(u + p) = (sigma^2 (u+p))^-L.
    r = np.array([0.2, 0.7, 1.0, 1.4])
    expected = 1.0 - 0.5 + r ** (2.0 / L) / sw ** 2
    np.testing.assert_allclose(sol.radial_cdf(r), np.minimum(expected, 1.0), rtol=1e-10)
    b = sol.spectral_radius
    assert b == pytest.approx((sw ** 2 / 2) ** (L / 2), rel=1e-12)
    assert sol.fraction_outside_unit_circle == pytest.approx(1 - (0.5 + 1 / sw ** 2), rel=1e-10)


def test_orthogonal_inner_radius():
    # Single ring theorem: a^-2 = E[1/x] over J J^T = prod_l E[1/d_l] / sigma_w^2.
    spec = NetworkSpec("tanh", weights="orthogonal", sigma_w=1.5, sigma_b=0.1, depth=3)
    sol = JacobianESD(spec)
    q = sol.mean_field.q[0]
    z = np.linspace(-12, 12, 20001)
    inv_d = np.sum(np.cosh(np.sqrt(q) * z) ** 4 * np.exp(-z * z / 2)) * (z[1] - z[0]) / np.sqrt(2 * np.pi)
    a = (1.5 ** 2 / inv_d) ** (3 / 2)
    assert sol.inner_radius == pytest.approx(a, rel=1e-6)


def test_mean_field_closed_forms():
    mf = mean_field(NetworkSpec("erf", sigma_w=1.3, sigma_b=0.2, depth=1))
    q = mf.q_star
    assert q == pytest.approx(1.3 ** 2 * (2 / math.pi) * math.asin(math.pi * q / (2 + math.pi * q)) + 0.04,
                              rel=1e-13)
    np.testing.assert_allclose(mf.mu[0], (1 + np.arange(1, 5) * math.pi * q) ** -0.5, rtol=1e-14)
    mf = mean_field(NetworkSpec("hard-tanh", sigma_w=1.3, sigma_b=0.2, depth=1))
    assert mf.mu[0, 0] == pytest.approx(math.erf(1 / math.sqrt(2 * mf.q_star)), rel=1e-14)


def test_free_projections_orthogonal_hard_tanh():
    # J J^T = sigma^4 P2 O P1 O^T P2 with free projections of trace p: continuous part on
    # [0, 4 p (1 - p) sigma^4] (p > 1/2), atoms 1 - p at 0 and 2p - 1 at sigma^4.
    sw = 1.2
    sol = JacobianESD(NetworkSpec("hard-tanh", weights="orthogonal", sigma_w=sw, sigma_b=0.1, depth=2))
    p = sol.mean_field.p_nonzero[0]
    assert sol.atom_at_zero == pytest.approx(1 - p, rel=1e-14)
    assert sol.atom_at_top == pytest.approx((sw ** 4, 2 * p - 1), rel=1e-12)
    assert sol.support[1] == pytest.approx(4 * p * (1 - p) * sw ** 4, rel=1e-10)
    from scipy.integrate import quad
    t_up = math.log(sol.support[1])
    mass = quad(lambda t: sol.log_density(np.array([t]))[0], t_up - 60, t_up, limit=400)[0]
    assert mass == pytest.approx(1 - sol.atom_at_zero - sol.atom_at_top[1], abs=1e-7)
    F = sol.cdf(np.array([0.0, sol.support[1], sw ** 4 * (1 - 1e-12), sw ** 4]))
    np.testing.assert_allclose(F, [1 - p, 1 - (2 * p - 1), 1 - (2 * p - 1), 1.0], atol=1e-7)


def test_custom_activation_matches_builtin():
    import esd
    act = esd.custom_activation("my-tanh", np.tanh, lambda h: 1 / np.cosh(h) ** 2, slope_even=True,
                                strip=np.pi / 2)
    ref = JacobianESD(NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=3))
    sol = JacobianESD(NetworkSpec(act, sigma_w=1.5, sigma_b=0.1, depth=3))
    assert sol.mean_field.q_star == pytest.approx(ref.mean_field.q_star, rel=1e-12)
    np.testing.assert_allclose(sol.moments, ref.moments, rtol=1e-10)
    # No analytic continuation of a user's slope: away from the real axis the plain
    # trapezoid is still accurate; on it, to a few digits.
    z = np.array([1.0 + 1.0j, 5.0 + 2.0j])
    np.testing.assert_allclose(sol.stieltjes(z), ref.stieltjes(z), rtol=1e-8)
    x = ref.default_grid(20)[5:15]
    np.testing.assert_allclose(sol.density(x), ref.density(x), rtol=2e-2)


@pytest.mark.parametrize("L,sw", [(2, 1.3), (3, 1.2), (6, 1.5)])
def test_orthogonal_relu_radial_law(L, sw):
    # S(u) = [(1+u) / (sigma^2 (u + p))]^L = 1/r^2  =>  F = 1 + u, u = (k p - 1)/(1 - k),
    # k = sigma^2 r^(-2/L), p = 1/2.
    sol = JacobianESD(NetworkSpec("relu", weights="orthogonal", sigma_w=sw, depth=L))
    b = sol.spectral_radius
    r = b * np.array([0.2, 0.5, 0.8, 0.95, 0.999])
    k = sw ** 2 * r ** (-2.0 / L)
    F = 1.0 + (0.5 * k - 1.0) / (1.0 - k)
    np.testing.assert_allclose(sol.radial_cdf(r), np.clip(F, 0.5, 1.0), rtol=1e-10)
    assert b == pytest.approx((sw ** 2 / 2) ** (L / 2), rel=1e-12)


def test_moments_beyond_the_float_range_are_inf_not_nan():
    """chi > 1 over 10,000 layers: m_1 = chi^L overflows; every moment must read inf, and
    the normalised series must give the same moments as before at moderate depth."""
    import warnings

    import esd
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deep = esd.JacobianESD(esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=10000)).moments
        relu = esd.JacobianESD(esd.NetworkSpec("relu", sigma_w=2 ** 0.5, depth=10)).moments
    assert np.all(np.isposinf(deep))
    np.testing.assert_allclose(relu, [1.0, 21.0, 641.0, 23001.0], rtol=1e-12)
