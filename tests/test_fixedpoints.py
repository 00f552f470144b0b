"""Fixed points of one network map (validation/fixedpoints.py): exact oracles and invariants."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from esd.activations import get_activation
from esd.exceptions import InvalidParameter
from validation.fixedpoints import (FixedPointResult, find_fixed_points, iterate_flops,
                                    lipschitz_bound)
from validation.networks import Network
from validation.sampling import sample_network

TANH = get_activation("tanh")


def _layer(w, b=None, activation=TANH, tied=False):
    """A one-layer network x -> phi(x W^T + b)."""
    w = np.asarray(w, dtype=float)
    b = np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=float)
    return Network(W=w[None], b=b[None], activation=get_activation(activation), tied=tied)


def _x_star(a):
    """The positive root of tanh(a x) = x, a > 1."""
    return brentq(lambda x: math.tanh(a * x) - x, 1e-3, 1.0)


def _invariants(r: FixedPointResult, tol=1e-12):
    k = r.q_all
    assert r.points.shape[0] == k and r.stable.shape == r.index.shape == r.residual.shape == (k,)
    from validation.fpsearch import ROUNDING_FLOOR
    # above tol only at the rounding floor, or for points found in lifted coordinates
    assert np.all(r.residual[~r.lifted] <= max(tol, ROUNDING_FLOOR))
    assert r.lifted.shape == (k,) and not np.any(r.found_by_iteration & r.lifted)
    np.testing.assert_array_equal(r.stable, r.spectral_radius < 1.0)
    assert r.q_stable == int(r.stable.sum()) <= r.q_all
    assert set(np.unique(r.index)) <= {-1, 0, 1}
    assert np.all(r.index[r.stable] == 1)                  # det(I - J) > 0 when rho(J) < 1
    assert r.index_sum == int(r.index.sum())
    total = r.basin_share.sum() + r.periodic_fraction + r.unresolved_fraction
    assert total == pytest.approx(1.0, abs=1e-12)
    assert np.all(r.basin_share >= 0) and len(r.periods) == len(r.periodic_shares) == len(r.orbits)
    assert all(p >= 2 and o.shape == (p, r.points.shape[1]) for p, o in zip(r.periods, r.orbits))
    json.dumps(r.to_dict())


# -- exact oracle: coordinate-wise tanh(a x) ------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_coordinatewise_tanh_has_3_to_the_d_fixed_points(d):
    a = 2.0
    r = find_fixed_points(_layer(a * np.eye(d)), starts=400, rng=d)
    _invariants(r)
    assert (r.q_all, r.q_stable, r.index_sum) == (3 ** d, 2 ** d, 1)
    xs = _x_star(a)
    expected = {tuple(v) for v in itertools.product((-xs, 0.0, xs), repeat=d)}
    got = np.round(r.points, 9)
    assert {tuple(v) for v in got} == {tuple(np.round(v, 9)) for v in expected}
    # index = (-1)^(number of zero coordinates); stable iff no zero coordinate
    zeros = np.sum(np.abs(r.points) < 1e-6, axis=1)
    np.testing.assert_array_equal(r.index, (-1) ** zeros)
    np.testing.assert_array_equal(r.stable, zeros == 0)
    np.testing.assert_allclose(r.spectral_radius[r.stable], a * (1 - xs ** 2), rtol=1e-9)
    assert np.all(r.basin_share[~r.stable] == 0) and np.all(r.basin_share[r.stable] > 0)


@pytest.mark.parametrize("d", [1, 2])
def test_basins_of_coordinatewise_tanh_are_the_orthants(d):
    """Starts are drawn first from rng: the basin of (s_1 x*, ..., s_d x*) is the orthant s."""
    seed, n = 3, 300
    r = find_fixed_points(_layer(2.0 * np.eye(d)), starts=n, rng=seed)
    x0 = -1.0 + 2.0 * np.random.default_rng(seed).random((n, d))
    for point, share in zip(r.points[r.stable], r.basin_share[r.stable]):
        in_orthant = np.all(np.sign(x0) == np.sign(point), axis=1)
        assert share == pytest.approx(in_orthant.mean(), abs=1e-12)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.floats(1.2, 4.0), min_size=1, max_size=3))
def test_any_diagonal_tanh_map_has_3_to_the_d_fixed_points(slopes):
    d = len(slopes)
    r = find_fixed_points(_layer(np.diag(slopes)), starts=200, rng=0)
    assert (r.q_all, r.q_stable, r.index_sum) == (3 ** d, 2 ** d, 1)


# -- weight-tied double well with coupling 1/m^2 (Ke et al., docs/theory/fixed-points.md) ------
@pytest.mark.parametrize("m2, d", [(100.0, 3), (10.0, 4)])
def test_double_well_with_weak_coupling_keeps_2_to_the_d_attractors(m2, d):
    coupling = np.random.default_rng(0).standard_normal((d, d))
    r = find_fixed_points(_layer(2.0 * np.eye(d) + coupling / m2, tied=True), starts=800, rng=1)
    _invariants(r)
    assert (r.q_stable, r.q_all, r.index_sum) == (2 ** d, 3 ** d, 1)
    assert r.unresolved_fraction == 0 and r.periods == []


def test_double_well_with_strong_coupling_has_fewer_attractors():
    d = 4
    coupling = np.random.default_rng(0).standard_normal((d, d))
    r = find_fixed_points(_layer(2.0 * np.eye(d) + coupling, tied=True), starts=800, rng=1)
    _invariants(r)
    assert 1 <= r.q_stable < 2 ** d and r.index_sum == 1


# -- gaussian sigmoid: one fixed point at every depth (docs/theory/fixed-points.md) ------------
@pytest.mark.parametrize("width", [10, 30])
@pytest.mark.parametrize("depth", [1, 2, 5, 20])
def test_gaussian_sigmoid_has_exactly_one_fixed_point(width, depth):
    for seed in range(3):
        net = sample_network("sigmoid", "gaussian", 1.5, 0.5, depth, width, rng=seed)
        # an explicit newton_starts runs Phase 2 even where the Lipschitz bound certifies
        r = find_fixed_points(net, starts=200, newton_starts=50, rng=seed)
        _invariants(r)
        assert (r.q_stable, r.q_all, r.index_sum) == (1, 1, 1)
        assert r.basin_share[0] == 1.0 and r.newton_converged == 2 * 50  # in x and in u
        assert r.spectral_radius[0] < 1.0


def test_lipschitz_certificate_skips_newton_only_by_default():
    net = sample_network("sigmoid", "gaussian", 1.5, 0.5, 10, 30, rng=0)
    bound = lipschitz_bound(net)
    w_norms = np.linalg.norm(net.W, ord=2, axis=(1, 2))
    assert bound == pytest.approx(np.prod(0.25 * w_norms)) and bound < 1.0
    r = find_fixed_points(net, starts=100, rng=0)
    assert r.certified_unique and r.newton_starts == 0 and r.q_all == 1
    assert find_fixed_points(net, starts=100, newton_starts=20, rng=0).newton_starts == 20
    strong = sample_network("tanh", "gaussian", 3.0, 0.1, 2, 10, rng=0)
    assert lipschitz_bound(strong) > 1.0
    assert not find_fixed_points(strong, starts=50, rng=0).certified_unique


# -- periodic attractors -------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3])
def test_two_cycles_of_negative_tanh_are_not_fixed_points(d):
    """tanh(-2 x): every coordinate flips between +-x*; the only fixed point is 0 (unstable)."""
    r = find_fixed_points(_layer(-2.0 * np.eye(d)), starts=300, rng=0)
    _invariants(r)
    assert (r.q_all, r.q_stable, r.index_sum) == (1, 0, 1)
    np.testing.assert_allclose(r.points[0], 0.0, atol=1e-12)
    assert r.periods == [2] * 2 ** (d - 1) and r.periodic_fraction == 1.0
    xs = _x_star(2.0)
    for orbit in r.orbits:
        np.testing.assert_allclose(np.abs(orbit), xs, rtol=1e-10)
        np.testing.assert_allclose(orbit[1], -orbit[0], rtol=1e-10)
    assert all(rho < 1 for rho in r.periodic_spectral_radius)


def test_cyclic_shift_has_period_3_orbits_unresolved_below_period_max():
    """x -> tanh(2 P x), P the cyclic shift: fixed points 0, +-x*(1,1,1); two 3-cycles."""
    net = _layer(2.0 * np.roll(np.eye(3), 1, axis=0))
    r = find_fixed_points(net, starts=300, rng=0)
    _invariants(r)
    assert (r.q_all, r.q_stable, r.index_sum) == (3, 2, 1)
    assert r.periods == [3, 3] and r.unresolved_fraction == 0
    short = find_fixed_points(net, starts=300, rng=0, period_max=2)
    _invariants(short)
    assert short.periods == [] and short.unresolved_fraction == pytest.approx(r.periodic_fraction)


def test_slow_oscillating_convergence_is_a_fixed_point_not_a_2_cycle():
    """tanh(-0.99 x): J(0) = -0.99, iterates alternate sides and look 2-periodic for a while."""
    r = find_fixed_points(_layer(-0.99 * np.eye(3)), starts=200, rng=0)
    assert (r.q_all, r.q_stable) == (1, 1) and r.periods == [] and r.basin_share[0] == 1.0


# -- other activations -----------------------------------------------------------------------
def test_linear_map_fixed_point_is_the_linear_solve():
    rng = np.random.default_rng(4)
    w = 0.3 * rng.standard_normal((6, 6)) / math.sqrt(6)
    b = rng.standard_normal(6)
    r = find_fixed_points(_layer(w, b, activation="linear"), starts=50, newton_starts=20, rng=0)
    _invariants(r)
    assert (r.q_all, r.q_stable) == (1, 1)
    np.testing.assert_allclose(r.points[0], np.linalg.solve(np.eye(6) - w, b), atol=1e-11)
    assert r.params["box"] == [-1.0, 1.0]


def test_expanding_relu_map_diverges_and_is_unresolved():
    """relu(3 x + 1/2) = x has no solution (x > 0 gives x = -1/4); iterates grow like 3^k."""
    r = find_fixed_points(_layer(3.0 * np.eye(2), [0.5, 0.5], activation="relu"), starts=40,
                          newton_starts=10, rng=0)
    assert r.unresolved_fraction == 1.0 and r.q_all == 0 and r.index_sum == 0
    assert r.iterations < 40 * 700           # stopped once |x| > DIVERGED, not at max_iter


def test_hard_tanh_network_piecewise_jacobian():
    net = sample_network("hard-tanh", "gaussian", 1.5, 0.3, 2, 12, rng=0)
    r = find_fixed_points(net, starts=300, rng=0)
    _invariants(r)
    assert (r.q_stable, r.q_all, r.index_sum) == (1, 3, 1)
    assert r.basin_share[r.stable][0] == 1.0
    assert np.any(np.abs(r.points) == 1.0)                 # saturated units sit on the box


# -- heavy tails ----------------------------------------------------------------------------
@pytest.mark.parametrize("activation, sigma_w, sigma_b, seed, counts", [
    ("tanh", 0.5, 0.1, 0, (2, 5)),
    ("sigmoid", 8.0, 0.5, 2, (2, 3)),
])
def test_cauchy_network_with_several_attractors(activation, sigma_w, sigma_b, seed, counts):
    net = sample_network(activation, "cauchy", sigma_w, sigma_b, 3, 20, rng=seed)
    r = find_fixed_points(net, starts=500, rng=1)
    _invariants(r)
    assert (r.q_stable, r.q_all) == counts
    assert r.unresolved_fraction == 0 and r.index_sum == 1 and r.n_rejected == 0
    assert r.basin_share[r.stable].sum() + r.periodic_fraction == pytest.approx(1.0)
    assert np.all(r.basin_share[r.stable] > 0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cauchy_tanh_invariants(seed):
    net = sample_network("tanh", "cauchy", 1.0, 0.1, 3, 20, rng=seed)
    r = find_fixed_points(net, starts=300, newton_starts=300, rng=seed)
    _invariants(r)
    assert r.q_all >= 1


# -- result, reproducibility, inputs -----------------------------------------------------------
def test_same_seed_same_result_and_summary():
    net = sample_network("tanh", "cauchy", 0.5, 0.1, 3, 20, rng=0)
    a, b = (find_fixed_points(net, starts=200, newton_starts=100, rng=5) for _ in range(2))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.basin_share, b.basin_share)
    da, db = a.to_dict(), b.to_dict()
    da.pop("timings"), db.pop("timings")
    assert da == db
    assert da["params"]["starts"] == 200 and da["params"]["law"] == "cauchy"
    assert da["params"]["finder_seed_entropy"] == 5
    assert "points" not in da and da["q_all"] == a.q_all


def test_extra_starts_count_in_the_basin_shares():
    xs = _x_star(2.0)
    r = find_fixed_points(_layer([[2.0]]), starts=0, extra_starts=[[0.3], [0.7], [-0.2]],
                          newton_starts=30, rng=0)
    assert r.n_starts == 3
    shares = dict(zip(np.round(r.points[:, 0], 6), r.basin_share))
    assert shares[round(xs, 6)] == pytest.approx(2 / 3) and shares[round(-xs, 6)] == pytest.approx(1 / 3)


def test_iterations_and_flops():
    net = sample_network("sigmoid", "gaussian", 1.5, 0.5, 4, 8, rng=0)
    assert iterate_flops(net, 100) == 2 * 100 * 8 ** 2 * 4
    r = find_fixed_points(net, starts=100, rng=0, progress=True)
    assert r.iterations >= 100
    assert set(r.timings) == {"iterate", "refine", "newton", "homotopy", "lifted", "total"}


@pytest.mark.parametrize("kwargs, name", [
    ({"starts": -1}, "starts"),
    ({"starts": 2.5}, "starts"),
    ({"starts": 0}, "starts"),
    ({"extra_starts": np.zeros((3, 5))}, "extra_starts"),
    ({"extra_starts": [[np.nan] * 4]}, "extra_starts"),
    ({"extra_starts": [["a"] * 4]}, "extra_starts"),
    ({"newton_starts": -3}, "newton_starts"),
    ({"tol": 0.0}, "tol"),
    ({"tol": 1e-3}, "tol"),
    ({"tol": True}, "tol"),
    ({"dedup_tol": 1e-13}, "dedup_tol"),
    ({"dedup_tol": math.inf}, "dedup_tol"),
    ({"max_iter": 0}, "max_iter"),
    ({"period_max": 0}, "period_max"),
    ({"newton_rounds": 0}, "newton_rounds"),
    ({"homotopy_paths": -1}, "homotopy_paths"),
    ({"homotopy_steps": 0}, "homotopy_steps"),
    ({"homotopy_steps": 1.5}, "homotopy_steps"),
    ({"lifted_paths": -1}, "lifted_paths"),
    ({"lifted_steps": 0}, "lifted_steps"),
    ({"lifted_branches": -1}, "lifted_branches"),
    ({"box": (1.0, -1.0)}, "box"),
    ({"box": "wide"}, "box"),
    ({"rng": "seed"}, "rng"),
    ({"progress": "yes"}, "progress"),
])
def test_bad_inputs_raise_invalid_parameter(kwargs, name):
    net = sample_network("tanh", "gaussian", 1.0, 0.1, 2, 4, rng=0)
    kwargs = {"starts": 10, **kwargs}
    with pytest.raises(InvalidParameter) as err:
        find_fixed_points(net, **kwargs)
    assert err.value.name == name


def test_network_must_be_a_network():
    with pytest.raises(InvalidParameter, match="network"):
        find_fixed_points(np.eye(3))


# -- Phase 2: multiple-shooting Newton ------------------------------------------------------
def test_preactivation_jacobian_is_that_of_h_L():
    from validation.netmap import _Map
    from validation.xp_activations import dphi
    net = sample_network("tanh", "gaussian", 1.5, 0.3, 3, 6, rng=0)
    m = _Map(net)
    x = np.random.default_rng(1).random((2, 6))
    step = 1e-6
    num = np.stack([(m.preactivation(x + step * e) - m.preactivation(x - step * e)) / (2 * step)
                    for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(m.preactivation_jacobian_t(x), num, rtol=0, atol=1e-8)
    h = m.preactivation(x)
    np.testing.assert_allclose(m.jacobian_t(x), m.preactivation_jacobian_t(x) * dphi(m.act, h, np)[:, None, :],
                               rtol=1e-13, atol=1e-15)


def test_preactivation_newton_converges_where_newton_in_x_rarely_does():
    """Saturated sigmoid Cauchy network (N = 30, s = 3, L = 4): from the same 1000 starts
    Newton on F(x) - x reaches its fixed point 3 times, Newton in the last pre-activation
    460 times (measured); the finder's index sum is 1."""
    from validation.fpsearch import _newton, _newton_start_points, _preactivation_newton
    from validation.netmap import _Map, _sup
    net = sample_network("sigmoid", "cauchy", 90.0, 0.5, 4, 30, rng=np.random.default_rng([7, 5]))
    m = _Map(net)
    xs = _newton_start_points(np.random.default_rng(0), 1000, (0.0, 1.0), np.empty((0, 30)))
    with np.errstate(over="ignore", invalid="ignore"):
        xn, _, conv_x, _ = _newton(m, xs, 1, 1e-12, (0.0, 1.0))
        xu, conv_u, _ = _preactivation_newton(m, xs, 1e-12)
    assert conv_x.sum() < 20 and conv_u.sum() > 200
    assert _sup(m(xu[conv_u]) - xu[conv_u]).max() <= 1e-11   # tol, or just above at the rounding floor
    assert _sup(xu[conv_u] - xn[conv_x][0]).max() <= 1e-6  # the same point
    r = find_fixed_points(net, starts=300, newton_starts=200, rng=1)
    assert r.index_sum == 1 and r.q_all == 1


# -- Phase 3: homotopy paths -----------------------------------------------------------------
@pytest.mark.parametrize("seed", [2, 3])
def test_homotopy_path_crossings_alternate_in_index(seed):
    """Along the path of x = (1 - t) c + t F(x) from t = 0, sign det(I - t J) dt/ds is
    constant, so its crossings of t = 1 are fixed points of index +1, -1, +1, ...: a path
    that jumped to another branch would break the pattern."""
    from validation.fphomotopy import _track_paths
    from validation.fpsearch import _newton
    from validation.netmap import _i_minus_j, _Map
    m = _Map(sample_network("sigmoid", "cauchy", 30.0, 0.5, 3, 10, rng=seed))
    crossings = 0
    for k in range(5):
        cand, steps = _track_paths(m, np.random.default_rng(k).random((1, 10)), 3000)
        assert 0 < steps <= 3000
        x, _, conv, _ = _newton(m, cand, 1, 1e-12, (0.0, 1.0))
        assert conv.all()
        signs = [int(np.sign(np.linalg.det(a))) for a in _i_minus_j(m.jacobian_t(x))]
        assert signs == [(-1) ** j for j in range(len(signs))]
        crossings += len(signs)
    assert crossings > 5                                   # some paths cross t = 1 again


def test_homotopy_paths_find_all_9_fixed_points_of_coordinatewise_tanh():
    """tanh(2x) in d = 2: each path reaches an attractor at t = 1, turns back beyond it and
    crosses t = 1 again at the unstable points, so 16 paths find all 3^2 points."""
    from validation.fphomotopy import homotopy_fixed_points
    from validation.netmap import _Map
    m = _Map(_layer(2.0 * np.eye(2)))
    pts, crossings, steps = homotopy_fixed_points(
        m, np.random.default_rng(0).uniform(-1, 1, (16, 2)), 2000, 1e-12, (-1.0, 1.0))
    assert crossings >= 16 and steps > 0
    xs = _x_star(2.0)
    want = {(a, b) for a in (-xs, 0.0, xs) for b in (-xs, 0.0, xs)}
    got = {tuple(p) for p in np.round(pts, 9) + 0.0}
    assert got == {tuple(np.round(w, 9) + 0.0) for w in want}


def test_homotopy_completes_what_newton_misses():
    """Sigmoid Cauchy N = 20, s = 3, L = 3 (measured): Newton from 100 starts per round
    finds 8 fixed points with index sum 0; the first 16 homotopy paths find the 9th."""
    net = sample_network("sigmoid", "cauchy", 60.0, 0.5, 3, 20, rng=7)
    a = find_fixed_points(net, starts=200, newton_starts=100, rng=1, homotopy_paths=0)
    b = find_fixed_points(net, starts=200, newton_starts=100, rng=1)
    _invariants(a), _invariants(b)
    assert (a.q_all, a.index_sum, a.homotopy_paths) == (8, 0, 0)
    assert (b.q_all, b.index_sum, b.homotopy_paths) == (9, 1, 16) and b.homotopy_crossings > 0
    np.testing.assert_array_equal(a.points, b.points[:8])   # Phases 1 and 2 are unchanged
    assert b.to_dict()["params"]["homotopy_paths"] == 64


def test_newton_converges_at_the_rounding_floor():
    """g(z) = 1e7 (z^3 - 0.027): rounding keeps |g| near 3e-11 at z = 0.3, above tol = 1e-12,
    while the Newton step there is below tol. The row converges at its floor; a residual
    that is not a rounding floor (the step stays large) does not."""
    from validation.fpsearch import _damped_newton
    z, res, conv, _ = _damped_newton(np.array([[0.5]]), lambda z: 1e7 * (z ** 3 - 0.027),
                                     lambda z, g: -g / (3e7 * z ** 2), 1e-12)
    assert conv[0] and abs(z[0, 0] - 0.3) <= 1e-15 and 1e-12 < res[0] <= 1e-9
    z, res, conv, _ = _damped_newton(np.array([[0.5]]), lambda z: z ** 2 + 1e-10,
                                     lambda z, g: -g / (2 * z), 1e-12)
    assert not conv[0]


def test_strongly_unstable_point_at_its_rounding_floor_is_counted():
    """Sigmoid Cauchy N = 30, s = 3, L = 8 (measured): the one fixed point has rho ~ 5e5 and
    a residual floor of ~3e-11. With tol = 1e-12 as the only criterion it was rejected and
    the finder reported no fixed point (index sum 0)."""
    rng = np.random.default_rng([11, 3, 30, 8, 1])
    net = sample_network("sigmoid", "cauchy", 90.0, 0.5, 8, 30, rng=rng)
    r = find_fixed_points(net, starts=300, newton_starts=200, rng=rng, homotopy_paths=0)
    _invariants(r)
    assert (r.q_all, r.index_sum, r.n_rejected) == (1, 1, 0)
    assert r.spectral_radius[0] > 1e5 and r.residual[0] > 1e-12


# -- Phase 4: lifted gain paths ----------------------------------------------------------------
def test_lifted_phase_completes_what_newton_leaves_empty():
    """N = 10, L = 12, Cauchy s = 3: Newton (no Phase 3) finds no fixed point at all; one
    lifted gain path (Phase 4) finds three, with index sum 1. Phases 1-2 are unchanged, since
    Phase 4 draws from the generator last."""
    def run(**kw):
        rng = np.random.default_rng([7, 10, 12, 4])
        net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 12, 10, rng=rng)
        return find_fixed_points(net, starts=200, newton_starts=100, rng=rng, homotopy_paths=0, **kw)
    a, b = run(), run(lifted_paths=4)
    assert (a.q_all, a.index_sum, a.lifted_paths) == (0, 0, 0)
    assert b.q_all >= 3 and b.index_sum == 1 and b.lifted.all() and b.lifted_paths >= 1
    assert b.lifted_crossings >= b.q_all and b.lifted_path_steps > 0
    assert b.newton_starts == a.newton_starts and b.n_starts == a.n_starts
    _invariants(b)
    d = b.to_dict()
    assert d["lifted"] == [True] * b.q_all and d["params"]["lifted_paths"] == 4


def test_branch_tracing_finds_the_saddle_that_random_paths_miss():
    """N = 10, L = 6, Cauchy s = 3, Phases 1-2 only: two stable points, index sum 2. Two
    random lifted paths add nothing; tracing the gain curves through the two points finds
    the saddle between them (index -1, rho ~ 1e3, a true fixed point in x) in about a
    second, and the index sum is 1."""
    def run(**kw):
        rng = np.random.default_rng([9, 10, 6, 3])
        net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 6, 10, rng=rng)
        return find_fixed_points(net, starts=100, newton_starts=50, rng=rng, homotopy_paths=0, **kw)
    a, paths, b = run(), run(lifted_paths=2), run(lifted_branches=4)
    assert (a.q_all, a.index_sum, a.q_stable) == (2, 2, 2)
    assert (paths.q_all, paths.index_sum, paths.lifted_paths, paths.lifted_branches) == (2, 2, 2, 0)
    assert (b.q_all, b.index_sum, b.lifted_paths) == (3, 1, 0) and 1 <= b.lifted_branches <= 2
    assert b.index[2] == -1 and b.lifted[2] and b.spectral_radius[2] > 1e2 and b.residual[2] <= 1e-10
    np.testing.assert_array_equal(b.points[:2], a.points)
    _invariants(b)
    d = b.to_dict()
    assert d["lifted_branches"] == b.lifted_branches and d["params"]["lifted_branches"] == 4


def test_lifted_exhaust_continues_past_index_sum_one():
    """The network above: branch tracing stops at index sum 1 with the saddle. With
    lifted_exhaust Phase 4 goes on through its whole budget (every traced point, then the
    random path) from the same draws, so it reports a superset of those points, still with
    index sum 1 when the added points come in +1/-1 pairs; on a network whose uniqueness
    the Lipschitz bound certifies it does not run at all."""
    def run(**kw):
        rng = np.random.default_rng([9, 10, 6, 3])
        net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 6, 10, rng=rng)
        return find_fixed_points(net, starts=100, newton_starts=50, rng=rng, homotopy_paths=0,
                                 lifted_branches=4, lifted_paths=1, lifted_steps=3000, **kw)
    stop, full = run(), run(lifted_exhaust=True)
    assert (stop.q_all, stop.index_sum, stop.lifted_paths) == (3, 1, 0)
    assert full.lifted_paths == 1 and full.lifted_branches >= stop.lifted_branches
    assert full.q_all >= stop.q_all and full.index_sum == 1
    for x in stop.points:
        assert np.min(np.max(np.abs(full.points - x), axis=1)) <= 1e-6
    assert full.to_dict()["params"]["lifted_exhaust"] is True and "lifted_exhaust" not in stop.params
    _invariants(full)
    rng = np.random.default_rng(5)
    net = sample_network("sigmoid", "gaussian", 1.5, 0.5, 2, 6, rng=rng)
    calm = find_fixed_points(net, starts=20, rng=rng, lifted_branches=4, lifted_paths=1, lifted_exhaust=True)
    assert (calm.q_all, calm.index_sum, calm.lifted_paths, calm.lifted_branches) == (1, 1, 0, 0)
    with pytest.raises(InvalidParameter, match="lifted_exhaust"):
        find_fixed_points(net, starts=5, lifted_exhaust=1)


def test_lifted_exhaust_audits_a_count_with_index_sum_one():
    """A weak search (30 starts, no homotopy) finds one point, index sum 1, so Phase 4 is
    not triggered. It misses a pair of index +1 (stable, rho 1e-5) and -1 (rho 344) that a
    strong search (2000 starts) confirms. With lifted_exhaust Phase 4 runs all the same and
    finds both: an index sum of 1 is no certificate, and the audit is what tests it."""
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 4, 8, rng=np.random.default_rng([25, 7]))
    kw = dict(starts=30, newton_starts=10, newton_rounds=1, homotopy_paths=0, lifted_branches=4,
              lifted_paths=1, lifted_steps=2000)
    weak = find_fixed_points(net, rng=np.random.default_rng(25), **kw)
    audit = find_fixed_points(net, rng=np.random.default_rng(25), lifted_exhaust=True, **kw)
    assert (weak.q_all, weak.q_stable, weak.index_sum, weak.lifted_branches) == (1, 1, 1, 0)
    assert (audit.q_all, audit.q_stable, audit.index_sum) == (3, 2, 1)
    assert audit.lifted_branches >= 1 and audit.lifted_paths == 1 and audit.lifted.sum() == 2
    assert np.max(np.abs(audit.points[0] - weak.points[0])) == 0.0
    assert sorted(audit.index) == [-1, 1, 1]
    _invariants(audit)


def test_lifted_phase_uses_the_structured_qr_on_deep_networks(monkeypatch):
    """Phase 4 runs at every depth: with the structured QR of validation.fpcyclic forced
    (its threshold below N L = 120) it completes the same network as the active-unit LU."""
    import validation.fpgain as fpgain
    monkeypatch.setattr(fpgain, "CYCLIC_MIN_DIM", 100)
    rng = np.random.default_rng([7, 10, 12, 4])
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 12, 10, rng=rng)
    r = find_fixed_points(net, starts=200, newton_starts=100, rng=rng, homotopy_paths=0,
                          lifted_paths=4)
    assert r.q_all >= 3 and r.index_sum == 1 and r.lifted.all() and r.lifted_paths >= 1
    _invariants(r)
