"""Heavy-tailed Jacobian spectra by the cavity method and population dynamics (docs/theory/heavy-tailed.md).

Network (docs/theory/model.md): ``h_l = W_l x_{l-1} + b_l``, ``x_l = phi(h_l)``, ``W_ij = sigma_w N^(-1/alpha) S``,
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
pre-activation); this is the dependence free probability drops (docs/theory/heavy-tailed.md).

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
L = 1 is docs/theory/heavy-tailed.md exactly. Because ``down`` depends on the receiving unit's output
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

Counting function (the quantiles of log10 s). The same ``h(z) = z (E R_u + E R_v)/2`` at the
M/2 points ``z_j = s e^(i pi (2j + 1)/(2M))`` gives ``F_M(s) = -(2/M) sum_j Re h(z_j) = (1/N)
sum_k 1/(1 + (s_k/s)^(2M))``, the fraction of singular values below s through a logistic
step of scale 1/(2M) in ln s (:mod:`esd.heavy.cavity_sv`). The points stay at
``arg z >= pi/(2M)`` from the axis: the chains mix in about ``depth`` sweeps and no tail mass
is extrapolated. Measured, tanh L = 4 (sigma_w 1, sigma_b 0.1): the walk along the axis
(eta_rel 0.02, P 4000) took 545 s for the four quantiles at SE 0.005-0.05; the filter takes
about 9 s at P 1000 for SE 0.003-0.015, and its 0.99 quantile is not pushed up by the
broadened density (0.93 +- 0.01 against the walk's 0.96 +- 0.05; Monte Carlo N = 1000: 0.86
+- 0.04, finite-N biased low).

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
layer (the free model: D permuted, docs/theory/heavy-tailed.md): kept as a regression guard; it is wrong.

Statistics: each quantity is the mean over ``sweeps`` sweeps after ``burn_in`` sweeps, per
repeat (the counting function discards ``filter_burn_in`` instead). One population serves
several points: its weights, pre-activations and slopes are
drawn once per sweep, its messages kept per point (every radius of a radial solve at once;
singular-value points ``chunk`` at a time, from large s down, each chunk started from the
messages of the previous chunk's last point with ``warm_burn_in`` discarded sweeps). Each
point's chain is the single-point one, so its estimate is unchanged in law while the points'
errors are correlated (measured, P = 1000, L = 4: 18 radii 73 s -> 6.4 s, 16 singular-value
points 56 s -> 16 s; ``benchmarks/bench_cavity.py``). ``repeats`` independent
runs (child seeds of ``rng``, run on ``threads`` threads) give mean and standard error. The top
tail is biased upwards at small ``population`` (tanh L = 1: 0.99 quantile of log10 s 0.755 at
P = 1000, 0.666 at P = 3000; simulation 0.66) for the density walk; for the counting
function the 0.99 quantile at L = 4 reads 0.95-1.02 at P = 500 and 0.86-0.92 at P = 1000-4000.
The output grid also sets the top tail: at L = 4 the 0.99 quantile reads 0.97 / 0.86 / 0.83
at grid = 9 / 17 / 33 (same draws). The eigenvalue chains (eta = 1e-4) drift slowly: at L = 4
the fraction outside the unit circle reads 0.0070 over sweeps 5-25, 0.0091 over 35-60 (16
seeds), so the default burn-in of 25 reads it about 0.001 low.
``convergence`` is the largest relative change between the first and second halves of the
averaged sweeps (a drift indicator; compare it with ``stderr``).
"""

from __future__ import annotations

import math
import os
from functools import cache

import numpy as np

from esd.activations import get_activation
from esd.exceptions import InvalidParameter
from esd.heavy import _cavity_kernels as _k
from esd.heavy._checks import _int, _real
from esd.heavy.cavity_eig import Eigenvalues
from esd.heavy.cavity_result import CavityResult
from esd.heavy.cavity_sv import SingularValues
from esd.heavy.scale_map import gamma_star

__all__ = ["HeavyTailedJacobian", "warm_up", "singular_value_density",
           "log_singular_value_quantiles", "radial_cdf", "fraction_outside_unit_circle"]


_CODES = {"tanh": _k.ACT_TANH, "sigmoid": _k.ACT_SIGMOID, "erf": _k.ACT_ERF,
          "hard-tanh": _k.ACT_HARDTANH}
_BOX = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "erf": (-1.0, 1.0), "hard-tanh": (-1.0, 1.0)}


class HeavyTailedJacobian(SingularValues, Eigenvalues):
    """Spectra of the input–output Jacobian of a stable(alpha)-weight network (module docstring).

    Parameters
    ----------
    activation : {"tanh", "sigmoid", "erf", "hard-tanh"} (bounded; the kernels hard-code them)
    sigma_w : float > 0, sigma_b : float >= 0, depth : int >= 1, alpha : float in (0, 2)
    population : int, population size P per node type
    radial_population : int, optional
        population of the eigenvalue (radial) chains; default ``population // 2`` (at least
        50). Measured (tanh L = 4, fraction outside the unit circle, 16 seeds each): 0.00779
        +- 0.00036 at P = 500 and 0.00754 +- 0.00034 at P = 1000, with the same spread per
        run (0.0014): these chains' noise comes from sweep-to-sweep fluctuations, not from P
    sweeps, burn_in : sweeps averaged, and discarded first
    warm_burn_in : sweeps discarded at each later chunk of the warm-started walk along s
    filter_burn_in : sweeps discarded by the step-filter counting function (quantiles of
        log10 s), whose points lie far from the real axis and mix fast; default depth + 6
        (measured at L = 4: the CDF settles within 5 sweeps from the flat start)
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
        drawn from the layer below), which is where depth enters (docs/theory/q-predictors.md).
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

    def __init__(self, activation, sigma_w, sigma_b, depth=1, *, alpha=1.0, population=1000,
                 radial_population=None, sweeps=10, burn_in=25, warm_burn_in=6, filter_burn_in=None, repeats=4,
                 n_explicit=24.0, grid=17,
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
        self.radial_population = (max(50, self.population // 2) if radial_population is None
                                  else _int("radial_population", radial_population, 50))
        self.sweeps = _int("sweeps", sweeps, 2)
        self.burn_in = _int("burn_in", burn_in, 0)
        self.warm_burn_in = _int("warm_burn_in", warm_burn_in, 0)
        self.filter_burn_in = (self.depth + 6 if filter_burn_in is None
                               else _int("filter_burn_in", filter_burn_in, 0))
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
                "radial_population": self.radial_population,
                "sweeps": self.sweeps, "burn_in": self.burn_in, "warm_burn_in": self.warm_burn_in,
                "filter_burn_in": self.filter_burn_in,
                "repeats": self.repeats,
                "n_explicit": self.n_explicit, "t_min": self.t_min, "grid": self.grid,
                "chunk": self.chunk,
                "decoupled": self.decoupled, "gamma_star": self.gamma_star,
                "input_scale": self.gamma0, "closed": self.closed,
                "seed_entropy": self._entropy}

    def _seeds(self, n):
        return self._rng.integers(0, 2 ** 31 - 1, size=n)

    def _sv_common_init(self, population=None):
        return (_CODES[self.activation], self.alpha, self.sigma_b, self.t_min, self.lam, self.m2,
                self.depth, population or self.population, self.grid, self.gamma0)

    def _common(self, population=None):
        lo, hi = _BOX[self.activation]
        return (_CODES[self.activation], self.alpha, self.sigma_b, self.t_min, self.lam, self.m2,
                self.depth, population or self.population, self.grid, lo, hi, self.gamma0)

    @staticmethod
    def _drift(hist):
        h = np.asarray(hist)
        a, b = h[: h.size // 2].mean(), h[h.size // 2:].mean()
        return float(abs(a - b) / max(abs(a + b) / 2.0, 1e-300))


@cache
def warm_up() -> None:
    """Compile, or load from Numba's cache, the population kernels once per process (their
    argument types do not depend on the network), so a timed first solve excludes it."""
    tiny = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, population=50, sweeps=2, burn_in=0,
                               warm_burn_in=0, repeats=1, chunk=2, threads=1, rng=0)
    tiny.singular_value_density([1.0, 0.5, 0.25])
    tiny.radial_cdf([0.5, 1.0])


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
