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
(linear interpolation).

Density of singular values. With singular values s_k of J (N x N),
``(E R_u + E R_v)/2 = (1/N) sum_k z/(s_k^2 - z^2)``, so with ``w = z^2``::

    Im(z (E R_u + E R_v)/2) = (1/N) sum_k Im(w/(s_k^2 - w)) -> pi x density of ln s^2,

at ``z = s (1 + i eta_rel)``. The kernel ``Im(1/(e^x e^(-i phi) - 1)) = sin(phi)/(2 (cosh x -
cos(phi)))`` (``x = ln(s_k^2/s^2)``, ``phi ~ 2 eta_rel``) has tails ``phi e^(-|x|)``, whereas the
plain ``Im E R`` carries an extra ``Re(...) Im(1/z)`` term: a flat false density
``ln(10) eta_rel / pi`` per decade from all the mass below s, which dominated the top tail.
So ``rho_s(s) = Im(z E[R_u + R_v]) / (pi s)`` and the density of log10 s is
``ln(10) Im(z E[R_u + R_v]) / pi``.

**Eigenvalues of J.** Block-cyclic C with ``A_l`` from layer l-1 to layer l (layer 0 = layer
L as index set; the layer-L node carries the network input x0 as the value layer 1 sees),
``mu^L = lambda(J)``. Hermitize ``((i eta, C - mu), ((C - mu)^*, i eta))``; at real ``mu = r``
the 2x2 cavity resolvent of a node is ``-i/(AB + r^2) ((B, ...), (..., A))`` with real
``A = eta + D^2 sum w^2 alpha_j``, ``B = eta + sum w^2 D_k^2 beta_k``, messages
``alpha = A/(AB' + r^2)`` (up) and ``beta = B/(A'B + r^2)`` (down) (Metz–Neri–Rogers 2019).
Rotation invariance gives the radial CDF of C, ``F_C(r) = r g(r) = E[r^2/(AB + r^2)]``
(g the mean Brown Green's function, eta -> 0), and for J ``F_J(rho) = F_C(rho^(1/L))``.

**J at a fixed point (closed=True).** At a fixed point x0 = F(x0) the values layer 1 sees
are layer L's own outputs, so a unit's slope phi'(c) and the value phi(c) it sends on are set
by the same pre-activation; for tanh an unsaturated unit (slope ~ 1) sends x ~ 0, and the
large weights leaving it do not saturate their targets. The closed network lets layer L
feed phi(c) instead of an independent x0. Measured (P(|lambda| <= r) at r = 0.1 / 0.3 / 0.5 /
0.8, eta = 1e-5): tanh L = 1, closed .251 / .511 / .734 / .937 against the eigenvalues of J
at 122 fixed points found by Newton (60 networks, N = 300) .245 / .502 / .725 / .930, while
the open network gives .245 / .519 / .770 / .977 (= simulation at random inputs); tanh L = 3
closed .699 / .871 / .935 / .977 vs fixed points .694 / .872 / .938 / .971 (open .706 / .887 /
.951 / .986); sigmoid (sigma_w = 4, sigma_b = 0.5) L = 1 closed .443 / .759 / .952 / 1.0 vs
.441 / .760 / .960 / .999 (open .444 / .757 / .931 / .995).

**decoupled=True**: every unit's slope is ``phi'`` of an independent pre-activation of its
layer (the free model: D permuted, THEORY §4): kept as a regression guard; it is wrong.

Statistics: each quantity is the mean over ``sweeps`` sweeps after ``burn_in`` sweeps, per
repeat. One population serves several points: its weights, pre-activations and slopes are
drawn once per sweep, its messages kept per point (every radius of a radial solve at once;
singular-value points ``chunk`` at a time, from large s down, each chunk started from the
messages of the previous chunk's last point with ``warm_burn_in`` discarded sweeps). Each
point's chain is the single-point one, so its estimate is unchanged in law while the points'
errors are correlated (measured, P = 1000, L = 4: 18 radii 73 s -> 6.4 s, 16 singular-value
points 56 s -> 16 s; ``benchmarks/bench_cavity.py``). ``repeats`` independent
runs (child seeds of ``rng``, run on ``threads`` threads) give mean and standard error. The top
tail is biased upwards at small ``population`` (tanh L = 1: 0.99 quantile of log10 s 0.755 at
P = 1000, 0.666 at P = 3000; simulation 0.66).
``convergence`` is the largest relative change between the first and second halves of the
averaged sweeps (a drift indicator; compare it with ``stderr``).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from numbers import Integral, Real

import numpy as np

from . import _cavity_kernels as _k
from .activations import get_activation
from .exceptions import InvalidParameter
from .stable import gamma_star

__all__ = ["CavityResult", "HeavyTailedJacobian", "radius_at_quantile", "warm_up", "singular_value_density",
           "log_singular_value_quantiles", "radial_cdf", "fraction_outside_unit_circle"]

#: Radii of C (``|lambda(J)| = r^L``) for :meth:`HeavyTailedJacobian.log_growth`: dense near 1,
#: where ``1 - F_C`` falls fastest.
LOG_GROWTH_GRID = (1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
#: Radii of |lambda(J)| on which :meth:`HeavyTailedJacobian.spectral_radius_quantile`
#: interpolates F_J (geometric, 0.25..8).
SPECTRAL_RADIUS_GRID = tuple(np.geomspace(0.25, 8.0, 13))

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

    def select(self, index) -> "CavityResult":
        """The result at the points ``x[index]`` only (same settings, same drift)."""
        return CavityResult(self.quantity, self.x[index], self.mean[index], self.stderr[index],
                            self.convergence, self.params, self.extra)

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
    warm_burn_in : sweeps discarded at each later chunk of the warm-started walk along s
    repeats : independent runs (>= 2 for a standard error)
    n_explicit : mean number of explicit (Poisson) weights per row/column; sets t_min
    grid : grid points of the output-dependence of ``down`` messages (depth >= 2)
    chunk : singular-value points solved together by one population (the walk along s
        advances ``chunk`` points at a time); radii are always solved together
    decoupled : slope independent of the unit's own weights (free model; wrong on purpose)
    input_scale : float > 0, optional
        Scale gamma_0 of the input pre-activations, ``x0 = phi(gamma_0 S)``; default the
        stationary gamma*. Away from gamma* the layers' scales follow the scale map
        gamma_1, gamma_2, ... (the populations carry it: each layer's pre-activations are
        drawn from the layer below), which is where depth enters (THEORY §5).
    closed : the eigenvalues of J at a fixed point of the network: layer L's units feed
        layer 1 their own outputs phi(h_L) (x0 = F(x0)) instead of an independent input, so
        a unit's slope and the value it sends are both set by its pre-activation. Eigenvalue
        methods only; excludes ``input_scale``.
    threads : threads running the repeats concurrently (default: min(repeats, cpu count));
        results do not depend on it
    progress : None or a callable ``progress(n)`` told after each population run how many
        points (singular values or radii) of one repeat it finished, e.g. a tqdm bar's update
    rng : None, seed or numpy Generator (SPEC 7)
    """

    def __init__(self, activation, sigma_w, sigma_b, depth=1, *, alpha=1.0, population=4000,
                 sweeps=30, burn_in=25, warm_burn_in=6, repeats=3, n_explicit=24.0, grid=17,
                 chunk=8, decoupled=False, input_scale=None, closed=False, threads=None,
                 progress=None, rng=None):
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
        self.warm_burn_in = _int("warm_burn_in", warm_burn_in, 0)
        self.repeats = _int("repeats", repeats, 1)
        self.n_explicit = _real("n_explicit", n_explicit, low=1.0)
        self.grid = _int("grid", grid, 2)
        self.chunk = _int("chunk", chunk, 1)
        if progress is not None and not callable(progress):
            raise InvalidParameter("progress", progress, "must be None or a callable progress(n)")
        self._progress = progress
        if not isinstance(decoupled, (bool, np.bool_)):
            raise InvalidParameter("decoupled", decoupled, "must be True or False")
        self.decoupled = bool(decoupled)
        self.threads = (min(self.repeats, os.cpu_count() or 1) if threads is None
                        else _int("threads", threads, 1))
        try:
            self._rng = np.random.default_rng(rng)
        except (TypeError, ValueError) as exc:
            raise InvalidParameter("rng", rng, "must be None, a seed or a numpy.random.Generator") from exc
        a = self.alpha
        c_alpha = math.gamma(a) * math.sin(math.pi * a / 2.0) / math.pi
        self.t_min = self.sigma_w * (2.0 * c_alpha / self.n_explicit) ** (1.0 / a)
        self.lam = self.n_explicit
        self.m2 = 2.0 * a * c_alpha * self.sigma_w ** a * self.t_min ** (2.0 - a) / (2.0 - a)
        if not isinstance(closed, (bool, np.bool_)):
            raise InvalidParameter("closed", closed, "must be True or False")
        self.closed = bool(closed)
        if self.closed and input_scale is not None:
            raise InvalidParameter("input_scale", input_scale,
                                   "must be None with closed=True (the input is the output)")
        self.gamma_star = gamma_star(act, self.sigma_w, self.sigma_b, a)
        self.gamma0 = (self.gamma_star if input_scale is None
                       else _real("input_scale", input_scale, low=0.0, low_open=True))
        self._kmax = int(self.lam + 12.0 * math.sqrt(self.lam) + 40)
        ss = getattr(self._rng.bit_generator, "seed_seq", None)
        self._entropy = getattr(ss, "entropy", None)

    # -- bookkeeping --------------------------------------------------------------------------
    @property
    def params(self) -> dict:
        return {"activation": self.activation, "alpha": self.alpha, "sigma_w": self.sigma_w,
                "sigma_b": self.sigma_b, "depth": self.depth, "population": self.population,
                "sweeps": self.sweeps, "burn_in": self.burn_in, "warm_burn_in": self.warm_burn_in,
                "repeats": self.repeats,
                "n_explicit": self.n_explicit, "t_min": self.t_min, "grid": self.grid,
                "chunk": self.chunk,
                "decoupled": self.decoupled, "gamma_star": self.gamma_star,
                "input_scale": self.gamma0, "closed": self.closed,
                "seed_entropy": self._entropy}

    def _seeds(self, n):
        return self._rng.integers(0, 2 ** 31 - 1, size=n)

    def _sv_common_init(self):
        return (_CODES[self.activation], self.alpha, self.sigma_b, self.t_min, self.lam, self.m2,
                self.depth, self.population, self.grid, self.gamma0)

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
    def _sv_path(self, zs, seed, stop=None):
        """One repeat along the points ``zs``, ``chunk`` points at a time (one population
        serves a chunk's points, see :func:`esd._cavity_kernels.sv_population`); each chunk
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

    # -- eigenvalues --------------------------------------------------------------------------
    def _radial_c_repeats(self, r_c, eta):
        """F_C at the radii ``r_c`` of C: per repeat one population serving every radius
        (:func:`esd._cavity_kernels.eig_population`), the repeats on ``threads`` threads.
        Returns (repeats x radii) values and the largest drift."""
        seeds = self._seeds(self.repeats)
        r_c = np.ascontiguousarray(r_c, dtype=float)

        def one(seed):
            hist = _k.eig_population(r_c, float(eta), *self._common(), self.burn_in + self.sweeps,
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
        term of the Kac-Rice rate (THEORY §5), with ``f_out = 1 - F_C(1)`` alongside.

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


@cache
def warm_up() -> None:
    """Compile, or load from Numba's cache, the population kernels once per process (their
    argument types do not depend on the network), so a timed first solve excludes it."""
    tiny = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, population=50, sweeps=2, burn_in=0,
                               warm_burn_in=0, repeats=1, chunk=2, threads=1, rng=0)
    tiny.singular_value_density([1.0, 0.5, 0.25])
    tiny.radial_cdf([0.5, 1.0])


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


def singular_value_density(activation, sigma_w, sigma_b, s, depth=1, **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.singular_value_density`."""
    eta_rel = kwargs.pop("eta_rel", 1e-3)
    return HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, **kwargs).singular_value_density(
        s, eta_rel=eta_rel)


def log_singular_value_quantiles(activation, sigma_w, sigma_b, depth=1,
                                 probs=(0.5, 0.75, 0.9, 0.99), **kwargs) -> CavityResult:
    """Functional form of :meth:`HeavyTailedJacobian.log_singular_value_quantiles`."""
    opts = {k: kwargs.pop(k) for k in ("log10_range", "step", "eta_rel") if k in kwargs}
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
