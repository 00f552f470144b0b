"""Numba kernels of the light-tailed Jacobian solver (THEORY.md §3.3).

Private: they take float64/complex128 arrays and scalars, never validate, never raise,
and report failure through status codes. The public API in :mod:`esd.jacobian`
validates inputs, calls them and turns codes into errors.

Layout of the slope laws: G groups (distinct layers), group g has nodes
``atoms[off[g]:off[g+1]]`` with weights, a trapezoid step ``hz[g]`` (0 for exact
atoms), ``sq[g] = sqrt(q_g)``, pole code and parameters, and multiplicity ``mult[g]``.

Unknowns: m = M_{JJ^T}(z) and w_g. Equations, in logs (principal branches; on the
physical branch every factor stays in its half plane so no 2 pi i ambiguity arises):
  gaussian:   log(1+m) + (L-1) log m + C + sum_g mult_g log w_g = log z
  orthogonal: (1-L) log(1+m) + (L-1) log m + C + sum_g mult_g log w_g = log z
  and M_g(w_g) = E[d_g / (w_g - d_g)] = m for every g,   C = sum_l log sigma_{w,l}^2.
"""

from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit

from . import config

OK = 0
NOT_CONVERGED = 1
WRONG_BRANCH = 2
NOT_FINITE = 3

_TWO_PI_I = 2j * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BAND = 6.0   # poles within _BAND * hz of the real z axis are corrected exactly
_TOL = config.NEWTON_TOL
_MAXIT = config.NEWTON_MAX_ITER
_MAXBT = config.MAX_BACKTRACK
_BRANCH_TOL = config.BRANCH_TOL


@njit(cache=True, error_model="numpy")
def _pole_terms(zj, R, dRdz, dzdw, hz):
    """Trapezoid error of a simple pole at zj with residue R, and its w-derivative.

    For f = R/(x - zj) the full-line trapezoid sum with step hz exceeds the integral by
    E(zj) = 2 pi i Q/(1-Q), Q = exp(2 pi i zj/hz) (Im zj > 0), or -2 pi i P/(1-P),
    P = exp(-2 pi i zj/hz) (Im zj < 0); dE/dzj = -(4 pi^2/hz) Q/(1-Q)^2 in both cases.
    """
    if zj.imag > 0:
        Q = cmath.exp(_TWO_PI_I * zj / hz)
        E = _TWO_PI_I * Q / (1.0 - Q)
    else:
        Q = cmath.exp(-_TWO_PI_I * zj / hz)
        E = -_TWO_PI_I * Q / (1.0 - Q)
    dE = -(4.0 * math.pi ** 2 / hz) * Q / ((1.0 - Q) * (1.0 - Q))
    corr = R * E
    dcorr = (dRdz * E + R * dE) * dzdw
    return corr, dcorr


@njit(cache=True, error_model="numpy")
def _sech4_correction(w, hz, sq, A, b):
    """Pole corrections for d(h) = A sech(b h)^4, h = sqrt(q) z."""
    s = b * sq
    band = _BAND * hz * s          # band in u = s z
    c0 = (A / w) ** 0.25
    corr = 0j
    dcorr = 0j
    for which in range(2):
        c = c0 if which == 0 else 1j * c0
        u0 = cmath.acosh(c)
        for sign in (1.0, -1.0):
            us = sign * u0
            n_lo = math.ceil((-band - us.imag) / math.pi)
            n_hi = math.floor((band - us.imag) / math.pi)
            for n in range(n_lo, n_hi + 1):
                u = us + 1j * math.pi * n
                zj = u / s
                T = cmath.tanh(u)
                phi = _INV_SQRT_2PI * cmath.exp(-0.5 * zj * zj)
                R = phi / (4.0 * s * T)
                dRdz = phi / (4.0 * s) * (-zj / T - s * (1.0 - T * T) / (T * T))
                dzdw = -1.0 / (4.0 * s * w * T)
                c1, c2 = _pole_terms(zj, R, dRdz, dzdw, hz)
                corr += c1
                dcorr += c2
    return corr, dcorr


@njit(cache=True, error_model="numpy")
def _gauss_correction(w, hz, sq, A, C):
    """Pole corrections for d(h) = A exp(-C h^2), h = sqrt(q) z."""
    band = _BAND * hz
    lg = cmath.log(A / w)
    kmax = int(C * (band * sq) ** 2 / math.pi) + 2
    corr = 0j
    dcorr = 0j
    for k in range(-kmax, kmax + 1):
        h0 = cmath.sqrt((lg + _TWO_PI_I * k) / C)
        for sign in (1.0, -1.0):
            h = sign * h0
            zj = h / sq
            if abs(zj.imag) >= band:
                continue
            phi = _INV_SQRT_2PI * cmath.exp(-0.5 * zj * zj)
            R = phi / (2.0 * C * sq * h)
            dRdz = phi * (-zj * zj - 1.0) / (2.0 * C * sq * sq * zj * zj)
            dzdw = -1.0 / (2.0 * C * sq * h * w)
            c1, c2 = _pole_terms(zj, R, dRdz, dzdw, hz)
            corr += c1
            dcorr += c2
    return corr, dcorr


@njit(cache=True, error_model="numpy")
def slope_M(w, atoms, weights, hz, sq, code, p1, p2):
    """M_d(w) = E[d/(w - d)] and dM/dw for one slope law (trapezoid + pole correction)."""
    M = 0j
    dM = 0j
    for k in range(atoms.shape[0]):
        a = atoms[k]
        if a == 0.0:
            continue
        r = 1.0 / (w - a)
        t = weights[k] * a * r
        M += t
        dM -= t * r
    if code == 1:
        c1, c2 = _sech4_correction(w, hz, sq, p1, p2)
        M -= c1
        dM -= c2
    elif code == 2:
        c1, c2 = _gauss_correction(w, hz, sq, p1, p2)
        M -= c1
        dM -= c2
    return M, dM


@njit(cache=True, error_model="numpy")
def _residual(t, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, Mw, dMw):
    """Fill Mw, dMw for every group; return (f, residual norm)."""
    G = w.shape[0]
    if orth:
        f = (1.0 - L) * cmath.log(1.0 + m) + (L - 1.0) * cmath.log(m) + C - t
    else:
        f = cmath.log(1.0 + m) + (L - 1.0) * cmath.log(m) + C - t
    r = 0.0
    for g in range(G):
        a = atoms[off[g]:off[g + 1]]
        p = weights[off[g]:off[g + 1]]
        M, dM = slope_M(w[g], a, p, hz[g], sq[g], code[g], p1[g], p2[g])
        Mw[g] = M
        dMw[g] = dM
        f += mult[g] * cmath.log(w[g])
        e = abs(M - m) / abs(m)
        if e > r:
            r = e
    af = abs(f)
    if af > r:
        r = af
    return f, r


@njit(cache=True, error_model="numpy")
def newton(t, m0, w0, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, upper):
    """Newton on the arrow system at log z = t from (m0, w0), with backtracking.

    Returns (m, w, residual, iterations, status). ``upper`` asks for the branch check of
    the closed upper half plane: Im m <= 0 and Im w_g >= 0 (up to a tolerance).
    """
    G = w0.shape[0]
    m = m0
    w = w0.copy()
    Mw = np.empty(G, dtype=np.complex128)
    dMw = np.empty(G, dtype=np.complex128)
    f, r = _residual(t, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, Mw, dMw)
    dw = np.empty(G, dtype=np.complex128)
    wt = np.empty(G, dtype=np.complex128)
    it = 0
    scale = 1.0 + abs(t)
    while it < _MAXIT:
        if not (r == r) or r < _TOL * scale:
            break
        it += 1
        if orth:
            dA = (1.0 - L) / (1.0 + m) + (L - 1.0) / m
        else:
            dA = 1.0 / (1.0 + m) + (L - 1.0) / m
        num = f
        den = dA
        for g in range(G):
            k = mult[g] / (w[g] * dMw[g])
            num -= k * (Mw[g] - m)
            den += k
        dm = -num / den
        for g in range(G):
            dw[g] = (dm - (Mw[g] - m)) / dMw[g]
        lam = 1.0
        accepted = False
        for _ in range(_MAXBT):
            mt = m + lam * dm
            for g in range(G):
                wt[g] = w[g] + lam * dw[g]
            ft, rt = _residual(t, mt, wt, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C,
                               orth, Mw, dMw)
            if rt == rt and rt < r:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            # Recompute Mw, dMw at the current point (the trials overwrote them).
            f, r = _residual(t, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C,
                             orth, Mw, dMw)
            break
        small = abs(lam * dm) <= 4e-16 * abs(mt)
        m = mt
        for g in range(G):
            small = small and abs(lam * dw[g]) <= 4e-16 * abs(wt[g])
            w[g] = wt[g]
        f, r = ft, rt
        if small:
            break
    status = OK
    if not (r == r) or not (m == m):
        status = NOT_FINITE
    elif r > 1e-10 * scale:
        status = NOT_CONVERGED
    elif upper:
        if m.imag > _BRANCH_TOL * abs(m):
            status = WRONG_BRANCH
        for g in range(G):
            if w[g].imag < -_BRANCH_TOL * abs(w[g]):
                status = WRONG_BRANCH
    return m, w, r, it, status


@njit(cache=True, error_model="numpy")
def initial_guess(t, mu1, log_m1, G):
    """Large-|z| asymptotics: m ~ m_1/z, w_g ~ mu_1,g/m (the physical branch at infinity)."""
    m = cmath.exp(log_m1 - t)
    w = np.empty(G, dtype=np.complex128)
    for g in range(G):
        w[g] = mu1[g] / m + 0.0j
    return m, w


@njit(cache=True, error_model="numpy")
def continue_path(t0, t1, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, nsteps):
    """Follow the solution from log z = t0 (where (m, w) solves) to t1 on a straight line.

    Steps that fail (no convergence or wrong branch) are halved; successful steps grow.
    Returns (m, w, residual, status) at t1.
    """
    s = 0.0
    h = 1.0 / nsteps
    halvings = 0
    r = 0.0
    while s < 1.0:
        if s + h > 1.0:
            h = 1.0 - s
        tt = t0 + (s + h) * (t1 - t0)
        m2, w2, r2, it, st = newton(tt, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L,
                                    C, orth, True)
        if st == OK:
            m = m2
            w = w2
            r = r2
            s += h
            if it <= 4:
                h *= 2.0
        else:
            h *= 0.5
            halvings += 1
            if halvings > config.MAX_PATH_HALVINGS * 8 or h < 1e-12:
                return m, w, r2, st
    return m, w, r, OK


@njit(cache=True, error_model="numpy")
def solve_from_infinity(t, mu1, log_m1, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth):
    """Solve at log z = t, Im t in [0, pi), by continuation from |z| = huge.

    Path: from Re t_a = max(log m_1, Re t) + 14 at Im t_a = pi/2 straight to Re t at
    Im pi/2, then vertically down to Im t. The start is the asymptotic branch.
    """
    ta = complex(max(log_m1, t.real) + 14.0, 0.5 * math.pi)
    m, w = initial_guess(ta, mu1, log_m1, mu1.shape[0])
    m, w, r, it, st = newton(ta, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, True)
    if st != OK:
        return m, w, r, st
    tb = complex(t.real, 0.5 * math.pi)
    m, w, r, st = continue_path(ta, tb, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C,
                                orth, 16)
    if st != OK:
        return m, w, r, st
    return continue_path(tb, t, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth, 16)


@njit(cache=True, error_model="numpy")
def solve_points(ts, mu1, log_m1, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth):
    """Solve at each log z = ts[k] (Im t in [0, pi)) independently, from infinity."""
    n = ts.shape[0]
    G = mu1.shape[0]
    ms = np.empty(n, dtype=np.complex128)
    ws = np.empty((n, G), dtype=np.complex128)
    res = np.empty(n)
    status = np.empty(n, dtype=np.int64)
    for k in range(n):
        m, w, r, st = solve_from_infinity(ts[k], mu1, log_m1, atoms, weights, off, hz, sq, code, p1,
                                          p2, mult, L, C, orth)
        ms[k] = m
        ws[k] = w
        res[k] = r
        status[k] = st
    return ms, ws, res, status


@njit(cache=True, error_model="numpy")
def solve_real_axis(logx, delta, mu1, log_m1, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C, orth):
    """Solve at z = x + i0 for x = exp(logx[k]), logx sorted decreasing.

    Continues along Im log z = delta with warm starts (falling back to a path from the
    previous point, then from infinity), then polishes each point with Newton exactly on
    the real axis. ``polished[k]`` is False where the polish did not take (edges), and
    the value at Im log z = delta is kept.
    """
    n = logx.shape[0]
    G = mu1.shape[0]
    ms = np.empty(n, dtype=np.complex128)
    ws = np.empty((n, G), dtype=np.complex128)
    res = np.empty(n)
    status = np.empty(n, dtype=np.int64)
    polished = np.zeros(n, dtype=np.bool_)
    m = 0j
    w = np.empty(G, dtype=np.complex128)
    have = False
    tprev = 0j
    for k in range(n):
        t = complex(logx[k], delta)
        st = NOT_CONVERGED
        r = np.inf
        if have:
            m2, w2, r, it, st = newton(t, m, w, atoms, weights, off, hz, sq, code, p1, p2, mult, L, C,
                                       orth, True)
            if st != OK:
                m2, w2, r, st = continue_path(tprev, t, m, w, atoms, weights, off, hz, sq, code, p1,
                                              p2, mult, L, C, orth, 4)
        if st != OK:
            m2, w2, r, st = solve_from_infinity(t, mu1, log_m1, atoms, weights, off, hz, sq, code,
                                                p1, p2, mult, L, C, orth)
        status[k] = st
        if st != OK:
            ms[k] = m2
            ws[k] = w2
            res[k] = r
            have = False
            continue
        m = m2
        w = w2
        have = True
        tprev = t
        # Polish on the real axis; accept only a nearby root with the right signs.
        m3, w3, r3, it3, st3 = newton(complex(logx[k], 0.0), m, w, atoms, weights, off, hz, sq, code,
                                      p1, p2, mult, L, C, orth, True)
        if st3 == OK and abs(m3 - m) <= 1e-3 * (abs(m) + 1e-300):
            ms[k] = m3
            ws[k] = w3
            res[k] = r3
            polished[k] = True
        else:
            ms[k] = m
            ws[k] = w
            res[k] = r
    return ms, ws, res, status, polished


@njit(cache=True, error_model="numpy")
def slope_M_batch(ws, atoms, weights, hz, sq, code, p1, p2):
    """M_d at many w (for tests and the edge search)."""
    out = np.empty(ws.shape[0], dtype=np.complex128)
    dout = np.empty(ws.shape[0], dtype=np.complex128)
    for k in range(ws.shape[0]):
        out[k], dout[k] = slope_M(ws[k], atoms, weights, hz, sq, code, p1, p2)
    return out, dout


@njit(cache=True, error_model="numpy")
def w_of_m_real(m, atoms, weights, hz, sq, code, p1, p2, p_nonzero, d_max, d_min_pos):
    """Real w with M_d(w) = m, for real m: w > d_max (m > 0), w < 0 (-p < m < 0), or
    0 < w < d_min_pos (m < -p, only if the positive slopes have a gap above 0).
    Bisection on a log coordinate (M_d is decreasing on each interval). NaN if none.
    """
    if m > 0:
        base, sgn = d_max, 1.0
    elif m > -p_nonzero:
        base, sgn = 0.0, -1.0
    else:
        if d_min_pos <= 0.0:
            return np.nan
        base, sgn = 0.0, 1.0
    lo, hi = -80.0, 80.0
    if base > 0.0:
        lo = math.log(1e-15 * base)
    if m <= -p_nonzero:
        hi = math.log(d_min_pos)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        wv = base + sgn * math.exp(mid)
        M, dM = slope_M(complex(wv, 0.0), atoms, weights, hz, sq, code, p1, p2)
        # M decreases in w on each interval; w increases with mid iff sgn > 0.
        if (M.real > m) == (sgn > 0):
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15 * max(1.0, abs(mid)):
            break
    return base + sgn * math.exp(0.5 * (lo + hi))
