"""Exact mean field of a network with symmetric alpha-stable weights (THEORY.md §4).

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
the network model (THEORY.md §1) draws.

Numerics. The density (:func:`stable_pdf`) is Zolotarev's integral in Nolan's form,
integrated by the trapezoid rule in a variable where the integrand is smooth and decays
doubly exponentially on one side and exponentially on the other: ~1e-15 relative in the
bulk, <1e-13 out to x = 1e-300 and 1e300 (checked against mpmath's Fourier inversion and
the convergent tail series).
Expectations (:func:`stable_expect`) fold the line onto s >= 0 and use double-exponential
quadrature: exp-sinh for the heavy tail, tanh-sinh between declared kinks of f.
"""

from __future__ import annotations

from functools import lru_cache
from math import asinh, gamma as gamma_fn, lgamma, log, pi, sqrt
from numbers import Integral, Real
from typing import Callable

import numpy as np
from scipy.optimize import brentq

from .activations import ACTIVATIONS, Activation, get_activation
from .exceptions import ConvergenceError, InvalidParameter

__all__ = [
    "stable_pdf",
    "stable_abs_moment",
    "stable_expect",
    "alpha_moment",
    "scale_map",
    "gamma_star",
    "layer_scales",
    "slope_expect",
    "mean_log_slope",
    "stable_kl",
]

# Expectations integrate |S| out to X = 1e300 (exp-sinh pays only log X for it), where
# P(|S| > X) = 2 C_alpha X^-alpha; below alpha = 0.06 that mass exceeds 1e-18.
_ALPHA_MIN_EXPECT = 0.06
_S_MAX = 1e300
# Double-exponential quadrature: first step, deepest level, and the relative change
# between levels accepted as converged (the error is then far smaller: DE errors square).
_DE_H0 = 0.5
_DE_MAX_LEVEL = 9
_DE_RTOL = 1e-12
# Zolotarev integral: trapezoid step in w = log u, and the low end of the w range: on the
# small-u side the integrand decays like e^(w / max(1, alpha)).
_ZOL_STEP = 0.25
_ZOL_W_LOW = -42.0
# Within this distance of alpha = 1 the nodes are placed in w itself (see _zolotarev).
_NEAR_CAUCHY = 0.05
_EPS = float(np.finfo(float).eps)
_HALF_PI = 0.5 * pi
_LOG_HALF_PI = log(_HALF_PI)
# Points per chunk in the density: bounds the (points x nodes) work arrays.
_CHUNK = 256

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


# -- validation -----------------------------------------------------------------------------
def _check_alpha(alpha, *, low: float = 0.0) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < alpha <= 2.0:
        raise InvalidParameter("alpha", alpha, "must be a real number in (0, 2] "
                               "(alpha = 2 is the Gaussian member, S ~ N(0, 2))")
    if alpha < low:
        raise InvalidParameter("alpha", alpha, f"must be >= {low} here: expectations under "
                               f"stable({alpha}) are carried by |S| beyond 1e300")
    return float(alpha)


def _check_real(name, value, *, positive: bool) -> float:
    rule = "a finite real number > 0" if positive else "a finite real number >= 0"
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) \
            or (value <= 0 if positive else value < 0):
        raise InvalidParameter(name, value, f"must be {rule}")
    return float(value)


def _per_layer(name, value, depth, *, positive: bool) -> np.ndarray:
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value, dtype=object).ravel())
        if len(values) != depth:
            raise InvalidParameter(name, value, f"a per-layer sequence must have depth={depth} entries")
        return np.array([_check_real(f"{name}[{i}]", float(v) if isinstance(v, np.floating) else v,
                                     positive=positive) for i, v in enumerate(values)])
    if isinstance(value, np.floating):
        value = float(value)
    return np.full(depth, _check_real(name, value, positive=positive))


# -- density ------------------------------------------------------------------------------------
def stable_pdf(x, alpha) -> np.ndarray:
    """Density of the standard symmetric alpha-stable law, ``E exp(i t S) = exp(-|t|^alpha)``.

    ``p(x) = (1/pi) int_0^inf cos(x t) exp(-t^alpha) dt``. Closed forms at alpha = 1
    (Cauchy, ``1 / (pi (1 + x^2))``) and alpha = 2 (N(0, 2)); otherwise Zolotarev's
    representation (Nolan 1997, beta = 0), for x > 0:

        p(x) = alpha / (pi |alpha - 1| x) int_0^(pi/2) u e^-u d theta,
        u = x^(alpha/(alpha-1)) V(theta),
        V(theta) = (cos theta / sin(alpha theta))^(alpha/(alpha-1)) cos((alpha-1) theta) / cos theta,

    and ``p(0) = Gamma(1 + 1/alpha) / pi``. Relative accuracy ~1e-15 in the bulk and better
    than 1e-13 for every x, alpha within 1e-9 of 1 and the tails
    ``p(x) ~ C_alpha alpha x^(-1-alpha)``, ``C_alpha = Gamma(alpha) sin(pi alpha/2) / pi``,
    included.
    Vectorised over ``x``; returns an array of the shape of ``x``.
    """
    alpha = _check_alpha(alpha)
    xa = _as_real_array("x", x)
    ax = np.abs(xa)
    if alpha == 1.0:
        with np.errstate(over="ignore"):           # x^2 = inf for |x| > 1e154: p = 0
            return 1.0 / (pi * (1.0 + ax * ax))
    if alpha == 2.0:
        with np.errstate(over="ignore"):
            return np.exp(-0.25 * ax * ax) / (2.0 * sqrt(pi))
    out = np.zeros_like(ax)
    # p(x) = p(0) (1 - x^2 Gamma(3/alpha) / (2 Gamma(1/alpha)) + ...): below this |x| the
    # correction is under 1e-17 and p(0) is exact, where the integral's nodes would underflow.
    flat_top = sqrt(2e-17 * np.exp(lgamma(1.0 / alpha) - lgamma(3.0 / alpha)))
    out[ax <= flat_top] = gamma_fn(1.0 + 1.0 / alpha) / pi
    inner = (ax > flat_top) & np.isfinite(ax)
    flat = ax[inner]
    vals = np.empty_like(flat)
    for start in range(0, flat.size, _CHUNK):
        vals[start:start + _CHUNK] = _zolotarev(flat[start:start + _CHUNK], alpha)
    out[inner] = vals
    return out


def _as_real_array(name, x) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(name, x, "must be real numbers") from exc
    if np.iscomplexobj(np.asarray(x)) or np.any(np.isnan(arr)):
        raise InvalidParameter(name, x, "must be real numbers, not NaN")
    return arr


def _zolotarev_terms(tau, lx, alpha, p, with_slope):
    """log u, log(d theta/d tau) and optionally dw/d tau and the rounding scale of w, at
    theta = (pi/2) sigmoid(tau) (all arrays broadcast with ``lx = log x``).

    theta and its complement d = pi/2 - theta are both formed from logs (softplus), so
    each keeps full relative precision at its own end of (0, pi/2).
    """
    lth = _LOG_HALF_PI - np.logaddexp(0.0, -tau)
    ld = _LOG_HALF_PI - np.logaddexp(0.0, tau)
    th, d = np.exp(lth), np.exp(ld)
    sinc_d = np.sinc(d / pi)
    lcos = ld + np.log(sinc_d)                       # log cos(theta) = log sin(d)
    at = alpha * th
    low = at <= _HALF_PI
    # Beyond pi/2, sin(alpha theta) is taken through its supplement (2-alpha) pi/2 + alpha d,
    # which stays accurate where alpha theta nears pi (alpha -> 2, theta -> pi/2).
    sup = np.where(low, _HALF_PI, (2.0 - alpha) * _HALF_PI + alpha * d)
    sinc_at = np.sinc(np.where(low, at, 0.0) / pi)
    lsin_at = np.where(low, log(alpha) + lth + np.log(sinc_at), np.log(np.sin(sup)))
    w = p * (lx + lcos - lsin_at) + np.log(np.cos((alpha - 1.0) * th)) - lcos
    ldth = lth + ld - _LOG_HALF_PI
    if not with_slope:
        return w, ldth, None, None
    dth = np.exp(ldth)
    sin_at = np.where(low, at * sinc_at, np.sin(sup))
    cos_at = np.where(low, np.cos(at), -np.cos(sup))
    tan_dth = np.cos(d) * th / (sinc_d * _HALF_PI)   # tan(theta) dtheta/dtau, finite at both ends
    dw = (p * (-tan_dth - alpha * cos_at / sin_at * dth)
          - (alpha - 1.0) * np.tan((alpha - 1.0) * th) * dth + tan_dth)
    # sum of the magnitudes added up in w: its rounding error is a few eps times this
    scale = np.abs(p) * (np.abs(lx) + np.abs(lcos) + np.abs(lsin_at)) + 2.0 * np.abs(lcos) + 1.0
    return w, ldth, dw, scale


def _zolotarev(x, alpha):
    """p(x) for x > 0 finite, alpha not in {1, 2}, by the trapezoid rule.

    w = log u is monotone in theta, with slopes |p| and |p - 1| (p = alpha/(alpha-1)) in
    tau at the two ends. Away from alpha = 1 the nodes are uniform in tau (step 1/4 of the
    steepest slope) between the points where w = w_low and w = w_high, beyond which the
    integrand is below 1e-17 of its peak. Near alpha = 1, u = exp(p (log x + ...))
    with p large: computing w from theta would amplify rounding by p, so the nodes are
    uniform in w instead and theta is solved for by Newton; the integrand then uses the
    exact w of each node and the rounding only moves theta, harmlessly.
    """
    p = alpha / (alpha - 1.0)
    lx = np.log(x)[:, None]
    s_min, s_max = min(abs(p), abs(p - 1.0)), max(abs(p), abs(p - 1.0))
    # Small-u side: in the asymptotic regime next to the peak the integrand falls like
    # e^(w / max(1, alpha)) relative to it.
    w_low = _ZOL_W_LOW * max(1.0, alpha)
    # Large-u side: for alpha < 1 the theta -> 0 end weights u e^-u by u^(1/p0), p0 =
    # alpha/(1-alpha): a Gamma(1 + 1/p0) integrand whose tail reaches u ~ k + 9 sqrt(k) + 40.
    k = 1.0 + 1.0 / s_min if alpha < 1.0 else 1.0
    w_high = log(k + 9.0 * sqrt(k) + 40.0)
    increasing = alpha < 1.0
    if abs(alpha - 1.0) >= _NEAR_CAUCHY:
        span = (np.abs(p * lx[:, 0]) - w_low + 800.0) / s_min + 10.0

        def edge(target):
            lo, hi = -span, span.copy()
            for _ in range(int(np.ceil(np.log2(2.0 * span.max() * s_max / 1e-2)))):
                mid = 0.5 * (lo + hi)
                up = (_zolotarev_terms(mid, lx[:, 0], alpha, p, False)[0] < target) == increasing
                lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
            return 0.5 * (lo + hi)

        # When the peak (u ~ 1) sits where d theta/d tau is small (theta near 0 or pi/2), the
        # bulk of (0, pi/2) at small u can still matter (alpha < 1, large x: relative
        # weight x^(-alpha/(2(1-alpha)))): lower the cut by the peak's log d theta/d tau.
        peak_ldth = _zolotarev_terms(edge(0.0), lx[:, 0], alpha, p, False)[1]
        w_low = (w_low + np.minimum(0.0, peak_ldth - log(pi / 8.0))
                 - log(max(1.0, 1.0 / s_min)))
        ta, tb = edge(w_low), edge(w_high)
        width = np.abs(tb - ta)
        n = int(np.ceil(width.max() * s_max / _ZOL_STEP)) + 1
        tau = ta[:, None] + (tb - ta)[:, None] * np.linspace(0.0, 1.0, n)[None, :]
        w, ldth, _, _ = _zolotarev_terms(tau, lx, alpha, p, False)
        g = np.exp(w - np.exp(w) + ldth)
        integral = (width / (n - 1)) * (g.sum(axis=1) - 0.5 * (g[:, 0] + g[:, -1]))
    else:
        wk = np.arange(w_low, w_high + 0.5 * _ZOL_STEP, _ZOL_STEP)[None, :]
        # All nodes lie within O(50/|p|) of cos(theta)/sin(alpha theta) = 1/x, which is
        # theta = arctan(x) at alpha = 1; Newton on w/p (the well-scaled Lambda + log x).
        tau = np.broadcast_to(np.log(np.arctan(x) / np.arctan(1.0 / x))[:, None], (x.size, wk.size))
        for it in range(40):
            w, ldth, dw, scale = _zolotarev_terms(tau, lx, alpha, p, True)
            r = w - wk
            # w itself carries rounding ~ eps |p| |log terms|: the attainable floor.
            if np.all(np.abs(r) <= 32.0 * _EPS * scale):
                break
            tau = tau - np.clip(r / dw, -2.0, 2.0)
        else:
            worst = np.argmax(np.max(np.abs(r), axis=1))
            raise ConvergenceError("Zolotarev node placement", float(x[worst]),
                                   float(np.max(np.abs(r))), it + 1)
        g = np.exp(wk - np.exp(wk) + ldth) / np.abs(dw)
        integral = _ZOL_STEP * (g.sum(axis=1) - 0.5 * (g[:, 0] + g[:, -1]))
    return alpha / (pi * abs(alpha - 1.0)) * (integral / x)


def stable_abs_moment(p, alpha) -> float:
    """``E|S|^p = 2^p Gamma((1+p)/2) Gamma(1 - p/alpha) / (sqrt(pi) Gamma(1 - p/2))``, -1 < p < alpha.

    Closed form for the standard symmetric law (alpha = 2: N(0, 2); alpha = 1:
    ``1 / cos(pi p / 2)``). ``p >= alpha < 2`` gives ``inf``.
    """
    alpha = _check_alpha(alpha)
    if isinstance(p, bool) or not isinstance(p, Real) or not np.isfinite(p) or p <= -1.0:
        raise InvalidParameter("p", p, "must be a finite real number > -1")
    p = float(p)
    if p == 0.0:
        return 1.0
    if alpha < 2.0 and p >= alpha:
        return float("inf")
    # Gamma(1 - p/2) has poles only at p = 2, 4, ... (alpha = 2): there 1/Gamma is 0 -> use
    # the Gaussian moment directly.
    if alpha == 2.0:
        return float(2.0 ** p * np.exp(lgamma(0.5 * (1.0 + p))) / sqrt(pi))
    return float(2.0 ** p * gamma_fn(0.5 * (1.0 + p)) * gamma_fn(1.0 - p / alpha)
                 / (sqrt(pi) * gamma_fn(1.0 - 0.5 * p)))


# -- expectations ---------------------------------------------------------------------------
class _TailNotConverged(InvalidParameter):
    """E f(gamma S) does not converge within the float range (f grows too fast)."""


def _tail_limit(alpha: float) -> float:
    """Largest |S| integrated: 1e300, or 60 for the Gaussian (mass beyond: e^-900)."""
    return 60.0 if alpha == 2.0 else _S_MAX


def _exp_sinh_grid(level: int, t_max: float):
    """Nodes j h (only the new, odd j beyond level 0) of exp-sinh on [0, inf): offset, weight."""
    h = _DE_H0 / 2 ** level
    # offsets down to e^-690 ~ 1e-300: integrable singularities of f at 0 (|h|^-1/2) lose nothing
    t_min = -asinh(690.0 / _HALF_PI)
    j = np.arange(int(np.ceil(t_min / h)), int(np.floor(t_max / h)) + 1)
    if level > 0:
        j = j[j % 2 != 0]
    t = j * h
    e = _HALF_PI * np.sinh(t)
    return np.exp(e), h * _HALF_PI * np.cosh(t) * np.exp(e)


def _tanh_sinh_grid(level: int, a: float, b: float):
    """Nodes and weights of tanh-sinh on [a, b] (new nodes only beyond level 0)."""
    h = _DE_H0 / 2 ** level
    j = np.arange(-int(3.5 / h), int(3.5 / h) + 1)
    if level > 0:
        j = j[j % 2 != 0]
    t = j * h
    u = _HALF_PI * np.sinh(t)
    q = np.exp(-2.0 * np.abs(u))
    # distance to the nearer end, (b - a) / (1 + e^(2|u|)), kept exact near the ends
    dist = (b - a) * q / (1.0 + q)
    x = np.where(t < 0.0, a + dist, b - dist)
    wts = h * (b - a) * _HALF_PI * np.cosh(t) * 4.0 * q / (1.0 + q) ** 2 / 2.0
    return x, wts


def _check_tail(tail, f, s, gamma, absolute, alpha):
    """Refuse an integral still running at the end of the exp-sinh nodes (level 0).

    Beyond the last node where the density has not underflowed, the terms fall
    geometrically at the ratio of the last two; their estimated sum must be negligible.
    Bounded f gives tiny ratios; |f| ~ |h|^c with c >= alpha gives ratios >= 1 (the
    expectation is infinite).
    """
    live = np.flatnonzero(np.abs(tail) > 1e-280)     # denormals carry no usable ratio
    if live.size < 2:
        return
    last, before = abs(tail[live[-1]]), abs(tail[live[-2]])
    ratio = last / before if before > 0.0 else np.inf
    remainder = last * ratio / (1.0 - ratio) if ratio < 1.0 else np.inf
    if remainder > 1e-13 * absolute:
        raise _TailNotConverged(
            "f", f, f"E f(gamma S) does not converge within |h| < {gamma * s[live[-1]]:.3g}: f must "
            f"grow slower than |h|^alpha = |h|^{alpha:g} (by a margin of ~0.05 in the exponent) "
            f"for the expectation to be finite and computable")


@lru_cache(maxsize=128)
def _standard_density_nodes(alpha: float, level: int):
    """exp-sinh nodes on [0, inf) with weights times p(s): reused for every gamma."""
    s, w = _exp_sinh_grid(level, asinh(log(_tail_limit(alpha)) / _HALF_PI))
    wp = w * stable_pdf(s, alpha)
    s.setflags(write=False)
    wp.setflags(write=False)
    return s, wp


def stable_expect(f: Callable, gamma, alpha, *, breakpoints=()) -> float:
    """``E f(gamma S)`` for S standard symmetric alpha-stable, by quadrature.

    ``f`` maps an array of h to an array. ``breakpoints`` are the h where f is not
    smooth (kinks, jumps), where the quadrature must split. Fold onto s >= 0:
    ``int_0^inf [f(gamma s) + f(-gamma s)] p(s) ds``; tanh-sinh between breakpoints,
    exp-sinh from the last one to infinity (it takes the heavy tail p ~ s^(-1-alpha)
    in its stride), step halved until two levels agree to 1e-12 of ``int |...|``.

    Raises InvalidParameter when the integral does not converge within |S| < 1e300
    (``|f| ~ |h|^c`` needs c < alpha - 0.05; c >= alpha makes the expectation infinite)
    or when f returns NaN; ConvergenceError when the levels never agree (f not smooth
    between the breakpoints). If f is +inf (or -inf) where the law has mass, returns that
    infinity (e.g. ``log phi'`` of relu).
    """
    if not callable(f):
        raise InvalidParameter("f", f, "must be a callable mapping an array of h to an array")
    gamma = _check_real("gamma", gamma, positive=False)
    alpha = _check_alpha(alpha, low=_ALPHA_MIN_EXPECT)
    if gamma == 0.0:
        return float(np.asarray(f(np.zeros(1)), dtype=float).ravel()[0])
    try:
        bps = sorted({abs(float(b)) / gamma for b in breakpoints if float(b) != 0.0})
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("breakpoints", breakpoints, "must be a sequence of real numbers") from exc
    if bps and bps[0] > 2.0:
        # a long first segment: split at the density's own scale too
        bps = [1.0] + bps
    t_max = asinh(log(_tail_limit(alpha)) / _HALF_PI)

    def folded(s):
        # The nodes reach |h| ~ 1e300 by design: f may overflow there, where p underflows.
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(f(gamma * s), dtype=float) + np.asarray(f(-gamma * s), dtype=float)

    def weighted(vals, wp):
        # nodes where the density underflowed carry no weight, whatever f is there
        out = np.where(wp > 0.0, vals * np.where(wp > 0.0, wp, 1.0), 0.0)
        if np.any(np.isnan(out)):
            raise InvalidParameter("f", f, "returned NaN (or +inf and -inf together) where the law has mass")
        return out

    total = absolute = 0.0
    previous = None
    for level in range(_DE_MAX_LEVEL + 1):
        contrib = []
        edges = [0.0] + bps
        for a, b in zip(edges[:-1], edges[1:]):
            s, w = _tanh_sinh_grid(level, a, b)
            contrib.append(weighted(folded(s), w * stable_pdf(s, alpha)))
        c = edges[-1]
        if c == 0.0:
            s, wp = _standard_density_nodes(alpha, level)
        else:
            off, w = _exp_sinh_grid(level, t_max)
            s = c + off
            wp = w * stable_pdf(s, alpha)
        tail = weighted(folded(s), wp)
        contrib.append(tail)
        vals = np.concatenate(contrib)
        infinite = vals[np.isinf(vals)]
        if infinite.size:
            if np.any(infinite != infinite[0]):
                raise InvalidParameter("f", f, "is +inf and -inf on sets of positive probability")
            return float(infinite[0])
        scale = 1.0 if level == 0 else 0.5
        total = scale * total + float(np.sum(vals))
        absolute = scale * absolute + float(np.sum(np.abs(vals)))
        if level == 0 and alpha < 2.0:      # Gaussian tails: nothing escapes |S| < 60
            _check_tail(tail, f, s, gamma, absolute, alpha)
        change = abs(total - previous) if previous is not None else np.inf
        if change <= _DE_RTOL * absolute:
            return total
        previous = total
    raise ConvergenceError("stable_expect quadrature", (gamma, alpha), change, _DE_MAX_LEVEL,
                           "is f smooth between the given breakpoints, and not noisy?")


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
    limit of the iteration, as in :func:`esd.meanfield.q_star`. Returns 0.0 when the
    iteration collapses to gamma = 0, which needs phi(0) = 0, sigma_b = 0 and alpha = 2: for
    alpha < 2 and phi'(0) > 0, ``A(gamma) ~ 2 alpha C_alpha phi'(0)^alpha gamma^alpha log(1/gamma)``
    makes T(gamma) / gamma grow without bound as gamma -> 0, so the fixed point is positive.

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


def _log_stable_pdf(x, alpha):
    """log p(x), with the tail ``log(alpha C_alpha) - (1 + alpha) log|x|`` where p underflows
    (p(x / c) underflows before the quadrature weight p(x) does when c < 1)."""
    p = stable_pdf(x, alpha)
    tail = log(alpha * gamma_fn(alpha) * np.sin(pi * alpha / 2.0) / pi)
    with np.errstate(divide="ignore"):
        return np.where(p > 0.0, np.log(np.where(p > 0.0, p, 1.0)),
                        tail - (1.0 + alpha) * np.log(np.abs(x)))
