"""Lyapunov-type exponents and moments of log|lambda| for stable(alpha) weights (docs/theory/heavy-tailed.md).

chi = E[phi'^2] E[W^2] is infinite for heavy tails; the order parameters are logarithmic.
One identity makes the first of them exact without the cavity solver:

    (1/N) sum_k log s_k = (1/N) sum_k log|lambda_k| = (1/N) log|det J|
                        = sum_l [ (1/N) sum_i log|phi'(h_li)| + (1/N) log|det W_l| ],

because ``det(D W) = det D det W``: the coupling between a row's large weights and its slope,
which decides the *law* of the singular values and eigenvalues (docs/theory/heavy-tailed.md), does not enter
their geometric mean. As N -> inf the slope term is ``E log|phi'(gamma_l S)|``
(:func:`esd.heavy.scale_map.mean_log_slope`) and ``(1/N) log|det W| = int log s dnu_W``. W =
``sigma_w N^(-1/alpha) S`` is ``sigma_w (2 C_alpha)^(1/alpha)`` times a matrix normalised as in
:mod:`esd.heavy.levy`, and the hermitized i.i.d. matrix ``((0, W), (W^T, 0))`` has the same limiting
tree (PWIT) recursion as the symmetric Lévy matrix, so its singular values are distributed as
|x| under the Lévy law mu_alpha:

    (1/N) log|det W| -> log sigma_w + (1/alpha) log(2 C_alpha) + int log|x| dmu_alpha(x)

(:func:`levy_mean_log`; checked against slogdet at N = 1500: alpha = 1: 0.270 vs 0.276 +- 0.008,
alpha = 1.5: 0.441 vs 0.448 +- 0.005).

**Moments and tails.** A unit whose pre-activation is large has a tiny slope, which scales
its row of J and pulls one eigenvalue and one singular value towards 0. For tanh and sigmoid
``log phi'(h) ~ -b|h|``, and ``P(|h| > t) ~ 2 C_alpha (gamma/t)^alpha``, so
``P(log|lambda| < -u)`` decays like ``u^-alpha``: ``E|log|lambda||^k`` is finite only for
``k < alpha`` (erf: ``log phi' = -pi h^2/4``, ``k < alpha/2``; hard-tanh: phi' = 0 with
positive probability, ``log|lambda| = -inf`` on a positive fraction). In particular the mean
is -inf for alpha <= 1 (Cauchy): at finite N the empirical mean falls like ``-log N``
(the truncated mean of |h|), which is the answer, not a numerical failure. The second
moment is infinite for every alpha < 2; the quantiles of log|lambda| and of log s
(:mod:`esd.heavy.cavity`) are the finite descriptors.

Lyapunov exponents: for a product of L layers, ``lambda_k = (1/L) log s_k``; their mean
(the sum of the Lyapunov spectrum over N) is the exact number above divided by L.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from esd.activations import get_activation
from esd.exceptions import InvalidParameter
from esd.heavy.levy import levy_density
from esd.heavy.scale_map import layer_scales, mean_log_slope

__all__ = ["levy_mean_log", "LogSpectrumMoments", "log_spectrum_moments"]

# Quadrature of int log|x| dmu_alpha in u = log x: the body on [_U_LOW, _U_HIGH / alpha]
# (trapezoid, the integrand is smooth and decays exponentially at both ends) and the
# tails from rho(x) ~ rho(0) (x -> 0) and rho(x) ~ (alpha/2) x^(-1-alpha) (x -> inf).
_U_LOW = -14.0
_U_HIGH = 20.0
_U_POINTS = 700

# log phi' tail per built-in activation: ``log phi'(h) ~ -b |h|^p``; moments of log|lambda|
# of order k are finite iff k < alpha / p. None: phi' vanishes on a set of positive mass.
_SLOPE_TAIL_POWER = {"tanh": 1.0, "sigmoid": 1.0, "erf": 2.0, "hard-tanh": None}


def levy_mean_log(alpha: float) -> float:
    """``int log|x| dmu_alpha(x)`` for the Lévy law of :mod:`esd.heavy.levy` (normalisation
    ``N P(|H_ij| > a_N t) -> t^-alpha``): the mean log singular value of a square i.i.d.
    stable matrix in that normalisation. alpha = 1: 0.27036."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.06 <= alpha < 2.0:
        raise InvalidParameter("alpha", alpha, "must be in [0.06, 2)")
    return _levy_log_integrals(float(alpha))[1]


def _levy_log_integrals(alpha: float):
    """(int dmu_alpha, int log|x| dmu_alpha) by the same quadrature (the first checks it)."""
    u = np.linspace(_U_LOW, _U_HIGH / min(alpha, 1.0), _U_POINTS)
    f = levy_density(np.exp(u), alpha) * np.exp(u)
    rho0 = float(levy_density(np.array([0.0]), alpha)[0])
    w = np.full(u.size, u[1] - u[0])
    w[0] = w[-1] = 0.5 * w[0]
    lo_mass, hi_mass = 2.0 * rho0 * math.exp(u[0]), math.exp(-alpha * u[-1])
    mass = 2.0 * float(np.sum(w * f)) + lo_mass + hi_mass
    mean = (2.0 * float(np.sum(w * f * u)) + lo_mass * (u[0] - 1.0)
            + hi_mass * (u[-1] + 1.0 / alpha))
    return mass, mean


@dataclass(frozen=True)
class LogSpectrumMoments:
    """Exact logarithmic order parameters of J (module docstring).

    ``mean_log_singular_value`` = E log s = E log|lambda| = (1/N) log|det J| (sum over
    layers; -inf where it diverges); ``lyapunov_mean`` its per-layer value (the mean of the
    Lyapunov spectrum); ``per_layer`` the slope and weight terms of each layer;
    ``finite_moment_orders`` the k for which E|log|lambda||^k < inf (``k < bound``);
    ``reason`` why a divergent quantity diverges."""

    mean_log_singular_value: float
    lyapunov_mean: float
    moment_order_bound: float
    per_layer: list = field(default_factory=list)
    reason: str = ""
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"mean_log_singular_value": self.mean_log_singular_value,
                "mean_log_abs_eigenvalue": self.mean_log_singular_value,
                "lyapunov_mean": self.lyapunov_mean,
                "log_abs_eigenvalue_moments": {
                    "1": self.mean_log_singular_value,
                    "2": math.inf if self.moment_order_bound <= 2.0 else None},
                "finite_moment_orders": (f"k < {self.moment_order_bound:g}"
                                         if math.isfinite(self.moment_order_bound) else "unknown"),
                "per_layer": self.per_layer, "reason": self.reason, "params": self.params}


def log_spectrum_moments(activation, sigma_w, sigma_b, alpha, depth, *, gamma0=None) -> LogSpectrumMoments:
    """E log s = E log|lambda| of J for stable(alpha) weights, exactly (module docstring):
    ``sum_l [E log|phi'(gamma_l S)| + log sigma_w,l + (1/alpha) log(2 C_alpha) + levy_mean_log]``
    with gamma_l from the scale map (stationary, or from inputs ``phi(gamma0 S)``)."""
    act = get_activation(activation)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0.06 <= alpha < 2.0:
        raise InvalidParameter("alpha", alpha, "must be in [0.06, 2) (stable weights)")
    gammas = layer_scales(act, sigma_w, sigma_b, alpha, depth, gamma0=gamma0)
    sws = np.broadcast_to(np.asarray(sigma_w, dtype=float), gammas.shape)
    c_alpha = math.gamma(alpha) * math.sin(math.pi * alpha / 2.0) / math.pi
    w_const = math.log(2.0 * c_alpha) / alpha + levy_mean_log(alpha)
    layers = []
    for g, sw in zip(gammas, sws):
        slope = mean_log_slope(act, float(g), alpha)
        layers.append({"gamma": float(g), "mean_log_slope": slope,
                       "mean_log_weight_singular_value": math.log(sw) + w_const})
    total = float(sum(d["mean_log_slope"] + d["mean_log_weight_singular_value"] for d in layers))
    power = _SLOPE_TAIL_POWER.get(act.name, math.nan)    # custom activations: unknown tail
    bound = 0.0 if power is None else alpha / power
    reason = ""
    if not math.isfinite(total):
        reason = (f"E log phi'(h) = -inf for {act.name} with alpha = {alpha:g}: "
                  + ("phi' = 0 on a set of positive probability" if power is None else
                     f"log phi'(h) ~ -|h|^{power:g} and E|h|^{power:g} = inf for stable(alpha) h")
                  + "; at finite N the empirical mean falls like -log N")
    return LogSpectrumMoments(total, total / len(layers), bound, layers, reason,
                              {"activation": act.name, "sigma_w": np.asarray(sigma_w).tolist(),
                               "sigma_b": np.asarray(sigma_b).tolist(), "alpha": float(alpha),
                               "depth": int(depth), "gamma0": gamma0})
