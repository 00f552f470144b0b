"""Expectations ``E f(gamma S)`` under a symmetric alpha-stable law, by double-exponential
quadrature: the line is folded onto s >= 0, exp-sinh covers the heavy tail out to
|S| = 1e300 (paying only log 1e300 for it) and tanh-sinh the pieces between declared kinks
of f; levels are refined until the relative change is below 1e-12 (DE errors square, so the
error is then far smaller)."""

from __future__ import annotations

from functools import lru_cache
from math import asinh, log
from typing import Callable

import numpy as np

from esd.exceptions import ConvergenceError, InvalidParameter
from esd.heavy.stable import _HALF_PI, _check_alpha, _check_real, stable_pdf

__all__ = ["stable_expect"]

# Expectations integrate |S| out to X = 1e300 (exp-sinh pays only log X for it), where
# P(|S| > X) = 2 C_alpha X^-alpha; below alpha = 0.06 that mass exceeds 1e-18.
_ALPHA_MIN_EXPECT = 0.06
_S_MAX = 1e300
# Double-exponential quadrature: first step, deepest level, and the relative change
# between levels accepted as converged (the error is then far smaller: DE errors square).
_DE_H0 = 0.5
_DE_MAX_LEVEL = 9
_DE_RTOL = 1e-12


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
