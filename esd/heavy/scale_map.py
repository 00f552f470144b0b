"""Exact mean field of a network with symmetric alpha-stable weights: the scale map (docs/theory/heavy-tailed.md).

Weights ``W_ij = sigma_w N^(-1/alpha) S_ij`` and biases ``sigma_b S_i``, with S standard
symmetric alpha-stable, ``E exp(i t S) = exp(-|t|^alpha)`` (alpha = 1: standard Cauchy;
alpha = 2: N(0, 2)). Given the previous layer, a pre-activation is a sum of independent
stable variables, hence exactly stable(alpha) for every width N, with scale

    gamma_l^alpha = sigma_w,l^alpha mean_j |x_{l-1,j}|^alpha + sigma_b,l^alpha.

As N -> inf, ``mean_j |x_j|^alpha -> A(gamma_{l-1})`` with ``A(gamma) = E|phi(gamma S)|^alpha``
(:func:`alpha_moment`), which gives the scale map (:func:`scale_map`)

    gamma_l^alpha = sigma_w,l^alpha A(gamma_{l-1}) + sigma_b,l^alpha.

``P(|S| > t) ~ 2 C_alpha t^-alpha`` makes ``E|S|^alpha`` infinite, so A is finite only when
``|phi(h)|`` grows slower than ``|h|``: every bounded activation, but not linear or relu,
whose next layer is no longer alpha-stable with a finite scale (its tails carry a log N);
the functions here refuse them with :class:`~esd.exceptions.InvalidParameter`.

alpha = 2 is accepted as the Gaussian end of the family (``gamma S ~ N(0, 2 gamma^2)``,
i.e. the light-tailed variance is ``q = 2 gamma^2``); weights of index alpha < 2 are what
the network model (docs/theory/model.md) draws.
"""

from __future__ import annotations

from math import log, pi
from numbers import Integral
from typing import Callable

import numpy as np
from scipy.optimize import brentq

from esd.activations import ACTIVATIONS, Activation, get_activation
from esd.exceptions import InvalidParameter
from esd.heavy.stable import _check_alpha, _check_real, _log_stable_pdf, _per_layer, stable_abs_moment
from esd.heavy.stable_quadrature import _ALPHA_MIN_EXPECT, _TailNotConverged, stable_expect

__all__ = ["alpha_moment", "scale_map", "gamma_star", "layer_scales", "slope_expect",
           "mean_log_slope", "stable_kl"]

# Kinks of the built-in piecewise-linear activations, where quadrature must split.
_KINKS = {"relu": (0.0,), "hard-tanh": (-1.0, 1.0)}
# |phi|^alpha where the built-in phi loses relative precision: sigmoid is 0.5 (1 + tanh(h/2)),
# exact only to ~1e-16 absolute for h << 0, which a power alpha < 1 blows up (1e-8 at 0.5).
_ABS_POWER = {"sigmoid": lambda h, alpha: np.exp(-alpha * np.logaddexp(0.0, -h))}
# log phi'(h) = -b |h| + r(h) with r bounded, for activations whose slope decays
# exponentially: E log phi'(gamma S) = E r(gamma S) - b gamma E|S| (finite only if alpha > 1).
_LOG_SLOPE_TAILS = {
    "tanh": (2.0, lambda h: log(4.0) - 2.0 * np.log1p(np.exp(-2.0 * np.abs(h)))),
    "sigmoid": (1.0, lambda h: -2.0 * np.log1p(np.exp(-np.abs(h)))),
}


# -- mean field ---------------------------------------------------------------------------------
def _builtin_name(act: Activation) -> str | None:
    """The built-in name of ``act``, or None for a custom activation."""
    return act.name if ACTIVATIONS.get(act.name) is act else None


def _breakpoints(act: Activation):
    return _KINKS.get(_builtin_name(act), ())


def alpha_moment(activation, gamma, alpha) -> float:
    """``A(gamma) = E|phi(gamma S)|^alpha``, the input of the scale map.

    Infinite for activations growing like |h| (linear, relu): raises InvalidParameter.
    """
    act = get_activation(activation)
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    power = _ABS_POWER.get(_builtin_name(act))
    integrand = ((lambda h: power(h, alpha)) if power is not None
                 else (lambda h: np.abs(act.phi(h)) ** alpha))
    try:
        return stable_expect(integrand, gamma, alpha, breakpoints=_breakpoints(act))
    except _TailNotConverged as exc:
        raise InvalidParameter(
            "activation", act.name,
            f"E|phi(gamma S)|^alpha is infinite for stable({alpha:g}) pre-activations: |phi| grows "
            f"like |h| or faster and E|S|^alpha = inf. The next layer is then not alpha-stable "
            f"with a finite scale; use a bounded activation (tanh, sigmoid, erf, hard-tanh)") from exc


def scale_map(activation, gamma, sigma_w, sigma_b, alpha) -> float:
    """One layer: ``(sigma_w^alpha E|phi(gamma S)|^alpha + sigma_b^alpha)^(1/alpha)``."""
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    sigma_w = _check_real("sigma_w", sigma_w, positive=True)
    sigma_b = _check_real("sigma_b", sigma_b, positive=False)
    return _scale_map(get_activation(activation), gamma, sigma_w, sigma_b, alpha)


def _scale_map(act, gamma, sigma_w, sigma_b, alpha):
    return (sigma_w ** alpha * alpha_moment(act, gamma, alpha) + sigma_b ** alpha) ** (1.0 / alpha)


_GAMMA_HUGE = 1e150
_GAMMA_TINY = 1e-150


def gamma_star(activation, sigma_w, sigma_b, alpha, gamma0: float = 1.0) -> float:
    """Fixed point of the scale map reached from ``gamma0``.

    ``T(gamma) = (sigma_w^alpha A(gamma) + sigma_b^alpha)^(1/alpha)``; the root of
    ``T(gamma) - gamma`` is bracketed geometrically in the direction the iteration moves
    from gamma0 (upwards while T(gamma) > gamma) and refined by Brent's method. When
    ``|phi|`` increases with ``|h|`` (tanh, erf, hard-tanh) T is increasing and this is the
    limit of the iteration, as in :func:`esd.light.meanfield.q_star`. Returns 0.0 when the
    iteration collapses to gamma = 0, which needs phi(0) = 0, sigma_b = 0 and alpha = 2: for
    alpha < 2 and phi'(0) > 0, ``A(gamma) ~ 2 alpha C_alpha phi'(0)^alpha gamma^alpha log(1/gamma)``
    makes T(gamma) / gamma grow without bound as gamma -> 0, so the fixed point is positive.

    Examples
    --------
    >>> gamma_star("sigmoid", 3.0, 0.5, 1.0)   # Cauchy + sigmoid: sigma_w / 2 + sigma_b
    2.0
    """
    act = get_activation(activation)
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    sigma_w = _check_real("sigma_w", sigma_w, positive=True)
    sigma_b = _check_real("sigma_b", sigma_b, positive=False)
    gamma0 = _check_real("gamma0", gamma0, positive=True)

    def g(gamma):
        return _scale_map(act, gamma, sigma_w, sigma_b, alpha) - gamma

    g0 = g(gamma0)
    if abs(g0) <= 1e-15 * gamma0:
        return gamma0
    lo = hi = gamma0
    if g0 > 0:
        while g(hi) > 0:
            lo, hi = hi, 4.0 * hi + 1.0
            if hi > _GAMMA_HUGE:
                return float("inf")
    else:
        while g(lo) < 0:
            hi, lo = lo, lo / 16.0
            if lo < _GAMMA_TINY:
                return 0.0
    return brentq(g, lo, hi, xtol=1e-300, rtol=4e-15, maxiter=500)


def layer_scales(activation, sigma_w, sigma_b, alpha, depth, *, input_moment=None,
                 gamma0=None) -> np.ndarray:
    """Scales gamma_1..gamma_L of the pre-activations of a stable-weight network.

    Parameters
    ----------
    activation : str or Activation (bounded: see the module docstring)
    sigma_w, sigma_b : float or sequence of length ``depth``
        Weight scale (> 0) and bias scale (>= 0) per layer.
    alpha : float in (0, 2]
    depth : int >= 1
    input_moment : float >= 0, optional
        ``mean_j |x0_j|^alpha`` of the input: ``gamma_1^alpha = sigma_w,1^alpha input_moment
        + sigma_b,1^alpha`` (exact for every width).
    gamma0 : float > 0, optional
        The input is ``x0 = phi(gamma0 S)`` entrywise: ``input_moment = A(gamma0)``.

    With neither, layer 1 sits at the fixed point ``gamma_star`` of its own map and the
    following layers follow the recursion (all equal when the scales do not vary).
    """
    act = get_activation(activation)
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    if isinstance(depth, bool) or not isinstance(depth, Integral) or depth < 1:
        raise InvalidParameter("depth", depth, "must be an integer >= 1")
    depth = int(depth)
    sw = _per_layer("sigma_w", sigma_w, depth, positive=True)
    sb = _per_layer("sigma_b", sigma_b, depth, positive=False)
    if input_moment is not None and gamma0 is not None:
        raise InvalidParameter("gamma0", gamma0, "give either input_moment or gamma0, not both")
    if input_moment is not None:
        m = _check_real("input_moment", input_moment, positive=False)
        first = (sw[0] ** alpha * m + sb[0] ** alpha) ** (1.0 / alpha)
    elif gamma0 is not None:
        first = _scale_map(act, _check_real("gamma0", gamma0, positive=True), sw[0], sb[0], alpha)
    else:
        first = gamma_star(act, sw[0], sb[0], alpha)
        if not np.isfinite(first):
            raise InvalidParameter("sigma_w", sigma_w, "the scale map has no finite fixed point")
        if np.all(sw == sw[0]) and np.all(sb == sb[0]):
            return np.full(depth, first)     # identical layers stay at the fixed point
    gammas = [first]
    for l in range(1, depth):
        gammas.append(_scale_map(act, gammas[-1], sw[l], sb[l], alpha))
    return np.asarray(gammas, dtype=float)


# -- slopes -------------------------------------------------------------------------------------
def slope_expect(activation, g: Callable, gamma, alpha) -> float:
    """``E g(phi'(gamma S))``: an expectation over the law of one layer's slopes."""
    act = get_activation(activation)
    if not callable(g):
        raise InvalidParameter("g", g, "must be a callable mapping an array of slopes to an array")
    return stable_expect(lambda h: g(act.dphi(h)), gamma, alpha, breakpoints=_breakpoints(act))


def mean_log_slope(activation, gamma, alpha) -> float:
    """``E log|phi'(gamma S)|``, the per-layer log-slope entering Lyapunov exponents.

    Often -inf, which is the answer, not a failure: relu and hard-tanh have phi' = 0 with
    positive probability; tanh and sigmoid have ``log phi' ~ -b|h|`` so the mean is -inf
    unless E|S| < inf (alpha > 1), where it is ``E r(gamma S) - b gamma E|S|`` with the
    bounded remainder r; erf has ``log phi' = -pi h^2 / 4``, finite only at alpha = 2.
    Custom activations go through plain quadrature of ``log|dphi|``.
    """
    act = get_activation(activation)
    gamma = _check_real("gamma", gamma, positive=False)
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    name = _builtin_name(act)
    if gamma == 0.0 or name is None or name in _KINKS or name == "linear":
        with np.errstate(divide="ignore"):
            return stable_expect(lambda h: np.log(np.abs(act.dphi(h))), gamma, alpha,
                                 breakpoints=_breakpoints(act))
    if name == "erf":
        return -pi * gamma ** 2 / 2.0 if alpha == 2.0 else float("-inf")
    b, remainder = _LOG_SLOPE_TAILS[name]
    if alpha <= 1.0:
        return float("-inf")
    return stable_expect(remainder, gamma, alpha) - b * gamma * stable_abs_moment(1.0, alpha)


# -- divergence ---------------------------------------------------------------------------------
def stable_kl(gamma_p, gamma_q, alpha) -> float:
    """``KL(gamma_p S || gamma_q S) = E log[p(S) / (c^-1 p(S / c))]``, ``c = gamma_q / gamma_p``,
    for S standard symmetric alpha-stable with density p: the cost per unit, in the
    Kac-Rice count, of inputs at scale gamma_p when the output is at gamma_q.

    Scale invariance leaves one parameter, c. Closed forms: alpha = 1,
    ``log((1 + c)^2 / (4 c))``; alpha = 2 (Gaussian), ``(1/c^2 - 1)/2 + log c``.
    For alpha < 2 it grows only like ``log c`` as c -> 0 or inf (the heavy tails cost little).
    """
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    gp = _check_real("gamma_p", gamma_p, positive=True)
    gq = _check_real("gamma_q", gamma_q, positive=True)
    c = gq / gp
    if c == 1.0:
        return 0.0
    if alpha == 1.0:
        return float(np.log((1.0 + c) ** 2 / (4.0 * c)))
    if alpha == 2.0:
        return float(0.5 * (1.0 / (c * c) - 1.0) + np.log(c))

    def log_ratio(h):
        return _log_stable_pdf(h, alpha) - _log_stable_pdf(h / c, alpha) + log(c)
    return max(float(stable_expect(log_ratio, 1.0, alpha)), 0.0)
