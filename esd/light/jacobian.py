"""The spectrum of J J^T for light-tailed weights (docs/theory/light-tailed.md).

For each z the solver finds m = M_{JJ^T}(z) = z G(z) - 1 and one subordination variable
w_g per distinct layer from

    gaussian:   z = (1 + m) m^(L-1) prod_l sigma_{w,l}^2 w_l
    orthogonal: z = (1 + m)^(1-L) m^(L-1) prod_l sigma_{w,l}^2 w_l
    m = E[d_l / (w_l - d_l)]   for every layer l,

then ``G = (1 + m)/z`` and ``rho(x) = -Im m(x + i0)/(pi x)``. The physical branch
(``m ~ m_1/z`` at infinity, ``Im m <= 0``, ``Im w >= 0`` for ``Im z >= 0``) is reached by
continuation from |z| = huge and checked at every point; a point that cannot be solved
raises :class:`esd.ConvergenceError` naming it and its residual.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from numba import get_num_threads
from scipy.optimize import brentq

from esd import config
from esd.exceptions import ConvergenceError, InvalidParameter
from esd.light import _kernels as K
from esd.light._points import as_points
from esd.light.meanfield import MeanField, mean_field
from esd.light.single_ring import SingleRing
from esd.light.support import SupportEdges
from esd.light.transforms import jacobian_moments
from esd.spec import NetworkSpec

__all__ = ["JacobianESD"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_STATUS = {K.NOT_CONVERGED: "Newton did not converge", K.WRONG_BRANCH: "wrong branch (Herglotz sign)",
           K.NOT_FINITE: "non-finite value"}


class JacobianESD(SupportEdges, SingleRing):
    """Spectrum of ``J J^T`` and eigenvalue law of ``J`` for a light-tailed network.

    Examples
    --------
    >>> sol = JacobianESD(NetworkSpec("relu", sigma_w=2 ** 0.5, depth=10))
    >>> [round(v, 9) for v in sol.moments[:2]]
    [1.0, 21.0]
    """

    def __init__(self, spec: NetworkSpec, mf: MeanField | None = None):
        if not isinstance(spec, NetworkSpec):
            raise InvalidParameter("spec", spec, "must be an esd.NetworkSpec")
        self.spec = spec
        self.mean_field = mf if mf is not None else mean_field(spec)
        mf = self.mean_field
        laws = mf.slope_laws
        counts = np.bincount(mf.layer_group, minlength=len(laws)).astype(float)
        self._atoms = np.concatenate([law.atoms for law in laws]).astype(float)
        self._weights = np.concatenate([law.weights for law in laws]).astype(float)
        self._off = np.cumsum([0] + [len(law.atoms) for law in laws]).astype(np.int64)
        self._nc = np.array([law.ncore for law in laws], dtype=np.int64)
        self._hz = np.array([law.hz for law in laws])
        self._sq = np.sqrt(np.array([law.q for law in laws]))
        self._code = np.array([law.pole_code for law in laws], dtype=np.int64)
        self._p1 = np.array([law.pole_params[0] for law in laws])
        self._p2 = np.array([law.pole_params[1] for law in laws])
        self._mult = counts
        self._L = float(spec.depth)
        self._C = float(np.sum(np.log(spec.sigma_ws ** 2)))
        self._orth = spec.weights == "orthogonal"
        self._mu1 = np.array([np.sum(law.weights * law.atoms) for law in laws])
        self._log_m1 = float(np.sum(np.log(mf.chi)))
        if self._orth and all(law.kind == "atoms" for law in laws):
            p = np.array([law.p_nonzero for law in laws])
            counts = np.bincount(mf.layer_group, minlength=len(laws))
            p_layers = np.repeat(p, counts)
            continuous = 1.0 - (1.0 - p_layers.min()) - max(0.0, p_layers.sum() - (spec.depth - 1))
            if continuous < 1e-12:
                raise InvalidParameter(
                    "weights", "orthogonal",
                    f"with {spec.act.name} slopes that are 0 or 1 in all but one layer, J J^T = "
                    "sigma^(2L) x (a projection): point masses at 0 and sigma^(2L) only, with no "
                    "density to solve for; use gaussian weights, more layers or a smooth activation")

    # ------------------------------------------------------------------ kernels
    def _args(self):
        return (self._atoms, self._weights, self._off, self._nc, self._hz, self._sq, self._code, self._p1,
                self._p2, self._mult, self._L, self._C, self._orth)

    def _solve_logz(self, t):
        """m and w at log z = t (Im t in [0, pi)), each point from infinity."""
        t = np.ascontiguousarray(t, dtype=np.complex128)
        ms, ws, res, status = K.solve_points(t, self._mu1, self._log_m1, *self._args())
        self._raise_failures(t, res, status)
        return ms, ws

    def _solve_real(self, logx):
        """m and w at z = exp(logx) + i0; any order of logx."""
        logx = np.asarray(logx, dtype=float)
        order = np.argsort(-logx, kind="stable")
        # Long grids are split over the threads, each piece continued on its own.
        nchunks = min(get_num_threads(), max(1, len(order) // config.POINTS_PER_THREAD))
        ms, ws, res, status, polished = K.solve_real_axis_parallel(
            np.ascontiguousarray(logx[order]), nchunks, config.REAL_AXIS_DELTA, self._mu1,
            self._log_m1, *self._args())
        self._raise_failures(logx[order], res, status)
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        return ms[inv], ws[inv]

    @staticmethod
    def _raise_failures(log_points, res, status):
        """ConvergenceError at the first failed point (given as log z: exponentiated only
        here, since deep networks' grids overflow exp)."""
        bad = np.flatnonzero(status != K.OK)
        if bad.size:
            k = bad[0]
            raise ConvergenceError("Jacobian ESD solver", complex(np.exp(log_points[k])), float(res[k]),
                                   config.NEWTON_MAX_ITER,
                                   f"{_STATUS.get(int(status[k]), 'failed')}; {bad.size} of "
                                   f"{len(log_points)} points failed")

    # ------------------------------------------------------------ transforms
    def m_transform(self, z) -> np.ndarray:
        """M(z) = z G(z) - 1 at complex z (real z > 0 means z + i0; Im z < 0 by conjugation)."""
        z = as_points("z", z, np.complex128)
        shape = z.shape
        z = z.ravel()
        if np.any(z == 0):
            raise InvalidParameter("z", 0, "must be non-zero")
        out = np.empty(z.shape, dtype=np.complex128)
        real_pos = (z.imag == 0) & (z.real > 0)
        if real_pos.any():
            out[real_pos] = self._solve_real(np.log(z.real[real_pos]))[0]
        rest = ~real_pos
        if rest.any():
            zr = z[rest]
            lower = zr.imag < 0
            zu = np.where(lower, zr.conj(), zr)
            # The negative real axis is approached from above (it lies outside the support).
            t = np.log(zu)
            t = np.where((zu.imag == 0) & (zu.real < 0), t - 1j * 1e-14, t)
            m = self._solve_logz(t)[0]
            out[rest] = np.where(lower, m.conj(), m)
        return out.reshape(shape)

    def stieltjes(self, z) -> np.ndarray:
        """G(z) = ∫ rho(t)/(z - t) dt (Pennington's sign: Im G < 0 for Im z > 0)."""
        z = as_points("z", z, np.complex128)
        return (1.0 + self.m_transform(z)) / z

    def subordination(self, z) -> np.ndarray:
        """w_l(z) for every layer: array of shape z.shape + (L,) (z in the closed upper half plane)."""
        z = as_points("z", z, np.complex128)
        flat = z.ravel()
        if np.any(flat.imag < 0) or np.any(flat == 0):
            raise InvalidParameter("z", z, "must be non-zero with Im z >= 0")
        ws = np.empty((flat.size, len(self._mu1)), dtype=np.complex128)
        real_pos = (flat.imag == 0) & (flat.real > 0)
        if real_pos.any():
            ws[real_pos] = self._solve_real(np.log(flat.real[real_pos]))[1]
        if (~real_pos).any():
            ws[~real_pos] = self._solve_logz(np.log(flat[~real_pos]))[1]
        return ws[:, self.mean_field.layer_group].reshape(z.shape + (self.spec.depth,))

    # -------------------------------------------------------------- density
    def log_density(self, logx) -> np.ndarray:
        """Density of log x (of the continuous part): ``x rho(x) = -Im m(x + i0)/pi``.

        Takes log x, so depths whose spectra over- or underflow float64 stay usable.
        """
        logx = as_points("logx", logx, float)
        m = self._solve_real(logx.ravel())[0]
        return np.maximum(-m.imag / math.pi, 0.0).reshape(logx.shape)

    def density(self, x) -> np.ndarray:
        """rho(x) of the continuous part of the J J^T spectrum at real x (0 for x <= 0)."""
        x = as_points("x", x, float)
        out = np.zeros(x.shape)
        pos = x > 0
        if pos.any():
            out[pos] = self.log_density(np.log(x[pos])) / x[pos]
        return out

    # ------------------------------------------------------------------- CDF
    def _mass_above(self, logx_sorted_desc):
        """∫_{x}^{x_+} rho for each x (log x sorted decreasing), by Gauss-Legendre in
        s = sqrt(log x_+ - log x), which removes the square-root edge."""
        t_low, t_up = self.log_support
        lower = self.support[0]
        s_targets = np.sqrt(np.maximum(t_up - np.minimum(logx_sorted_desc, t_up), 0.0))
        if lower > 0:
            s_targets = np.minimum(s_targets, math.sqrt(t_up - t_low))
        edges = [0.0]
        for s in s_targets:
            if s > edges[-1]:
                n = max(1, int(math.ceil((s - edges[-1]) / 0.1)))
                edges.extend(np.linspace(edges[-1], s, n + 1)[1:])
        edges = np.asarray(edges)
        a, b = edges[:-1], edges[1:]
        nodes = (0.5 * (b - a))[:, None] * _GL_X[None, :] + (0.5 * (a + b))[:, None]
        weights = (0.5 * (b - a))[:, None] * _GL_W[None, :]
        if nodes.size:
            rho = self.log_density(t_up - nodes.ravel() ** 2).reshape(nodes.shape)
            panel = np.sum(weights * 2.0 * nodes * rho, axis=1)
        else:
            panel = np.zeros(0)
        cum = np.concatenate([[0.0], np.cumsum(panel)])
        return cum[np.searchsorted(edges, s_targets)]

    def _mass_between(self, s0, s1):
        """The mass of rho between log x = t_+ - s1^2 and t_+ - s0^2 (s0 <= s1 within one
        panel of :meth:`_mass_above`), by one Gauss-Legendre rule in s."""
        t_up = self.log_support[1]
        half, mid = 0.5 * (s1 - s0), 0.5 * (s0 + s1)
        nodes = half * _GL_X + mid
        return float(np.sum(half * _GL_W * 2.0 * nodes * self.log_density(t_up - nodes ** 2)))

    def cdf(self, x) -> np.ndarray:
        """P(eigenvalue of J J^T <= x), atoms included."""
        x = as_points("x", x, float)
        flat = x.ravel()
        lower, upper = self.support
        x_top, top = self.atom_at_top
        out = np.where(flat >= upper, 1.0 - top, 0.0)
        inside = (flat > 0) & (flat < upper)
        if inside.any():
            lx = np.log(flat[inside])
            order = np.argsort(-lx)
            above = np.empty(lx.size)
            above[order] = self._mass_above(lx[order])
            out[inside] = np.clip(1.0 - top - above, 0.0, 1.0)
        out[(flat >= 0) & (flat <= lower)] = self.atom_at_zero
        out = np.where(flat >= x_top, out + top, out) if top > 0 else out
        return out.reshape(x.shape)

    def quantile_log(self, prob: float, max_decades: float = 300.0) -> float:
        """log of the prob-quantile of the J J^T law (prob in (0, 1), atom at 0 included:
        a prob below the atom gives -inf). Searched within ``max_decades`` decades below
        the upper edge; deep networks put their small eigenvalues exponentially low, and
        the lower end of that window is returned when the quantile lies below it."""
        if not (0.0 < prob < 1.0):
            raise InvalidParameter("prob", prob, "must be in (0, 1)")
        if prob <= self.atom_at_zero:
            return -np.inf
        x_top, top = self.atom_at_top
        if prob > 1.0 - top:
            return math.log(x_top)
        target = 1.0 - prob - top                 # continuous mass above the quantile
        t_up = self.log_support[1]
        t_floor = t_up - max_decades * math.log(10.0)
        if self.support[0] > 0:
            t_floor = max(t_floor, math.log(self.support[0]))
        span = 1.0
        while True:
            lo = max(t_up - span, t_floor)
            above = self._mass_above(np.array([lo]))[0]
            if above >= target or lo <= t_floor:
                break
            span *= 4.0
        if above < target:
            return lo
        # Cumulative mass on a grid in s = sqrt(t_up - t), then one bisection in a panel.
        s_max = math.sqrt(t_up - lo)
        s_grid = np.linspace(0.0, s_max, max(2, int(s_max / 0.05)) + 1)
        cum = self._mass_above(t_up - s_grid ** 2)
        k = int(np.clip(np.searchsorted(cum, target), 1, len(cum) - 1))
        a, b = t_up - s_grid[k] ** 2, t_up - s_grid[k - 1] ** 2
        # inside the panel only the mass between its upper end and t is new
        s0, base = s_grid[k - 1], cum[k - 1]
        f = lambda t: base + self._mass_between(s0, math.sqrt(t_up - t)) - target
        fa, fb = f(a), f(b)
        if fa * fb > 0:
            return a if abs(fa) < abs(fb) else b
        return brentq(f, a, b, xtol=1e-12)

    def default_grid(self, k: int, max_decades: float = 30.0) -> np.ndarray:
        """k points spanning the continuous part: log-spaced from the 0.1% quantile (or the
        lower edge; at most ``max_decades`` decades below the top) to the upper edge,
        linear when the support spans less than a decade."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            raise InvalidParameter("grid", k, "must be an integer >= 2")
        lo_edge, hi = self.support
        if lo_edge > 0:
            t_lo = math.log(lo_edge)
        else:
            t_lo = self.quantile_log(self.atom_at_zero + 1e-3 * (1.0 - self.atom_at_zero),
                                     max_decades=max_decades)
        t_hi = self.log_support[1]
        if t_hi - t_lo < math.log(10.0):
            return np.linspace(math.exp(t_lo), hi, k + 2)[1:-1]
        return np.exp(np.linspace(t_lo, t_hi, k + 1)[:-1])

    # ------------------------------------------------------------ moments
    @cached_property
    def moments(self) -> np.ndarray:
        """m_1..m_4 of J J^T, exactly from the S-transform series."""
        return jacobian_moments(self.mean_field.mu, self.spec.sigma_ws, self.spec.weights, 4)

    @cached_property
    def atom_at_zero(self) -> float:
        """Mass of J J^T at 0: 1 - min_l P(phi'(h_l) != 0)."""
        return float(max(0.0, 1.0 - np.min(self.mean_field.p_nonzero)))

    @cached_property
    def atom_at_top(self) -> tuple[float, float]:
        """(position, mass) of the atom of J J^T away from 0, (inf, 0) if there is none.

        Orthogonal weights with 0/1 slopes (relu, hard-tanh, linear) make J J^T a scaled
        product of free projections; the intersection of their ranges has relative
        dimension ``max(0, sum_l p_l - (L - 1))`` and sits at ``prod_l sigma_w,l^2``.
        """
        laws = self.mean_field.slope_laws
        if not self._orth or not all(law.kind == "atoms" for law in laws):
            return math.inf, 0.0
        mass = float(np.sum(self.mean_field.p_nonzero) - (self._L - 1.0))
        if mass <= 1e-15:
            return math.inf, 0.0
        return float(math.exp(self._C)), mass
