"""Fixed points, periodic attractors and basins of one network map (THEORY.md §2).

The map is the whole network, ``F(x) = x_L`` with ``h_l = x_{l-1} W_l^T + b_l``,
``x_l = phi(h_l)`` (row vectors, as in :mod:`validation.jacobians`), and its Jacobian is
``J(x) = D_L W_L ... D_1 W_1``, ``D_l = diag(phi'(h_l))``. Everything is NumPy on the host.
:func:`find_fixed_points` works in two phases; ``rng`` draws the Phase-1 starts first
(uniform in the box, ``low + (high - low) U``, shape (starts, N)), then the Phase-2 starts.

Phase 1, iteration (attractors and their basins). All starts are iterated at once,
``X <- F(X)`` on a (B, N) array (one GEMM per layer). A row stops when
``|F(x) - x|_inf <= NEWTON_SWITCH`` (a fixed-point candidate), when
``|x_k - x_{k-p}|_inf <= NEWTON_SWITCH`` for some 2 <= p <= ``period_max`` (checked every
``period_max`` iterations, smallest p first: a period-p candidate), when ``|x|_inf``
exceeds ``DIVERGED`` or x is not finite (unresolved), or after ``max_iter`` iterations
(unresolved). Candidates are then refined, one detected period p at a time: one greedy
representative per cluster (sup-norm radius ``CLUSTER_RADIUS``) goes to Newton on
``G_p(x) = F^p(x) - x`` with the exact Jacobian of ``F^p``, and every other candidate is
assigned to a refined orbit point ``o`` of period d | p by one chord step, accepted when
``|x + (I - J_d(o))^{-1} G_d(x) - o|_inf <= dedup_tol`` (the row's own Newton target is
that point); rows still unassigned are refined by Newton themselves. A row whose Newton
run does not reach ``tol`` within ``NEWTON_MAX_STEPS`` steps, or moves farther than
``REP_RADIUS``, is unresolved.

Phase 2, Newton (all fixed points, unstable ones included). Damped Newton on
``G(x) = F(x) - x``: step ``(I - J) dx = G``, backtracking line search on ``|G|_2``
(Armijo constant ``ARMIJO``, at most ``LINE_SEARCH_HALVINGS`` halvings, a row stalls
when none is accepted), iterates projected onto the activation's closed box when it has
one (every fixed point lies in it). Starts: a quarter on segments between pairs of
points found so far (saddles sit on basin boundaries), a quarter near found points
(gaussian, 5% of the box width), the rest uniform in the start box. For a bounded
activation the round is repeated, up to ``newton_rounds`` times, while the index sum
differs from 1 and the last round found a new point.

Distinct points. Every orbit is polished by Newton as a single row before it is
registered, so its reported residual is the one that passed ``tol``. Two fixed points
are the same when ``|x - y|_inf <= dedup_tol``; two periodic orbits when they have the
same minimal period and a point of one lies within ``dedup_tol`` of the other's first
point. The first found is kept (Phase 1 before Phase 2).

Per fixed point: ``rho(J(x*))`` (stable iff < 1), the index ``sign det(I - J(x*))``
(``slogdet``; 0 when the smallest singular value of ``I - J`` is below
``DEGENERATE_SIGMA``), and ``|F(x*) - x*|_inf``. When F maps a box into its interior and
every fixed point is non-degenerate, the indices sum to 1 (THEORY.md §2): a check that
the enumeration is complete. Newton from random starts finds strongly unstable points
(rho ~ 1e2 to 1e4) rarely; an index sum other than 1 flags such a miss.

Uniqueness certificate. ``Lip(F) <= prod_l max|phi'| ||W_l||_2``; below 1 F is a
contraction of R^N (Banach), so its fixed point is unique and globally attracting
(THEORY.md §2: gaussian sigmoid with sigma_w < 2). Phase 2 is then skipped unless
``newton_starts`` is given explicitly.

Cost: Phase 1 holds (period_max, B, N) floats of history; a Newton step costs
``2 N^3 L`` per row for J (held in chunks of ``JACOBIAN_CHUNK`` entries) plus a batched
``solve``, so Phase 2 dominates whenever it runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from esd.activations import ACTIVATIONS
from esd.exceptions import InvalidParameter

from .backend import to_numpy
from .sampling import LayeredNetwork, Network, _check_int, _make_rng, _seed_record
from .xp_activations import dphi, phi

__all__ = ["FixedPointResult", "find_fixed_points", "iterate_flops", "lipschitz_bound"]

NEWTON_SWITCH = 1e-6         # |F^p(x) - x|_inf at which an iterate is handed to Newton
CLUSTER_RADIUS = 1e-3        # sup-norm radius of the greedy clusters of Phase-1 candidates
REP_RADIUS = 1e-2            # farthest Newton may move a Phase-1 representative
NEWTON_MAX_STEPS = 40
LINE_SEARCH_HALVINGS = 12
ARMIJO = 1e-4
DIVERGED = 1e100             # an iterate with |x|_inf above this has diverged
DEGENERATE_SIGMA = 1e-9      # sigma_min(I - J) below this: degenerate fixed point, index 0
JACOBIAN_CHUNK = 1 << 22     # most entries of a Jacobian or distance batch (32 MiB of float64)
FLUSH = 1e-100               # slopes and partial Jacobian entries below this are set to 0
DEFAULT_BOX = (-1.0, 1.0)    # start box of an activation without a bounded range
MAX_SLOPE = {"linear": 1.0, "relu": 1.0, "hard-tanh": 1.0, "tanh": 1.0, "erf": 1.0,
             "sigmoid": 0.25}  # sup |phi'| of the built-in activations


@dataclass(frozen=True, eq=False)
class FixedPointResult:
    """Distinct fixed points and periodic attractors of F, with basin shares.

    Per fixed point (K rows, registration order: Phase 1 first): ``points`` (K, N);
    ``spectral_radius`` rho(J(x*)); ``stable`` (rho < 1); ``index`` sign det(I - J(x*)),
    0 if degenerate; ``residual`` |F(x*) - x*|_inf (<= tol); ``basin_share`` the fraction
    of Phase-1 starts whose iteration ended there (0 for an unstable point, except in the
    measure-zero case that an iteration landed on it); ``found_by_iteration``.
    ``q_stable``, ``q_all`` and ``index_sum`` summarise them.

    Per periodic orbit reached by iteration (minimal period >= 2, at most ``period_max``):
    ``periods``, ``periodic_shares``, ``periodic_spectral_radius`` (rho of the Jacobian of
    F^p at the orbit) and ``orbits`` ((p, N) arrays, x, F(x), ..., F^(p-1)(x)).
    ``sum(basin_share) + periodic_fraction + unresolved_fraction == 1``.

    Work: ``n_starts`` Phase-1 starts; ``iterations`` evaluations of F per row in Phase 1
    (a batched sweep of B rows counts B; ``iterate_flops(network, iterations)`` is its
    GEMM work); ``newton_steps`` per-row Newton steps of both phases; ``newton_starts``
    Phase-2 starts over all rounds, ``newton_converged`` of them reaching tol;
    ``n_rejected`` orbits whose residual could not be brought to tol as a single row (the
    rounding floor of an extremely unstable point); ``lipschitz_bound`` and
    ``certified_unique`` (bound < 1); ``params`` the network's and the finder's inputs;
    ``timings`` wall seconds per phase.
    """

    points: np.ndarray
    stable: np.ndarray
    spectral_radius: np.ndarray
    index: np.ndarray
    residual: np.ndarray
    basin_share: np.ndarray
    found_by_iteration: np.ndarray
    q_stable: int
    q_all: int
    index_sum: int
    periods: list
    periodic_shares: list
    periodic_spectral_radius: list
    orbits: list
    periodic_fraction: float
    unresolved_fraction: float
    n_starts: int
    iterations: int
    newton_steps: int
    newton_starts: int
    newton_converged: int
    n_rejected: int
    lipschitz_bound: float
    certified_unique: bool
    params: dict
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable summary: counts, fractions, per-point numbers, params."""
        from esd import __version__
        return {
            "q_stable": self.q_stable, "q_all": self.q_all, "index_sum": self.index_sum,
            "n_degenerate": int(np.sum(self.index == 0)),
            "spectral_radius": [float(v) for v in self.spectral_radius],
            "stable": [bool(v) for v in self.stable],
            "index": [int(v) for v in self.index],
            "basin_share": [float(v) for v in self.basin_share],
            "max_residual": float(self.residual.max()) if self.residual.size else None,
            "periods": list(self.periods),
            "periodic_shares": list(self.periodic_shares),
            "periodic_spectral_radius": list(self.periodic_spectral_radius),
            "periodic_fraction": self.periodic_fraction,
            "unresolved_fraction": self.unresolved_fraction,
            "n_starts": self.n_starts, "iterations": self.iterations,
            "newton_steps": self.newton_steps, "newton_starts": self.newton_starts,
            "newton_converged": self.newton_converged, "n_rejected": self.n_rejected,
            "lipschitz_bound": self.lipschitz_bound if math.isfinite(self.lipschitz_bound) else None,
            "certified_unique": self.certified_unique,
            "timings": dict(self.timings), "params": dict(self.params), "esd_version": __version__,
        }


# -- the map ------------------------------------------------------------------------------
class _Map:
    """F^p and its Jacobian on (B, N) row batches of one network (host copies).

    Layers may differ in width (a :class:`LayeredNetwork`, e.g. an autoencoder); only the
    map itself is square.
    """

    def __init__(self, network):
        self.wt = [np.ascontiguousarray(to_numpy(w).T, dtype=np.float64) for w, _ in network.layers()]
        self.b = [np.ascontiguousarray(to_numpy(b), dtype=np.float64) for _, b in network.layers()]
        self.act = network.activation
        self.depth, self.width = len(self.wt), self.wt[0].shape[0]

    def __call__(self, x, p=1):
        for _ in range(p):
            for l in range(self.depth):
                h = x @ self.wt[l]
                h += self.b[l]
                x = phi(self.act, h, np)
        return x

    def jacobian_t(self, x, p=1):
        """``J^T`` of F^p at each row, (B, N, N): ``W_1^T D_1 W_2^T D_2 ...`` accumulated.

        Slopes and accumulated entries below ``FLUSH`` are set to 0: saturated units give
        slopes down to 1e-300, and subnormal arithmetic is ~100x slower. J enters only
        through ``I - J``, rho(J) against 1 and Newton steps, which such entries cannot
        change unless later layers amplify them by > 1e80.
        """
        n = self.width
        out = np.empty((x.shape[0], n, n))
        chunk = max(1, JACOBIAN_CHUNK // (n * max(w.shape[1] for w in self.wt)))
        for s in range(0, x.shape[0], chunk):
            y, t = x[s:s + chunk], None
            for _ in range(p):
                for l in range(self.depth):
                    h = y @ self.wt[l]
                    h += self.b[l]
                    d = dphi(self.act, h, np)
                    d[d < FLUSH] = 0.0
                    y = phi(self.act, h, np)
                    if t is None:
                        t = self.wt[l][None, :, :] * d[:, None, :]
                    else:
                        t = np.matmul(t, self.wt[l])
                        t *= d[:, None, :]
                        t[np.abs(t) < FLUSH] = 0.0
            out[s:s + chunk] = t
        return out


def _i_minus_j(jt):
    """``I - J`` from ``J^T`` stacked (B, N, N)."""
    return np.eye(jt.shape[-1]) - np.swapaxes(jt, 1, 2)


def _solve(a, g):
    """Rows of ``a^{-1} g`` for a (B, N, N) stack; least squares for exactly singular rows."""
    try:
        return np.linalg.solve(a, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.empty_like(g)
        for i in range(a.shape[0]):
            out[i] = np.linalg.lstsq(a[i], g[i], rcond=None)[0]
        return out


def _inverse(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)


def _sup(a, axis=-1):
    return np.max(np.abs(a), axis=axis)


def _nearest(x, pts):
    """Index of the sup-norm nearest row of pts for each row of x, and that distance."""
    near = np.empty(x.shape[0], dtype=int)
    dist = np.empty(x.shape[0])
    chunk = max(1, JACOBIAN_CHUNK // (pts.shape[0] * x.shape[1]))
    for s in range(0, x.shape[0], chunk):
        d = _sup(x[s:s + chunk, None, :] - pts[None, :, :])
        near[s:s + chunk] = np.argmin(d, axis=1)
        dist[s:s + chunk] = d[np.arange(d.shape[0]), near[s:s + chunk]]
    return near, dist


def iterate_flops(network, batch: int) -> float:
    """Floating-point operations of one batched evaluation of F: ``2 B sum_l n_l n_{l-1}``
    (the GEMMs; ``2 B N^2 L`` for a square network)."""
    return 2.0 * batch * sum(float(w.shape[0] * w.shape[1]) for w, _ in network.layers())


def lipschitz_bound(network) -> float:
    """``prod_l max|phi'| ||W_l||_2``, a bound on Lip(F) in the l2 norm (inf if unknown).

    ``max|phi'|`` is known for the built-in activations (sigmoid 1/4, the others 1); a
    user activation gives inf.
    """
    act = network.activation
    slope = MAX_SLOPE.get(act.name) if ACTIVATIONS.get(act.name) is act else None
    if slope is None:
        return math.inf
    if network.tied:
        norms = np.full(network.depth, np.linalg.norm(to_numpy(network.W[0]), ord=2))
    else:
        norms = np.array([np.linalg.norm(to_numpy(w), ord=2) for w, _ in network.layers()])
    return float(np.prod(slope * norms))


# -- Newton ---------------------------------------------------------------------------------
def _newton(m, x0, p, tol, clip):
    """Damped Newton on ``F^p(x) - x`` for each row: (x, |G|_inf, converged, steps)."""
    x = np.array(x0, dtype=np.float64)
    g = m(x, p) - x
    res = _sup(g)
    conv = res <= tol
    alive = np.isfinite(res) & ~conv
    steps = 0
    for _ in range(NEWTON_MAX_STEPS):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        steps += idx.size
        xa, ga = x[idx], g[idx]
        dx = _solve(_i_minus_j(m.jacobian_t(xa, p)), ga)
        norm0 = np.linalg.norm(ga, axis=1)
        t = np.ones(idx.size)
        x_new, g_new = np.empty_like(xa), np.empty_like(ga)
        todo = np.arange(idx.size)
        for _ in range(LINE_SEARCH_HALVINGS + 1):
            xt = xa[todo] + t[todo, None] * dx[todo]
            if clip is not None:
                np.clip(xt, clip[0], clip[1], out=xt)
            gt = m(xt, p) - xt
            x_new[todo], g_new[todo] = xt, gt
            ok = np.linalg.norm(gt, axis=1) <= (1.0 - ARMIJO * t[todo]) * norm0[todo]
            ok |= _sup(gt) <= tol
            todo = todo[~ok]
            if todo.size == 0:
                break
            t[todo] *= 0.5
        stalled = np.zeros(idx.size, dtype=bool)
        stalled[todo] = True
        x[idx], g[idx] = x_new, g_new
        res[idx] = _sup(g_new)
        conv[idx] = res[idx] <= tol
        alive[idx] = ~conv[idx] & ~stalled & np.isfinite(res[idx])
    return x, res, conv, steps


# -- distinct orbits -------------------------------------------------------------------------
class _Registry:
    """Distinct orbits (fixed points are period 1) with their chord matrices and spectra.

    An orbit is registered only after its first point has been polished by Newton, as a
    single row, to ``|F^d(x) - x|_inf <= tol`` (the residual then reported is exactly the
    one that passed); one whose rounding floor stays above tol (extremely unstable, e.g.
    ``rho(J) ~ 1e5``) is counted in ``rejected`` instead.
    """

    def __init__(self, m, dedup_tol, tol, clip):
        self.m = m
        self.dedup_tol = dedup_tol
        self.tol = tol
        self.clip = clip
        self.rejected = 0
        self.newton_steps = 0
        self.orbits = []        # (d, N) arrays
        self.chord = []         # (d, N, N): (I - J_{F^d}(o_s))^{-1}
        self.rho = []           # spectral radius of J_{F^d} at o_0
        self.index = []         # sign det(I - J) for d = 1 (0: degenerate)
        self.residual = []
        self.by_iteration = []

    def period(self, k):
        return self.orbits[k].shape[0]

    def of_period(self, d):
        return [k for k, o in enumerate(self.orbits) if o.shape[0] == d]

    def _points(self, d):
        ks = self.of_period(d)
        if not ks:
            return ks, np.empty((0, self.m.width)), np.empty((0,), dtype=int)
        pts = np.concatenate([self.orbits[k] for k in ks])
        owner = np.repeat(np.arange(len(ks)), d)
        return ks, pts, owner

    def match(self, x, d):
        """Id of the known period-d orbit within dedup_tol of each row of x, or -1."""
        ks, pts, owner = self._points(d)
        out = np.full(x.shape[0], -1)
        if not ks:
            return out
        near, dist = _nearest(x, pts)
        hit = dist <= self.dedup_tol
        out[hit] = np.asarray(ks)[owner[near[hit]]]
        return out

    def assign(self, x, g, d):
        """Chord test of candidates x (residual g of F^d) against the known period-d orbits."""
        ks, pts, owner = self._points(d)
        out = np.full(x.shape[0], -1)
        if not ks:
            return out
        chord = np.concatenate([self.chord[k] for k in ks])
        near, _ = _nearest(x, pts)
        pred = np.empty_like(x)
        for j in np.unique(near):
            rows = near == j
            pred[rows] = x[rows] + g[rows] @ chord[j].T
        ok = _sup(pred - pts[near]) <= self.dedup_tol
        out[ok] = np.asarray(ks)[owner[near[ok]]]
        return out

    def _minimal_period(self, orbit):
        for d in range(1, orbit.shape[0]):
            if orbit.shape[0] % d == 0 and _sup(orbit[d] - orbit[0]) <= self.dedup_tol:
                return d
        return orbit.shape[0]

    def add(self, orbits, by_iteration):
        """Register refined orbits (R, p, N); the id of each (new or matched; -1 rejected)."""
        ids = np.empty(orbits.shape[0], dtype=int)
        for r, orbit in enumerate(orbits):
            d = self._minimal_period(orbit)
            k = int(self.match(orbit[:1], d)[0])
            if k < 0:
                x, res, conv, n = _newton(self.m, orbit[:1], d, self.tol, self.clip)
                self.newton_steps += n
                if not conv[0]:
                    self.rejected += 1
                    ids[r] = -1
                    continue
                k = self._new(np.concatenate([self.m(x, s) for s in range(d)]), float(res[0]),
                              by_iteration)
            elif by_iteration:
                self.by_iteration[k] = True
            ids[r] = k
        return ids

    def index_sum(self):
        return sum(self.index[k] for k in self.of_period(1))

    def _new(self, orbit, residual, by_iteration):
        d = orbit.shape[0]
        jt = self.m.jacobian_t(orbit, d)
        a = _i_minus_j(jt)
        self.chord.append(_inverse(a))
        self.rho.append(float(np.max(np.abs(np.linalg.eigvals(jt[0])))))
        if d == 1:
            sign, _ = np.linalg.slogdet(a[0])
            sigma_min = np.linalg.svd(a[0], compute_uv=False)[-1]
            self.index.append(int(sign) if sigma_min >= DEGENERATE_SIGMA else 0)
        else:
            self.index.append(0)
        self.residual.append(residual)
        self.orbits.append(orbit.copy())
        self.by_iteration.append(by_iteration)
        return len(self.orbits) - 1


def _greedy_reps(x, radius):
    """Indices of greedy cluster representatives: each row is within radius of one."""
    covered = np.zeros(x.shape[0], dtype=bool)
    reps = []
    while not covered.all():
        i = int(np.argmin(covered))
        reps.append(i)
        covered |= _sup(x - x[i]) <= radius
    return np.asarray(reps, dtype=int)


def _assign(m, registry, x, p, labels):
    """Chord-assign the rows of x with ``labels == -1`` to known orbits of period d | p."""
    for d in range(1, p + 1):
        rows = np.flatnonzero(labels == -1)
        if p % d or rows.size == 0 or not registry.of_period(d):
            continue
        xr = x[rows]
        labels[rows] = registry.assign(xr, m(xr, d) - xr, d)


def _refine(m, registry, x, p, tol):
    """Registry ids of Phase-1 candidates x of detected period p (-1: refinement failed).

    Round 1 refines one greedy representative per cluster and chord-assigns the rest
    (to orbits of any period d dividing p: a row converging to a fixed point through
    oscillations can look 2-periodic); round 2 refines every row still unassigned.
    """
    labels = np.full(x.shape[0], -1)
    _assign(m, registry, x, p, labels)
    steps = 0
    for everyone in (False, True):
        pending = np.flatnonzero(labels == -1)
        if pending.size == 0:
            break
        reps = pending if everyone else pending[_greedy_reps(x[pending], CLUSTER_RADIUS)]
        xr, _, conv, n = _newton(m, x[reps], p, tol, None)
        steps += n
        ok = conv & (_sup(xr - x[reps]) <= REP_RADIUS)
        labels[reps] = -2
        if ok.any():
            orbits = np.stack([m(xr[ok], s) for s in range(p)], axis=1)
            ids = registry.add(orbits, by_iteration=True)
            labels[reps[ok]] = np.where(ids < 0, -2, ids)
        _assign(m, registry, x, p, labels)
    labels[labels < 0] = -1
    return labels, steps


# -- Phase 1: batched iteration ------------------------------------------------------------
def _iterate(m, x0, max_iter, period_max, bar):
    """Iterate all rows: (detected period per row, 0 = unresolved; end states; row-evaluations)."""
    n_rows, n = x0.shape
    period = np.zeros(n_rows, dtype=int)
    end = np.array(x0, dtype=np.float64)
    rows = np.arange(n_rows)
    x = end.copy()
    alive = np.ones(n_rows, dtype=bool)
    hist = np.empty((period_max, n_rows, n)) if period_max >= 2 else None
    # Checked when k + 1 is a multiple of P: hist[j] then holds x_{k+1-p}, lag p = -j mod P.
    lags = (-np.arange(period_max)) % period_max
    lags[0] = period_max
    evals = 0
    for k in range(max_iter):
        if hist is not None:
            hist[k % period_max] = x
        y = m(x)
        evals += rows.size
        r = _sup(y - x)
        with np.errstate(invalid="ignore"):
            fixed = alive & (r <= NEWTON_SWITCH)
            lost = alive & ~(_sup(y) <= DIVERGED)
        found = np.zeros(rows.size, dtype=int)
        found[fixed] = 1
        if hist is not None and (k + 1) % period_max == 0:
            dist = _sup(hist - y[None, :, :])
            close = (dist <= NEWTON_SWITCH) & (lags >= 2)[:, None]
            close_lag = np.where(close, lags[:, None], period_max + 1).min(axis=0)
            cyc = alive & ~fixed & ~lost & (close_lag <= period_max)
            found[cyc] = close_lag[cyc]
        stop = fixed | lost | (found > 0)
        period[rows[stop]] = found[stop]
        end[rows[stop]] = y[stop]
        alive &= ~stop
        x = y
        n_alive = int(alive.sum())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(active=n_alive)
        if n_alive == 0:
            break
        if n_alive <= 0.8 * rows.size:  # compact lazily: finished rows cost a little until then
            keep = alive
            rows, x, alive = rows[keep], x[keep], alive[keep]
            if hist is not None:
                hist = hist[:, keep]
    end[rows[alive]] = x[alive]
    return period, end, evals


# -- Phase 2 starts ------------------------------------------------------------------------
def _newton_start_points(gen, n, box, found):
    """n starts: a quarter on segments between found points, a quarter near them, rest uniform."""
    lo, hi = box
    width = found.shape[1]
    n_seg = n // 4 if found.shape[0] >= 2 else 0
    n_near = n // 4 if found.shape[0] >= 1 else 0
    parts = [lo + (hi - lo) * gen.random((n - n_seg - n_near, width))]
    if n_seg:
        i = gen.integers(found.shape[0], size=n_seg)
        j = (i + gen.integers(1, found.shape[0], size=n_seg)) % found.shape[0]
        t = gen.random((n_seg, 1))
        parts.append((1.0 - t) * found[i] + t * found[j])
    if n_near:
        i = gen.integers(found.shape[0], size=n_near)
        parts.append(np.clip(found[i] + 0.05 * (hi - lo) * gen.standard_normal((n_near, width)), lo, hi))
    return np.concatenate(parts)


# -- validation ------------------------------------------------------------------------------
def _check_real(name, value, low, high, rule):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidParameter(name, value, rule)
    return float(value)


def _check_starts(extra, width):
    if extra is None:
        return np.empty((0, width))
    try:
        arr = np.asarray(extra)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("extra_starts", extra, f"must be a real array (B, {width})") from exc
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise InvalidParameter("extra_starts", f"array of dtype {arr.dtype}", "must hold real numbers")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidParameter("extra_starts", f"array of shape {arr.shape}",
                               f"must have shape (B, N) or (N,) with N = {width}")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter("extra_starts", "array with non-finite entries", "must be finite")
    return arr


def _check_box(box, activation):
    if box is None:
        box = activation.box if activation.box is not None else DEFAULT_BOX
    try:
        lo, hi = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("box", box, "must be a pair (low, high) of finite numbers") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidParameter("box", box, "must be a pair (low, high) of finite numbers, low < high")
    return lo, hi


# -- public ------------------------------------------------------------------------------------
def find_fixed_points(network, *, starts=1000, extra_starts=None, newton_starts=None, rng=None,
                      tol=1e-12, max_iter=2000, dedup_tol=1e-6, period_max=16, box=None,
                      newton_rounds=3, progress=False) -> FixedPointResult:
    """Distinct fixed points of ``F(x) = x_L``, their stability and index, and basin shares.

    Parameters
    ----------
    network : Network or LayeredNetwork
        Any namespace; the search runs on a NumPy copy. Layers may differ in width
        (an autoencoder N -> k -> N); the map must be square.
    starts : int >= 0
        Phase-1 starts drawn uniformly in ``box``.
    extra_starts : array (B, N) or (N,), optional
        Further Phase-1 starts (counted in ``n_starts`` and the basin shares).
    newton_starts : int >= 0, optional
        Phase-2 Newton starts. Default (None): ``starts``, or 0 when the Lipschitz bound
        certifies a unique fixed point (module docstring); an explicit number always runs.
    rng : None, seed or numpy.random.Generator
        Draws the Phase-1 starts, then the Phase-2 starts.
    tol : float in [1e-15, 1e-6]
        Every reported point has ``|F^p(x) - x|_inf <= tol``.
    max_iter : int >= 1
        Iterations of F per Phase-1 start before it counts as unresolved.
    dedup_tol : float > tol
        Sup-norm distance under which two fixed points (orbits) are the same.
    period_max : int >= 1
        Longest period detected (1: no periodic detection).
    box : (low, high), optional
        Start box ``[low, high]^N``; default the activation's box (sigmoid [0, 1],
        tanh/erf/hard-tanh [-1, 1]) or ``DEFAULT_BOX`` = [-1, 1] for unbounded ones
        (relu, linear), where a fixed point may lie outside the box and iterations may
        diverge (counted unresolved).
    newton_rounds : int >= 1
        Phase 2 is repeated with fresh starts (their segments and neighbourhoods now
        include the points found so far), at most this many rounds, while the activation
        is bounded, the index sum differs from 1 and the last round found a new point.
    progress : bool
        Show a tqdm bar (stderr).

    Returns
    -------
    FixedPointResult
    """
    if not isinstance(network, (Network, LayeredNetwork)):
        raise InvalidParameter("network", network, "must be a validation.Network or LayeredNetwork")
    width = network.width
    n_rand = _check_int("starts", starts, 0)
    extra = _check_starts(extra_starts, width)
    if n_rand + extra.shape[0] < 1:
        raise InvalidParameter("starts", starts, "starts plus the rows of extra_starts must be >= 1")
    if newton_starts is not None:
        _check_int("newton_starts", newton_starts, 0)
    tol = _check_real("tol", tol, 1e-15, NEWTON_SWITCH, f"must be a number in [1e-15, {NEWTON_SWITCH}]")
    if isinstance(dedup_tol, bool) or not isinstance(dedup_tol, Real) or not math.isfinite(dedup_tol) \
            or not dedup_tol > tol:
        raise InvalidParameter("dedup_tol", dedup_tol, f"must be a finite number > tol = {tol}")
    dedup_tol = float(dedup_tol)
    max_iter = _check_int("max_iter", max_iter, 1)
    period_max = _check_int("period_max", period_max, 1)
    newton_rounds = _check_int("newton_rounds", newton_rounds, 1)
    box = _check_box(box, network.activation)
    if not isinstance(progress, (bool, np.bool_)):
        raise InvalidParameter("progress", progress, "must be True or False")
    gen = _make_rng(rng)
    act = network.activation
    clip = act.box if act.bounded and act.box is not None else None
    params = {**network.params, "activation": act.name, "tied": network.tied, "starts": n_rand,
              "extra_starts": int(extra.shape[0]), "newton_starts": newton_starts, "tol": tol,
              "max_iter": max_iter, "dedup_tol": dedup_tol, "period_max": period_max,
              "box": list(box), "newton_rounds": newton_rounds,
              **{f"finder_{k}": v for k, v in _seed_record(gen).items()}}

    m = _Map(network)
    bound = lipschitz_bound(network)
    certified = bound < 1.0
    n_newton = (0 if certified else n_rand) if newton_starts is None else int(newton_starts)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=max_iter, desc=f"iterate N={width} L={network.depth}", unit="it")

    t0 = time.perf_counter()
    x0 = np.concatenate([box[0] + (box[1] - box[0]) * gen.random((n_rand, width)), extra])
    with np.errstate(over="ignore", invalid="ignore"):
        period, end, evals = _iterate(m, x0, max_iter, period_max, bar)
    t1 = time.perf_counter()

    registry = _Registry(m, dedup_tol, tol, clip)
    labels = np.full(x0.shape[0], -1)
    newton_steps = 0
    for p in np.unique(period[period > 0]):
        rows = np.flatnonzero(period == p)
        labels[rows], n = _refine(m, registry, end[rows], int(p), tol)
        newton_steps += n
    t2 = time.perf_counter()

    n_converged = rounds = 0
    if bar is not None:
        bar.set_description(f"newton N={width} L={network.depth}")
    while n_newton and rounds < newton_rounds:
        rounds += 1
        known = len(registry.of_period(1))
        found = np.concatenate(registry.orbits) if registry.orbits else np.empty((0, width))
        xs = _newton_start_points(gen, n_newton, box, found)
        with np.errstate(over="ignore", invalid="ignore"):
            xs, _, conv, n = _newton(m, xs, 1, tol, clip)
        newton_steps += n
        n_converged += int(conv.sum())
        xs = xs[conv]
        if xs.shape[0]:
            registry.add(xs[_greedy_reps(xs, dedup_tol), None, :], by_iteration=False)
        if clip is None or registry.index_sum() == 1 or len(registry.of_period(1)) == known:
            break
    if bar is not None:
        bar.close()
    t3 = time.perf_counter()

    n_starts = x0.shape[0]
    share = np.bincount(labels[labels >= 0], minlength=len(registry.orbits)) / n_starts
    fixed = registry.of_period(1)
    cycles = [k for k in range(len(registry.orbits)) if registry.period(k) >= 2]
    rho = np.array([registry.rho[k] for k in fixed])
    index = np.array([registry.index[k] for k in fixed], dtype=int)
    stable = rho < 1.0
    return FixedPointResult(
        points=np.array([registry.orbits[k][0] for k in fixed]).reshape(len(fixed), width),
        stable=stable, spectral_radius=rho, index=index,
        residual=np.array([registry.residual[k] for k in fixed]),
        basin_share=np.array([share[k] for k in fixed]),
        found_by_iteration=np.array([registry.by_iteration[k] for k in fixed], dtype=bool),
        q_stable=int(stable.sum()), q_all=len(fixed), index_sum=int(index.sum()),
        periods=[registry.period(k) for k in cycles],
        periodic_shares=[float(share[k]) for k in cycles],
        periodic_spectral_radius=[registry.rho[k] for k in cycles],
        orbits=[registry.orbits[k] for k in cycles],
        periodic_fraction=float(sum(share[k] for k in cycles)),
        unresolved_fraction=float(np.mean(labels < 0)),
        n_starts=n_starts, iterations=int(evals),
        newton_steps=int(newton_steps + registry.newton_steps), newton_starts=n_newton * rounds,
        newton_converged=n_converged, n_rejected=registry.rejected,
        lipschitz_bound=bound, certified_unique=certified, params=params,
        timings={"iterate": t1 - t0, "refine": t2 - t1, "newton": t3 - t2, "total": t3 - t0})
