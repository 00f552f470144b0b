"""Theory against simulation (THEORY.md §6): distances, errors and a verdict.

Pure functions from a theory object (:class:`esd.JacobianESD`) and Monte-Carlo samples
(NumPy arrays on the host) to a metrics dict. Eigenvalues of one matrix are strongly
correlated, so i.i.d. p-values mean nothing here: tolerances scale like ``c / N`` (the
finite-width bias and fluctuations of linear statistics of light-tailed spectra) with
constants ``c`` calibrated on a campaign over several widths (:func:`fit_width_trend`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["TheoryCDF", "ks_distance", "wasserstein1", "moment_rel_err", "radial_ks",
           "Tolerances", "compare", "fit_width_trend"]


class TheoryCDF:
    """The J J^T law of a theory object as a fast callable CDF.

    The continuous part is tabulated on ``n`` points in log x (the CDF is smooth there)
    and interpolated monotonically; atoms at 0 and at the top are kept exactly.
    """

    def __init__(self, sol, n: int = 1500, max_decades: float = 60.0):
        self.atom0 = sol.atom_at_zero
        self.x_top, self.top = sol.atom_at_top
        lo, hi = sol.log_support
        t_lo = lo if lo > -np.inf else sol.quantile_log(
            sol.atom_at_zero + 1e-6 * (1 - sol.atom_at_zero), max_decades=max_decades)
        t = np.linspace(t_lo, hi, n)
        F = sol.cdf(np.exp(t))
        # Continuous part only (the top atom is added back in __call__).
        F = np.where(np.exp(t) >= self.x_top, F - self.top, F)
        self.t_lo, self.t_hi = t[0], t[-1]
        self.F_lo, self.F_hi = F[0], 1.0 - self.top
        self._interp = PchipInterpolator(t, np.maximum.accumulate(F))

    def __call__(self, x, left: bool = False) -> np.ndarray:
        """F(x) = P(X <= x); with ``left`` the limit from the left, P(X < x)."""
        x = np.asarray(x, dtype=float)
        out = np.empty(x.shape)
        pos = x > 0
        out[~pos] = 0.0 if left else self.atom0
        out[(x == 0) & left] = 0.0
        with np.errstate(divide="ignore"):
            t = np.log(np.where(pos, x, 1.0))
        inside = pos & (t > self.t_lo) & (t < self.t_hi)
        out[pos & (t <= self.t_lo)] = self.atom0 if self.t_lo == -np.inf else self.F_lo
        out[pos & (t >= self.t_hi)] = self.F_hi
        out[inside] = self._interp(t[inside])
        if self.top > 0:
            at_or_above = x > self.x_top if left else x >= self.x_top
            out = np.where(at_or_above, out + self.top, out)
        return out


def _snap_zeros(samples, atom0, rel=1e-9):
    """Round-off turns the exact zeros of a singular J J^T into tiny numbers; put them back
    at 0 when the theory has an atom there."""
    s = np.asarray(samples, dtype=float).ravel()
    if atom0 > 0 and s.size:
        s = np.where(s < rel * s.max(), 0.0, s)
    return np.sort(s)


def ks_distance(samples, F) -> float:
    """Kolmogorov-Smirnov distance sup |F_emp - F| for a CDF F with atoms (F(x, left=True))."""
    s = np.sort(np.asarray(samples, dtype=float).ravel())
    n = s.size
    Fr = F(s)
    Fl = F(s, left=True)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - Fl), np.max(Fr - (i - 1) / n), 0.0))


def wasserstein1(samples, F, *, log: bool = False, n_grid: int = 4000) -> float:
    """Wasserstein-1 distance ∫ |F_emp - F| dx, or in log x (continuous part, x > 0)."""
    s = np.sort(np.asarray(samples, dtype=float).ravel())
    if log:
        s = s[s > 0]
        if s.size == 0:
            return float("nan")
        lo = min(math.log(s[0]), F.t_lo if np.isfinite(F.t_lo) else math.log(s[0]))
        hi = max(math.log(s[-1]), F.t_hi)
        t = np.linspace(lo, hi, n_grid)
        # Conditional laws of log x given x > 0 (the atom at 0 has no logarithm).
        mass_pos = 1.0 - F.atom0
        Ft = (F(np.exp(t)) - F.atom0) / mass_pos
        Fe = np.searchsorted(s, np.exp(t), side="right") / s.size
        return float(np.trapezoid(np.abs(Fe - Ft), t))
    hi = max(s[-1], math.exp(F.t_hi) if F.t_hi < 700 else s[-1])
    x = np.concatenate([[0.0], np.linspace(0.0, hi, n_grid)[1:]])
    Fe = np.searchsorted(s, x, side="right") / s.size
    return float(np.trapezoid(np.abs(Fe - F(x)), x))


def moment_rel_err(samples, moments) -> list[float]:
    """|mean(x^k) - m_k| / m_k for k = 1..len(moments)."""
    s = np.asarray(samples, dtype=float).ravel()
    return [float(abs(np.mean(s ** k) - m) / abs(m)) for k, m in enumerate(moments, start=1)]


def radial_ks(abs_eigs, sol, n_grid: int = 800) -> float:
    """KS distance between |lambda| of J and the radial law F(r) of the theory (§3.5)."""
    r = np.sort(np.asarray(abs_eigs, dtype=float).ravel())
    b = sol.spectral_radius
    grid = np.linspace(0.0, b, n_grid)
    Fg = np.maximum.accumulate(sol.radial_cdf(grid))
    atom = sol.atom_at_zero
    # The atom of J at 0 (singular slopes) shows up as round-off-sized |lambda|.
    r = np.where(r < 1e-7 * max(r.max(), 1e-300), 0.0, r) if atom > 0 else r

    def F(v, left=False):
        out = np.interp(v, grid, Fg, right=1.0)
        if atom > 0:
            out = np.where(v == 0, 0.0 if left else atom, out)
        return out

    return ks_distance(r, F)


@dataclass(frozen=True)
class Tolerances:
    """Pass thresholds ``c / N`` for width N (one constant per metric).

    The defaults come from the calibration campaign (validation/campaign.py, widths
    100-400): the largest ``metric * N`` seen over the agreeing cases, times a margin of 2.
    """

    ks: float = 30.0
    w1_log: float = 60.0
    moment_rel_err: tuple = (10.0, 40.0, 150.0, 600.0)
    radial_ks: float = 30.0
    fraction_outside: float = 20.0

    def at(self, width: int) -> dict:
        return {"ks": self.ks / width, "w1_log": self.w1_log / width,
                "moment_rel_err": [c / width for c in self.moment_rel_err],
                "radial_ks": self.radial_ks / width,
                "fraction_outside": self.fraction_outside / width}


def compare(sol, sv2, eigs, width: int, tolerances: Tolerances | None = None,
            cdf: TheoryCDF | None = None) -> dict:
    """Every §6 metric for samples ``sv2`` (eigenvalues of J J^T) and ``eigs`` (of J), and
    the verdict against ``tolerances.at(width)``."""
    tol = (tolerances or Tolerances()).at(width)
    F = cdf or TheoryCDF(sol)
    sv2 = _snap_zeros(sv2, F.atom0)
    abs_eigs = np.abs(np.asarray(eigs).ravel())
    frac_sim = float(np.mean(abs_eigs > 1.0))
    frac_th = float(sol.fraction_outside_unit_circle)
    metrics = {
        "ks": ks_distance(sv2, F),
        "w1": wasserstein1(sv2, F),
        "w1_log": wasserstein1(sv2, F, log=True),
        "moment_rel_err": moment_rel_err(sv2, sol.moments),
        "radial_ks": radial_ks(abs_eigs, sol),
        "fraction_outside_unit_circle": {"theory": frac_th, "simulation": frac_sim},
        "spectral_radius": {"theory": float(sol.spectral_radius),
                            "simulation": float(abs_eigs.max())},
    }
    checks = {
        "ks": metrics["ks"] <= tol["ks"],
        "w1_log": metrics["w1_log"] <= tol["w1_log"],
        "moments": all(e <= t for e, t in zip(metrics["moment_rel_err"], tol["moment_rel_err"])),
        "radial_ks": metrics["radial_ks"] <= tol["radial_ks"],
        "fraction_outside": abs(frac_sim - frac_th) <= tol["fraction_outside"],
    }
    metrics["checks"] = checks
    metrics["tolerances"] = tol
    metrics["pass"] = bool(all(checks.values()))
    return metrics


def fit_width_trend(widths, values) -> dict:
    """Least-squares fit ``value(N) = a + b / N`` over several widths.

    ``a`` is the discrepancy left at infinite width: near 0 when theory and simulation agree
    and the gap is finite-size; a clearly positive ``a`` flags a wrong theory.
    """
    N = np.asarray(widths, dtype=float)
    v = np.asarray(values, dtype=float)
    A = np.stack([np.ones_like(N), 1.0 / N], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, v, rcond=None)
    resid = v - A @ np.array([a, b])
    return {"a": float(a), "b": float(b), "rms_residual": float(np.sqrt(np.mean(resid ** 2)))}
