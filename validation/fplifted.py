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

The zero curves are followed by :func:`validation.fpgain.track`. At beta = 1 they cross at
the same points whatever d is, and the curve of one d through a known point, followed both
ways, is a closed loop, a curve with both ends at large beta (crossings of index sum 0) or
the curve from beta = 0: tracing it from a point of index +1 not on the latter finds the
points of index -1 beside it. So :func:`lifted_fixed_points` first traces the curves
through the known points (branch tracing), which needs no luck in the draw of d, and then
follows curves from beta = 0 with fresh offsets. Each crossing of beta = 1 is refined by
Newton on R(X, 1).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from esd.exceptions import InvalidParameter

from .fpgain import _flat, track
from .fpsearch import DEGENERATE_SIGMA
from .netmap import _Map
from .networks import LayeredNetwork, Network, _check_int
from .sampling import _make_rng, _seed_record
from .xp_activations import dphi, phi

__all__ = ["LiftedFixedPoints", "lifted_fixed_points"]

#: Activations with phi' > 0 on a bounded range: the gain homotopy's premises.
SMOOTH_BOUNDED = ("sigmoid", "tanh", "erf")
NEWTON_ITERS = 30            # Newton steps on R(X, 1) per crossing


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
    ``q_all``, ``q_stable``, ``index_sum`` of the union; ``branches`` points whose curve
    was traced, ``paths`` curves followed from beta = 0, the ``crossings`` of beta = 1 and
    ``path_steps`` of both; ``params``; ``timings`` (seconds).
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
    branches: int
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
                "branches": self.branches, "paths": self.paths, "crossings": self.crossings,
                "path_steps": self.path_steps,
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


def lifted_fixed_points(network, known=None, *, paths=8, steps=30000, branches=16, tol=1e-12,
                        dedup_tol=1e-6, stop_on_index=True, rng=None,
                        progress=False) -> LiftedFixedPoints:
    """Complete a fixed-point enumeration by gain-homotopy curves in lifted coordinates.

    Solves ``R(X) = X - G(X) = 0`` (module docstring) on zero curves of ``R(X, beta)``,
    refining every crossing of beta = 1 by Newton there. First, branch tracing: with one
    random offset d, the curve through each known point (up to ``branches`` of them, points
    of the index in excess first: index +1 when the index sum is above 1) is followed both
    ways from beta = 1, until it is back at its start, leaves ``0 <= beta <= T_MAX`` or has
    made ``MAX_CROSSINGS`` crossings; a point found on a traced curve is not traced again.
    Then up to ``paths`` curves from beta = 0, one fresh offset each, whose new points are
    traced in turn while the branch budget lasts. Work stops once the index sum of the known
    and found points is 1, or, with ``stop_on_index=False``, runs to the budget: an index sum
    of 1 does not rule out a missed pair of points of index +1 and -1.

    Parameters
    ----------
    network : Network or LayeredNetwork with a sigmoid, tanh or erf activation
    known : FixedPointResult or array (K, N), optional
        Points already found (:func:`validation.find_fixed_points`); their orbits are
        polished in lifted coordinates and deduplicated against the new points.
    paths : int >= 0
        Curves from beta = 0 at most.
    steps : int >= 1
        Continuation steps per curve (per direction of a traced curve) at most.
    branches : int >= 0
        Points whose curve is traced at most (0: no branch tracing).
    tol : float in [1e-15, 1e-6]
        ``|R(X)|_inf`` of an accepted point.
    dedup_tol : float > tol
        Sup-norm distance between orbits under which two points are the same.
    stop_on_index : bool
        Stop once the index sum is 1 (default).
    rng : None, seed or numpy.random.Generator
        Draws the offsets d ~ N(0, 1) per unit: the branch tracing's first, then one per path.
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
    branches = _check_int("branches", branches, 0)
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

    orbits, is_new, info = [], [], []

    def add(X, new):
        """The row of X among the orbits, appending (and classifying) it if it is new."""
        for j, Y in enumerate(orbits):
            if np.max(np.abs(X - Y)) <= dedup_tol:
                return j
        orbits.append(X)
        is_new.append(new)
        info.append(_classify(sys_, X))
        return len(orbits) - 1

    pending = []                 # orbits whose curve of the branch offset may be traced
    for x in known:
        X, conv = _newton(sys_, sys_.orbit(x), tol)
        j = add(X if conv else sys_.orbit(x), False)
        if conv and j not in pending:
            pending.append(j)
    t1 = time.perf_counter()

    def index_sum():
        return sum(i for i, _, _ in info)

    def done():
        return stop_on_index and index_sum() == 1

    def register(c):
        X, conv = _newton(sys_, c, tol)
        return add(X, True) if conv else None

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=(paths + 2 * branches) * steps, unit="step",
                   desc=f"lifted paths N={network.width} L={network.depth}")
    d_branch = gen.standard_normal(sys_.dim) if branches and not done() else None
    on_curve = set()             # orbits on a traced curve of d_branch
    traced = followed = crossings = taken = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while not done():
            pending = [j for j in pending if j not in on_curve and info[j][0] != 0]
            if traced < branches and pending:
                excess = 1 if index_sum() > 1 else -1
                start = next((j for j in pending if info[j][0] == excess), pending[0])
                traced += 1
                on_curve.add(start)

                def on_cross(c, start=start):
                    j = register(c)
                    if j is not None:
                        on_curve.add(j)
                    return j == start or done()

                for direction in (1.0, -1.0):
                    cands, n, end = track(sys_, d_branch, steps, start=orbits[start], direction=direction,
                                          on_cross=on_cross, bar=bar)
                    crossings += len(cands)
                    taken += n
                    if end == "stopped":
                        break
            elif followed < paths:
                cands, n, _ = track(sys_, gen.standard_normal(sys_.dim), steps, bar=bar)
                followed += 1
                crossings += len(cands)
                taken += n
                for c in cands:
                    before = len(orbits)
                    j = register(c)
                    if j is not None and j >= before:
                        pending.append(j)
            else:
                break
            if bar is not None:
                bar.set_postfix(branches=traced, paths=followed, q_all=len(orbits), index_sum=index_sum())
    if bar is not None:
        bar.close()
    t2 = time.perf_counter()

    k = len(orbits)
    index = np.array([i for i, _, _ in info], dtype=int)
    rho = np.array([r for _, r, _ in info])
    X = np.array(orbits).reshape(k, sys_.dim)
    lifted_res = np.array([float(np.max(np.abs(sys_.residual(o, 1.0, sys_.zero)))) for o in orbits])
    params = {**network.params, "activation": act.name, "paths": paths, "steps": steps,
              "branches": branches, "tol": float(tol), "dedup_tol": float(dedup_tol),
              "stop_on_index": bool(stop_on_index), "known_points": int(known.shape[0]),
              **{f"lifted_{key}": v for key, v in _seed_record(gen).items()}}
    return LiftedFixedPoints(
        orbits=X, points=X[:, sys_.stops[-2]:], index=index, spectral_radius=rho,
        stable=rho < 1.0, lifted_residual=lifted_res, x_residual=np.array([x for _, _, x in info]),
        new=np.array(is_new, dtype=bool), q_all=k, q_stable=int(np.sum(rho < 1.0)),
        index_sum=int(index.sum()), branches=traced, paths=followed, crossings=crossings,
        path_steps=taken, params=params, timings={"known": t1 - t0, "paths": t2 - t1, "total": t2 - t0})
