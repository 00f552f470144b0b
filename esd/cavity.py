"""Heavy-tailed Jacobian spectra by the cavity method and population dynamics (THEORY.md §4).

Network (THEORY §1): ``h_l = W_l x_{l-1} + b_l``, ``x_l = phi(h_l)``, ``W_ij = sigma_w N^(-1/alpha) S``,
``b_i = sigma_b S`` (S standard symmetric alpha-stable, ``E e^(itS) = e^(-|t|^alpha)``), input
``x_0 = phi(gamma* S)`` (stationary), Jacobian ``J = A_L ... A_1``, ``A_l = D_l W_l``,
``D_l = diag(phi'(h_l))``. Limit N -> inf at fixed L.

**Weights on the tree.** The weights of one row or column above ``t_min`` form a Poisson
process with intensity ``2 alpha C_alpha sigma_w^alpha t^(-1-alpha) dt`` on ``|w|`` (random
signs), ``C_alpha = Gamma(alpha) sin(pi alpha/2)/pi``; count ~ Poisson(lam),
``lam = 2 C_alpha sigma_w^alpha t_min^-alpha``, magnitudes ``t_min U^(-1/alpha)``. ``t_min`` is set
by the mean number of explicit weights ``n_explicit = lam``. Weights below t_min act in bulk
with second moment ``m2 = 2 alpha C_alpha sigma_w^alpha t_min^(2-alpha)/(2-alpha)``: a Gaussian
term of variance ``m2 E[x^2]`` in the pre-activation and ``m2 x (population mean)`` in every
resolvent sum. Each unit carries its pre-activation c: output phi(c), slope phi'(c). A unit's
slope seen from one of its inputs j is ``phi'(c^(j) + w x_j)`` (its own edge is part of its
pre-activation); this is the dependence free probability drops (THEORY §4).

**Singular values** (sign: ``R = (H - z)^-1``, Im R > 0 for Im z > 0). Linearisation in which
every weight appears once: with ``X`` the block lower-bidiagonal matrix on layers 1..L
(identity diagonal, ``-A_l`` below it), the Hermitian matrix on nodes (v: layer 0; p_l, q_l:
layers 1..L; u: output)::

    K_{q_l p_l} = I,  K_{q_l p_(l-1)} = -A_l (p_0 := v),  K_{u p_L} = I,  K_uu = K_vv = -z

has Schur complement on (u, v) equal to ``((0, J), (J^T, 0)) - z``, so ``(K^-1)_uu, (K^-1)_vv``
are the resolvents of the hermitized J. Eliminating the identity pairs, a unit of layer l
with lower sum ``L = D^2 sum_j w_j^2 up_j`` and upper sum ``U = sum_k w_k^2 D_k^2 down_k`` sends::

    up   = L / (1 - L U)      (to the layer above),
    down = U / (1 - L U)      (to the layer below, L without that edge),

with the boundary values ``L_0 = U_L = -1/z``; ``R_v = -1/(z + U_0)``, ``R_u = -1/(z + L_L)``.
L = 1 is THEORY §4.1 exactly. Because ``down`` depends on the receiving unit's output
(through the sender's slope and, for L > 1, through the slopes above it), the ``down``
population stores U as a function of the unit's output x on a grid of ``grid`` points
(linear interpolation). Density of singular values: ``rho_s(s) = (1/pi) Im (E R_u + E R_v)``
at ``z = s + i eta_rel s``.

**Eigenvalues of J.** Block-cyclic C with ``A_l`` from layer l-1 to layer l (layer 0 = layer
L as index set; the layer-L node carries the network input x0 as the value layer 1 sees),
``mu^L = lambda(J)``. Hermitize ``((i eta, C - mu), ((C - mu)^*, i eta))``; at real ``mu = r``
the 2x2 cavity resolvent of a node is ``-i/(AB + r^2) ((B, ...), (..., A))`` with real
``A = eta + D^2 sum w^2 alpha_j``, ``B = eta + sum w^2 D_k^2 beta_k``, messages
``alpha = A/(AB' + r^2)`` (up) and ``beta = B/(A'B + r^2)`` (down) (Metz–Neri–Rogers 2019).
Rotation invariance gives the radial CDF of C, ``F_C(r) = r g(r) = E[r^2/(AB + r^2)]``
(g the mean Brown Green's function, eta -> 0), and for J ``F_J(rho) = F_C(rho^(1/L))``.

**decoupled=True**: every unit's slope is ``phi'`` of an independent pre-activation of its
layer (the free model: D permuted, THEORY §4): kept as a regression guard; it is wrong.

Statistics: each quantity is the mean over ``sweeps`` sweeps after ``burn_in`` sweeps, per
repeat; ``repeats`` independent runs (child seeds of ``rng``) give mean and standard error.
``convergence`` is the largest relative change between the first and second halves of the
averaged sweeps (a drift indicator; compare it with ``stderr``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from . import _cavity_kernels as _k
from .activations import get_activation
from .exceptions import InvalidParameter
from .stable import gamma_star

__all__ = ["CavityResult", "HeavyTailedJacobian", "singular_value_density",
           "log_singular_value_quantiles", "radial_cdf", "fraction_outside_unit_circle"]

_CODES = {"tanh": _k.ACT_TANH, "sigmoid": _k.ACT_SIGMOID, "erf": _k.ACT_ERF,
          "hard-tanh": _k.ACT_HARDTANH}
_BOX = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "erf": (-1.0, 1.0), "hard-tanh": (-1.0, 1.0)}


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

    def to_dict(self) -> dict:
        from . import __version__

        def conv(v):
            return np.asarray(v).tolist() if isinstance(v, np.ndarray) else v
        return {"quantity": self.quantity, "x": conv(self.x), "mean": conv(self.mean),
                "stderr": conv(self.stderr), "convergence": float(self.convergence),
                "params": dict(self.params), "extra": {k: conv(v) for k, v in self.extra.items()},
                "esd_version": __version__}


def _real(name, value, *, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidParameter(name, value, "must be a finite real number")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise InvalidParameter(name, value, f"must be {'>' if low_open else '>='} {low}")
    if high is not None and v > high:
        raise InvalidParameter(name, value, f"must be <= {high}")
    return v


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidParameter(name, value, f"must be an integer >= {low}")
    return int(value)


def _mean_se(per_repeat):
    a = np.asarray(per_repeat, dtype=float)
    m = a.mean(axis=0)
    se = a.std(axis=0, ddof=1) / math.sqrt(a.shape[0]) if a.shape[0] > 1 else np.full_like(m, np.nan)
    return m, se


class HeavyTailedJacobian:
    """Spectra of the input–output Jacobian of a stable(alpha)-weight network (module docstring).

    Parameters
    ----------
    activation : {"tanh", "sigmoid", "erf", "hard-tanh"} (bounded; the kernels hard-code them)
    sigma_w : float > 0, sigma_b : float >= 0, depth : int >= 1, alpha : float in (0, 2)
    population : int, population size P per node type
    sweeps, burn_in : sweeps averaged, and discarded first
    repeats : independent runs (>= 2 for a standard error)
    n_explicit : mean number of explicit (Poisson) weights per row/column; sets t_min
    grid : grid points of the output-dependence of ``down`` messages (depth >= 2)
    decoupled : slope independent of the unit's own weights (free model; wrong on purpose)
    rng : None, seed or numpy Generator (SPEC 7)
    """

    def __init__(self, activation, sigma_w, sigma_b, depth=1, *, alpha=1.0, population=4000,
                 sweeps=30, burn_in=25, repeats=3, n_explicit=24.0, grid=17, decoupled=False,
                 rng=None):
        act = get_activation(activation)
        if act.name not in _CODES:
            raise InvalidParameter("activation", act.name,
                                   f"must be one of {sorted(_CODES)} (a bounded built-in activation)")
        self.activation = act.name
        self.alpha = _real("alpha", alpha, low=0.06, high=1.999)
        self.sigma_w = _real("sigma_w", sigma_w, low=0.0, low_open=True)
        self.sigma_b = _real("sigma_b", sigma_b, low=0.0)
        self.depth = _int("depth", depth, 1)
        self.population = _int("population", population, 50)
        self.sweeps = _int("sweeps", sweeps, 2)
        self.burn_in = _int("burn_in", burn_in, 0)
        self.repeats = _int("repeats", repeats, 1)
        self.n_explicit = _real("n_explicit", n_explicit, low=1.0)
        self.grid = _int("grid", grid, 2)
        if not isinstance(decoupled, (bool, np.bool_)):
            raise InvalidParameter("decoupled", decoupled, "must be True or False")
        self.decoupled = bool(decoupled)
        try:
            self._rng = np.random.default_rng(rng)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter("rng", rng, "must be None, a seed or a numpy.random.Generator") from exc
        a = self.alpha
        c_alpha = math.gamma(a) * math.sin(math.pi * a / 2.0) / math.pi
        self.t_min = self.sigma_w * (2.0 * c_alpha / self.n_explicit) ** (1.0 / a)
        self.lam = self.n_explicit
        self.m2 = 2.0 * a * c_alpha * self.sigma_w ** a * self.t_min ** (2.0 - a) / (2.0 - a)
        self.gamma0 = gamma_star(act, self.sigma_w, self.sigma_b, a)
        self._kmax = int(self.lam + 12.0 * math.sqrt(self.lam) + 40)
        ss = getattr(self._rng.bit_generator, "seed_seq", None)
        self._entropy = getattr(ss, "entropy", None)

    # -- bookkeeping --------------------------------------------------------------------------
    @property
    def params(self) -> dict:
        return {"activation": self.activation, "alpha": self.alpha, "sigma_w": self.sigma_w,
                "sigma_b": self.sigma_b, "depth": self.depth, "population": self.population,
                "sweeps": self.sweeps, "burn_in": self.burn_in, "repeats": self.repeats,
                "n_explicit": self.n_explicit, "t_min": self.t_min, "grid": self.grid,
                "decoupled": self.decoupled, "gamma_star": self.gamma0,
                "seed_entropy": self._entropy}

    def _seeds(self, n):
        return self._rng.integers(0, 2 ** 31 - 1, size=n)

    def _common(self):
        lo, hi = _BOX[self.activation]
        return (_CODES[self.activation], self.alpha, self.sigma_b, self.t_min, self.lam, self.m2,
                self.depth, self.population, self.grid, lo, hi, self.gamma0)

    @staticmethod
    def _drift(hist):
        h = np.asarray(hist)
        a, b = h[: h.size // 2].mean(), h[h.size // 2:].mean()
        return float(abs(a - b) / max(abs(a + b) / 2.0, 1e-300))

    # -- singular values ----------------------------------------------------------------------
    def _resolvent_im(self, z, seed):
        n = self.burn_in + self.sweeps
        hu, hv = _k.sv_population(complex(z), *self._common(), n, self.decoupled, int(seed),
                                  self._kmax)
        h = (hu + hv)[self.burn_in:]      # E R_u + E R_v
        return float(h.mean().imag), self._drift(h.imag)

    def singular_value_density(self, s, *, eta_rel=1e-3) -> CavityResult:
        """``rho_s(s) = (1/pi) Im(E R_u + E R_v)`` at ``z = s (1 + i eta_rel)``: the density of
        the singular values s of J (not of s^2)."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise InvalidParameter("s", s, "must be finite singular values > 0")
        eta_rel = _real("eta_rel", eta_rel, low=0.0, low_open=True)
        vals = np.empty((self.repeats, s.size))
        drift = 0.0
        for r in range(self.repeats):
            seeds = self._seeds(s.size)
            for k, sk in enumerate(s):
                im, d = self._resolvent_im(sk * (1.0 + 1j * eta_rel), seeds[k])
                vals[r, k] = im / math.pi
                drift = max(drift, d)
        m, se = _mean_se(vals)
        return CavityResult("singular_value_density", s, m, se, drift,
                            {**self.params, "eta_rel": eta_rel})

    def log_singular_value_quantiles(self, probs=(0.5, 0.75, 0.9, 0.99), *, log10_range=(-4.0, 1.5),
                                     n_points=23, eta_rel=0.02) -> CavityResult:
        """Quantiles of log10 s from the density on a log grid (trapezoid in log10 s).

        The CDF is built from the top, ``F(u) = 1 - int_u^inf f``, with the mass above the
        grid extrapolated from the power law through the two last points; quantiles below
        the grid are NaN. ``extra['mass_in_grid']`` is the mass from the grid's lower end
        up (a consistency check: it should not exceed 1)."""
        p = np.atleast_1d(np.asarray(probs, dtype=float))
        if p.ndim != 1 or np.any(p <= 0) or np.any(p >= 1):
            raise InvalidParameter("probs", probs, "must be probabilities in (0, 1)")
        lo, hi = (_real("log10_range[0]", log10_range[0]), _real("log10_range[1]", log10_range[1]))
        if not hi > lo:
            raise InvalidParameter("log10_range", log10_range, "must be increasing")
        n_points = _int("n_points", n_points, 4)
        u = np.linspace(lo, hi, n_points)
        s = 10.0 ** u
        eta_rel = _real("eta_rel", eta_rel, low=0.0, low_open=True)
        qs = np.empty((self.repeats, p.size))
        mass = np.empty(self.repeats)
        drift = 0.0
        for r in range(self.repeats):
            seeds = self._seeds(n_points)
            f = np.empty(n_points)
            for k in range(n_points):
                im, d = self._resolvent_im(s[k] * (1.0 + 1j * eta_rel), seeds[k])
                f[k] = math.log(10.0) * s[k] * im / math.pi      # density of log10 s
                drift = max(drift, d)
            f = np.maximum(f, 1e-300)
            du = u[1] - u[0]
            beta_hi = (math.log(f[-1]) - math.log(f[-2])) / du           # f ~ e^(beta u) above
            above = f[-1] / -beta_hi if beta_hi < -0.1 else f[-1] * 10.0 * du
            # CDF from the top: total mass 1 is exact, so the upper quantiles need only the
            # density above them (the small-s end converges slowest and is not used).
            tail = above + np.concatenate([np.cumsum((0.5 * (f[1:] + f[:-1]) * du)[::-1])[::-1], [0.0]])
            cdf = 1.0 - tail
            mass[r] = 1.0 - cdf[0]
            qs[r] = np.interp(p, cdf, u, left=np.nan, right=np.nan)
        m, se = _mean_se(qs)
        return CavityResult("log10_singular_value_quantiles", p, m, se, drift,
                            {**self.params, "eta_rel": eta_rel, "log10_range": [lo, hi],
                             "n_points": n_points},
                            {"mass_in_grid": float(mass.mean())})

    # -- eigenvalues --------------------------------------------------------------------------
    def _radial_c(self, r, eta, seed):
        n = self.burn_in + self.sweeps
        hist = _k.eig_population(float(r), float(eta), *self._common(), n, self.decoupled,
                                 int(seed), self._kmax)
        h = hist[self.burn_in:]
        return float(h.mean()), self._drift(h)

    def radial_cdf(self, rho, *, eta=1e-4) -> CavityResult:
        """``F_J(rho) = P(|lambda(J)| <= rho) = F_C(rho^(1/L))``, ``F_C(r) = E[r^2/(AB + r^2)]``."""
        rho = np.atleast_1d(np.asarray(rho, dtype=float))
        if rho.ndim != 1 or not np.all(np.isfinite(rho)) or np.any(rho <= 0):
            raise InvalidParameter("rho", rho, "must be finite radii > 0")
        eta = _real("eta", eta, low=0.0, low_open=True)
        vals = np.empty((self.repeats, rho.size))
        drift = 0.0
        for rep in range(self.repeats):
            seeds = self._seeds(rho.size)
            for k, rk in enumerate(rho):
                vals[rep, k], d = self._radial_c(rk ** (1.0 / self.depth), eta, seeds[k])
                drift = max(drift, d)
        m, se = _mean_se(vals)
        return CavityResult("radial_cdf", rho, m, se, drift, {**self.params, "eta": eta})

    def fraction_outside_unit_circle(self, *, eta=1e-4) -> CavityResult:
        """``1 - F_J(1)``: the fraction of eigenvalues of J with ``|lambda| > 1``."""
        res = self.radial_cdf([1.0], eta=eta)
        return CavityResult("fraction_outside_unit_circle", res.x, 1.0 - res.mean, res.stderr,
                            res.convergence, res.params)

    def spectral_radius_quantile(self, q=0.999, *, rho_grid=None, eta=1e-4) -> CavityResult:
        """Radius rho with ``F_J(rho) = q`` (a finite-N spectral-radius proxy), by linear
        interpolation of F_J on ``rho_grid`` (default 0.25..8, geometric, 13 points)."""
        q = _real("q", q, low=0.0, low_open=True, high=1.0)
        grid = np.geomspace(0.25, 8.0, 13) if rho_grid is None else np.asarray(rho_grid, float)
        res = self.radial_cdf(grid, eta=eta)
        per = []
        # per-repeat values are not kept by radial_cdf: propagate by mean +/- stderr bands
        for band in (res.mean, res.mean - res.stderr, res.mean + res.stderr):
            per.append(float(np.interp(q, np.maximum.accumulate(band), np.log(grid),
                                       left=np.nan, right=np.nan)))
        val = math.exp(per[0])
        err = 0.5 * abs(math.exp(per[1]) - math.exp(per[2])) if np.all(np.isfinite(per)) else np.nan
        return CavityResult("spectral_radius_quantile", np.array([q]), np.array([val]),
                            np.array([err]), res.convergence, res.params,
                            {"rho_grid": grid, "radial_cdf": res.mean})


def singular_value_density(activation, sigma_w, sigma_b, s, depth=1, **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.singular_value_density`."""
    eta_rel = kwargs.pop("eta_rel", 1e-3)
    return HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, **kwargs).singular_value_density(
        s, eta_rel=eta_rel)


def log_singular_value_quantiles(activation, sigma_w, sigma_b, depth=1,
                                 probs=(0.5, 0.75, 0.9, 0.99), **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.log_singular_value_quantiles`."""
    opts = {k: kwargs.pop(k) for k in ("log10_range", "n_points", "eta_rel") if k in kwargs}
    return HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, **kwargs) \
        .log_singular_value_quantiles(probs, **opts)


def radial_cdf(activation, sigma_w, sigma_b, rho, depth=1, **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.radial_cdf`."""
    eta = kwargs.pop("eta", 1e-4)
    return HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, **kwargs).radial_cdf(rho, eta=eta)


def fraction_outside_unit_circle(activation, sigma_w, sigma_b, depth=1, **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.fraction_outside_unit_circle`."""
    eta = kwargs.pop("eta", 1e-4)
    return HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, **kwargs) \
        .fraction_outside_unit_circle(eta=eta)
