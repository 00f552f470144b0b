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
from numba import get_num_threads, njit, prange

from . import config

OK = 0
NOT_CONVERGED = 1
WRONG_BRANCH = 2
NOT_FINITE = 3

_TWO_PI_I = 2j * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BAND = 6.0   # poles within _BAND * hz of the real z axis are corrected exactly
_TOL = config.NEWTON_TOL
_FLOOR = config.NEWTON_FLOOR
_ACCEPT = config.NEWTON_ACCEPT
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
def _sech4_correction(w, hz, sq, A, b, floor):
    """Pole corrections for d(h) = A sech(b h)^4, h = sqrt(q) z.

    The poles solve cosh(u)^4 = A/w, u = b h: u = +-acosh(c) + i pi n for c = c0, i c0,
    c0 = (A/w)^(1/4). Poles at -z mirror those at z with the same contribution (phi is
    even, tanh and E are odd), so only +acosh(c) is summed, twice. tanh(u) is the same
    for every n.
    """
    s = b * sq
    band = _BAND * hz
    c0 = (A / w) ** 0.25
    corr = 0j
    dcorr = 0j
    for which in range(2):
        c = c0 if which == 0 else 1j * c0
        u0 = cmath.acosh(c)
        T = cmath.sqrt(c - 1.0) * cmath.sqrt(c + 1.0) / c
        dzdw = -1.0 / (4.0 * s * w * T)
        k1 = 1.0 / (4.0 * s * T)
        k2 = s * (1.0 - T * T) / (T * T)
        n_lo = math.ceil((-band * s - u0.imag) / math.pi)
        n_hi = math.floor((band * s - u0.imag) / math.pi)
        bound_k = 2.0 * math.pi * _INV_SQRT_2PI * abs(k1)
        for n in range(n_lo, n_hi + 1):
            zj = (u0 + 1j * math.pi * n) / s
            # |R E| from real exponentials: skip poles whose term is below the floor.
            y = abs(zj.imag)
            if bound_k * math.exp(-2.0 * math.pi * y / hz - 0.5 * (zj.real ** 2 - y * y)) < floor:
                continue
            phi = _INV_SQRT_2PI * cmath.exp(-0.5 * zj * zj)
            R = phi * k1
            dRdz = phi / (4.0 * s) * (-zj / T - k2)
            c1, c2 = _pole_terms(zj, R, dRdz, dzdw, hz)
            corr += c1
            dcorr += c2
    return 2.0 * corr, 2.0 * dcorr


@njit(cache=True, error_model="numpy")
def _gauss_correction(w, hz, sq, A, C, floor):
    """Pole corrections for d(h) = A exp(-C h^2), h = sqrt(q) z: the poles are
    h = +-sqrt((log(A/w) + 2 pi i k)/C); the mirror pole -h contributes the same."""
    band = _BAND * hz
    lg = cmath.log(A / w)
    kmax = int(C * (band * sq) ** 2 / math.pi) + 2
    corr = 0j
    dcorr = 0j
    for k in range(-kmax, kmax + 1):
        h = cmath.sqrt((lg + _TWO_PI_I * k) / C)
        zj = h / sq
        y = abs(zj.imag)
        if y >= band:
            continue
        bound = 2.0 * math.pi * _INV_SQRT_2PI / abs(2.0 * C * sq * h)
        if bound * math.exp(-2.0 * math.pi * y / hz - 0.5 * (zj.real ** 2 - y * y)) < floor:
            continue
        phi = _INV_SQRT_2PI * cmath.exp(-0.5 * zj * zj)
        R = phi / (2.0 * C * sq * h)
        dRdz = phi * (-zj * zj - 1.0) / (2.0 * C * sq * sq * zj * zj)
        dzdw = -1.0 / (2.0 * C * sq * h * w)
        c1, c2 = _pole_terms(zj, R, dRdz, dzdw, hz)
        corr += c1
        dcorr += c2
    return 2.0 * corr, 2.0 * dcorr


@njit(cache=True, error_model="numpy")
def slope_M(w, atoms, weights, ncore, hz, sq, code, p1, p2):
    """M_d(w) = E[d/(w - d)], V_d(w) = E[w/(w - d)] = 1 + M_d(w), and dM/dw, for one slope
    law (trapezoid + pole correction). V is summed directly so that 1 + m keeps its
    relative precision when m -> -1 (the bottom of the spectrum)."""
    # Real arithmetic: complex division in the hot loop costs several times more.
    wr = w.real
    wi = w.imag
    Mr = 0.0
    Mi = 0.0
    Vr = 0.0
    Vi = 0.0
    dr_ = 0.0
    di_ = 0.0
    n = atoms.shape[0]
    if not (abs(w) < 1e300):
        nan = complex(np.nan, np.nan)
        return nan, nan, nan
    if abs(w) > 1e100:
        # Far above the spectrum: (w - a)^2 would overflow; scaled complex division.
        M = 0j
        V = 0j
        dM = 0j
        for k in range(n):
            r = 1.0 / (w - atoms[k])
            t = weights[k] * atoms[k] * r
            M += t
            V += weights[k] * w * r
            dM -= t * r
        return M, V, dM
    for k in range(n):
        if k == ncore and Vr * Vr + Vi * Vi > 1e-4:
            # The tail nodes (|z| > 9) only matter near the bottom of the spectrum,
            # where w -> 0 and V = 1 + M is small.
            break
        a = atoms[k]
        p = weights[k]
        if a == 0.0:
            Vr += p
            continue
        xr = wr - a
        den = 1.0 / (xr * xr + wi * wi)
        rr = xr * den          # r = 1/(w - a)
        ri = -wi * den
        pa = p * a
        tr = pa * rr
        ti = pa * ri
        Mr += tr
        Mi += ti
        Vr += p * (wr * rr - wi * ri)
        Vi += p * (wr * ri + wi * rr)
        dr_ -= tr * rr - ti * ri
        di_ -= tr * ri + ti * rr
    M = complex(Mr, Mi)
    V = complex(Vr, Vi)
    dM = complex(dr_, di_)
    # Pole terms below 1e-17 of the node sums are below rounding: skip them. (V, not M,
    # is the small one near the bottom of the spectrum.)
    floor = 1e-17 * min(abs(M), abs(V))
    if code == 1:
        c1, c2 = _sech4_correction(w, hz, sq, p1, p2, floor)
    elif code == 2:
        c1, c2 = _gauss_correction(w, hz, sq, p1, p2, floor)
    else:
        c1, c2 = 0j, 0j
    return M - c1, V - c1, dM - c2


@njit(cache=True, error_model="numpy")
def _residual(t, x, use_v, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth, Cw, Aw):
    """Residuals in log form at the unknown x (= m, or v = 1 + m when ``use_v``) and w.

    Fills Cw[g] = log(M_g(w_g)/m) (or log(V_g/v)) and Aw[g] = d Cw[g] / d log w_g;
    returns (f, max-norm of all residuals).
    """
    G = w.shape[0]
    if use_v:
        v = x
        m = x - 1.0
    else:
        m = x
        v = 1.0 + x
    e1 = (1.0 - L) if orth else 1.0
    nan = complex(np.nan, np.nan)
    # Numba raises on complex division by zero whatever the error model: guard it.
    if m == 0 or v == 0:
        return nan, np.nan
    f = e1 * cmath.log(v) + (L - 1.0) * cmath.log(m) + C - t
    r = 0.0
    for g in range(G):
        a = atoms[off[g]:off[g + 1]]
        p = weights[off[g]:off[g + 1]]
        M, V, dM = slope_M(w[g], a, p, nc[g], hz[g], sq[g], code[g], p1[g], p2[g])
        if M == 0 or V == 0 or dM == 0 or w[g] == 0:
            return nan, np.nan
        if use_v:
            Cw[g] = cmath.log(V / v)
            Aw[g] = w[g] * dM / V
        else:
            Cw[g] = cmath.log(M / m)
            Aw[g] = w[g] * dM / M
        f += mult[g] * cmath.log(w[g])
        e = abs(Cw[g])
        if e > r:
            r = e
    af = abs(f)
    if af > r:
        r = af
    return f, r


@njit(cache=True, error_model="numpy")
def newton(t, m0, w0, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth, upper,
           maxit=_MAXIT):
    """Newton on the arrow system at log z = t from (m0, w0), with backtracking.

    Newton runs in log variables (log m or log(1 + m), log w_g), in which the equations
    are nearly linear at large |z| and for deep networks. The unknown is m, or
    v = 1 + m when the start is nearer -1 than 0 (both keep full relative precision).
    Returns (m, w, residual, iterations, status). ``upper`` asks for the branch check of
    the closed upper half plane: Im m <= 0 and Im w_g >= 0.
    """
    G = w0.shape[0]
    use_v = abs(1.0 + m0) < abs(m0)
    x = m0
    if use_v:
        # 1 + m0 has lost its digits when m0 ~ -1; V_0(w_0) = 1 + m at the solution keeps
        # them (w is stored to full relative precision).
        _, x, _ = slope_M(w0[0], atoms[off[0]:off[1]], weights[off[0]:off[1]], nc[0], hz[0], sq[0],
                          code[0], p1[0], p2[0])
    w = w0.copy()
    Cw = np.empty(G, dtype=np.complex128)
    Aw = np.empty(G, dtype=np.complex128)
    f, r = _residual(t, x, use_v, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth,
                     Cw, Aw)
    dw = np.empty(G, dtype=np.complex128)
    wt = np.empty(G, dtype=np.complex128)
    it = 0
    e1 = (1.0 - L) if orth else 1.0
    while it < maxit:
        # Rounding floor of f: the size of the log terms it sums.
        scale = 1.0 + abs(t) + (L - 1.0) * abs(cmath.log(x)) + abs(C)
        if not (r == r) or r < _TOL * scale:
            break
        it += 1
        if use_v:
            fl = e1 + (L - 1.0) * x / (x - 1.0)
        else:
            fl = e1 * x / (1.0 + x) + (L - 1.0)
        num = f
        den = fl
        for g in range(G):
            num -= mult[g] * Cw[g] / Aw[g]
            den += mult[g] / Aw[g]
        dl = -num / den
        for g in range(G):
            dw[g] = (dl - Cw[g]) / Aw[g]
        # Trust region in log variables: at most a factor e^2 per step (near an edge the
        # Jacobian is nearly singular and the raw step can overflow).
        big = abs(dl)
        for g in range(G):
            big = max(big, abs(dw[g]))
        lam = 1.0 if big <= 2.0 else 2.0 / big
        accepted = False
        for _ in range(_MAXBT):
            xt = x * cmath.exp(lam * dl)
            for g in range(G):
                wt[g] = w[g] * cmath.exp(lam * dw[g])
            ft, rt = _residual(t, xt, use_v, wt, atoms, weights, off, nc, hz, sq, code, p1, p2, mult,
                               L, C, orth, Cw, Aw)
            if rt == rt and rt < r:
                accepted = True
                break
            if r < _FLOOR * scale:
                break      # at the rounding floor: no step can do better
            lam *= 0.5
        if not accepted:
            # Recompute Cw, Aw at the current point (the trials overwrote them).
            f, r = _residual(t, x, use_v, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L,
                             C, orth, Cw, Aw)
            break
        small = abs(lam * dl) <= 4e-16
        x = xt
        for g in range(G):
            small = small and abs(lam * dw[g]) <= 4e-16
            w[g] = wt[g]
        f, r = ft, rt
        if small:
            break
    m = (x - 1.0) if use_v else x
    scale = 1.0 + abs(t) + (L - 1.0) * abs(cmath.log(x)) + abs(C)
    status = OK
    if not (r == r) or not (m == m):
        status = NOT_FINITE
    elif r > _ACCEPT * scale:
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
def continue_path(t0, t1, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth, nsteps):
    """Follow the solution from log z = t0 (where (m, w) solves) to t1 on a straight line.

    Predictor-corrector: a secant predictor from the last two points, a short Newton
    corrector; failed steps (no convergence in a few iterations, or wrong branch) are
    halved, easy ones doubled. Returns (m, w, residual, status) at t1.
    """
    s = 0.0
    h = 1.0 / nsteps
    halvings = 0
    r = 0.0
    G = w.shape[0]
    have_prev = False
    s_prev = 0.0
    m_prev = m
    w_prev = w.copy()
    wp = np.empty(G, dtype=np.complex128)
    while s < 1.0:
        if s + h > 1.0:
            h = 1.0 - s
        tt = t0 + (s + h) * (t1 - t0)
        if have_prev:
            # Secant predictor in log variables (the solution moves multiplicatively).
            c = h / (s - s_prev)
            mp = m * cmath.exp(c * cmath.log(m / m_prev))
            for g in range(G):
                wp[g] = w[g] * cmath.exp(c * cmath.log(w[g] / w_prev[g]))
        else:
            mp = m
            wp[:] = w
        m2, w2, r2, it, st = newton(tt, mp, wp, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L,
                                    C, orth, True, 10)
        if st == OK:
            s_prev, m_prev = s, m
            w_prev[:] = w
            have_prev = True
            m = m2
            w = w2
            r = r2
            s += h
            if it <= 3:
                h *= 2.0
        else:
            h *= 0.5
            halvings += 1
            if halvings > config.MAX_PATH_HALVINGS or h < 1e-7:
                return m, w, r2, st
    return m, w, r, OK


@njit(cache=True, error_model="numpy")
def solve_from_infinity(t, mu1, log_m1, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth):
    """Solve at log z = t, Im t in [0, pi), by continuation from |z| = huge.

    Path: from Re t_a = max(log m_1, Re t) + 14 at Im t_a = pi/2 straight to Re t at
    Im pi/2, then vertically down to Im t. The start is the asymptotic branch.
    """
    ta = complex(max(log_m1, t.real) + 14.0, 0.5 * math.pi)
    m, w = initial_guess(ta, mu1, log_m1, mu1.shape[0])
    m, w, r, it, st = newton(ta, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth, True)
    if st != OK:
        return m, w, r, st
    tb = complex(t.real, 0.5 * math.pi)
    m, w, r, st = continue_path(ta, tb, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C,
                                orth, 16)
    if st != OK:
        return m, w, r, st
    m, w, r, st = continue_path(tb, t, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C,
                                orth, 16)
    if st != OK:
        return m, w, r, st
    # The path's correctors stop early; finish to full precision.
    m2, w2, r2, it, st2 = newton(t, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth,
                                 True)
    if st2 == OK:
        return m2, w2, r2, OK
    return m, w, r, OK


@njit(cache=True, error_model="numpy")
def solve_points(ts, mu1, log_m1, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth):
    """Solve at each log z = ts[k] (Im t in [0, pi)) independently, from infinity."""
    n = ts.shape[0]
    G = mu1.shape[0]
    ms = np.empty(n, dtype=np.complex128)
    ws = np.empty((n, G), dtype=np.complex128)
    res = np.empty(n)
    status = np.empty(n, dtype=np.int64)
    for k in range(n):
        m, w, r, st = solve_from_infinity(ts[k], mu1, log_m1, atoms, weights, off, nc, hz, sq, code, p1,
                                          p2, mult, L, C, orth)
        ms[k] = m
        ws[k] = w
        res[k] = r
        status[k] = st
    return ms, ws, res, status


@njit(cache=True, error_model="numpy")
def solve_real_axis(logx, delta, mu1, log_m1, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C, orth):
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
    # The last (up to three) points solved exactly on the axis inside the bulk, newest
    # first: a Lagrange extrapolation from them predicts the next point.
    nb = 0
    hx = np.zeros(3)
    hm = np.zeros(3, dtype=np.complex128)
    hw = np.zeros((3, G), dtype=np.complex128)
    wp = np.empty(G, dtype=np.complex128)
    for k in range(n):
        # Fast path inside the bulk: Newton directly on the axis from the predictor,
        # accepted only if the root is clearly complex (a real root could be a spurious
        # real branch; those points take the careful path below).
        if nb >= 1:
            xk = logx[k]
            mp = 0j
            wp[:] = 0.0
            for i in range(nb):
                li = 1.0
                for j in range(nb):
                    if j != i:
                        li *= (xk - hx[j]) / (hx[i] - hx[j])
                mp += li * hm[i]
                for g in range(G):
                    wp[g] += li * hw[i, g]
            m3, w3, r3, it3, st3 = newton(complex(xk, 0.0), mp, wp, atoms, weights, off, nc, hz, sq,
                                          code, p1, p2, mult, L, C, orth, True)
            if st3 == OK and -m3.imag > 1e-6 * abs(m3) and abs(m3 - hm[0]) < 0.25 * abs(hm[0]):
                ms[k] = m3
                ws[k] = w3
                res[k] = r3
                status[k] = OK
                polished[k] = True
                m = m3
                w = w3.copy()
                have = True
                tprev = complex(xk, 0.0)
                for i in range(2, 0, -1):
                    hx[i] = hx[i - 1]
                    hm[i] = hm[i - 1]
                    hw[i] = hw[i - 1]
                hx[0] = xk
                hm[0] = m3
                hw[0] = w3
                if nb < 3 and hx[0] != hx[1]:
                    nb += 1
                continue
        t = complex(logx[k], delta)
        st = NOT_CONVERGED
        r = np.inf
        if have:
            m2, w2, r, it, st = newton(t, m, w, atoms, weights, off, nc, hz, sq, code, p1, p2, mult, L, C,
                                       orth, True)
            if st != OK:
                m2, w2, r, st = continue_path(tprev, t, m, w, atoms, weights, off, nc, hz, sq, code, p1,
                                              p2, mult, L, C, orth, 4)
        if st != OK:
            m2, w2, r, st = solve_from_infinity(t, mu1, log_m1, atoms, weights, off, nc, hz, sq, code,
                                                p1, p2, mult, L, C, orth)
        # At a square-root edge the equations are degenerate; a larger offset from the
        # axis smooths the edge over ~sqrt(offset) and keeps the point solvable.
        lift = delta
        while st != OK and lift < 1e-3:
            lift *= 100.0
            t = complex(logx[k], lift)
            m2, w2, r, st = solve_from_infinity(t, mu1, log_m1, atoms, weights, off, nc, hz, sq, code,
                                                p1, p2, mult, L, C, orth)
        status[k] = st
        nb = 0
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
        m3, w3, r3, it3, st3 = newton(complex(logx[k], 0.0), m, w, atoms, weights, off, nc, hz, sq, code,
                                      p1, p2, mult, L, C, orth, True)
        if st3 == OK and abs(m3 - m) <= 1e-3 * (abs(m) + 1e-300):
            ms[k] = m3
            ws[k] = w3
            res[k] = r3
            polished[k] = True
            if -m3.imag > 1e-6 * abs(m3):
                # Start the predictor history from this bulk point.
                hx[0] = logx[k]
                hm[0] = m3
                hw[0] = w3
                nb = 1
        else:
            ms[k] = m
            ws[k] = w
            res[k] = r
    return ms, ws, res, status, polished


@njit(cache=True, error_model="numpy")
def slope_M_batch(ws, atoms, weights, ncore, hz, sq, code, p1, p2):
    """M_d at many w (for tests and the edge search)."""
    out = np.empty(ws.shape[0], dtype=np.complex128)
    dout = np.empty(ws.shape[0], dtype=np.complex128)
    for k in range(ws.shape[0]):
        out[k], _, dout[k] = slope_M(ws[k], atoms, weights, ncore, hz, sq, code, p1, p2)
    return out, dout


@njit(cache=True, error_model="numpy")
def w_of_m_real(m, v, atoms, weights, ncore, hz, sq, code, p1, p2, p_nonzero, d_max, d_min_pos):
    """Real w with M_d(w) = m, for real m: w > d_max (m > 0), w < 0 (-p < m < 0), or
    0 < w < d_min_pos (m < -p, only if the positive slopes have a gap above 0).

    ``v`` is 1 + m, passed separately so that it keeps its digits when m -> -1; there
    V_d(w) = v is solved instead. Bisection on a log coordinate (M_d and V_d decrease in
    w on each interval). NaN if there is no solution.
    """
    use_v = m < -0.5
    # -p < m  <=>  1 - p < v, decided on whichever of m, v holds the digits.
    above_atom = (v > 1.0 - p_nonzero) if use_v else (m > -p_nonzero)
    if m > 0:
        base, sgn = d_max, 1.0
    elif above_atom:
        base, sgn = 0.0, -1.0
    else:
        if d_min_pos <= 0.0:
            return np.nan
        base, sgn = 0.0, 1.0
    lo, hi = -80.0, 80.0
    if base > 0.0:
        lo = math.log(1e-15 * base)
    if m <= 0 and not above_atom:
        hi = math.log(d_min_pos)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        wv = base + sgn * math.exp(mid)
        M, V, _ = slope_M(complex(wv, 0.0), atoms, weights, ncore, hz, sq, code, p1, p2)
        above = (V.real > v) if use_v else (M.real > m)
        # w increases with mid iff sgn > 0, and M, V decrease in w.
        if above == (sgn > 0):
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15 * max(1.0, abs(mid)):
            break
    return base + sgn * math.exp(0.5 * (lo + hi))


@njit(cache=True, error_model="numpy", parallel=True)
def solve_real_axis_parallel(logx, nchunks, delta, mu1, log_m1, atoms, weights, off, nc, hz, sq,
                             code, p1, p2, mult, L, C, orth):
    """:func:`solve_real_axis` on ``nchunks`` contiguous pieces of the (decreasing) grid in
    parallel threads; each piece starts its own continuation."""
    n = logx.shape[0]
    G = mu1.shape[0]
    ms = np.empty(n, dtype=np.complex128)
    ws = np.empty((n, G), dtype=np.complex128)
    res = np.empty(n)
    status = np.empty(n, dtype=np.int64)
    polished = np.zeros(n, dtype=np.bool_)
    for c in prange(nchunks):
        a = (n * c) // nchunks
        b = (n * (c + 1)) // nchunks
        if b <= a:
            continue
        m_, w_, r_, s_, p_ = solve_real_axis(logx[a:b], delta, mu1, log_m1, atoms, weights, off, nc,
                                             hz, sq, code, p1, p2, mult, L, C, orth)
        ms[a:b] = m_
        ws[a:b] = w_
        res[a:b] = r_
        status[a:b] = s_
        polished[a:b] = p_
    return ms, ws, res, status, polished
