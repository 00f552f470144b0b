"""Lifted coordinates and gain-homotopy paths (validation.fplifted)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from esd.activations import get_activation
from esd.exceptions import InvalidParameter
from validation import find_fixed_points, lifted_fixed_points
from validation.fpgain import track
from validation.fplifted import _Lifted, _newton
from validation.fpsearch import ROUNDING_FLOOR
from validation.networks import Network
from validation.sampling import sample_layered, sample_network


def _tanh_diagonal(a, d):
    return Network(W=(a * np.eye(d))[None], b=np.zeros((1, d)), activation=get_activation("tanh"),
                   tied=False)


def _index(sys_, X):
    return int(np.sign(np.linalg.det(sys_.jacobian(X, 1.0, sys_.zero)[0])))


@pytest.mark.parametrize("net", [
    sample_network("sigmoid", "cauchy", 18.0, 0.5, 4, 6, rng=0),
    sample_network("tanh", "gaussian", 3.0, 0.3, 3, 5, rng=1),
    sample_layered("sigmoid", "cauchy", 3.0, 0.5, [6, 3, 4, 6], rng=2),
], ids=["cauchy-square", "gaussian-square", "layered"])
def test_block_cyclic_determinant_is_det_of_i_minus_j(net):
    """det(I - K(X)) = det(I - J) for the J of the same pre-activations, at any X (not only
    at fixed points): the identity behind the lifted index."""
    sys_ = _Lifted(net)
    rng = np.random.default_rng(5)
    for _ in range(5):
        X = rng.random(sys_.dim)
        sign_k, log_k = np.linalg.slogdet(sys_.jacobian(X, 1.0, sys_.zero)[0])
        sign_j, log_j = np.linalg.slogdet(np.eye(sys_.width) - sys_.orbit_jacobian(X))
        assert sign_k == sign_j and log_k == pytest.approx(log_j, rel=1e-9, abs=1e-9)


def test_beta_derivative_matches_finite_differences():
    net = sample_network("sigmoid", "cauchy", 18.0, 0.5, 3, 6, rng=4)
    sys_ = _Lifted(net)
    rng = np.random.default_rng(0)
    X, d = rng.random(sys_.dim), [rng.standard_normal(6) for _ in range(3)]
    for beta in (0.0, 0.4, 1.3):
        jx, jb, _ = sys_.jacobian(X, beta, d)
        eps = 1e-6
        fd_b = (sys_.residual(X, beta + eps, d) - sys_.residual(X, beta - eps, d)) / (2 * eps)
        np.testing.assert_allclose(jb, fd_b, rtol=1e-6, atol=1e-8)
        k = 7
        e = np.zeros(sys_.dim)
        e[k] = eps
        fd_x = (sys_.residual(X + e, beta, d) - sys_.residual(X - e, beta, d)) / (2 * eps)
        np.testing.assert_allclose(jx[:, k], fd_x, rtol=1e-6, atol=1e-8)


def test_bordered_solve_on_active_rows_is_exact_for_decoupled_rows():
    """Rows equal to the identity's (saturated units) are eliminated exactly; with every
    row active the solve is the dense one."""
    from validation.fpgain import _Bordered
    rng = np.random.default_rng(3)
    n = 12
    jx = np.eye(n) + rng.standard_normal((n, n))
    decoupled = [1, 4, 5, 9]
    jx[decoupled] = np.eye(n)[decoupled]
    jb, row, r = rng.standard_normal(n), rng.standard_normal(n + 1), rng.standard_normal(n + 1)
    full = np.zeros((n + 1, n + 1))
    full[:n, :n], full[:n, n], full[n] = jx, jb, row
    coupling = np.abs(jx - np.eye(n)).max(axis=1)
    assert _Bordered(jx, jb, coupling, row).act.size == n - len(decoupled)
    np.testing.assert_allclose(_Bordered(jx, jb, coupling, row).solve(r),
                               np.linalg.solve(full, r), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_Bordered(jx, jb, np.ones(n), row).solve(r),
                               np.linalg.solve(full, r), rtol=1e-10, atol=1e-12)


def test_gain_path_crossings_alternate_in_index_and_are_oracle_points():
    """tanh(1.5 x) coordinate-wise in d = 2 (3^2 fixed points, known in closed form): along a
    gain path the crossings of beta = 1 have index +1, -1, +1, ... (sign det(DR) dbeta/ds is
    constant on the path), and each is one of the 9 points."""
    xs = brentq(lambda x: math.tanh(1.5 * x) - x, 1e-3, 1.0)
    oracle = np.array([(a, b) for a in (-xs, 0.0, xs) for b in (-xs, 0.0, xs)])
    sys_ = _Lifted(_tanh_diagonal(1.5, 2))
    rng = np.random.default_rng(0)
    multiple = 0
    for _ in range(16):
        cands, steps, end = track(sys_, [rng.standard_normal(2)], 3000)
        assert 0 < steps <= 3000 and len(cands) % 2 == 1 and end == "beta>T_MAX"
        signs = []
        for c in cands:
            X, conv = _newton(sys_, c, 1e-13)
            assert conv and np.min(np.max(np.abs(oracle - X), axis=1)) < 1e-12
            signs.append(_index(sys_, X))
        assert signs == [(-1) ** j for j in range(len(signs))]
        multiple += len(signs) > 1
    assert multiple >= 2                                        # some paths turn back through 1


def test_known_points_are_kept_and_classified_as_the_finder_does():
    rng = np.random.default_rng([5, 10, 8, 6])
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 8, 10, rng=rng)
    f = find_fixed_points(net, starts=300, newton_starts=200, rng=rng)
    r = lifted_fixed_points(net, f, paths=0)
    assert (r.q_all, r.q_stable, r.index_sum, r.paths) == (f.q_all, f.q_stable, f.index_sum, 0)
    np.testing.assert_array_equal(r.index, f.index)
    np.testing.assert_allclose(r.points, f.points, atol=1e-12)
    np.testing.assert_allclose(r.spectral_radius, f.spectral_radius, rtol=1e-6)
    assert not r.new.any() and np.all(r.lifted_residual <= 1e-12)
    assert r.orbits.shape == (f.q_all, 80)
    json.dumps(r.to_dict())


def test_lifted_paths_find_a_point_that_an_index_sum_of_1_hides():
    """N = 10, L = 8, Cauchy s = 3: the finder reports 3 points with index sum 1, and a gain
    path finds a 4th (rho ~ 3.6e3, a true fixed point in x: residual ~1e-12). The index sum
    then reads 2: the check could not see the missed pair."""
    rng = np.random.default_rng([5, 10, 8, 8])
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 8, 10, rng=rng)
    f = find_fixed_points(net, starts=300, newton_starts=200, rng=rng)
    assert (f.q_all, f.index_sum) == (3, 1)
    stopped = lifted_fixed_points(net, f, paths=8, steps=20000, branches=0, rng=1)
    assert stopped.paths == 0 and stopped.q_all == 3            # index sum 1: nothing to do
    r = lifted_fixed_points(net, f, paths=8, steps=20000, branches=0, rng=1, stop_on_index=False)
    assert r.paths == 8 and r.q_all >= 4 and r.new.sum() == r.q_all - 3
    fresh = r.new
    assert np.all(r.spectral_radius[fresh] > 1e3) and np.all(r.x_residual[fresh] <= 1e-10)
    assert np.all(r.lifted_residual <= 1e-12)
    x = r.points[fresh]
    assert np.min(np.max(np.abs(x[:, None, :] - f.points[None]), axis=2)) > 1e-3
    assert r.params["stop_on_index"] is False and r.crossings >= r.new.sum()


def test_branch_tracing_finds_the_partner_of_a_known_point():
    """tanh(1.5 x) coordinate-wise in d = 2, given two of its 9 points, both of index +1
    (index sum 2): tracing the curves through them (no path from beta = 0) adds the points
    of index -1 on those curves, each an oracle point, and stops at index sum 1."""
    xs = brentq(lambda x: math.tanh(1.5 * x) - x, 1e-3, 1.0)
    oracle = np.array([(a, b) for a in (-xs, 0.0, xs) for b in (-xs, 0.0, xs)])
    net = _tanh_diagonal(1.5, 2)
    known = oracle[[0, 8]]                     # (-xs, -xs) and (xs, xs): both stable
    r = lifted_fixed_points(net, known, paths=0, branches=4, steps=3000, rng=0)
    assert r.index_sum == 1 and r.paths == 0 and 1 <= r.branches <= 2 and r.q_all > 2
    assert r.new.sum() == r.q_all - 2 and np.all(r.index[r.new] == -1)
    for x in r.points:
        assert np.min(np.max(np.abs(oracle - x), axis=1)) < 1e-12
    assert r.params["branches"] == 4 and r.crossings >= r.new.sum()
    none = lifted_fixed_points(net, known, paths=0, branches=0, rng=0)
    assert (none.q_all, none.index_sum, none.branches) == (2, 2, 0)


@pytest.mark.parametrize("kwargs, name", [
    ({"paths": -1}, "paths"), ({"steps": 0}, "steps"), ({"branches": -1}, "branches"), ({"tol": 0.0}, "tol"),
    ({"tol": 1e-3}, "tol"), ({"dedup_tol": 1e-13}, "dedup_tol"), ({"known": 3}, "known"),
    ({"stop_on_index": 1}, "stop_on_index"), ({"progress": "yes"}, "progress"),
])
def test_bad_inputs_raise_invalid_parameter(kwargs, name):
    net = sample_network("sigmoid", "gaussian", 1.0, 0.5, 2, 4, rng=0)
    with pytest.raises(InvalidParameter, match=name):
        lifted_fixed_points(net, **kwargs)


@pytest.mark.parametrize("activation", ["relu", "hard-tanh", "linear"])
def test_activation_must_be_smooth_and_bounded(activation):
    net = sample_network(activation, "gaussian", 1.0, 0.5, 2, 4, rng=0)
    with pytest.raises(InvalidParameter, match="activation"):
        lifted_fixed_points(net)
    with pytest.raises(InvalidParameter, match="network"):
        lifted_fixed_points("net")


@pytest.mark.slow
def test_lifted_paths_find_the_points_x_cannot_represent():
    """Cauchy s = 3, N = 30, L = 16 (a completeness-benchmark network): the finder in x
    reports no fixed point at all. One gain path in lifted coordinates finds three, of
    index +1, -1, +1 (sum 1) with rho ~ 1e12 to 1e13: their residual in x stays above 1e-6,
    since rounding x to double precision moves F(x) by eps rho, while in lifted
    coordinates it is below 1e-12."""
    rng = np.random.default_rng([11, 3, 30, 16, 9])
    net = sample_network("sigmoid", "cauchy", 90.0, 0.5, 16, 30, rng=rng)
    f = find_fixed_points(net, starts=300, newton_starts=1000, rng=rng)
    assert f.q_all == 0
    r = lifted_fixed_points(net, f, paths=2, steps=15000, branches=0, rng=0)
    assert r.index_sum == 1 and r.q_all >= 1 and r.new.all()
    assert np.all(r.lifted_residual <= 1e-12) and np.all(r.x_residual > ROUNDING_FLOOR)
    assert np.all(r.spectral_radius > 1e10)
