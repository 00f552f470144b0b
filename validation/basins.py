"""Basins of attraction on a grid of starts, and the spectra of J at fixed points (docs/theory/fixed-points.md).

For pictures and per-start bookkeeping: :func:`basin_labels` iterates F from every given
start and names the attractor it ends on, among those a :class:`FixedPointResult` lists;
:func:`jacobian_eigenvalues` gives the eigenvalues of J(x*) at its fixed points, to be
drawn against the unit circle (stable iff all lie inside).
"""

from __future__ import annotations

import numpy as np

from esd.exceptions import InvalidParameter

from .fixedpoints import FixedPointResult
from .netmap import _Map, _nearest

__all__ = ["basin_labels", "iterate_map", "jacobian_eigenvalues", "jacobians"]


def basin_labels(network, result: FixedPointResult, starts, *, max_iter: int = 2000,
                 tol: float = 1e-6) -> np.ndarray:
    """Label of the attractor each start converges to under x <- F(x).

    Labels: k >= 0 for the k-th fixed point of ``result`` (``result.points[k]``), K + j
    for its j-th periodic orbit (K = number of fixed points), -1 for a start that is not
    within ``tol`` (sup norm) of any of them after ``max_iter`` iterations. Periodic
    orbits are matched through any of their points, checked at the last iteration.
    """
    if not isinstance(result, FixedPointResult):
        raise InvalidParameter("result", result, "must be a FixedPointResult of find_fixed_points")
    x = np.asarray(starts, dtype=float)
    if x.ndim != 2 or x.shape[1] != network.width:
        raise InvalidParameter("starts", x, f"must have shape (B, N) with N = {network.width}")
    if max_iter < 1:
        raise InvalidParameter("max_iter", max_iter, "must be >= 1")
    fmap = _Map(network)
    for _ in range(max_iter):
        x = fmap(x)
    targets, owner = [], []
    k_fixed = result.points.shape[0]
    for k in range(k_fixed):
        targets.append(result.points[k])
        owner.append(k)
    for j, orbit in enumerate(result.orbits):
        for point in np.asarray(orbit):
            targets.append(point)
            owner.append(k_fixed + j)
    labels = np.full(x.shape[0], -1, dtype=int)
    if not targets:
        return labels
    near, dist = _nearest(x, np.asarray(targets))
    hit = dist <= tol
    labels[hit] = np.asarray(owner)[near[hit]]
    return labels


def _check_starts(network, starts):
    x = np.asarray(starts, dtype=float)
    if x.ndim != 2 or x.shape[1] != network.width or not np.all(np.isfinite(x)):
        raise InvalidParameter("starts", x, f"must be a finite (B, N) array with N = {network.width}")
    return x


def iterate_map(network, starts, *, max_iter: int = 1000, tol: float = 1e-6):
    """Iterate ``x <- F(x)`` from every row of ``starts`` until ``|F(x) - x|_inf <= tol``.

    Returns ``(x, converged, steps)``: the last iterate of each row, whether it met the
    tolerance within ``max_iter`` evaluations, and how many evaluations it took. Rows stop
    one by one, so a converged row is not moved further.
    """
    x = _check_starts(network, starts).copy()
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise InvalidParameter("max_iter", max_iter, "must be an integer >= 1")
    fmap = _Map(network)
    converged = np.zeros(x.shape[0], dtype=bool)
    steps = np.zeros(x.shape[0], dtype=int)
    alive = np.arange(x.shape[0])
    for _ in range(max_iter):
        if alive.size == 0:
            break
        y = fmap(x[alive])
        steps[alive] += 1
        with np.errstate(invalid="ignore"):
            done = np.max(np.abs(y - x[alive]), axis=1) <= tol
        x[alive] = y
        converged[alive[done]] = True
        alive = alive[~done]
    return x, converged, steps


def jacobians(network, x) -> np.ndarray:
    """``J(x) = D_L W_L ... D_1 W_1`` at every row of ``x``: an array (B, N, N)."""
    jt = _Map(network).jacobian_t(_check_starts(network, x))
    return np.swapaxes(jt, 1, 2)


def jacobian_eigenvalues(network, result: FixedPointResult) -> list[np.ndarray]:
    """Eigenvalues of ``J(x*)`` at each fixed point of ``result`` (same order as its points)."""
    if result.points.shape[0] == 0:
        return []
    jt = _Map(network).jacobian_t(result.points)
    return [np.linalg.eigvals(m.T) for m in jt]
