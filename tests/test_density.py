"""Invariants of the solved spectrum: normalisation, CDF, moments, branch."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from esd import JacobianESD, NetworkSpec

CASES = [
    NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=1),
    NetworkSpec("tanh", sigma_w=1.0, sigma_b=0.05, depth=3),
    NetworkSpec("sigmoid", sigma_w=4.0, sigma_b=0.5, depth=2),
    NetworkSpec("erf", weights="orthogonal", sigma_w=1.4, sigma_b=0.1, depth=3),
    NetworkSpec("relu", sigma_w=1.3, depth=1),
    NetworkSpec("hard-tanh", sigma_w=1.2, sigma_b=0.1, depth=2),
    NetworkSpec("relu", weights="orthogonal", sigma_w=1.2, depth=2),
]


def _ids(spec):
    return f"{spec.act.name}-{spec.weights}-L{spec.depth}"


@pytest.mark.parametrize("spec", CASES, ids=_ids)
def test_density_integrates_to_one_minus_atom(spec):
    sol = JacobianESD(spec)
    t_up = math.log(sol.support[1])
    f = lambda t: sol.log_density(np.array([t]))[0]
    lo = math.log(sol.support[0]) if sol.support[0] > 0 else t_up - 150.0
    mass = quad(f, lo, t_up, limit=400, epsabs=1e-12)[0]
    assert mass == pytest.approx(1.0 - sol.atom_at_zero, abs=2e-6)


@pytest.mark.parametrize("spec", CASES, ids=_ids)
def test_moments_from_density_match_closed_form(spec):
    sol = JacobianESD(spec)
    t_up = math.log(sol.support[1])
    lo = math.log(sol.support[0]) if sol.support[0] > 0 else t_up - 60.0
    for k in (1, 2):
        f = lambda t: math.exp(k * t) * sol.log_density(np.array([t]))[0]
        mk = quad(f, lo, t_up, limit=400, epsrel=1e-11)[0]
        assert mk == pytest.approx(sol.moments[k - 1], rel=1e-7)


@pytest.mark.parametrize("spec", CASES, ids=_ids)
def test_cdf_monotone_and_consistent(spec):
    sol = JacobianESD(spec)
    x = sol.default_grid(60)
    F = sol.cdf(x)
    assert np.all(np.diff(F) >= -1e-12)
    assert F[0] >= sol.atom_at_zero - 1e-12
    assert sol.cdf(np.array([2 * sol.support[1]]))[0] == 1.0
    # CDF differences agree with the integrated density between two grid points.
    a, b = x[len(x) // 3], x[2 * len(x) // 3]
    mass = quad(lambda t: sol.log_density(np.array([t]))[0], math.log(a), math.log(b), epsabs=1e-12)[0]
    assert F[2 * len(x) // 3] - F[len(x) // 3] == pytest.approx(mass, abs=1e-8)


@pytest.mark.parametrize("spec", CASES, ids=_ids)
def test_herglotz_and_asymptotics(spec):
    sol = JacobianESD(spec)
    rng = np.random.default_rng(0)
    z = np.exp(rng.uniform(-3, 3, 30)) * np.exp(1j * rng.uniform(0.01, 3.1, 30))
    G = sol.stieltjes(z)
    assert np.all(G.imag < 0)
    # Conjugation symmetry below the axis.
    np.testing.assert_allclose(sol.stieltjes(z.conj()), G.conj(), rtol=1e-12)
    big = np.array([1e8 * sol.moments[0] * 1j])
    m = sol.m_transform(big)
    assert m[0] == pytest.approx(sol.moments[0] / big[0], rel=1e-6)


def test_grid_density_matches_pointwise():
    sol = JacobianESD(NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=10))
    x = sol.default_grid(300)
    together = sol.density(x)
    alone = np.array([sol.density(np.array([v]))[0] for v in x[::30]])
    np.testing.assert_allclose(together[::30], alone, rtol=1e-10)
    assert np.all(np.isfinite(together)) and np.all(together >= 0)


def test_layer_dependent_equals_identical_when_equal():
    spec = NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=4)
    same = NetworkSpec("tanh", sigma_w=[1.5] * 4, sigma_b=[0.1] * 4, depth=4)
    x = np.array([0.01, 0.3, 2.0])
    np.testing.assert_allclose(JacobianESD(spec).density(x), JacobianESD(same).density(x), rtol=1e-10)


def test_layer_dependent_moments():
    spec = NetworkSpec("tanh", sigma_w=[1.2, 1.5, 2.0], sigma_b=0.1, depth=3, input_variance=0.3)
    sol = JacobianESD(spec)
    mf = sol.mean_field
    assert mf.q[0] == pytest.approx(1.2 ** 2 * 0.3 + 0.01, rel=1e-14)
    assert sol.moments[0] == pytest.approx(np.prod(mf.chi), rel=1e-12)
    t_up = math.log(sol.support[1])
    f = lambda t: math.exp(t) * sol.log_density(np.array([t]))[0]
    assert quad(f, t_up - 60, t_up, limit=400, epsrel=1e-11)[0] == pytest.approx(sol.moments[0], rel=1e-7)


def test_deep_network_log_density_no_overflow():
    sol = JacobianESD(NetworkSpec("tanh", sigma_w=3.0, sigma_b=0.1, depth=1200))
    t_up = sol.log_support[1]
    assert t_up > 710          # x itself would overflow float64
    assert sol.support[1] == math.inf
    rho = sol.log_density(np.linspace(t_up - 200, t_up - 1, 50))
    assert np.all(np.isfinite(rho)) and np.all(rho > 0)
