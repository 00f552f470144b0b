"""Numba kernels of the slope laws: M_d(w) = E[d / (w - d)] over a layer's slopes d.

Private, like :mod:`esd.light._kernels`: no validation, no exceptions. A slope law is
a set of nodes ``atoms`` with ``weights`` (the first ``ncore`` from a trapezoid rule of
step ``hz`` in the gaussian variable, corrected exactly near the real axis through the
poles of the activation's slope: pole ``code`` with parameters ``p1``, ``p2``; ``sq`` =
sqrt(q)), or exact atoms (``hz`` = 0).
"""

from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit

_TWO_PI_I = 2j * math.pi
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BAND = 6.0   # poles within _BAND * hz of the real z axis are corrected exactly


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
