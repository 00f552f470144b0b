"""Property tests over parameters: no NaN, the right branch, clear errors for bad input."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esd import InvalidParameter, JacobianESD, NetworkSpec

ACTS = ["linear", "relu", "hard-tanh", "tanh", "erf", "sigmoid"]

specs = st.builds(
    lambda act, weights, sw, sb, L: (act, weights, sw, sb, L),
    st.sampled_from(ACTS), st.sampled_from(["gaussian", "orthogonal"]),
    st.floats(0.3, 4.0), st.floats(0.0, 1.0), st.integers(1, 30),
)

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _solver(args):
    act, weights, sw, sb, L = args
    spec = NetworkSpec(act, weights=weights, sigma_w=sw, sigma_b=sb, depth=L)
    try:
        return JacobianESD(spec)
    except InvalidParameter as exc:
        # Orthogonal weights with constant slopes: J J^T is a point mass, refused clearly.
        assert weights == "orthogonal" and "point mass" in str(exc)
        return JacobianESD(NetworkSpec(act, sigma_w=sw, sigma_b=sb, depth=L))


@SETTINGS
@given(specs, st.floats(-3.0, 3.0), st.floats(0.02, math.pi - 0.02))
def test_stieltjes_branch_and_finite(args, log_r, angle):
    sol = _solver(args)
    z = np.array([math.exp(log_r) * sol.moments[0] ** 0.5 * np.exp(1j * angle)])
    m = sol.m_transform(z)
    assert np.all(np.isfinite(m))
    assert m[0].imag <= 1e-12 * abs(m[0])          # Herglotz: Im M <= 0 in C+
    G = sol.stieltjes(z)
    assert G[0].imag < 0


@SETTINGS
@given(specs)
def test_density_grid_no_nan(args):
    sol = _solver(args)
    x = sol.default_grid(40)
    rho = sol.density(x)
    assert np.all(np.isfinite(rho)) and np.all(rho >= 0)
    assert np.all(np.isfinite(sol.moments)) and sol.moments[0] > 0
    lo, hi = sol.support
    assert 0 <= lo < hi
    assert 0.0 <= sol.fraction_outside_unit_circle < 1.0
    F = sol.radial_cdf(np.linspace(0, 1.2 * sol.spectral_radius, 7))
    assert np.all(np.diff(F) >= -1e-12) and F[-1] == 1.0


bad_values = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just(float("nan")),
                       st.just(float("inf")))


@settings(max_examples=40, deadline=None)
@given(bad_values)
def test_bad_sigma_w(value):
    with pytest.raises(InvalidParameter, match="sigma_w"):
        NetworkSpec("tanh", sigma_w=value)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.floats(max_value=-1e-300, allow_nan=False), st.just(float("nan"))))
def test_bad_sigma_b(value):
    with pytest.raises(InvalidParameter, match="sigma_b"):
        NetworkSpec("tanh", sigma_b=value)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=3)))
def test_bad_depth(value):
    with pytest.raises(InvalidParameter, match="depth"):
        NetworkSpec("tanh", depth=value)


@pytest.mark.parametrize("kwargs,name", [
    (dict(activation="softplus"), "activation"),
    (dict(weights="uniform"), "weights"),
    (dict(sigma_w=[1.0, 2.0], depth=3), "sigma_w"),
    (dict(input_variance=-1.0), "input_variance"),
])
def test_bad_spec_names_parameter(kwargs, name):
    with pytest.raises(InvalidParameter, match=name) as info:
        NetworkSpec(**kwargs)
    assert "must" in str(info.value)


def test_bad_points():
    sol = JacobianESD(NetworkSpec("tanh", sigma_w=1.5, depth=2))
    with pytest.raises(InvalidParameter, match="x"):
        sol.density(np.array([1.0, np.nan]))
    with pytest.raises(InvalidParameter, match="grid"):
        sol.default_grid(1)
    with pytest.raises(InvalidParameter, match="z"):
        sol.stieltjes(np.array([0.0]))
    with pytest.raises(InvalidParameter, match="r"):
        sol.radial_cdf(np.array([-1.0]))


def test_orthogonal_linear_is_rejected_clearly():
    with pytest.raises(InvalidParameter, match="point mass"):
        JacobianESD(NetworkSpec("linear", weights="orthogonal", depth=2))
