"""The search machinery of find_fixed_points: iteration, Newton and the registry of distinct orbits.

Phase 1 iterates every start at once (:func:`_iterate`) and refines its candidates
(:func:`_refine`); Phase 2 runs damped Newton in x (:func:`_newton`) and in the last pre-activation u
(:func:`_preactivation_newton`) from the starts of :func:`_newton_start_points`; :class:`_Registry` keeps the distinct orbits found, with
their chord matrices, spectral radii and indices. The algorithm and its constants are
described in :mod:`validation.fixedpoints`.
"""

from __future__ import annotations

import numpy as np

from .netmap import _i_minus_j, _inverse, _nearest, _solve, _sup
from .xp_activations import dphi, phi

NEWTON_SWITCH = 1e-6         # |F^p(x) - x|_inf at which an iterate is handed to Newton
CLUSTER_RADIUS = 1e-3        # sup-norm radius of the greedy clusters of Phase-1 candidates
REP_RADIUS = 1e-2            # farthest Newton may move a Phase-1 representative
NEWTON_MAX_STEPS = 40
LINE_SEARCH_HALVINGS = 12
ARMIJO = 1e-4
DIVERGED = 1e100             # an iterate with |x|_inf above this has diverged
DEGENERATE_SIGMA = 1e-9      # sigma_min(I - J) below this: degenerate fixed point, index 0
ROUNDING_FLOOR = 1e-8        # largest residual accepted at the rounding floor (see _damped_newton)


# -- Newton ---------------------------------------------------------------------------------
def _damped_newton(z0, residual, direction, tol, project=None):
    """Damped Newton on ``residual(z) = 0`` for each row: (z, residual, converged, steps).

    ``direction(z, g)`` gives the full Newton step of rows z with residuals g; a backtracking
    line search on ``|g|_2`` (Armijo constant ``ARMIJO``, at most ``LINE_SEARCH_HALVINGS``
    halvings, a row stalls when none is accepted) scales it, ``project`` (optional) maps
    trial points back into the domain, and a row converges when ``|g|_inf <= tol``, or at
    the rounding floor: when its full step is ``|dz|_inf <= tol`` while
    ``|g|_inf <= ROUNDING_FLOOR``. The second case is a strongly unstable point. Rounding in
    the early layers, amplified by rho(J) ~ 1e4 to 1e6, keeps ``|g|`` near ``eps rho`` (1e-12 to
    1e-10 at L = 8), while the step, that error divided by rho, says the point is within tol
    of the zero.
    """
    z = np.array(z0, dtype=np.float64)
    g = residual(z)
    res = _sup(g)
    conv = res <= tol
    alive = np.isfinite(res) & ~conv
    steps = 0
    for _ in range(NEWTON_MAX_STEPS):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        steps += idx.size
        dz = direction(z[idx], g[idx])
        floor = (_sup(dz) <= tol) & (res[idx] <= ROUNDING_FLOOR)
        conv[idx[floor]] = True
        alive[idx[floor]] = False
        idx, dz = idx[~floor], dz[~floor]
        if idx.size == 0:
            break
        za, ga = z[idx], g[idx]
        norm0 = np.linalg.norm(ga, axis=1)
        t = np.ones(idx.size)
        z_new, g_new = np.empty_like(za), np.empty_like(ga)
        todo = np.arange(idx.size)
        for _ in range(LINE_SEARCH_HALVINGS + 1):
            zt = za[todo] + t[todo, None] * dz[todo]
            if project is not None:
                project(zt)
            gt = residual(zt)
            z_new[todo], g_new[todo] = zt, gt
            ok = np.linalg.norm(gt, axis=1) <= (1.0 - ARMIJO * t[todo]) * norm0[todo]
            ok |= _sup(gt) <= tol
            todo = todo[~ok]
            if todo.size == 0:
                break
            t[todo] *= 0.5
        stalled = np.zeros(idx.size, dtype=bool)
        stalled[todo] = True
        z[idx], g[idx] = z_new, g_new
        res[idx] = _sup(g_new)
        conv[idx] = res[idx] <= tol
        alive[idx] = ~conv[idx] & ~stalled & np.isfinite(res[idx])
    return z, res, conv, steps


def _newton(m, x0, p, tol, clip):
    """Damped Newton on ``F^p(x) - x``, step ``(I - J) dx = G``, iterates projected onto
    the box ``clip`` when given: (x, |G|_inf, converged, steps) per row."""
    project = None if clip is None else (lambda x: np.clip(x, clip[0], clip[1], out=x))
    return _damped_newton(x0, lambda x: m(x, p) - x,
                          lambda x, g: _solve(_i_minus_j(m.jacobian_t(x, p)), g), tol, project)


def _preactivation_newton(m, x0, tol):
    """Damped Newton on ``G(u) = u - h_L(phi(u))`` from ``u0 = h_L(x0)``, for each row:
    (x = phi(u), converged, steps).

    The fixed points of F are ``x = phi(u)`` with G(u) = 0, one to one, with the same index
    (``det(I - D_L M) = det(I - M D_L)``, ``M = dh_L/dx``). Where units saturate, F is
    almost flat in x with thin, steep transitions, and Newton in x from random starts
    rarely reaches its strongly unstable points (rho(J) ~ 1e2 to 1e4); in u a saturated
    unit is a direction where G is the identity, so Newton is well conditioned. A row
    converges when ``x = phi(u)`` has ``|F(x) - x|_inf <= tol``, or when the u-run converged
    at its rounding floor and ``|F(x) - x|_inf <= ROUNDING_FLOOR``.
    """
    eye = np.eye(m.width)

    def direction(u, g):
        mt = m.preactivation_jacobian_t(phi(m.act, u, np))
        return -_solve(eye - np.swapaxes(mt, 1, 2) * dphi(m.act, u, np)[:, None, :], g)

    u, _, conv_u, steps = _damped_newton(m.preactivation(np.asarray(x0, dtype=np.float64)),
                                         lambda u: u - m.preactivation(phi(m.act, u, np)),
                                         direction, tol)
    x = phi(m.act, u, np)
    with np.errstate(invalid="ignore"):
        res = _sup(m(x) - x)
    return x, (res <= tol) | (conv_u & (res <= ROUNDING_FLOOR)), steps


# -- distinct orbits -------------------------------------------------------------------------
class _Registry:
    """Distinct orbits (fixed points are period 1) with their chord matrices and spectra.

    An orbit is registered only after its first point has been polished by Newton, as a
    single row, to ``|F^d(x) - x|_inf <= tol`` or to its rounding floor (a Newton step below
    tol, residual at most ``ROUNDING_FLOOR``; see :func:`_damped_newton`); the residual then
    reported is the one that passed. One that reaches neither is counted in ``rejected``.
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
