"""Numba kernels of the heavy-tailed cavity solver (see :mod:`esd.cavity` for the equations).

Private. Kernels take float64/complex128/int64 scalars and arrays, never validate and never
raise; they draw their random numbers from Numba's generator seeded by ``_seed`` (one seed
per call, derived by the caller from a NumPy ``Generator``).

Layer indexing: populations are indexed by layer ``l = 0..L`` (0 = network input). Every
weight of a layer is either *explicit* (``|w| > t_min``: a Poisson number with intensity
``2 alpha C_alpha sigma_w^alpha t^(-1-alpha)`` on ``|w|``, random sign) or *bulk* (below
t_min: a Gaussian term in the pre-activation and its mean in the resolvent sums, both with
the truncated second moment ``m2 = 2 alpha C_alpha sigma_w^alpha t_min^(2-alpha)/(2-alpha)``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# activation codes (bounded activations only: the stable mean field needs them)
ACT_TANH = 0
ACT_SIGMOID = 1
ACT_ERF = 2
ACT_HARDTANH = 3

_SQRT_PI_2 = math.sqrt(math.pi) / 2.0


@njit(cache=True)
def _seed(seed):
    np.random.seed(seed)


@njit(cache=True)
def _phi(code, h):
    if code == ACT_TANH:
        return math.tanh(h)
    if code == ACT_SIGMOID:
        return 0.5 * (1.0 + math.tanh(0.5 * h))
    if code == ACT_ERF:
        return math.erf(_SQRT_PI_2 * h)
    return min(1.0, max(-1.0, h))


@njit(cache=True)
def _dphi(code, h):
    if code == ACT_TANH:
        e = math.exp(-2.0 * abs(h))
        return 4.0 * e / ((1.0 + e) * (1.0 + e))
    if code == ACT_SIGMOID:
        e = math.exp(-abs(h))
        return e / ((1.0 + e) * (1.0 + e))
    if code == ACT_ERF:
        return math.exp(-math.pi * h * h / 4.0)
    return 1.0 if abs(h) < 1.0 else 0.0


@njit(cache=True)
def _stable(alpha):
    """Standard symmetric alpha-stable, E exp(itS) = exp(-|t|^alpha) (Chambers–Mallows–Stuck)."""
    v = math.pi * (np.random.random() - 0.5)
    if alpha == 1.0:
        return math.tan(v)
    e = max(np.random.standard_exponential(), 1e-300)
    return (math.sin(alpha * v) / math.cos(v) ** (1.0 / alpha)
            * (math.cos((1.0 - alpha) * v) / e) ** ((1.0 - alpha) / alpha))


@njit(cache=True)
def _draw_weights(lam, t_min, alpha, ws, ks, P):
    """Explicit weights of one row/column: count ~ Poisson(lam), |w| = t_min U^(-1/alpha)."""
    n = np.random.poisson(lam)
    if n > ws.size:
        n = ws.size
    for m in range(n):
        w = t_min * (1.0 - np.random.random()) ** (-1.0 / alpha)
        if np.random.random() < 0.5:
            w = -w
        ws[m] = w
        ks[m] = np.random.randint(P)
    return n


@njit(cache=True)
def _interp(row, x, xlo, dx, G):
    t = (x - xlo) / dx
    if t <= 0.0:
        return row[0]
    if t >= G - 1:
        return row[G - 1]
    k = int(t)
    f = t - k
    return (1.0 - f) * row[k] + f * row[k + 1]


# ---------------------------------------------------------------------------------------------
# singular values: chain linearisation, complex messages
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _h_sv(code, dc, dcs, dS, dU, l, k, c, decoupled, xlo, dx, G):
    """Contribution D_k^2 down_k of a layer-l unit k whose pre-activation is c (edge included):
    down = u / (1 - D^2 S u), u = U_k(phi(c))."""
    cc = dcs[l, k] if decoupled else c
    d = _dphi(code, cc)
    d2 = d * d
    u = _interp(dU[l, k], _phi(code, c), xlo, dx, G)
    return d2 * u / (1.0 - d2 * dS[l, k] * u)


@njit(cache=True, nogil=True)
def sv_init(code, alpha, sigma_b, t_min, lam, m2, L, P, G, gamma0, seed, kmax):
    """Initial singular-value population: stationary pre-activations layer by layer, messages
    ``up = i``, ``U = i`` (any point of the upper half plane; layer L's U is the boundary
    value -1/z, set by :func:`sv_population`). Returns the state
    (xs, ups, dc, dcs, dS, dU) that :func:`sv_population` updates in place."""
    _seed(seed)
    xs = np.zeros((L + 1, P))
    ups = np.full((L + 1, P), 1j)
    dc = np.zeros((L + 1, P))
    dcs = np.zeros((L + 1, P))
    dS = np.zeros((L + 1, P), dtype=np.complex128)
    dU = np.full((L + 1, P, G), 1j)
    ws = np.empty(kmax)
    ks = np.empty(kmax, dtype=np.int64)
    for i in range(P):
        xs[0, i] = _phi(code, gamma0 * _stable(alpha))
    for l in range(1, L + 1):
        mx2 = 0.0
        for i in range(P):
            mx2 += xs[l - 1, i] ** 2
        mx2 /= P
        for i in range(P):
            n = _draw_weights(lam, t_min, alpha, ws, ks, P)
            c = sigma_b * _stable(alpha) + math.sqrt(m2 * mx2) * np.random.standard_normal()
            for m in range(n):
                c += ws[m] * xs[l - 1, ks[m]]
            dc[l, i] = c
            xs[l, i] = _phi(code, c)
        for i in range(P):
            dcs[l, i] = dc[l, np.random.randint(P)]
    return xs, ups, dc, dcs, dS, dU


@njit(cache=True, nogil=True)
def sv_population(z, code, alpha, sigma_b, t_min, lam, m2, L, P, G, xlo, xhi, gamma0,
                  n_sweeps, decoupled, seed, kmax, xs, ups, dc, dcs, dS, dU):
    """Population dynamics of the singular values of J = D_L W_L ... D_1 W_1 at one z,
    continuing from the state (xs, ups, dc, dcs, dS, dU) of :func:`sv_init` or of a previous
    call (warm start along z), which it updates in place.

    Returns (hist_u, hist_v): per sweep, the population means of R_u (layer-L rows) and
    R_v (layer-0 columns), diagonal entries of ((0, J), (J^T, 0)) - z)^-1.
    """
    _seed(seed)
    dx = (xhi - xlo) / (G - 1)
    xg = np.empty(G)
    for g in range(G):
        xg[g] = xlo + dx * g
    mean_x2 = np.zeros(L + 1)
    mean_up = np.zeros(L + 1, dtype=np.complex128)
    mean_h = np.zeros(L + 1, dtype=np.complex128)
    ws = np.empty(kmax)
    ks = np.empty(kmax, dtype=np.int64)
    ws2 = np.empty(kmax)
    ks2 = np.empty(kmax, dtype=np.int64)
    Ug = np.empty(G, dtype=np.complex128)
    hist_u = np.empty(n_sweeps, dtype=np.complex128)
    hist_v = np.empty(n_sweeps, dtype=np.complex128)
    dU[L, :, :] = -1.0 / z          # boundary U_L = -1/z (layer L has no rows above)
    for sweep in range(n_sweeps):
        for l in range(L):
            s2 = 0.0
            su = 0.0j
            for i in range(P):
                s2 += xs[l, i] ** 2
                su += ups[l, i]
            mean_x2[l] = s2 / P
            mean_up[l] = su / P
        for l in range(1, L + 1):
            sh = 0.0j
            for k in range(P):
                sh += _h_sv(code, dc, dcs, dS, dU, l, k, dc[l, k], decoupled, xlo, dx, G)
            mean_h[l] = sh / P
        # layer 0: inputs x = phi(gamma0 S), up = -1/(z + U(x))
        acc_v = 0.0j
        for i in range(P):
            x = _phi(code, gamma0 * _stable(alpha))
            n = _draw_weights(lam, t_min, alpha, ws, ks, P)
            U = m2 * mean_h[1]
            for m in range(n):
                U += ws[m] * ws[m] * _h_sv(code, dc, dcs, dS, dU, 1, ks[m], dc[1, ks[m]] + ws[m] * x,
                                           decoupled, xlo, dx, G)
            r = -1.0 / (z + U)
            xs[0, i] = x
            ups[0, i] = r
            acc_v += r
        hist_v[sweep] = acc_v / P
        acc_u = 0.0j
        for l in range(1, L + 1):
            for i in range(P):
                n = _draw_weights(lam, t_min, alpha, ws, ks, P)
                c = sigma_b * _stable(alpha) + math.sqrt(m2 * mean_x2[l - 1]) * np.random.standard_normal()
                S = m2 * mean_up[l - 1]
                for m in range(n):
                    j = ks[m]
                    c += ws[m] * xs[l - 1, j]
                    S += ws[m] * ws[m] * ups[l - 1, j]
                cs = dc[l, np.random.randint(P)] if decoupled else c
                d = _dphi(code, cs)
                Lf = d * d * S
                if l < L:
                    x = _phi(code, c)
                    n2 = _draw_weights(lam, t_min, alpha, ws2, ks2, P)
                    base = m2 * mean_h[l + 1]
                    for g in range(G):
                        Ug[g] = base
                    Ux = base
                    for m in range(n2):
                        w = ws2[m]
                        k = ks2[m]
                        w2 = w * w
                        c0 = dc[l + 1, k]
                        Ux += w2 * _h_sv(code, dc, dcs, dS, dU, l + 1, k, c0 + w * x, decoupled, xlo, dx, G)
                        for g in range(G):
                            Ug[g] += w2 * _h_sv(code, dc, dcs, dS, dU, l + 1, k, c0 + w * xg[g],
                                                decoupled, xlo, dx, G)
                    xs[l, i] = x
                    ups[l, i] = Lf / (1.0 - Lf * Ux)
                    for g in range(G):
                        dU[l, i, g] = Ug[g]
                else:
                    acc_u += -1.0 / (z + Lf)
                dc[l, i] = c
                dcs[l, i] = cs
                dS[l, i] = S
        hist_u[sweep] = acc_u / P
    return hist_u, hist_v


# ---------------------------------------------------------------------------------------------
# eigenvalues: block-cyclic C, hermitized with 2x2 resolvents, real messages at mu = r
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _h_eig(code, dc, dcs, dS, dB, l, k, c, decoupled, xlo, dx, G, eta, r2):
    """D_k^2 beta_k of a layer-l unit k at pre-activation c: beta = B / (A' B + r^2),
    A' = eta + D^2 S_k, B = B_k(phi(c))."""
    cc = dcs[l, k] if decoupled else c
    d = _dphi(code, cc)
    d2 = d * d
    b = _interp(dB[l, k], _phi(code, c), xlo, dx, G)
    return d2 * b / ((eta + d2 * dS[l, k]) * b + r2)


@njit(cache=True, nogil=True)
def eig_population(r, eta, code, alpha, sigma_b, t_min, lam, m2, L, P, G, xlo, xhi, gamma0,
                   n_sweeps, decoupled, closed, seed, kmax):
    """Population dynamics of the block-cyclic matrix C at real mu = r.

    Layers 1..L; layer L's nodes are also the columns of A_1, seen by layer 1 through the
    network input x0 they carry: an independent draw phi(gamma0 S), or, when ``closed``,
    their own output phi(c) (the network at a fixed point, x0 = F(x0)). Returns per sweep
    the population mean of r^2 / (A B + r^2) over all nodes, i.e. F(r) = r g(r).
    """
    _seed(seed)
    r2 = r * r
    dx = (xhi - xlo) / (G - 1)
    xg = np.empty(G)
    for g in range(G):
        xg[g] = xlo + dx * g
    xs = np.zeros((L + 1, P))          # output seen by the next layer (layer L: input x0)
    al = np.full((L + 1, P), 1.0)       # up messages alpha
    dc = np.zeros((L + 1, P))
    dcs = np.zeros((L + 1, P))
    dS = np.full((L + 1, P), 1.0)
    dB = np.full((L + 1, P, G), 1.0)
    mean_x2 = np.zeros(L + 1)
    mean_al = np.zeros(L + 1)
    mean_h = np.zeros(L + 1)
    ws = np.empty(kmax)
    ks = np.empty(kmax, dtype=np.int64)
    ws2 = np.empty(kmax)
    ks2 = np.empty(kmax, dtype=np.int64)
    Bg = np.empty(G)
    hist = np.empty(n_sweeps)
    for i in range(P):
        xs[L, i] = _phi(code, gamma0 * _stable(alpha))
    for l in range(1, L + 1):
        below = L if l == 1 else l - 1
        mx2 = 0.0
        for i in range(P):
            mx2 += xs[below, i] ** 2
        mx2 /= P
        for i in range(P):
            n = _draw_weights(lam, t_min, alpha, ws, ks, P)
            c = sigma_b * _stable(alpha) + math.sqrt(m2 * mx2) * np.random.standard_normal()
            for m in range(n):
                c += ws[m] * xs[below, ks[m]]
            dc[l, i] = c
            if l < L or closed:
                xs[l, i] = _phi(code, c)
        for i in range(P):
            dcs[l, i] = dc[l, np.random.randint(P)]
    for sweep in range(n_sweeps):
        for l in range(1, L + 1):
            s2 = 0.0
            sa = 0.0
            sh = 0.0
            for i in range(P):
                s2 += xs[l, i] ** 2
                sa += al[l, i]
                sh += _h_eig(code, dc, dcs, dS, dB, l, i, dc[l, i], decoupled, xlo, dx, G, eta, r2)
            mean_x2[l] = s2 / P
            mean_al[l] = sa / P
            mean_h[l] = sh / P
        acc = 0.0
        for l in range(1, L + 1):
            below = L if l == 1 else l - 1
            above = 1 if l == L else l + 1
            for i in range(P):
                n = _draw_weights(lam, t_min, alpha, ws, ks, P)
                c = sigma_b * _stable(alpha) + math.sqrt(m2 * mean_x2[below]) * np.random.standard_normal()
                S = m2 * mean_al[below]
                for m in range(n):
                    j = ks[m]
                    c += ws[m] * xs[below, j]
                    S += ws[m] * ws[m] * al[below, j]
                cs = dc[l, np.random.randint(P)] if decoupled else c
                d = _dphi(code, cs)
                A = eta + d * d * S
                # output this node shows the layer above: phi(c), or the input x0 at layer L
                open_end = l == L and not closed
                x = _phi(code, gamma0 * _stable(alpha)) if open_end else _phi(code, c)
                n2 = _draw_weights(lam, t_min, alpha, ws2, ks2, P)
                base = eta + m2 * mean_h[above]
                Bx = base
                for g in range(G):
                    Bg[g] = base
                for m in range(n2):
                    w = ws2[m]
                    k = ks2[m]
                    w2 = w * w
                    c0 = dc[above, k]
                    Bx += w2 * _h_eig(code, dc, dcs, dS, dB, above, k, c0 + w * x, decoupled, xlo, dx,
                                      G, eta, r2)
                    if not open_end:
                        for g in range(G):
                            Bg[g] += w2 * _h_eig(code, dc, dcs, dS, dB, above, k, c0 + w * xg[g],
                                                 decoupled, xlo, dx, G, eta, r2)
                if open_end:        # x0 does not depend on the node's own pre-activation
                    for g in range(G):
                        Bg[g] = Bx
                acc += r2 / (A * Bx + r2)
                xs[l, i] = x
                al[l, i] = A / (A * Bx + r2)
                dc[l, i] = c
                dcs[l, i] = cs
                dS[l, i] = S
                for g in range(G):
                    dB[l, i, g] = Bg[g]
        hist[sweep] = acc / (L * P)
    return hist
