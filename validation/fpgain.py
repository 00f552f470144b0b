"""One zero curve of the lifted gain homotopy, followed from beta = 0 or from a fixed point.

The system is :class:`validation.fplifted._Lifted`: ``R(X, beta) = X - G_beta(X)`` with
``G_beta(X)_l = phi(beta a_l + (1 - beta) d_l)``, ``a_l = W_l x_{l-1} + b_l``. For a fixed
offset d its zeros are smooth curves (almost every d), and at beta = 1 every curve crosses at
fixed points of the network, whatever d is. :func:`track` follows one curve by
pseudo-arclength continuation (constants of :mod:`validation.fphomotopy`): Euler predictor
along the unit tangent, chord corrector, guards on corrector distance and tangent angle.

Two starts:

* ``start=None``: from ``(phi(d), 0)``, the unique zero at beta = 0, towards beta > 0. This
  curve crosses beta = 1 an odd number of times (fplifted's docstring), at points of
  alternating index ``sign det(I - J)``, since ``sign det(DR) dbeta/ds`` is constant on it.
* ``start=X`` (a fixed point's orbit, ``R(X, 1) = 0``, regular): from ``(X, 1)`` in the
  direction of increasing (``direction=+1``) or decreasing beta. This is the curve of d
  through that point; followed both ways it is either a closed loop (back to X), or a curve
  with both ends at beta = T_MAX, or the curve from beta = 0. The first two cross beta = 1
  at points of index sum 0, so tracing the curve through a known point of index +1 that is
  not on the curve from beta = 0 finds the points of index -1 beside it: the pairs of
  points a search misses, born together in a fold, are the two crossings of one curve.

One factorisation of ``[DR | dR/dbeta; row]`` per step gives both the new tangent and, by a
rank-one (Sherman-Morrison) correction of its last row, the chord matrix of the next step:
an LU on the active units (:class:`_Bordered`, cost ``(active units)^3``) up to
``CYCLIC_MIN_DIM`` unknowns, above it the structured QR of :mod:`validation.fpcyclic` (cost
linear in the depth), which is faster there.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from .fpcyclic import CyclicQR
from .fphomotopy import (CORRECTOR_DIST, CORRECTOR_ITERS, CORRECTOR_TOL, MAX_CROSSINGS, MIN_COS,
                         STEP_GROW, STEP_MAX, STEP_MIN, STEP_SHRINK, STEP_START, T_MAX)
from .xp_activations import phi

ACTIVE_TOL = 1e-10           # largest coupling of a unit the path's linear algebra drops
CYCLIC_MIN_DIM = 512         # above this sum of widths, the structured QR (crossover ~720)


def _flat(d):
    return d if isinstance(d, np.ndarray) else np.concatenate(d)


class _Bordered:
    """Solver of the bordered system ``[DR | dR/dbeta; row] z = r`` on the active rows.

    A unit whose row of DR differs from the identity's by at most ``ACTIVE_TOL`` (a
    saturated unit: its slope times its weights) is taken as decoupled, ``z_i + jb_i z_beta
    = r_i``; eliminating these rows leaves ``M_AA z_A + (jb_A - M_AI jb_I) z_beta = r_A -
    M_AI r_I`` and the border row, of size (active units + 1). On deep saturated networks
    about a third of the units are active (sigmoid Cauchy s = 3, N = 30: 83 of 240 at
    L = 8, 173 of 480 at L = 16), and forming and factoring the reduced matrix took 4.9 and
    7.1 times less than the dense one (benchmarks/bench_fixedpoints.py). The dropped
    entries only perturb the chord matrix and the predictor's tangent, by at most
    ``ACTIVE_TOL``; the corrector's residual is exact.
    """

    def __init__(self, jx, jb, coupling, row):
        n = jx.shape[0]
        act = np.flatnonzero(coupling > ACTIVE_TOL)
        ina = np.flatnonzero(coupling <= ACTIVE_TOL)
        self.n, self.act, self.ina = n, act, ina
        self.m_ai = jx[np.ix_(act, ina)]
        self.jb_i = jb[ina]
        self.row_i = row[ina]
        k = act.size
        a = np.empty((k + 1, k + 1))
        a[:k, :k] = jx[np.ix_(act, act)]
        a[:k, k] = jb[act] - self.m_ai @ self.jb_i
        a[k, :k] = row[act]
        a[k, k] = row[n] - self.row_i @ self.jb_i
        self.lu = sla.lu_factor(a, check_finite=False)

    def solve(self, r):
        n, act, ina = self.n, self.act, self.ina
        r_i = r[ina]
        rhs = np.append(r[act] - self.m_ai @ r_i, r[n] - self.row_i @ r_i)
        y = sla.lu_solve(self.lu, rhs, check_finite=False)
        z = np.empty(n + 1)
        z[act], z[n] = y[:-1], y[-1]
        z[ina] = r_i - self.jb_i * y[-1]
        return z


def track(sys_, d, steps, *, start=None, direction=1.0, on_cross=None, bar=None):
    """Follow the zero curve of ``R(X, beta)`` (offset d) from ``(phi(d), 0)`` or from ``(start, 1)``.

    ``direction`` (+1 or -1) orients the first step along increasing or decreasing beta.
    Each crossing of beta = 1 (but the start) gives a candidate X by linear interpolation in
    its step; ``on_cross(candidate)`` returning True ends the path there (a caller stops a
    curve that is back at its start). Returns ``(candidates, steps taken, end)``, ``end``
    one of ``"beta<0"``, ``"beta>T_MAX"``, ``"crossings"`` (``MAX_CROSSINGS`` of them),
    ``"stalled"`` (step below ``STEP_MIN``), ``"stopped"`` (by ``on_cross``) and ``"steps"``.
    """
    n = sys_.dim
    d = _flat(d)
    if start is None:
        X, beta = phi(sys_.act, d, np), 0.0
    else:
        X, beta = np.array(start, dtype=np.float64), 1.0
    e = np.zeros(n + 1)
    e[n] = 1.0

    def factor(X, beta, row):
        if n > CYCLIC_MIN_DIM:
            blocks, jb, _ = sys_.layer_jacobian(X, beta, d)
            lu = CyclicQR(blocks, jb, row, sys_.stops)
        else:
            lu = _Bordered(*sys_.jacobian(X, beta, d), row)
        return lu, lu.solve(e)      # [DR; row] v = e: the tangent direction

    lu, v = factor(X, beta, e)      # v has dbeta = 1: v points towards increasing beta
    tau = direction * v / np.linalg.norm(v)
    row = e                      # the last row of the factored matrix
    candidates, taken, h, end = [], 0, STEP_START, "steps"
    leaving = start is not None  # the first step leaves beta = 1: the start is no crossing
    for _ in range(steps):
        taken += 1
        # chord matrix [DR; tau] = [DR; row] + e (tau - row)^T, by Sherman-Morrison
        delta = tau - row
        denom = 1.0 + delta @ v
        y0 = np.append(X, beta)
        z_pred = y0 + h * tau
        z = z_pred.copy()
        converged = False
        for _ in range(CORRECTOR_ITERS):
            r = np.append(sys_.residual(z[:n], z[n], d), tau @ (z - z_pred))
            dz = lu.solve(r)
            dz -= v * ((delta @ dz) / denom)
            z -= dz
            if np.max(np.abs(dz)) <= 1e-10 * (1.0 + np.max(np.abs(z))):
                converged = True
                break
        ok = (converged and np.all(np.isfinite(z))
              and np.max(np.abs(sys_.residual(z[:n], z[n], d))) <= CORRECTOR_TOL
              and np.linalg.norm(z - z_pred) <= CORRECTOR_DIST * h)
        if ok:
            lu_new, v_new = factor(z[:n], z[n], tau)
            tau_new = v_new / np.linalg.norm(v_new)
            ok = bool(np.all(np.isfinite(tau_new)) and tau_new @ tau >= MIN_COS)
        stop = False
        if ok:
            if not leaving and (beta - 1.0) * (z[n] - 1.0) <= 0.0:
                w = (1.0 - beta) / (z[n] - beta) if z[n] != beta else 0.5
                candidates.append(X + w * (z[:n] - X))
                stop = on_cross is not None and bool(on_cross(candidates[-1]))
            leaving = False
            X, beta = z[:n], z[n]
            lu, v, row, tau = lu_new, v_new, tau, tau_new
            h = min(h * STEP_GROW, STEP_MAX)
        else:
            h *= STEP_SHRINK
        if bar is not None:
            bar.update(1)
        end = ("stopped" if stop else "stalled" if h < STEP_MIN else "beta<0" if beta < 0.0
               else "beta>T_MAX" if beta > T_MAX else "crossings" if len(candidates) >= MAX_CROSSINGS
               else "steps")
        if end != "steps":
            break
    return candidates, taken, end
