"""Fixed points in lifted (multiple-shooting) coordinates, reached by gain-homotopy paths.

Deep saturated networks have fixed points that cannot be represented in x: with
rho(J) ~ 1e13, rounding x to double precision (1e-16) already moves F(x) by ~1e-3, so no
x passes a residual test, and Newton or homotopy paths in x die near them
(docs/theory/fixed-points.md, "Lifted coordinates"). Each layer on its own is well
conditioned, so here the unknowns are all layer outputs, ``X = (x_1, ..., x_L)`` with
``x_0 := x_L``, and the fixed points of F are the zeros of

    R(X) = X - G(X),        G(X)_l = phi(W_l x_{l-1} + b_l),

one to one (``x = x_L``). ``DR = I - K`` with the block-cyclic K (block (l, l-1) is
``D_l W_l``), and ``det(I - K) = det(I - J(x))`` (eliminate x_1, ..., x_{L-1}), so the index
``sign det(I - J)`` is ``sign det(I - K)``: an LU of a matrix whose blocks are single layers.

**Gain homotopy.** With ``a_l = W_l x_{l-1} + b_l`` and a random offset d,

    R(X, beta) = X - G_beta(X),     G_beta(X)_l = phi(beta a_l + (1 - beta) d_l).

At beta = 0 the unique zero is ``X_l = phi(d_l)``, with ``DR = I``. G_beta maps the
activation's box into itself for every beta, so no zero reaches the box's boundary: the
zero curve from (phi(d), 0) cannot end, cannot return to beta = 0 (the zero there is unique
and regular) and, for almost every d, is a smooth curve (the d-term makes R of full rank
for beta != 1). It therefore leaves every slab ``0 <= beta <= T`` through beta = T,
crossing beta = 1 an odd number of times, at fixed points of alternating index. Unlike
``x - (1 - t) c - t F(x)`` (:mod:`validation.fphomotopy`), whose map is steep at every
t > 0, the gain path meets the network's full steepness only near beta = 1, and the lifted
coordinates keep that steepness to one layer at a time.

The path is followed as in :mod:`validation.fphomotopy` (same constants): Euler predictor
along the unit tangent, chord corrector, guards on corrector distance and tangent angle.
One factorisation of ``[DR | dR/dbeta; tau_prev]`` per step gives both the new tangent
and, by a rank-one (Sherman-Morrison) correction of its last row, the chord matrix of the
next step: an LU on the active units (:class:`_Bordered`, cost ``(active units)^3``) up to
``CYCLIC_MIN_DIM`` unknowns, above it the structured QR of :mod:`validation.fpcyclic`
(cost linear in the depth), which is faster there. Each crossing of beta = 1 is refined by
Newton on R(X, 1).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import scipy.linalg as sla

from esd.exceptions import InvalidParameter

from .fphomotopy import (CORRECTOR_DIST, CORRECTOR_ITERS, CORRECTOR_TOL, MAX_CROSSINGS, MIN_COS,
                         STEP_GROW, STEP_MAX, STEP_MIN, STEP_SHRINK, STEP_START, T_MAX)
from .fpcyclic import CyclicQR
from .fpsearch import DEGENERATE_SIGMA
from .netmap import _Map
from .networks import LayeredNetwork, Network, _check_int
from .sampling import _make_rng, _seed_record
from .xp_activations import dphi, phi

__all__ = ["LiftedFixedPoints", "lifted_fixed_points"]

#: Activations with phi' > 0 on a bounded range: the gain homotopy's premises.
SMOOTH_BOUNDED = ("sigmoid", "tanh", "erf")
NEWTON_ITERS = 30            # Newton steps on R(X, 1) per crossing
ACTIVE_TOL = 1e-10           # largest coupling of a unit the path's linear algebra drops
CYCLIC_MIN_DIM = 512         # above this sum of widths, the structured QR (crossover ~720)


def _flat(d):
    return d if isinstance(d, np.ndarray) else np.concatenate(d)


class _Lifted:
    """R(X, beta), its derivatives and the orbit Jacobian of one network, X = (x_1, ..., x_L)."""

    def __init__(self, network):
        m = _Map(network)
        self.map = m
        self.act = network.activation
        self.w = [np.ascontiguousarray(wt.T) for wt in m.wt]        # W_l, (n_l, n_{l-1})
        self.b = m.b
        widths = [w.shape[0] for w in self.w]
        self.stops = np.cumsum([0] + widths)
        self.dim = int(self.stops[-1])
        self.width = widths[-1]
        self.zero = np.zeros(self.dim)     # the offset d, which beta = 1 ignores
        self.row_max = np.concatenate([np.abs(w).max(axis=1) for w in self.w])
        self.eye = np.eye(self.dim)
        # a square network's layers stacked: one einsum and one phi per evaluation
        self.stack = (np.stack(self.w), np.stack(self.b)) if len(set(widths)) == 1 else None

    def blocks(self, X):
        """Layer outputs as views: x_1, ..., x_L."""
        return [X[a:b] for a, b in zip(self.stops[:-1], self.stops[1:])]

    def _pre(self, X):
        """The pre-activations a_l = W_l x_{l-1} + b_l, concatenated."""
        if self.stack is not None:
            w, b = self.stack
            xs = np.roll(X.reshape(b.shape), 1, axis=0)               # row l holds x_{l-1}
            return (np.einsum("lij,lj->li", w, xs) + b).ravel()
        xs = self.blocks(X)
        return np.concatenate([self.w[l] @ xs[l - 1] + self.b[l] for l in range(len(self.w))])

    def residual(self, X, beta, d):
        """``R(X, beta) = X - G_beta(X)``; d is the offset, concatenated or per layer."""
        return X - phi(self.act, beta * self._pre(X) + (1.0 - beta) * _flat(d), np)

    def layer_jacobian(self, X, beta, d):
        """``(blocks, dR/dbeta, slope)``: the blocks ``beta D_l W_l`` of ``beta K_beta``
        (block l sits at column block l - 1, cyclically), ``-D (a - d)`` and D's diagonal."""
        a = self._pre(X)
        d = _flat(d)
        slope = dphi(self.act, beta * a + (1.0 - beta) * d, np)
        s = self.stops
        blocks = [(beta * slope[s[l]:s[l + 1], None]) * w for l, w in enumerate(self.w)]
        return blocks, -slope * (a - d), slope

    def jacobian(self, X, beta, d):
        """``(dR/dX, dR/dbeta, coupling)``: ``I - beta K_beta`` (dense), ``-D (a - d)``,
        and each unit's largest entry of ``beta K_beta`` in its row."""
        blocks, jb, slope = self.layer_jacobian(X, beta, d)
        jx = self.eye.copy()
        s = self.stops
        for l, block in enumerate(blocks):
            p = l - 1 if l else len(blocks) - 1
            jx[s[l]:s[l + 1], s[p]:s[p + 1]] -= block
        return jx, jb, np.abs(beta) * slope * self.row_max

    def orbit(self, x):
        """X of a point x of the map: its forward pass (x_1, ..., x_L = F(x))."""
        out = []
        for w, b in zip(self.w, self.b):
            x = phi(self.act, w @ x + b, np)
            out.append(x)
        return np.concatenate(out)

    def orbit_jacobian(self, X):
        """J(x) = D_L W_L ... D_1 W_1 along the orbit X itself (not a forward pass from
        x_L, which rounding would move off the orbit of a strongly unstable point)."""
        slope = dphi(self.act, self._pre(X), np)
        jac = None
        for l, w in enumerate(self.w):
            layer = slope[self.stops[l]:self.stops[l + 1], None] * w
            jac = layer if jac is None else layer @ jac
        return jac


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


def _track(sys_, d, steps, bar=None):
    """Follow the gain path with offset d: (beta = 1 candidates, steps taken)."""
    n = sys_.dim
    d = _flat(d)
    X = phi(sys_.act, d, np)
    beta = 0.0
    e = np.zeros(n + 1)
    e[n] = 1.0

    def factor(X, beta, row):
        if n > CYCLIC_MIN_DIM:
            blocks, jb, _ = sys_.layer_jacobian(X, beta, d)
            lu = CyclicQR(blocks, jb, row, sys_.stops)
        else:
            lu = _Bordered(*sys_.jacobian(X, beta, d), row)
        return lu, lu.solve(e)      # [DR; row] v = e: the tangent direction

    lu, v = factor(X, beta, e)
    tau = v / np.linalg.norm(v)
    row = e                      # the last row of the factored matrix
    candidates, taken, h, crossings = [], 0, STEP_START, 0
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
        if ok:
            if (beta - 1.0) * (z[n] - 1.0) <= 0.0:
                w = (1.0 - beta) / (z[n] - beta) if z[n] != beta else 0.5
                candidates.append(X + w * (z[:n] - X))
                crossings += 1
            X, beta = z[:n], z[n]
            lu, v, row, tau = lu_new, v_new, tau, tau_new
            h = min(h * STEP_GROW, STEP_MAX)
        else:
            h *= STEP_SHRINK
        if bar is not None:
            bar.update(1)
        if h < STEP_MIN or beta < 0.0 or beta > T_MAX or crossings >= MAX_CROSSINGS:
            break
    return candidates, taken


def _newton(sys_, X, tol):
    """Newton on R(X, 1) = 0 from X: (X, converged)."""
    res = math.inf
    for _ in range(NEWTON_ITERS):
        r = sys_.residual(X, 1.0, sys_.zero)
        res = float(np.max(np.abs(r)))
        if not math.isfinite(res) or res <= tol:
            break
        jx = sys_.jacobian(X, 1.0, sys_.zero)[0]
        try:
            X = X - np.linalg.solve(jx, r)
        except np.linalg.LinAlgError:
            break
    return X, bool(res <= tol)


@dataclass(frozen=True, eq=False)
class LiftedFixedPoints:
    """Fixed points of F in lifted coordinates: those given (``known``) and those the gain
    paths added (``new``), one row each.

    ``orbits`` (K, sum of widths): x_1, ..., x_L; ``points`` (K, N): x = x_L;
    ``index`` sign det(I - K) = sign det(I - J) (0 when sigma_min(I - K) < DEGENERATE_SIGMA);
    ``spectral_radius`` rho(J) along the orbit; ``stable`` rho < 1; ``lifted_residual``
    |R(X)|_inf; ``x_residual`` |F(x) - x|_inf, which rounding keeps near eps rho for a
    strongly unstable point; ``new`` True for a point the given result did not have.
    ``q_all``, ``q_stable``, ``index_sum`` of the union; ``paths`` followed, their
    ``crossings`` of beta = 1 and ``path_steps``; ``params``; ``timings`` (seconds).
    """

    orbits: np.ndarray
    points: np.ndarray
    index: np.ndarray
    spectral_radius: np.ndarray
    stable: np.ndarray
    lifted_residual: np.ndarray
    x_residual: np.ndarray
    new: np.ndarray
    q_all: int
    q_stable: int
    index_sum: int
    paths: int
    crossings: int
    path_steps: int
    params: dict
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable summary (per-point numbers, counts, work, params)."""
        return {"q_all": self.q_all, "q_stable": self.q_stable, "index_sum": self.index_sum,
                "q_new": int(self.new.sum()), "index": [int(v) for v in self.index],
                "spectral_radius": [float(v) for v in self.spectral_radius],
                "stable": [bool(v) for v in self.stable], "new": [bool(v) for v in self.new],
                "lifted_residual": [float(v) for v in self.lifted_residual],
                "x_residual": [float(v) for v in self.x_residual],
                "paths": self.paths, "crossings": self.crossings, "path_steps": self.path_steps,
                "params": dict(self.params), "timings": dict(self.timings)}


def _classify(sys_, X):
    """(index, rho, |F(x) - x|_inf) of the fixed point with orbit X."""
    jx = sys_.jacobian(X, 1.0, sys_.zero)[0]
    sign, _ = np.linalg.slogdet(jx)
    sigma_min = np.linalg.svd(jx, compute_uv=False)[-1]
    index = 0 if sigma_min < DEGENERATE_SIGMA else int(sign)
    rho = float(np.max(np.abs(np.linalg.eigvals(sys_.orbit_jacobian(X)))))
    x = X[sys_.stops[-2]:]
    x_res = float(np.max(np.abs(sys_.map(x[None])[0] - x)))
    return index, rho, x_res


def _known_points(known, width):
    """The (K, N) float array of ``known`` (a FixedPointResult, an array or None)."""
    if known is None:
        return np.empty((0, width))
    pts = getattr(known, "points", known)
    try:
        arr = np.asarray(pts, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("known", known, "must be a FixedPointResult, an array (K, N) "
                               "or None") from exc
    if arr.ndim != 2 or arr.shape[1] != width or not np.all(np.isfinite(arr)):
        raise InvalidParameter("known", f"array of shape {arr.shape}",
                               f"must be finite with shape (K, N), N = {width}")
    return arr


def lifted_fixed_points(network, known=None, *, paths=8, steps=30000, tol=1e-12,
                        dedup_tol=1e-6, stop_on_index=True, rng=None,
                        progress=False) -> LiftedFixedPoints:
    """Complete a fixed-point enumeration by gain-homotopy paths in lifted coordinates.

    Solves ``R(X) = X - G(X) = 0`` (module docstring) by following the zero curves of
    ``R(X, beta)`` from beta = 0, one random offset d per path, past beta = 1 (up to
    ``T_MAX`` or ``MAX_CROSSINGS`` crossings), refining every crossing by Newton at beta = 1.
    Paths run while the index sum of the known and found points differs from 1, or, with
    ``stop_on_index=False``, all of them: an index sum of 1 does not rule out a missed pair
    of points of index +1 and -1.

    Parameters
    ----------
    network : Network or LayeredNetwork with a sigmoid, tanh or erf activation
    known : FixedPointResult or array (K, N), optional
        Points already found (:func:`validation.find_fixed_points`); their orbits are
        polished in lifted coordinates and deduplicated against the new points.
    paths : int >= 0
        Paths at most (0: only classify ``known``).
    steps : int >= 1
        Continuation steps per path at most.
    tol : float in [1e-15, 1e-6]
        ``|R(X)|_inf`` of an accepted point.
    dedup_tol : float > tol
        Sup-norm distance between orbits under which two points are the same.
    stop_on_index : bool
        Stop following paths once the index sum is 1 (default).
    rng : None, seed or numpy.random.Generator
        Draws the offsets d ~ N(0, 1) per unit.
    progress : bool
        A tqdm bar over continuation steps (stderr).
    """
    if not isinstance(network, (Network, LayeredNetwork)):
        raise InvalidParameter("network", network, "must be a validation.Network or LayeredNetwork")
    act = network.activation
    if act.name not in SMOOTH_BOUNDED:
        raise InvalidParameter("activation", act.name, f"must be one of {list(SMOOTH_BOUNDED)}: the "
                               "gain homotopy needs a bounded range and phi' > 0")
    paths = _check_int("paths", paths, 0)
    steps = _check_int("steps", steps, 1)
    for name, value, ok, rule in (
            ("tol", tol, lambda v: 1e-15 <= v <= 1e-6, "must be a number in [1e-15, 1e-6]"),
            ("dedup_tol", dedup_tol, lambda v: v > tol, f"must be a finite number > tol = {tol}")):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
                or not ok(value):
            raise InvalidParameter(name, value, rule)
    known = _known_points(known, network.width)
    for name, value in (("stop_on_index", stop_on_index), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameter(name, value, "must be True or False")
    gen = _make_rng(rng)
    sys_ = _Lifted(network)
    t0 = time.perf_counter()

    orbits, is_new = [], []

    def add(X, new):
        if all(np.max(np.abs(X - Y)) > dedup_tol for Y in orbits):
            orbits.append(X)
            is_new.append(new)

    for x in known:
        X, conv = _newton(sys_, sys_.orbit(x), tol)
        add(X if conv else sys_.orbit(x), False)
    info = [_classify(sys_, X) for X in orbits]
    t1 = time.perf_counter()

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=paths * steps, desc=f"lifted paths N={network.width} L={network.depth}",
                   unit="step")
    followed = crossings = taken = 0
    while followed < paths and not (stop_on_index and sum(i for i, _, _ in info) == 1):
        d = gen.standard_normal(sys_.dim)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            cands, n = _track(sys_, d, steps, bar)
        followed += 1
        crossings += len(cands)
        taken += n
        for c in cands:
            X, conv = _newton(sys_, c, tol)
            if conv:
                before = len(orbits)
                add(X, True)
                if len(orbits) > before:
                    info.append(_classify(sys_, X))
        if bar is not None:
            bar.set_postfix(paths=followed, q_all=len(orbits), index_sum=sum(i for i, _, _ in info))
    if bar is not None:
        bar.close()
    t2 = time.perf_counter()

    k = len(orbits)
    index = np.array([i for i, _, _ in info], dtype=int)
    rho = np.array([r for _, r, _ in info])
    X = np.array(orbits).reshape(k, sys_.dim)
    lifted_res = np.array([float(np.max(np.abs(sys_.residual(o, 1.0, sys_.zero)))) for o in orbits])
    params = {**network.params, "activation": act.name, "paths": paths, "steps": steps,
              "tol": float(tol), "dedup_tol": float(dedup_tol), "stop_on_index": bool(stop_on_index),
              "known_points": int(known.shape[0]),
              **{f"lifted_{key}": v for key, v in _seed_record(gen).items()}}
    return LiftedFixedPoints(
        orbits=X, points=X[:, sys_.stops[-2]:], index=index, spectral_radius=rho,
        stable=rho < 1.0, lifted_residual=lifted_res, x_residual=np.array([x for _, _, x in info]),
        new=np.array(is_new, dtype=bool), q_all=k, q_stable=int(np.sum(rho < 1.0)),
        index_sum=int(index.sum()), paths=followed, crossings=crossings, path_steps=taken,
        params=params, timings={"known": t1 - t0, "paths": t2 - t1, "total": t2 - t0})
