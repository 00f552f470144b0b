"""Singular values of J by population dynamics.

Two readings of the hermitized resolvent ``h(z) = z E[R_u + R_v]/2 = (1/N) sum_k w/(s_k^2 - w)``
(``w = z^2``, see :mod:`esd.heavy.cavity`):

- the density along the real axis, at ``z = s (1 + i eta_rel)``, walked in chunks of points
  that share one population (:meth:`SingularValues.singular_value_density`);
- the counting function through a rational step filter, at points far from the axis
  (:meth:`SingularValues.singular_value_cdf`): with ``omega_j = e^(i pi (2j + 1)/M)`` the roots
  of ``t^M = -1``, ``(1/M) sum_j omega_j/(omega_j - t) = 1/(1 + t^M)``, so at ``t = s_k^2/s^2``

      F_M(s) = (1/N) sum_k 1/(1 + (s_k/s)^(2M)) = -(2/M) sum_{j < M/2} Re h(s e^(i pi (2j + 1)/(2M))),

  the CDF of ln s smoothed by a logistic step of scale 1/(2M). The points keep
  ``arg z >= pi/(2M)`` from the axis, so the chains mix in a few sweeps, the estimate is a
  bounded average (no broadened density to integrate from the top, no extrapolated tail
  mass), and the quantiles of log10 s follow by inverting F_M on a coarse grid.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

from esd.exceptions import InvalidParameter
from esd.heavy import _cavity_kernels as _k
from esd.heavy._checks import _int, _real
from esd.heavy.cavity_result import CavityResult, _mean_se

#: Order M of the step filter: the CDF is read smoothed by ``1/(1 + (s_k/s)^(2M))``, M/2
#: resolvent points per s. Measured (tanh, cauchy, sigma_w 1, sigma_b 0.1, L 4, P 1000, same
#: draws): quantiles 0.5/0.75/0.9/0.99 of log10 s at M = 4 and M = 16 differ by 0.002 / 0.000 /
#: 0.004 / 0.011.
FILTER_ORDER = 4
#: Bytes of down-message grids one population run may hold; more points are split into runs.
RUN_BYTES = 2.5e8
#: Pilot run that brackets the quantiles: population, averaged sweeps, grid step (decades),
#: and the range of log10 s it may search.
PILOT_POPULATION, PILOT_SWEEPS, PILOT_STEP, PILOT_LIMIT = 300, 4, 1.0, 60.0


def filter_points(s, order=FILTER_ORDER):
    """``z_j = s e^(i pi (2j + 1)/(2M))`` for ``j < M/2``: rows s, columns j (module docstring)."""
    ang = math.pi * (2.0 * np.arange(order // 2) + 1.0) / (2.0 * order)
    return np.asarray(s, dtype=float)[:, None] * np.exp(1j * ang)[None, :]


def _filter_order(order):
    order = _int("order", order, 2)
    if order % 2:
        raise InvalidParameter("order", order, "must be an even integer >= 2")
    return order


def _invert_cdf(u, cdf, probs):
    """log10 s at which the CDF on the ascending grid u reaches each of ``probs``: monotone
    cubic (PCHIP) interpolation of logit F, which is nearly linear in the tails and across
    an edge (measured against a grid four times finer, tanh L = 1: errors <= 0.006 at step
    0.5, where PCHIP on F itself is off by up to 0.03); NaN outside the grid's range."""
    f = np.maximum.accumulate(np.clip(cdf, 1e-12, 1.0 - 1e-12))
    g = np.maximum.accumulate(np.log(f / (1.0 - f)))
    spline = PchipInterpolator(u, g)
    out = np.full(len(probs), np.nan)
    for i, p in enumerate(probs):
        t = math.log(p / (1.0 - p))
        if not g[0] <= t <= g[-1]:
            continue
        k = min(int(np.searchsorted(g, t, side="left")), u.size - 1)
        out[i] = u[k] if g[k] == t or k == 0 else brentq(lambda x: float(spline(x)) - t,
                                                          u[k - 1], u[k])
    return out


def auto_order(span):
    """Filter order for quantiles spread over ``span`` decades: the smallest even
    ``M >= 11/span`` in [4, 32], so the filter's width 1/(2M) in ln s stays a small
    fraction of the spread. Measured (tanh, cauchy, sigma_w 1, sigma_b 0.1): L = 1 (span
    1.1, M = 12) 0.9/0.99 quantiles within 0.003 of M = 32, where M = 4 is off by 0.013 /
    0.021; L = 4 (span 3, M = 4) within 0.011 of M = 16."""
    m = 11.0 / max(span, 1e-9)
    return int(min(32, max(4, 2 * math.ceil(m / 2.0))))


class SingularValues:
    """Mixin of :class:`esd.HeavyTailedJacobian`: the singular-value methods. Uses the
    solver's settings, ``_sv_common_init``, ``_seeds``, ``_drift`` and ``_progress``."""

    def _sv_path(self, zs, seed):
        """One repeat along the points ``zs``, ``chunk`` points at a time (one population
        serves a chunk's points, see :func:`esd.heavy._cavity_kernels.sv_population`); each chunk
        starts from the messages of the previous chunk's last point (``burn_in`` sweeps for
        the first chunk, ``warm_burn_in`` after). Returns ``h(z) = E[z (R_u + R_v)] / 2`` per
        point and the largest drift."""
        self._open_only()
        zs = np.asarray(zs, dtype=np.complex128)
        size = min(self.chunk, zs.size)
        state = _k.sv_init(*self._sv_common_init(), size, int(seed), self._kmax)
        n_chunks = -(-zs.size // size)
        child = np.random.default_rng(seed).integers(0, 2 ** 31 - 1, size=n_chunks)
        out, drift = [], 0.0
        for c in range(n_chunks):
            part = zs[c * size:(c + 1) * size]
            # a short last chunk repeats its last point: the arrays keep one shape
            padded = np.concatenate([part, np.full(size - part.size, part[-1])])
            burn = self.burn_in if c == 0 else self.warm_burn_in
            if c:
                for messages in state[1], state[4], state[5]:     # ups, dS, dU
                    messages[...] = messages[..., -1:]
            hu, hv = _k.sv_population(padded, *self._common(), burn + self.sweeps,
                                      self.decoupled, int(child[c]), self._kmax, *state)
            h = 0.5 * padded * (hu + hv)[burn:]
            for q in range(part.size):
                out.append(h[:, q].mean())
                drift = max(drift, self._drift(h[:, q].imag))
            if self._progress is not None:
                self._progress(part.size)
        return np.array(out), drift

    def _open_only(self):
        if self.closed:
            raise InvalidParameter("closed", True, "applies to the eigenvalue methods only "
                                   "(the singular-value linearisation has no cycle to close)")

    def _map_repeats(self, run, n=None):
        """``run(seed)`` for ``n`` (default ``repeats``) child seeds of ``rng``, on ``threads``
        threads (the kernels release the GIL; each seeds its own thread-local generator)."""
        seeds = self._seeds(self.repeats if n is None else n)
        if self.threads == 1 or len(seeds) == 1:
            return [run(sd) for sd in seeds]
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(run, seeds))

    def singular_value_density(self, s, *, eta_rel=1e-3) -> CavityResult:
        """``rho_s(s) = Im(z E[R_u + R_v]) / (pi s)`` at ``z = s (1 + i eta_rel)``: the density
        of the singular values s of J (not of s^2). The factor z turns the Lorentzian kernel
        of width ``eta_rel s`` into one with tails ``~ eta_rel (s_k/s)^(+-2)`` in s_k / s, so the
        mass far below s adds no flat ``eta_rel/(pi s)`` floor (module docstring). Points are
        visited from the largest s down, ``chunk`` at a time, with warm starts."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise InvalidParameter("s", s, "must be finite singular values > 0")
        eta_rel = _real("eta_rel", eta_rel, low=0.0, low_open=True)
        order = np.argsort(-s)
        runs = self._map_repeats(lambda sd: self._sv_path(s[order] * (1.0 + 1j * eta_rel), sd))
        vals = np.empty((self.repeats, s.size))
        for r, (h, _) in enumerate(runs):
            vals[r, order] = 2.0 * h.imag / (math.pi * s[order])
        m, se = _mean_se(vals)
        return CavityResult("singular_value_density", s, m, se, max(d for _, d in runs),
                            {**self.params, "eta_rel": eta_rel})


    # -- the counting function through the step filter ---------------------------------------
    def _filter_cdf(self, s, order, seed, population=None, sweeps=None, burn_in=None):
        """One repeat of ``F_M`` at the singular values ``s``: fresh populations of
        ``population`` (default the solver's) serving as many filter points as ``RUN_BYTES``
        allows (an s keeps its M/2 points in one run), ``burn_in`` (default the solver's
        ``filter_burn_in``) + ``sweeps`` sweeps each.
        Returns (F_M per s, largest drift)."""
        self._open_only()
        pop = self.population if population is None else population
        sweeps = self.sweeps if sweeps is None else sweeps
        burn = self.filter_burn_in if burn_in is None else burn_in
        half = order // 2
        zs = filter_points(s, order).ravel()
        per_s = 16.0 * (self.depth + 1) * pop * self.grid * half
        per_run = half * max(1, int(RUN_BYTES // per_s))
        n_runs = -(-zs.size // per_run)
        child = np.random.default_rng(seed).integers(0, 2 ** 31 - 1, size=2 * n_runs)
        out, drift = [], 0.0
        for r in range(n_runs):
            part = np.ascontiguousarray(zs[r * per_run:(r + 1) * per_run])
            state = _k.sv_init(*self._sv_common_init(pop), part.size, int(child[2 * r]),
                               self._kmax)
            hu, hv = _k.sv_population(part, *self._common(pop), burn + sweeps, self.decoupled,
                                      int(child[2 * r + 1]), self._kmax, *state)
            h = (0.5 * part * (hu + hv))[burn:]
            f = -(2.0 / order) * h.real.reshape(sweeps, -1, half).sum(axis=2)
            out.append(f.mean(axis=0))
            drift = max([drift] + [self._drift(f[:, q]) for q in range(f.shape[1])])
            if self._progress is not None:
                self._progress(f.shape[1])
        return np.concatenate(out), drift

    def singular_value_cdf(self, s, *, order=FILTER_ORDER) -> CavityResult:
        """``F_M(s) = (1/N) sum_k 1/(1 + (s_k/s)^(2M))``, the fraction of singular values of J
        below s seen through a logistic step of scale ``1/(2M)`` in ln s (M = ``order``):
        ``-(2/M) sum_j Re h(z_j)`` at the M/2 points ``z_j = s e^(i pi (2j + 1)/(2M))``
        (module docstring). Where F is smooth, the smoothing shifts a quantile by about
        ``-(pi^2/(24 M^2)) F''/F'`` (in ln s, F as a function of ln s): second order in the
        filter's width; across a sharp edge it is first order, hence :func:`auto_order`."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise InvalidParameter("s", s, "must be finite singular values > 0")
        order = _filter_order(order)
        runs = self._map_repeats(lambda sd: self._filter_cdf(s, order, sd))
        m, se = _mean_se([f for f, _ in runs])
        return CavityResult("singular_value_cdf", s, m, se, max(d for _, d in runs),
                            {**self.params, "order": order})

    def _bracket(self, probs):
        """A range of log10 s holding the requested quantiles, from one cheap pilot run
        (``PILOT_POPULATION``, ``PILOT_SWEEPS`` sweeps after ``filter_burn_in``) on a grid of ``PILOT_STEP`` decades, widened
        three decades at a time (up to ``PILOT_LIMIT``) until F_M brackets
        ``[min(probs) - 0.1, 1 - (1 - max(probs))/3]``. Returns (lo, hi, pilot grid, pilot F,
        the pilot's spread u(max probs) - u(min probs) in decades)."""
        seed0 = int(self._seeds(1)[0])
        kw = dict(population=min(self.population, PILOT_POPULATION),
                  sweeps=PILOT_SWEEPS)
        need_lo, need_hi = probs.min() - 0.1, 1.0 - (1.0 - probs.max()) / 3.0
        u = np.arange(-4.0, 2.0 + 1e-9, PILOT_STEP)
        f = self._filter_cdf(10.0 ** u, FILTER_ORDER, seed0, **kw)[0]
        for seed in range(seed0 + 1, seed0 + 200):    # bounded by PILOT_LIMIT well before
            grow_down = f[0] > need_lo and u[0] > -PILOT_LIMIT
            grow_up = f[-1] < need_hi and u[-1] < PILOT_LIMIT
            if not (grow_down or grow_up):
                break
            new = (u[0] - PILOT_STEP * np.arange(3, 0, -1) if grow_down
                   else u[-1] + PILOT_STEP * np.arange(1, 4))
            fn = self._filter_cdf(10.0 ** new, FILTER_ORDER, seed, **kw)[0]
            u, f = (np.r_[new, u], np.r_[fn, f]) if grow_down else (np.r_[u, new], np.r_[f, fn])
        fm = np.maximum.accumulate(f)
        below, above = np.nonzero(fm <= need_lo)[0], np.nonzero(fm >= need_hi)[0]
        lo = u[below[-1]] if below.size else u[0]
        hi = u[above[0]] if above.size else u[-1]
        q = _invert_cdf(u, f, np.array([probs.min(), probs.max()]))
        span = float(q[1] - q[0]) if np.all(np.isfinite(q)) else float(hi - lo)
        return float(lo), float(hi), u, f, span

    def log_singular_value_quantiles(self, probs=(0.5, 0.75, 0.9, 0.99), *, log10_range=None,
                                     step=None, order=None) -> CavityResult:
        """Quantiles of log10 s: per repeat, :meth:`singular_value_cdf` ``F_M`` on the grid
        ``log10_range[0], ... + step, ..., log10_range[1]`` (every point from one population
        run), inverted by monotone cubic interpolation; mean and standard error over repeats.

        ``log10_range`` None (default): bracketed first by a cheap pilot run
        (:meth:`_bracket`, reported in ``extra['pilot']``), so any depth works. ``order``
        None: :func:`auto_order` of the pilot's spread (``FILTER_ORDER`` with a given range);
        ``step`` None: a sixth of that spread in [0.05, 0.5] decades (0.5 with a given range). A quantile
        outside the grid's range of F_M is NaN (e.g. below an atom of zero singular values).
        ``extra`` carries the grid and the mean F_M on it."""
        p = np.atleast_1d(np.asarray(probs, dtype=float))
        if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any(p <= 0) or np.any(p >= 1):
            raise InvalidParameter("probs", probs, "must be probabilities in (0, 1)")
        if order is not None:
            order = _filter_order(order)
        if step is not None:
            step = _real("step", step, low=0.0, low_open=True, high=2.0)
        extra = {}
        if log10_range is None:
            lo, hi, pu, pf, span = self._bracket(p)
            extra["pilot"] = {"log10_s": pu, "cdf": pf, "span": span}
            order = auto_order(span) if order is None else order
            step = min(0.5, max(0.05, span / 6.0)) if step is None else step
        else:
            lo = _real("log10_range[0]", log10_range[0], low=-PILOT_LIMIT)
            hi = _real("log10_range[1]", log10_range[1], high=PILOT_LIMIT)
            if not hi > lo:
                raise InvalidParameter("log10_range", log10_range, "must be increasing")
            order = FILTER_ORDER if order is None else order
            step = 0.5 if step is None else step
        u = lo + step * np.arange(max(int(math.ceil((hi - lo) / step - 1e-9)), 1) + 1)
        runs = self._map_repeats(lambda sd: self._filter_cdf(10.0 ** u, order, sd))
        qs = np.array([_invert_cdf(u, f, p) for f, _ in runs])
        m, se = _mean_se(qs)
        cdf = np.mean([f for f, _ in runs], axis=0)
        return CavityResult("log10_singular_value_quantiles", p, m, se, max(d for _, d in runs),
                            {**self.params, "order": order, "step": step,
                             "log10_range": [float(u[0]), float(u[-1])]},
                            {**extra, "log10_s": u, "cdf": cdf, "points": int(u.size)})
