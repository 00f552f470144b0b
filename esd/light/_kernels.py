"""Numba kernels of the light-tailed Jacobian solver (docs/theory/light-tailed.md).

Private: they take float64/complex128 arrays and scalars, never validate, never raise,
and report failure through status codes. The public API in :mod:`esd.light.jacobian`
validates inputs, calls them and turns codes into errors. The slope laws' kernels are in
:mod:`esd.light._slope_kernels`.

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
from numba import njit, prange

from esd import config
from esd.light._slope_kernels import slope_M

OK = 0
NOT_CONVERGED = 1
WRONG_BRANCH = 2
NOT_FINITE = 3

_TOL = config.NEWTON_TOL
_FLOOR = config.NEWTON_FLOOR
_ACCEPT = config.NEWTON_ACCEPT
_MAXIT = config.NEWTON_MAX_ITER
_MAXBT = config.MAX_BACKTRACK
_BRANCH_TOL = config.BRANCH_TOL


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
