"""Distances between Monte-Carlo samples and the laws of a theory, above the floors of round-off.

The J J^T law and the radial law of the eigenvalues of J as fast callable CDFs
(:class:`TheoryCDF`, :class:`RadialCDF`), the distances taken against them (KS,
Wasserstein-1, relative errors of moments) and the resolution floors below which float64
cannot tell an eigenvalue from 0; :mod:`validation.compare` turns them into a verdict.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["TheoryCDF", "RadialCDF", "resolution_floor", "radial_floor", "ks_distance", "wasserstein1",
           "moment_rel_err", "radial_ks"]


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
        # Uniform in s = sqrt(t_up - t) (fine near the upper edge, where the square-root
        # edge and, for narrow spectra, all the mass sit) plus uniform in t across the bulk.
        s_grid = np.linspace(0.0, math.sqrt(hi - t_lo), n)
        t_bulk = sol.quantile_log(sol.atom_at_zero + 1e-3 * (1 - sol.atom_at_zero),
                                  max_decades=max_decades) if lo == -np.inf else lo
        t = np.unique(np.concatenate([hi - s_grid ** 2, np.linspace(max(t_bulk, t_lo), hi, n)]))
        F = sol.cdf(np.exp(t))
        # Continuous part only (the top atom is added back in __call__).
        F = np.where(np.exp(t) >= self.x_top, F - self.top, F)
        self.t_lo, self.t_hi = t[0], t[-1]
        self.F_lo, self.F_hi = F[0], 1.0 - self.top
        # Interpolate in s = sqrt(t_up - t): 1 - F is smooth in s at a square-root edge
        # (density ~ sqrt) and at an inverse square-root one (orthogonal, L = 1).
        s_nodes = np.sqrt(np.maximum(self.t_hi - t, 0.0))[::-1]
        F_nodes = np.maximum.accumulate(F)[::-1]
        s_nodes, keep = np.unique(s_nodes, return_index=True)
        self._interp = PchipInterpolator(s_nodes, F_nodes[keep])

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
        out[inside] = self._interp(np.sqrt(self.t_hi - t[inside]))
        if self.top > 0:
            at_or_above = x > self.x_top if left else x >= self.x_top
            out = np.where(at_or_above, out + self.top, out)
        return out


def resolution_floor(samples, width: int) -> float:
    """Eigenvalues of J J^T below ``N eps max`` are round-off: float64 cannot tell them from 0
    (docs/theory/validation.md), so distributions are compared only above this floor."""
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


def radial_floor(sv2, width: int) -> float:
    """|lambda| below ``sqrt(N eps) |J|`` is round-off for a non-normal J: a perturbation of
    size eps |J| moves an eigenvalue of modulus r by up to ~sqrt(eps |J| r)."""
    s = np.asarray(sv2, dtype=float)
    return float(math.sqrt(width * np.finfo(float).eps * s.max())) if s.size else 0.0


class RadialCDF:
    """The radial law F(r) = P(|lambda| <= r) of one or more theory objects (docs/theory/light-tailed.md).

    Each law is tabulated through its explicit inverse r(F) on a grid uniform in logit F
    (the radial CDF rises steeply near 0 for deep networks) and interpolated in log r.
    Several theory objects give their mixture, the average of their radial CDFs: pooled
    eigenvalues of S networks, each compared with the law conditioned on its own slopes.
    """

    def __init__(self, sols, n_grid: int = 600):
        sols = list(sols) if isinstance(sols, (list, tuple)) else [sols]
        self.atom = float(np.mean([sol.atom_at_zero for sol in sols]))
        self.spectral_radius = max(sol.spectral_radius for sol in sols)
        self._tables = []
        for sol in sols:
            atom = sol.atom_at_zero
            lo = math.log(atom / (1 - atom)) if atom > 0 else -40.0
            y = np.linspace(lo + 1e-9, 35.0, n_grid)
            Fg = 1.0 / (1.0 + np.exp(-y))
            rg = np.maximum.accumulate(sol.radial_quantile(Fg))
            self._tables.append((np.log(np.maximum(rg, 1e-300)), Fg, atom, sol.spectral_radius))

    def __call__(self, v, left: bool = False) -> np.ndarray:
        v = np.asarray(v, dtype=float)
        pos = v > 0
        with np.errstate(divide="ignore"):
            lv = np.log(np.where(pos, v, 1.0))
        total = np.zeros(v.shape)
        for log_rg, Fg, atom, radius in self._tables:
            out = np.empty(v.shape)
            out[~pos] = 0.0 if left else atom
            out[pos] = np.interp(lv[pos], log_rg, Fg, left=atom, right=1.0)
            out[pos & (v >= radius)] = 1.0
            total += out
        return total / len(self._tables)


def radial_ks(abs_eigs, sol, n_grid: int = 600, floor: float = 0.0) -> float:
    """KS distance between |lambda| of J and the radial law F(r) of the theory (docs/theory/light-tailed.md), or
    the mixture of several laws (a list of theory objects, see :class:`RadialCDF`).

    Eigenvalues of J below round-off count as the atom at 0 when there is one.
    """
    F = sol if isinstance(sol, RadialCDF) else RadialCDF(sol, n_grid)
    r = np.sort(np.asarray(abs_eigs, dtype=float).ravel())
    if F.atom > 0:
        r = np.where(r < 1e-7 * max(r.max(), 1e-300), 0.0, r)
    return ks_distance(r, F, floor)
