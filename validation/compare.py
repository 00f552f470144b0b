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

__all__ = ["TheoryCDF", "resolution_floor", "ks_distance", "wasserstein1", "moment_rel_err", "radial_ks",
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


def resolution_floor(samples, width: int) -> float:
    """Eigenvalues of J J^T below ``N eps max`` are round-off: float64 cannot tell them from 0
    (THEORY.md §6), so distributions are compared only above this floor."""
    s = np.asarray(samples, dtype=float)
    return float(10.0 * width * np.finfo(float).eps * s.max()) if s.size else 0.0


def ks_distance(samples, F, floor: float = 0.0) -> float:
    """Kolmogorov-Smirnov distance sup_{x >= floor} |F_emp(x) - F(x)| for a CDF F with atoms
    (``F(x, left=True)`` is the left limit). Samples below ``floor`` count only through
    F_emp(floor)."""
    s = np.sort(np.asarray(samples, dtype=float).ravel())
    n = s.size
    k = int(np.searchsorted(s, floor, side="left"))      # samples below the floor
    d = abs(k / n - F(np.array([floor]), left=True)[0]) if floor > 0 else 0.0
    t = s[k:]
    if t.size:
        i = np.arange(k + 1, n + 1)
        d = max(d, float(np.max(i / n - F(t))), float(np.max(F(t, left=True) - (i - 1) / n)))
    return float(max(d, 0.0))


def wasserstein1(samples, F, *, log: bool = False, floor: float = 0.0, n_grid: int = 4000) -> float:
    """Wasserstein-1 distance ∫ |F_emp - F| dx, or in log x for the laws conditioned on
    x > floor (logarithms need x > 0; below the floor float64 resolves nothing)."""
    s = np.sort(np.asarray(samples, dtype=float).ravel())
    if log:
        cut = max(floor, 0.0)
        s = s[s > cut]
        if s.size == 0:
            return float("nan")
        lo = math.log(s[0]) if cut == 0 else math.log(cut)
        hi = max(math.log(s[-1]), F.t_hi)
        t = np.linspace(lo, hi, n_grid)
        base = F(np.array([cut]))[0] if cut > 0 else F.atom0
        Ft = (F(np.exp(t)) - base) / (1.0 - base)
        Fe = np.searchsorted(s, np.exp(t), side="right") / s.size
        return float(np.trapezoid(np.abs(Fe - Ft), t))
    hi = max(s[-1], math.exp(F.t_hi) if F.t_hi < 700 else s[-1])
    x = np.linspace(0.0, hi, n_grid)
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
    """Pass thresholds ``c1 / N + c2 / sqrt(N S)`` for width N and S sampled networks.

    ``c1 / N`` is the finite-width bias of light-tailed spectra; ``c2 / sqrt(N S)`` the
    sampling noise, dominated by the network-to-network fluctuation of the empirical slope
    law (N slopes per layer). Constants are calibrated on the campaign
    (``python -m validation.campaign``, widths 100-400): about twice the largest scaled
    metric seen over the agreeing cases.
    """

    ks: tuple = (10.0, 1.0)
    w1_log: tuple = (40.0, 6.0)
    moment_rel_err: tuple = ((10.0, 2.0), (40.0, 4.0), (100.0, 8.0), (250.0, 15.0))
    radial_ks: tuple = (10.0, 1.0)
    fraction_outside: tuple = (5.0, 0.5)

    def at(self, width: int, samples: int = 1) -> dict:
        n, ns = float(width), math.sqrt(float(width) * max(samples, 1))
        f = lambda c: c[0] / n + c[1] / ns
        return {"ks": f(self.ks), "w1_log": f(self.w1_log),
                "moment_rel_err": [f(c) for c in self.moment_rel_err],
                "radial_ks": f(self.radial_ks), "fraction_outside": f(self.fraction_outside)}


def compare(sol, sv2, eigs, width: int, tolerances: Tolerances | None = None,
            cdf: TheoryCDF | None = None) -> dict:
    """Every §6 metric for samples ``sv2`` (eigenvalues of J J^T) and ``eigs`` (of J), and
    the verdict against ``tolerances.at(width)``."""
    samples = int(np.asarray(sv2).size // max(width, 1))
    tol = (tolerances or Tolerances()).at(width, samples)
    F = cdf or TheoryCDF(sol)
    sv2 = np.sort(np.asarray(sv2, dtype=float).ravel())
    floor = resolution_floor(sv2, width)
    abs_eigs = np.abs(np.asarray(eigs).ravel())
    frac_sim = float(np.mean(abs_eigs > 1.0))
    frac_th = float(sol.fraction_outside_unit_circle)
    metrics = {
        "ks": ks_distance(sv2, F, floor),
        "w1": wasserstein1(sv2, F),
        "w1_log": wasserstein1(sv2, F, log=True, floor=floor),
        "resolution_floor": floor,
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
