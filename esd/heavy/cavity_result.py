"""Results of the cavity solver: estimates with their standard errors over independent
runs, and what is derived from them afterwards (a radius at a quantile, integrals of a
tail)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CavityResult", "radius_at_quantile"]


@dataclass(frozen=True)
class CavityResult:
    """One population-dynamics estimate: ``mean`` and ``stderr`` over ``repeats`` runs at the
    points ``x``; ``convergence`` the drift indicator; ``params`` the solver's settings."""

    quantity: str
    x: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    convergence: float
    params: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def select(self, index) -> "CavityResult":
        """The result at the points ``x[index]`` only (same settings, same drift)."""
        return CavityResult(self.quantity, self.x[index], self.mean[index], self.stderr[index],
                            self.convergence, self.params, self.extra)

    def to_dict(self) -> dict:
        from esd import __version__

        def conv(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
        return {"quantity": self.quantity, "x": conv(self.x), "mean": conv(self.mean),
                "stderr": conv(self.stderr), "convergence": float(self.convergence),
                "params": dict(self.params), "extra": {k: conv(v) for k, v in self.extra.items()},
                "esd_version": __version__}


def _mean_se(per_repeat):
    a = np.asarray(per_repeat, dtype=float)
    m = a.mean(axis=0)
    se = a.std(axis=0, ddof=1) / math.sqrt(a.shape[0]) if a.shape[0] > 1 else np.full_like(m, np.nan)
    return m, se


def radius_at_quantile(radial: CavityResult, q: float) -> CavityResult:
    """The radius where the radial CDF ``radial`` (a :meth:`HeavyTailedJacobian.radial_cdf`
    result) reaches ``q``, linear in log rho; its error from the mean +- stderr bands."""
    grid = np.asarray(radial.x, dtype=float)
    order = np.argsort(grid)
    grid, mean, se = grid[order], radial.mean[order], radial.stderr[order]
    per = []
    # per-repeat values are not kept by radial_cdf: propagate by mean +/- stderr bands
    for band in (mean, mean - se, mean + se):
        per.append(float(np.interp(q, np.maximum.accumulate(band), np.log(grid),
                                   left=np.nan, right=np.nan)))
    val = math.exp(per[0])
    err = 0.5 * abs(math.exp(per[1]) - math.exp(per[2])) if np.all(np.isfinite(per)) else np.nan
    return CavityResult("spectral_radius_quantile", np.array([q]), np.array([val]),
                        np.array([err]), radial.convergence, radial.params,
                        {"rho_grid": grid, "radial_cdf": mean})


def _log_linear_integral(t, g):
    """``int g dt`` over the grid t with g log-linear between points (linear where a point
    is 0), and the tail beyond t[-1] from the decay rate of the last two points (0 if g
    does not decay there). Returns (body, tail)."""
    body = 0.0
    for a, b, dt in zip(g[:-1], g[1:], np.diff(t)):
        if a > 0.0 and b > 0.0 and abs(a - b) > 1e-12 * a:
            body += (a - b) * dt / math.log(a / b)
        else:
            body += 0.5 * (a + b) * dt
    tail = 0.0
    if g[-1] > 0.0 and g[-2] > g[-1]:
        tail = g[-1] * (t[-1] - t[-2]) / math.log(g[-2] / g[-1])
    return body, tail
