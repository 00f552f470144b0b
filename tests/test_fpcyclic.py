"""The structured QR of the lifted path's bordered block-cyclic matrix (validation.fpcyclic)."""

import numpy as np
import pytest

import validation.fpgain as fpgain
from validation.fpcyclic import CyclicQR
from validation.fpgain import track
from validation.fplifted import _Lifted, _newton
from validation.sampling import sample_network


def _dense(blocks, jb, row, stops):
    n = stops[-1]
    m = np.zeros((n + 1, n + 1))
    m[:n, :n] = np.eye(n)
    for l, b in enumerate(blocks):
        p = l - 1 if l else len(blocks) - 1
        m[stops[l]:stops[l + 1], stops[p]:stops[p + 1]] -= b
    m[:n, n], m[n] = jb, row
    return m


def _random(widths, rng, scale=3.0):
    stops = np.cumsum([0] + list(widths))
    blocks = [scale * rng.standard_normal((widths[l], widths[l - 1])) for l in range(len(widths))]
    return blocks, rng.standard_normal(stops[-1]), rng.standard_normal(stops[-1] + 1), stops


@pytest.mark.parametrize("widths", [[5], [4, 4], [3, 5], [4, 4, 4], [3, 6, 2, 5],
                                    [7, 3, 9, 4, 6], [8] * 20])
def test_solve_matches_the_dense_solve(widths):
    rng = np.random.default_rng(len(widths))
    blocks, jb, row, stops = _random(widths, rng)
    m = _dense(blocks, jb, row, stops)
    r = rng.standard_normal(m.shape[0])
    z = CyclicQR(blocks, jb, row, stops).solve(r)
    assert np.max(np.abs(m @ z - r)) <= 1e-11 * np.max(np.abs(m)) * np.max(np.abs(z))
    np.testing.assert_allclose(z, np.linalg.solve(m, r), rtol=1e-8, atol=1e-10)


def test_solve_is_exact_at_a_turning_point_where_i_minus_k_is_singular():
    """At a fold of the path in beta, det(I - K) = det(I - J) = 0 while the bordered matrix
    is regular: the factorisation must not go through I - K alone."""
    rng = np.random.default_rng(3)
    n = 4
    b1 = rng.standard_normal((n, n))
    v = rng.standard_normal((n, n))
    p = v @ np.diag([1.0, 0.3, -2.0, 5.0]) @ np.linalg.inv(v)    # J = B2 B1 has eigenvalue 1
    blocks = [b1, p @ np.linalg.inv(b1)]
    stops = np.array([0, n, 2 * n])
    jb, row = rng.standard_normal(2 * n), rng.standard_normal(2 * n + 1)
    m = _dense(blocks, jb, row, stops)
    assert abs(np.linalg.det(m[:-1, :-1])) < 1e-10 and np.linalg.cond(m) < 1e6
    r = rng.standard_normal(2 * n + 1)
    np.testing.assert_allclose(CyclicQR(blocks, jb, row, stops).solve(r), np.linalg.solve(m, r),
                               rtol=1e-9, atol=1e-11)


def test_gain_path_with_the_structured_solver_follows_the_dense_path(monkeypatch):
    """The same path (Cauchy s = 3, N = 10, L = 8), followed with the active-unit LU and with
    the structured QR, crosses beta = 1 at the same fixed points."""
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 8, 10, rng=np.random.default_rng([5, 10, 8, 8]))
    sys_ = _Lifted(net)
    d = np.random.default_rng(2).standard_normal(sys_.dim)
    found = []
    for threshold in (10 ** 9, 0):
        monkeypatch.setattr(fpgain, "CYCLIC_MIN_DIM", threshold)
        cands, steps, _ = track(sys_, d, 3000)
        pts = [_newton(sys_, c, 1e-12) for c in cands]
        assert all(conv for _, conv in pts)
        found.append((steps, np.array([x for x, _ in pts])))
    (s_dense, x_dense), (s_cyc, x_cyc) = found
    assert len(x_dense) >= 1 and x_dense.shape == x_cyc.shape
    np.testing.assert_allclose(x_cyc, x_dense, atol=1e-9)
    assert abs(s_cyc - s_dense) <= 0.05 * s_dense
