"""Basins of attraction on a grid of starts, and the spectra of J at fixed points (§2).

For pictures and per-start bookkeeping: :func:`basin_labels` iterates F from every given
start and names the attractor it ends on, among those a :class:`FixedPointResult` lists;
:func:`jacobian_eigenvalues` gives the eigenvalues of J(x*) at its fixed points, to be
drawn against the unit circle (stable iff all lie inside).
"""

from __future__ import annotations

import numpy as np

from esd.exceptions import InvalidParameter

from .fixedpoints import FixedPointResult, _Map, _nearest
from .sampling import Network

__all__ = ["basin_labels", "jacobian_eigenvalues"]


def basin_labels(network: Network, result: FixedPointResult, starts, *, max_iter: int = 2000,
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


def jacobian_eigenvalues(network: Network, result: FixedPointResult) -> list[np.ndarray]:
    """Eigenvalues of ``J(x*)`` at each fixed point of ``result`` (same order as its points)."""
    if result.points.shape[0] == 0:
        return []
    jt = _Map(network).jacobian_t(result.points)
    return [np.linalg.eigvals(m.T) for m in jt]
