"""Singular values of J by population dynamics: the density of the hermitized resolvent
along the real axis, walked in chunks of points that share one population, and the
quantiles of log10 s from its integral."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from esd.exceptions import InvalidParameter
from esd.heavy import _cavity_kernels as _k
from esd.heavy._checks import _real
from esd.heavy.cavity_result import CavityResult, _mean_se



class SingularValues:
    """Mixin of :class:`esd.HeavyTailedJacobian`: the singular-value methods. Uses the
    solver's settings, ``_sv_common_init``, ``_seeds``, ``_drift`` and ``_progress``."""

    def _sv_path(self, zs, seed, stop=None):
        """One repeat along the points ``zs``, ``chunk`` points at a time (one population
        serves a chunk's points, see :func:`esd.heavy._cavity_kernels.sv_population`); each chunk
        starts from the messages of the previous chunk's last point (``burn_in`` sweeps for
        the first chunk, ``warm_burn_in`` after). Returns ``E[z (R_u + R_v)] / 2`` per point
        (stopping after the first chunk where ``stop(values)`` is true) and the largest drift."""
        if self.closed:
            raise InvalidParameter("closed", True, "applies to the eigenvalue methods only "
                                   "(the singular-value linearisation has no cycle to close)")
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
            if stop is not None and stop(out):
                break
        return np.array(out), drift

    def _sv_repeats(self, zs, stop=None):
        """``repeats`` independent paths (child seeds of ``rng``), run on ``threads`` threads
        (the kernels release the GIL; each seeds its own thread-local Numba generator)."""
        seeds = self._seeds(self.repeats)
        if self.threads == 1:
            return [self._sv_path(zs, sd, stop) for sd in seeds]
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return list(pool.map(lambda sd: self._sv_path(zs, sd, stop), seeds))

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
        runs = self._sv_repeats(s[order] * (1.0 + 1j * eta_rel))
        vals = np.empty((self.repeats, s.size))
        for r, (h, _) in enumerate(runs):
            vals[r, order] = 2.0 * h.imag / (math.pi * s[order])
        m, se = _mean_se(vals)
        return CavityResult("singular_value_density", s, m, se, max(d for _, d in runs),
                            {**self.params, "eta_rel": eta_rel})

    def quantile_grid(self, log10_range=(-4.0, 2.0), step=None):
        """``(u, step)``: the points log10 s of :meth:`log_singular_value_quantiles`, from the
        top of ``log10_range`` down (the walk may stop before the last)."""
        lo, hi = (_real("log10_range[0]", log10_range[0]), _real("log10_range[1]", log10_range[1]))
        if not hi > lo:
            raise InvalidParameter("log10_range", log10_range, "must be increasing")
        if step is None:
            step = 0.05 if self.alpha > 1.8 else 0.1
        step = _real("step", step, low=0.0, low_open=True, high=hi - lo)
        return hi - step * np.arange(int(math.floor((hi - lo) / step + 1e-9)) + 1), step

    def log_singular_value_quantiles(self, probs=(0.5, 0.75, 0.9, 0.99), *, log10_range=(-4.0, 2.0),
                                     step=None, eta_rel=0.02) -> CavityResult:
        """Quantiles of log10 s from the density ``f(u) = 2 ln(10) Im(z E[R_u + R_v]/2) / pi`` of
        ``u = log10 s`` (``z = s (1 + i eta_rel)``, see :meth:`singular_value_density`).

        Points ``u = log10_range[1], ... - step, ...`` are visited downwards, ``chunk`` at a
        time with warm starts;
        the CDF is built from the top, ``F(u) = 1 - int_u^inf f`` (trapezoid), with the mass
        above the grid from the power law ``f ~ 10^(-k u)`` through the two top points, and
        the walk stops (after the chunk) once ``1 - F`` exceeds ``1 - min(probs) + 0.05``, so the slowly
        converging small-s end is never needed. Quantiles below ``log10_range[0]`` are NaN.
        ``extra['mass_above_grid']`` is the extrapolated mass (should be << 1 - max(probs)).

        ``step`` (default 0.1, or 0.05 for alpha > 1.8) must resolve the upper edge of the
        bulk: log-linear interpolation across it underestimates the mass above, which moved
        the median down by 0.015 (alpha = 1, step 0.2) and by 0.10 (alpha = 1.97, whose
        edge is nearly as sharp as the gaussian one) against the converged values."""
        p = np.atleast_1d(np.asarray(probs, dtype=float))
        if p.ndim != 1 or np.any(p <= 0) or np.any(p >= 1):
            raise InvalidParameter("probs", probs, "must be probabilities in (0, 1)")
        u, step = self.quantile_grid(log10_range, step)
        lo, hi = float(log10_range[0]), float(log10_range[1])
        eta_rel = _real("eta_rel", eta_rel, low=0.0, low_open=True, high=0.5)
        c = 2.0 * math.log(10.0) / math.pi
        need = 1.0 - p.min() + 0.05

        def tail(f):
            """Mass above the points of a 16-fold finer grid (descending): f log-linear
            between the points (exact for exponential tails of f), trapezoid on the fine grid,
            plus the mass above the top from the decay rate k = d ln f / du of its two top
            points. Returns (fine grid, mass above it)."""
            k = math.log(max(f[1], 1e-300) / max(f[0], 1e-300)) / step
            above = f[0] / k if k > 0.5 else f[0] * 2.0
            lf = np.log(np.maximum(f, 1e-300))
            sub = np.linspace(0.0, 1.0, 17)[:-1]
            fine = np.append(np.exp(lf[:-1, None] + (lf[1:] - lf[:-1])[:, None] * sub), f[-1])
            uf = np.append((u[: f.size - 1, None] - step * sub).ravel(), u[f.size - 1])
            mass = np.concatenate([[0.0], np.cumsum((fine[1:] + fine[:-1]) * step / 32.0)])
            return uf, above + mass

        def stop(h):
            f = c * np.maximum(np.array(h).imag, 0.0)
            return f.size >= 2 and tail(f)[1][-1] > need

        runs = self._sv_repeats(10.0 ** u * (1.0 + 1j * eta_rel), stop)
        qs = np.empty((self.repeats, p.size))
        top = np.empty(self.repeats)
        for r, (h, _) in enumerate(runs):
            f = c * np.maximum(h.imag, 0.0)
            uf, t = tail(f)
            top[r] = t[0]
            qs[r] = np.interp(1.0 - p, t, uf, left=np.nan, right=np.nan)   # t increasing
        m, se = _mean_se(qs)
        return CavityResult("log10_singular_value_quantiles", p, m, se, max(d for _, d in runs),
                            {**self.params, "eta_rel": eta_rel, "log10_range": [lo, hi],
                             "step": step},
                            {"mass_above_grid": float(top.mean()),
                             "points": int(min(h.size for h, _ in runs))})
