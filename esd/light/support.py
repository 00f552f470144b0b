"""Edges of the continuous part of the J J^T spectrum, from the real branch of x(m).

On the real m axis the subordination variables w_g are real, so ``log x(m)`` (the
equation of :mod:`esd.light.jacobian` read backwards) is a real function: the upper edge
is its first minimum on the branch m > 0 (from m = 0 at infinity), or, when the top slope
is an atom, on the branch m < -1; a lower edge exists only for slope laws with an atom at 0
and a gap above it (relu, hard-tanh), at the maximum of x(m) below m_0 = -(1 - atom).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from scipy.optimize import minimize_scalar

from esd.light import _slope_kernels as SK


class SupportEdges:
    """Mixin of :class:`esd.JacobianESD`: ``support`` and ``log_support``. Uses the
    solver's mean field, depth ``_L``, ``_C = sum_l log sigma_w,l^2``, multiplicities
    ``_mult``, ``_orth``, ``atom_at_zero``, ``atom_at_top`` and ``log_density``."""

    def _log_x_real(self, m):
        """log z(m) on the real m axis with real w_g; (value, ok) with ok False when z < 0
        or some w_g has no real solution."""
        L, C = self._L, self._C
        total = C
        sign = 1.0
        for g, law in enumerate(self.mean_field.slope_laws):
            pos = law.atoms[law.atoms > 0]
            d_min = float(pos.min()) if law.kind == "atoms" else 0.0
            w = SK.w_of_m_real(m, 1.0 + m, law.atoms, law.weights, law.ncore, law.hz, math.sqrt(law.q), law.pole_code,
                              law.pole_params[0], law.pole_params[1], law.p_nonzero, law.d_max,
                              d_min)
            if not np.isfinite(w) or w == 0:
                return -np.inf, False
            total += self._mult[g] * math.log(abs(w))
            sign *= math.copysign(1.0, w) ** self._mult[g]
        if m == 0 or m == -1:
            return -np.inf, False
        e1 = (1.0 - L) if self._orth else 1.0
        total += e1 * math.log(abs(1.0 + m)) + (L - 1.0) * math.log(abs(m))
        sign *= math.copysign(1.0, 1.0 + m) ** (1 if e1 == 1.0 else int(abs(e1)) % 2)
        sign *= math.copysign(1.0, m) ** (int(L - 1.0) % 2)
        return total, sign > 0

    @cached_property
    def support(self) -> tuple[float, float]:
        """(lower, upper) edge of the continuous part (upper = inf beyond float64)."""
        lo, hi = self.log_support
        return (math.exp(lo) if lo > -np.inf else 0.0, math.exp(hi) if hi < 709.7 else math.inf)

    @cached_property
    def log_support(self) -> tuple[float, float]:
        """(log lower, log upper) edge of the continuous part of the J J^T spectrum.

        Upper: the minimum of x(m) over real m > 0 (the branch from m = 0 at infinity).
        Lower: for slope laws with a gap above 0 (relu, hard-tanh), the maximum of x(m) on
        the real branch below m_0 = -(1 - atom), when the density solved by continuation
        vanishes below it; 0 otherwise.
        """
        # x(m) falls from infinity at m = 0+; the edge is its first minimum on that branch.
        fx = lambda s: self._log_x_real(math.exp(s))[0]
        grid = np.linspace(-40.0, 40.0, 321)
        if self.atom_at_top[1] == 0.0:
            i = _first_minimum(fx, grid)
            res = minimize_scalar(fx, bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                                  options={"xatol": 1e-13})
            log_upper = float(res.fun)
        else:
            # x(m) falls monotonically onto the pole of M at the atom at the top of the
            # spectrum; the continuous part ends at the first minimum of x(m) on the
            # branch m < -1 coming from m = -infinity.
            fb = lambda s: self._log_x_real(-1.0 - math.exp(s))[0]
            grid = np.linspace(25.0, -40.0, 261)
            i = _first_minimum(fb, grid)
            res = minimize_scalar(fb, bounds=(grid[i + 1], grid[i - 1]), method="bounded",
                                  options={"xatol": 1e-13})
            log_upper = float(res.fun)
        log_lower = -np.inf
        # A gap needs a kernel: without an atom at 0 (all slopes nonzero, as for linear) each
        # factor D_l W_l has singular values down to 0 (Marchenko-Pastur at ratio 1), so
        # the product's support reaches 0 too.
        if self.atom_at_zero > 0.0 and all(law.kind == "atoms" for law in self.mean_field.slope_laws):
            m0 = -(1.0 - self.atom_at_zero)
            # A gap exists when x(m) rises from 0 at m0 along the real branch below it.
            ds = np.geomspace(1e-12, 1e8, 500)
            # walked lazily: the scan ends at the first point past the maximum, or at once
            # when the branch is not real at m0 (linear, or no gap)
            arg, prev = None, self._log_x_real(m0 - ds[0])
            if prev[1]:
                for i in range(1, len(ds)):
                    cur = self._log_x_real(m0 - ds[i])
                    if not cur[1] or cur[0] < prev[0]:
                        arg = i - 1
                        break
                    prev = cur
            if arg is not None and 0 < arg and prev[0] < log_upper:
                res = minimize_scalar(lambda s: -self._log_x_real(m0 - math.exp(s))[0],
                                      bounds=(math.log(ds[arg - 1]), math.log(ds[arg + 1])),
                                      method="bounded", options={"xatol": 1e-13})
                # The real branch can be spurious (square factors close the gap): accept the
                # edge only if the continued solution really vanishes below it.
                probe = self.log_density(-res.fun + np.array([-0.05, -1.0]))
                if np.all(probe < 1e-12):
                    log_lower = float(-res.fun)
        return log_lower, log_upper


def _first_minimum(f, grid):
    """Index i of the first local minimum of f on ``grid`` (walking from grid[0]; at most
    len(grid) - 2), evaluating f only up to grid[i + 1]."""
    cur = f(grid[1])
    i = 1
    while i < len(grid) - 1:
        nxt = f(grid[i + 1])
        if not nxt < cur:
            break
        cur = nxt
        i += 1
    return i
