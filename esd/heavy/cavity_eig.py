"""Eigenvalues of J by population dynamics: the radial law F_J(rho) = F_C(rho^(1/L)),
one population per repeat serving every radius, and what follows from it (the fraction
outside the unit circle, the log-growth term of the Kac-Rice rate, a spectral-radius
quantile)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from esd.exceptions import InvalidParameter
from esd.heavy import _cavity_kernels as _k
from esd.heavy._checks import _real
from esd.heavy.cavity_result import CavityResult, _log_linear_integral, _mean_se, radius_at_quantile


#: Radii of C (``|lambda(J)| = r^L``) for :meth:`HeavyTailedJacobian.log_growth`: dense near 1,
#: where ``1 - F_C`` falls fastest.
LOG_GROWTH_GRID = (1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
#: Radii of |lambda(J)| on which :meth:`HeavyTailedJacobian.spectral_radius_quantile`
#: interpolates F_J (geometric, 0.25..8).
SPECTRAL_RADIUS_GRID = tuple(np.geomspace(0.25, 8.0, 13))


class Eigenvalues:
    """Mixin of :class:`esd.HeavyTailedJacobian`: the eigenvalue methods. Uses the solver's
    settings, ``_common``, ``_seeds``, ``_drift`` and ``_progress``."""

    def _radial_c_repeats(self, r_c, eta):
        """F_C at the radii ``r_c`` of C: per repeat one population (``radial_population``) serving every radius
        (:func:`esd.heavy._cavity_kernels.eig_population`), the repeats on ``threads`` threads.
        Returns (repeats x radii) values and the largest drift."""
        seeds = self._seeds(self.repeats)
        r_c = np.ascontiguousarray(r_c, dtype=float)

        def one(seed):
            hist = _k.eig_population(r_c, float(eta), *self._common(self.radial_population),
                                     self.burn_in + self.sweeps,
                                     self.decoupled, self.closed, int(seed), self._kmax)
            h = hist[self.burn_in:]
            if self._progress is not None:
                self._progress(r_c.size)
            return h.mean(axis=0), max(self._drift(h[:, q]) for q in range(r_c.size))
        if self.threads == 1:
            runs = [one(sd) for sd in seeds]
        else:
            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                runs = list(pool.map(one, seeds))
        return np.array([v for v, _ in runs]), max(d for _, d in runs)

    def radial_cdf(self, rho, *, eta=1e-4) -> CavityResult:
        """``F_J(rho) = P(|lambda(J)| <= rho) = F_C(rho^(1/L))``, ``F_C(r) = E[r^2/(AB + r^2)]``."""
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        if rho.ndim != 1 or not np.all(np.isfinite(rho)) or np.any(rho <= 0):
            raise InvalidParameter("rho", rho, "must be finite radii > 0")
        eta = _real("eta", eta, low=0.0, low_open=True)
        vals, drift = self._radial_c_repeats(rho ** (1.0 / self.depth), eta)
        m, se = _mean_se(vals)
        return CavityResult("radial_cdf", rho, m, se, drift, {**self.params, "eta": eta})

    def log_growth(self, *, r_grid=LOG_GROWTH_GRID, eta=1e-4) -> CavityResult:
        """``K = int log max(1, |lambda|) dmu_J = L int_1^inf (1 - F_C(r)) / r dr``, the growth
        term of the Kac-Rice rate (docs/theory/q-predictors.md), with ``f_out = 1 - F_C(1)`` alongside.

        Integrated in the radius r of C (``|lambda| = r^L``), so one grid serves every depth:
        ``1 - F_C`` log-linear in log r between the points of ``r_grid`` (exact for power-law
        tails), plus the tail beyond the last point from the decay rate of the last two.
        ``mean`` is [K, f_out], ``extra['tail_share']`` the extrapolated part of K (should
        be small) and ``extra['outside']`` the mean of ``1 - F_C`` on the grid."""
        r = np.asarray(r_grid, dtype=float)
        if (r.ndim != 1 or r.size < 3 or not np.all(np.isfinite(r)) or r[0] != 1.0
                or np.any(np.diff(r) <= 0)):
            raise InvalidParameter("r_grid", r_grid, "must be >= 3 increasing radii starting at 1.0")
        eta = _real("eta", eta, low=0.0, low_open=True)
        vals, drift = self._radial_c_repeats(r, eta)
        g = np.clip(1.0 - vals, 0.0, 1.0)
        t = np.log(r)
        k, tail = np.empty(self.repeats), np.empty(self.repeats)
        for rep in range(self.repeats):
            body, tail[rep] = _log_linear_integral(t, g[rep])
            k[rep] = self.depth * (body + tail[rep])
            tail[rep] *= self.depth
        m, se = _mean_se(np.column_stack([k, g[:, 0]]))
        return CavityResult("log_growth", np.array([0.0, 1.0]), m, se, drift,
                            {**self.params, "eta": eta, "r_grid": r.tolist()},
                            {"tail_share": float(tail.mean() / max(k.mean(), 1e-300)),
                             "outside": g.mean(axis=0)})

    def fraction_outside_unit_circle(self, *, eta=1e-4) -> CavityResult:
        """``1 - F_J(1)``: the fraction of eigenvalues of J with ``|lambda| > 1``."""
        res = self.radial_cdf([1.0], eta=eta)
        return CavityResult("fraction_outside_unit_circle", res.x, 1.0 - res.mean, res.stderr,
                            res.convergence, res.params)

    def spectral_radius_quantile(self, q=0.999, *, rho_grid=None, eta=1e-4) -> CavityResult:
        """Radius rho with ``F_J(rho) = q`` (a finite-N spectral-radius proxy), by linear
        interpolation of F_J in log rho on ``rho_grid`` (default ``SPECTRAL_RADIUS_GRID``)."""
        q = _real("q", q, low=0.0, low_open=True, high=1.0)
        grid = np.asarray(SPECTRAL_RADIUS_GRID if rho_grid is None else rho_grid, dtype=float)
        return radius_at_quantile(self.radial_cdf(grid, eta=eta), q)
