"""Spectral law of symmetric alpha-stable (Lévy) matrices (docs/theory/heavy-tailed.md).

H is N x N symmetric with i.i.d. symmetric entries above the diagonal, normalised by a_N
so that ``N P(|H_ij| > a_N t) -> t^-alpha`` (0 < alpha < 2): for entries ``S / a_N`` with S
standard symmetric alpha-stable (``E exp(i t S) = exp(-|t|^alpha)``),
``a_N = (2 C_alpha N)^(1/alpha)``, ``C_alpha = Gamma(alpha) sin(pi alpha / 2) / pi``
(:func:`levy_scale`; standard Cauchy: ``a_N = 2 N / pi``). Its spectral measure converges to
a law mu_alpha with full support and tails ``rho(x) ~ (alpha/2) |x|^(-1-alpha)``
(Ben Arous–Guionnet 2008; Belinschi–Dembo–Guionnet 2009; Bordenave–Caputo–Chafaï 2011).

On the limiting tree ``R_ii = -1 / (z + sum_k H_ik^2 R_kk^(i))`` with R = (H - z)^-1, and the
sum is a one-sided (alpha/2)-stable variable. With ``a = alpha/2`` and the order parameter
``y(z) = E[(-i R(z))^a]`` (principal power: ``|arg y| < pi a / 2``):

    y    = (1/Gamma(a)) int_0^inf u^(a-1) exp(i z u - Gamma(1-a) y u^a) du,
    s(z) = E R(z) = i int_0^inf exp(i z u - Gamma(1-a) y u^a) du,
    rho(x) = Im s(x + i0) / pi.

Signs: s is ``int rho(t) / (t - z) dt`` (Im s > 0 for Im z > 0); the package's G
(Pennington's sign, docs/theory/light-tailed.md) is ``G = -s``, which :func:`levy_stieltjes` returns.
Symmetry: ``y(-conj z) = conj y(z)``, so only Re z >= 0 is solved.

Closed forms and limits, used as checks:
* z = 0: ``y(0)^2 = 2 / (alpha Gamma(a) Gamma(1-a))`` and
  ``rho(0) = Gamma(1 + 2/alpha) (Gamma(1+a) / Gamma(1-a))^(1/alpha) / pi`` (alpha = 1: 1/pi).
* alpha -> 2: ``Gamma(1-a) -> inf`` and the equation tends to ``s = -1/(z + sigma^2 s)``,
  ``sigma^2 = Gamma(1 - alpha/2)``: ``sigma rho(sigma x)`` tends to the semicircle
  ``sqrt(4 - x^2) / (2 pi)``. (The variance of the entries truncated at the scale a_N,
  N E[H^2; |H| < 1] -> alpha/(2 - alpha), agrees to leading order.)

Numerics. The integrals run along a ray ``u = r e^(i theta)``, theta in (0, pi - arg z),
chosen per point to minimise the phase swept before the integrand decays (the straight
line of steepest descent of the linear term ``i z u`` at large |z|, of ``y u^a`` near 0),
by double-exponential quadrature in log r. ``y`` solves the fixed point by damped Newton
kept inside the sector, continued from ``Im z = 20 max(1, sigma)`` (where
``y ~ (i/z)^a``) down to the requested Im z (0 on the real axis), each point with its own
adaptive steps; the answer is re-checked on a grid twice as fine. Failure raises
:class:`~esd.exceptions.ConvergenceError` naming the point and the residual.
"""

from __future__ import annotations

from math import gamma as gamma_fn, pi, sin, sqrt
from numbers import Integral, Real

import numpy as np

from esd.exceptions import ConvergenceError, InvalidParameter

__all__ = ["levy_scale", "levy_y", "levy_stieltjes", "levy_density"]

# Newton: converged when |F(y) - y| <= _TOL |y|; the quadrature itself is good to ~1e-15.
_TOL = 1e-13
_MAX_NEWTON = 30
_MAX_BACKTRACK = 20
# Quadrature in t, r = r_s exp(t - e^-t): step 1/16 at level 0, halved per level.
_H0 = 1.0 / 16.0
_MAX_LEVEL = 3
# The integrand is followed until its exponent reaches -_DECAY.
_DECAY = 40.0
# Continuation: first Im z (in units of the law's scale), step ratio, and the smallest Im z
# reached before the jump to the target; failed points halve their step (in log Im z).
_ETA_START = 20.0
_ETA_RATIO = 0.25
_ETA_FLOOR = 1e-3
_MAX_REFINE = 12
# |z| below which z is solved as z = 0 (closed form).
_Z_ZERO = 1e-13
# Points solved together (bounds the work arrays).
_CHUNK = 256
# Rays tried, and points per ray used to measure the phase it sweeps.
_N_RAYS = 16
_N_PROBE = 32


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < alpha < 2.0:
        raise InvalidParameter("alpha", alpha, "must be a real number in the open interval (0, 2)")
    return float(alpha)


def levy_scale(n, alpha) -> float:
    """``a_N = (2 C_alpha N)^(1/alpha)``: the normalisation of a Lévy matrix of size N.

    For entries S standard symmetric alpha-stable, ``P(|S| > t) ~ 2 C_alpha t^-alpha`` with
    ``C_alpha = Gamma(alpha) sin(pi alpha / 2) / pi``, so ``N P(|S| > a_N t) -> t^-alpha``.
    alpha = 1 (standard Cauchy): ``2 N / pi``.
    """
    alpha = _check_alpha(alpha)
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise InvalidParameter("n", n, "must be an integer >= 1")
    c_alpha = gamma_fn(alpha) * sin(0.5 * pi * alpha) / pi
    return float((2.0 * c_alpha * int(n)) ** (1.0 / alpha))


# -- quadrature --------------------------------------------------------------------------------
def _ray(z, y, a, c):
    """Per point, the ray (as delta below), the scale r_s where the exponent is O(1), and
    the radius r_end where its real part first reaches -_DECAY.

    Exponent along u = r e^(i theta): ``A r + B r^a`` with ``A = i z e^(i theta)``,
    ``B = -c y e^(i a theta)``. Among _N_RAYS angles in (0, pi - arg z) (all valid: the
    linear term decays on them) and the steepest-descent ray of the linear term, keep those
    with no hump above e^1 before r_end and take the one sweeping the least phase.
    """
    # The steepest-descent ray of i z u, theta = pi/2 - arg z, is always a candidate: there
    # exp(i z u) is real, so Im s ~ |s| |z|^-alpha (far tails) is summed without cancellation.
    # Rays are labelled by delta = arg z + theta - pi/2 (A = -|z| e^(i delta)), exactly 0 for
    # that one: e^(i theta) itself would leave a spurious phase of 1e-16.
    frac = (np.arange(_N_RAYS) + 0.5) / _N_RAYS
    argz = np.angle(z)
    delta = np.concatenate([(pi - argz)[:, None] * frac[None, :] + (argz - 0.5 * pi)[:, None],
                            np.zeros((z.size, 1))], axis=1)
    A = -np.abs(z)[:, None] * np.exp(1j * delta)
    theta = delta + (0.5 * pi - argz)[:, None]
    B = -c * y[:, None] * np.exp(1j * a * theta)
    r_a = 1.0 / np.abs(z)
    r_b = (1.0 / (c * np.abs(y))) ** (1.0 / a)
    r_s = np.minimum(r_a, r_b)
    r_max = np.maximum(1.5 * _DECAY * r_a, (1.5 * _DECAY) ** (1.0 / a) * r_b)
    probe = np.linspace(0.0, 1.0, _N_PROBE)
    rr = (1e-2 * r_s)[:, None] * ((r_max / (1e-2 * r_s))[:, None] ** probe[None, :])
    expo = A[..., None] * rr[:, None, :] + B[..., None] * rr[:, None, :] ** a
    decayed = expo.real <= -_DECAY
    first = np.where(decayed.any(-1), decayed.argmax(-1), _N_PROBE - 1)
    before = np.arange(_N_PROBE)[None, None, :] <= first[..., None]
    phase = np.sum(np.abs(np.diff(expo.imag, axis=-1, prepend=0.0)) * before, axis=-1)
    hump = np.max(np.where(before, expo.real, -np.inf), axis=-1)
    cost = np.where(decayed.any(-1) & (hump < 1.0), phase, np.inf)
    best = np.argmin(cost, axis=1)
    rows = np.arange(z.size)
    return delta[rows, best], r_s, rr[rows, first[rows, best]]


def _integrals(y, z, a, c, level):
    """F(y) (the right side for y), dF/dy and s, for points with Re z >= 0, z != 0."""
    delta, r_s, r_end = _ray(z, y, a, c)
    argz = np.angle(z)
    theta = delta + 0.5 * pi - argz
    h = _H0 / 2 ** level
    # r = r_s exp(t - e^-t): r^a falls below e^-_DECAY by t_lo; r_end is passed by t_hi.
    t_lo = -np.log(_DECAY / a + 1.0) - 0.5
    t_hi = float(np.max(np.log(r_end / r_s))) + 1.0
    t = np.arange(t_lo, t_hi + 0.5 * h, h)
    dlog = h * (1.0 + np.exp(-t))                      # dr / r
    r = r_s[:, None] * np.exp(t - np.exp(-t))[None, :]
    ra = r ** a
    lin = -np.abs(z)[:, None] * np.exp(1j * delta)[:, None]     # i z e^(i theta)
    b = -c * np.exp(1j * a * theta)[:, None]
    e = np.exp(lin * r + b * y[:, None] * ra) * dlog[None, :]
    pre = np.exp(1j * a * theta) / gamma_fn(a)
    f_val = pre * np.sum(ra * e, axis=1)               # u^(a-1) du = r^a dr/r
    df = pre * np.sum(b * ra * ra * e, axis=1)
    s = -np.exp(1j * (delta - argz)) * np.sum(r * e, axis=1)   # i e^(i theta) = -e^(i (delta - arg z))
    return f_val, df, s


def _newton(y, z, a, c, level):
    """Damped Newton on y = F(y), kept inside the sector |arg y| < pi a / 2."""
    f_val, df, s = _integrals(y, z, a, c, level)
    res = f_val - y
    for _ in range(_MAX_NEWTON):
        done = np.abs(res) <= _TOL * np.abs(y)
        if done.all():
            break
        step = np.where(done, 0.0, res / (df - 1.0))
        lam = np.ones(z.size)
        moved = done.copy()
        for _ in range(_MAX_BACKTRACK):
            trial = y - lam * step
            inside = np.abs(np.angle(trial)) < 0.5 * pi * a
            trial = np.where(inside & ~moved, trial, y)
            f_t, df_t, s_t = _integrals(trial, z, a, c, level)
            res_t = f_t - trial
            good = inside & ~moved & (np.abs(res_t) < np.abs(res))
            y, f_val, df = np.where(good, trial, y), np.where(good, f_t, f_val), np.where(good, df_t, df)
            s, res = np.where(good, s_t, s), np.where(good, res_t, res)
            moved |= good
            if moved.all():
                break
            lam = np.where(moved, lam, 0.5 * lam)
        if not (moved & ~done).any():
            break
    return y, s, np.abs(res), np.abs(res) <= _TOL * np.abs(y)


def _solve(z, alpha):
    """(y, s) at points z with Re z >= 0, Im z >= 0, z != 0 (arrays), or ConvergenceError."""
    a = 0.5 * alpha
    c = gamma_fn(1.0 - a)
    scale = max(1.0, sqrt(c))
    x, target = z.real, z.imag
    eta = np.maximum(_ETA_START * scale, target)        # last Im z solved, per point
    y, s, res, ok = _newton((1j / (x + 1j * eta)) ** a, x + 1j * eta, a, c, 0)
    if not ok.all():
        k = np.flatnonzero(~ok)[0]
        raise ConvergenceError("Lévy y(z) at the start of the continuation", complex(x[k] + 1j * eta[k]),
                               float(res[k]), _MAX_NEWTON)
    ratio = np.full(z.size, _ETA_RATIO)
    floor = np.full(z.size, _ETA_FLOOR * scale)
    refinements = np.zeros(z.size, dtype=int)
    done = eta <= target
    while not done.all():
        idx = np.flatnonzero(~done)
        nxt = eta[idx] * ratio[idx]
        jump = (nxt <= floor[idx]) | (nxt <= target[idx])
        nxt = np.where(jump, target[idx], nxt)
        y_n, s_n, res_n, ok = _newton(y[idx], x[idx] + 1j * nxt, a, c, 0)
        good = idx[ok]
        y[good], s[good], eta[good] = y_n[ok], s_n[ok], nxt[ok]
        done[good] = jump[ok]
        ratio[good] = np.maximum(ratio[good] ** 2, _ETA_RATIO)   # lengthen again after a success
        # A failed step is retried shorter (in log Im z); a failed final jump lowers the floor.
        bad = idx[~ok]
        floor[bad[jump[~ok]]] *= 0.1
        ratio[bad[~jump[~ok]]] = np.sqrt(ratio[bad[~jump[~ok]]])
        refinements[bad] += 1
        if bad.size and refinements[bad].max() > _MAX_REFINE:
            k = np.argmax(refinements[bad])
            raise ConvergenceError("Lévy y(z) continuation towards the real axis", complex(z[bad[k]]),
                                   float(res_n[~ok][k]), _MAX_NEWTON,
                                   f"{_MAX_REFINE} step refinements, last Im z = {eta[bad[k]]:.3g}")
    return _polish(y, s, z, a, c)


def _polish(y, s, z, a, c):
    """Check the solution on finer quadrature grids; raise if it moves or the branch is wrong."""
    for level in range(1, _MAX_LEVEL + 1):
        f_val, _, s_fine = _integrals(y, z, a, c, level)
        off = np.abs(f_val - y) > 10.0 * _TOL * np.abs(y)
        s = np.where(off, s, s_fine)
        if not off.any():
            break
        y_n, s_n, res_n, ok = _newton(y[off], z[off], a, c, level)
        y[off], s[off] = y_n, s_n
        if level == _MAX_LEVEL and not ok.all():
            k = np.flatnonzero(~ok)[0]
            raise ConvergenceError("Lévy y(z) quadrature refinement", complex(z[off][k]),
                                   float(res_n[k]), _MAX_NEWTON)
    # physical branch: y in the sector (Newton keeps it there), density >= 0
    wrong = s.imag < -1e-12 * np.abs(s)
    if wrong.any():
        k = np.flatnonzero(wrong)[0]
        raise ConvergenceError("Lévy y(z)", complex(z[k]), float(-s[k].imag), 0,
                               "reached a branch with Im s < 0")
    return y, s


def _evaluate(z, alpha):
    """(y, s) for z in the closed upper half-plane (any shape), by symmetry from Re z >= 0."""
    a = 0.5 * alpha
    c = gamma_fn(1.0 - a)
    flat = z.ravel()
    flip = flat.real < 0.0
    w = np.where(flip, -np.conj(flat), flat)
    y = np.empty(w.size, dtype=complex)
    s = np.empty(w.size, dtype=complex)
    # y and s are analytic at z = 0 with O(1) derivatives (the law's scale is O(1)), so below
    # _Z_ZERO the closed form is exact to ~1e-13, where the rays' scale 1/|z| would overflow.
    zero = np.abs(w) <= _Z_ZERO
    y0 = sqrt(2.0 / (alpha * gamma_fn(a) * c))
    y[zero] = y0
    s[zero] = 1j * gamma_fn(1.0 + 2.0 / alpha) / (c * y0) ** (2.0 / alpha)
    # chunks bound the (points x quadrature nodes) work arrays
    todo = np.flatnonzero(~zero)
    for start in range(0, todo.size, _CHUNK):
        part = todo[start:start + _CHUNK]
        y[part], s[part] = _solve(w[part], alpha)
    y = np.where(flip, np.conj(y), y)
    s = np.where(flip, -np.conj(s), s)
    return y.reshape(z.shape), s.reshape(z.shape)


def _as_upper(z) -> np.ndarray:
    try:
        arr = np.asarray(z, dtype=complex)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("z", z, "must be complex numbers with Im z >= 0") from exc
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter("z", z, "must be finite (no NaN or inf)")
    if np.any(arr.imag < 0.0):
        raise InvalidParameter("z", z, "must have Im z >= 0 (real z means the boundary value z + i0); "
                               "use conj(G(conj z)) below the axis")
    return arr


def levy_y(z, alpha) -> np.ndarray:
    """The order parameter ``y(z) = E[(-i R(z))^(alpha/2)]`` for Im z >= 0 (real z: z + i0)."""
    alpha = _check_alpha(alpha)
    return _evaluate(_as_upper(z), alpha)[0]


def levy_stieltjes(z, alpha) -> np.ndarray:
    """``G(z) = int rho(t) / (z - t) dt = -s(z)`` (Pennington's sign: Im G < 0 in C+).

    z in the closed upper half-plane; real z gives the boundary value G(x + i0), whose
    imaginary part is ``-pi rho(x)``.
    """
    alpha = _check_alpha(alpha)
    return -_evaluate(_as_upper(z), alpha)[1]


def levy_density(x, alpha) -> np.ndarray:
    """Density ``rho(x) = Im s(x + i0) / pi`` of the limiting Lévy-matrix spectrum (even in x).

    Vectorised over x (about 0.15 s per 200 points).

    Examples
    --------
    >>> np.round(levy_density([0.0, 1.0, 2.0], 1.0), 6)   # Cauchy entries; rho(0) = 1/pi
    array([0.31831 , 0.130005, 0.066041])
    """
    alpha = _check_alpha(alpha)
    try:
        xa = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("x", x, "must be real numbers") from exc
    if np.iscomplexobj(np.asarray(x)) or not np.all(np.isfinite(xa)):
        raise InvalidParameter("x", x, "must be finite real numbers")
    return _evaluate(np.abs(xa).astype(complex), alpha)[1].imag / pi
