"""Fixed points reached by homotopy paths: the Phase 3 of find_fixed_points.

For a map F of a box into itself and a point c of the box, the zeros of

    H(x, t) = x - (1 - t) c - t F(x),        t >= 0,

start at the unique solution (c, 0) and, for almost every c, form a smooth curve of
finite length that reaches t = 1 at a fixed point of F (Chow, Mallet-Paret and Yorke
1978: the path cannot turn back to t = 0, where the solution is unique, nor leave the
box, which ``x = (1 - t) c + t F(x)`` keeps it in for t <= 1). Unlike Newton from random starts,
the path does not need a start inside a fixed point's small basin of convergence: it
reaches strongly unstable points (rho(J) ~ 1e2 to 1e4) as easily as stable ones. Followed
past t = 1 and back, it crosses t = 1 again, each time at another fixed point: the
index alternates +1, -1, +1, ... along the path, since ``sign det(I - t J) dt/ds`` is
constant on it.

:func:`_track_paths` follows B paths at once by pseudo-arclength continuation in
``y = (x, t)``: an Euler predictor along the unit tangent tau (the null vector of
``DH = [I - t J(x) | c - F(x)]``, oriented by the previous tangent), then a chord
corrector on ``H(z) = 0, tau . (z - z_pred) = 0`` (its matrix: DH at the step's start,
bordered by tau). A step is accepted when the corrector converges within
``CORRECTOR_ITERS`` iterations with ``|H|_inf <= CORRECTOR_TOL``, moves at most
``CORRECTOR_DIST`` step lengths, and the new tangent keeps a cosine of at least ``MIN_COS``
with the old one (a path that jumped to a neighbouring branch would fail these); the step
length h then grows by ``STEP_GROW`` (at most ``STEP_MAX``), and a rejected step shrinks it
by ``STEP_SHRINK``. A path stops below ``STEP_MIN``, outside ``0 <= t <= T_MAX``, after
``MAX_CROSSINGS`` crossings of t = 1, or after ``steps`` steps. Each crossing gives a
candidate by linear interpolation in the step, refined at t = 1 by the Newton runs of
:mod:`validation.fpsearch` (in x and in u). Long paths find more than many short ones
(docs/theory/fixed-points.md), hence the generous ``T_MAX`` and ``MAX_CROSSINGS``.
"""

from __future__ import annotations

import numpy as np

from .fpsearch import _newton, _preactivation_newton
from .netmap import _inverse, _solve, _sup

CORRECTOR_ITERS = 16         # chord iterations per step
CORRECTOR_TOL = 1e-9         # |H|_inf of an accepted point of the path
STEP_START = 0.05            # first step length in (x, t)
STEP_MAX = 0.5
STEP_MIN = 1e-9
STEP_GROW = 1.6
STEP_SHRINK = 0.4
CORRECTOR_DIST = 0.5         # farthest the corrector may move, in step lengths
MIN_COS = 0.9                # least cosine between consecutive tangents
T_MAX = 50.0                 # a path followed past t = 1 stops beyond this
MAX_CROSSINGS = 100          # crossings of t = 1 followed per path


def _residual(m, x, t, c):
    """``H(x, t) = x - (1 - t) c - t F(x)`` for each row."""
    return x - (1.0 - t)[:, None] * c - t[:, None] * m(x)


def _bordered(m, x, t, c):
    """``DH = [I - t J(x) | c - F(x)]`` with an empty last row, (B, N + 1, N + 1)."""
    n = x.shape[1]
    a = np.zeros((x.shape[0], n + 1, n + 1))
    a[:, :n, :n] = np.eye(n) - t[:, None, None] * np.swapaxes(m.jacobian_t(x), 1, 2)
    a[:, :n, n] = c - m(x)
    return a


def _tangent(a, tau_prev):
    """Unit null vector of ``DH`` (the first N rows of a) with ``tau . tau_prev > 0``."""
    a = a.copy()
    a[:, -1, :] = tau_prev
    rhs = np.zeros(a.shape[:2])
    rhs[:, -1] = 1.0
    tau = _solve(a, rhs)
    return tau / np.linalg.norm(tau, axis=1, keepdims=True)


def _chord(a, tau):
    """Inverse of DH bordered by the tangent: the corrector's fixed matrix for one step."""
    a = a.copy()
    a[:, -1, :] = tau
    return _inverse(a)


def _track_paths(m, c, steps):
    """Follow the path from (c_b, 0) for each row of c: (t = 1 candidates, steps taken).

    The corrector is a chord method: its matrix is DH at the step's start, bordered by
    the tangent, so a step costs one Jacobian (at the accepted point, which also gives
    the next tangent) and a few evaluations of F.
    """
    b, n = c.shape
    x, t = c.copy(), np.zeros(b)
    tau0 = np.zeros((b, n + 1))
    tau0[:, n] = 1.0
    a = _bordered(m, x, t, c)
    tau = _tangent(a, tau0)
    ainv = _chord(a, tau)
    h = np.full(b, STEP_START)
    crossings = np.zeros(b, dtype=int)
    taken = 0
    alive = np.ones(b, dtype=bool)
    candidates = []
    for _ in range(steps):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        taken += idx.size
        y0 = np.concatenate([x[idx], t[idx, None]], axis=1)
        ta, ci = tau[idx], c[idx]
        z_pred = y0 + h[idx, None] * ta
        z = z_pred.copy()
        r = np.zeros((idx.size, n + 1))
        chord = ainv[idx]
        for _ in range(CORRECTOR_ITERS):
            r[:, :n] = _residual(m, z[:, :n], z[:, n], ci)
            r[:, n] = np.sum(ta * (z - z_pred), axis=1)
            dz = np.matmul(chord, r[:, :, None])[:, :, 0]
            z -= dz
            small = _sup(dz) <= 1e-10 * (1.0 + _sup(z))
            if small.all():
                break
        ok = small & (_sup(_residual(m, z[:, :n], z[:, n], ci)) <= CORRECTOR_TOL) \
            & np.all(np.isfinite(z), axis=1) \
            & (np.linalg.norm(z - z_pred, axis=1) <= CORRECTOR_DIST * h[idx])
        acc = idx[ok]
        if acc.size:
            a = _bordered(m, z[ok, :n], z[ok, n], ci[ok])
            tau_new = _tangent(a, ta[ok])
            turned = np.sum(tau_new * ta[ok], axis=1) < MIN_COS
            ok[np.flatnonzero(ok)[turned]] = False
            keep = ~turned
            acc = idx[ok]
            z_ok = z[ok]
            t_new = z_ok[:, n]
            crossed = (t[acc] - 1.0) * (t_new - 1.0) <= 0.0
            if crossed.any():
                t0, dt = t[acc][crossed], t_new[crossed] - t[acc][crossed]
                w = np.divide(1.0 - t0, dt, out=np.full_like(dt, 0.5), where=dt != 0.0)
                x0, x1 = x[acc][crossed], z_ok[crossed, :n]
                candidates.append(x0 + w[:, None] * (x1 - x0))
                crossings[acc[crossed]] += 1
            tau[acc] = tau_new[keep]
            ainv[acc] = _chord(a[keep], tau_new[keep])
            x[acc], t[acc] = z_ok[:, :n], t_new
            h[acc] = np.minimum(h[acc] * STEP_GROW, STEP_MAX)
        h[idx[~ok]] *= STEP_SHRINK
        alive &= (h >= STEP_MIN) & (t >= 0.0) & (t <= T_MAX) & (crossings < MAX_CROSSINGS)
    cand = np.concatenate(candidates) if candidates else np.empty((0, n))
    return cand, taken


def homotopy_fixed_points(m, c, steps, tol, clip):
    """Fixed points where the paths from the rows of c cross t = 1, refined by Newton.

    Returns (points converged to ``|F(x) - x|_inf <= tol``, number of crossings,
    continuation steps summed over paths).
    """
    cand, taken = _track_paths(m, np.asarray(c, dtype=np.float64), steps)
    if cand.shape[0] == 0:
        return cand, 0, taken
    xu, conv_u, _ = _preactivation_newton(m, cand, tol)
    xx, _, conv, _ = _newton(m, cand, 1, tol, clip)
    pts = np.concatenate([xx[conv], xu[conv_u]])
    return pts, cand.shape[0], taken
