"""The eigenvalue law of J from the spectrum of J J^T (single ring theorem).

For bi-unitarily invariant J (Haagerup-Larsen 2000; Guionnet-Krishnapur-Zeitouni 2011) the
eigenvalues fill an annulus a <= |lambda| <= b, with radial CDF F(r) = P(|lambda| <= r)
given by ``S_{JJ^T}(F(r) - 1) = 1/r^2``, ``b^2 = m_1`` and ``a^-2 = E[1/x]`` over J J^T.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from scipy.optimize import brentq

from esd.exceptions import InvalidParameter
from esd.light import _slope_kernels as SK
from esd.light._points import as_points


class SingleRing:
    """Mixin of :class:`esd.JacobianESD`: the radial law, radii and the fraction of
    eigenvalues outside the unit circle. Uses the solver's mean field, ``_L``, ``_C``,
    ``_mult``, ``_orth``, ``_log_m1`` and ``atom_at_zero``."""

    def _log_s_transform_real(self, y):
        """log S_{JJ^T}(u) at u = -1/(1 + e^y), i.e. 1 + u = 1/(1 + e^-y): both u and 1 + u
        keep their digits (the radial CDF is F = 1 + u). The w_g are real and negative."""
        v = 1.0 / (1.0 + math.exp(-y))
        u = -1.0 / (1.0 + math.exp(y))
        total = -self._C
        for g, law in enumerate(self.mean_field.slope_laws):
            w = SK.w_of_m_real(u, v, law.atoms, law.weights, law.ncore, law.hz, math.sqrt(law.q),
                              law.pole_code, law.pole_params[0], law.pole_params[1],
                              law.p_nonzero, law.d_max, 0.0)
            total -= self._mult[g] * math.log(-w)
        total -= self._L * math.log(-u)
        if self._orth:
            total += self._L * math.log(v)
        return total

    def radial_cdf(self, r) -> np.ndarray:
        """F(r) = P(|lambda| <= r) for the eigenvalues of J (Haagerup-Larsen; docs/theory/light-tailed.md):
        ``S_{JJ^T}(F(r) - 1) = 1/r^2``, solved for F in (atom, 1) by Brent's method on
        ``y = logit F`` (S is monotone there)."""
        r = as_points("r", r, float)
        if np.any(r < 0):
            raise InvalidParameter("r", r, "must be >= 0")
        flat = r.ravel()
        out = np.empty(flat.size)
        a, b = self.inner_radius, self.spectral_radius
        atom = self.atom_at_zero
        # F ranges over (atom, 1): y over (logit(atom), inf).
        y_min = math.log(atom / (1.0 - atom)) + 1e-12 if atom > 0 else -60.0
        for i, rv in enumerate(flat):
            if rv >= b:
                out[i] = 1.0
            elif rv <= a:
                out[i] = atom
            else:
                target = -2.0 * math.log(rv)
                f = lambda y: self._log_s_transform_real(y) - target
                # S decreases in u, u increases with y: f decreases with y.
                lo = y_min
                hi = max(y_min + 1.0, 1.0)
                while hi < 700.0 and f(hi) > 0:
                    hi = min(2.0 * hi + 1.0, 700.0)
                if f(lo) <= 0:
                    out[i] = atom
                    continue
                if f(hi) > 0:
                    out[i] = 1.0
                    continue
                y = brentq(f, lo, hi, xtol=1e-13, rtol=1e-15)
                out[i] = 1.0 / (1.0 + math.exp(-y))
        return out.reshape(r.shape)

    def radial_quantile(self, F) -> np.ndarray:
        """Inverse of :meth:`radial_cdf`: the radius r with P(|lambda| <= r) = F, explicitly
        ``r = S_{JJ^T}(F - 1)^(-1/2)`` (no root finding), for F in (atom, 1)."""
        F = as_points("F", F, float)
        atom = self.atom_at_zero
        if np.any((F <= atom) | (F >= 1.0)):
            raise InvalidParameter("F", F, f"must lie in ({atom:.6g}, 1)")
        y = np.log(F) - np.log1p(-F)
        out = np.array([math.exp(-0.5 * self._log_s_transform_real(v)) for v in y.ravel()])
        return out.reshape(F.shape)

    @cached_property
    def spectral_radius(self) -> float:
        """Outer radius of the eigenvalue law of J: sqrt(m_1)."""
        return float(math.exp(0.5 * self._log_m1))

    @cached_property
    def inner_radius(self) -> float:
        """Inner radius a of the annulus: ``a^-2 = E[1/x]`` over J J^T (single ring
        theorem), which is multiplicative: ``prod_l E[1/d_l] / sigma_w,l^2`` for orthogonal
        weights; 0 for gaussian weights (square Wishart factors) or singular slopes."""
        if not self._orth or self.atom_at_zero > 0:
            return 0.0
        log_inv = -self._C
        for g, law in enumerate(self.mean_field.slope_laws):
            with np.errstate(divide="ignore", over="ignore"):
                inv_d = float(np.sum(law.weights / law.atoms))
            if not np.isfinite(inv_d):
                return 0.0          # E[1/d] = inf (e.g. erf with pi q >= 1): no hole
            log_inv += self._mult[g] * math.log(inv_d)
        return float(math.exp(-0.5 * log_inv)) if log_inv < 1400 else 0.0

    @cached_property
    def fraction_outside_unit_circle(self) -> float:
        """1 - F(1): the share of eigenvalues of J with |lambda| > 1."""
        if self.spectral_radius <= 1.0:
            return 0.0
        return float(1.0 - self.radial_cdf(np.array([1.0]))[0])
