"""Numba kernels of the heavy-tailed cavity solver (see :mod:`esd.heavy.cavity` for the equations).

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
def _phi_dphi(code, h):
    """(phi(h), phi'(h)); one exponential serves both for tanh and sigmoid (the message
    kernels evaluate them at every grid point of every edge)."""
    if code == ACT_TANH:
        e = math.exp(-2.0 * abs(h))
        t = (1.0 - e) / (1.0 + e)
        return (t if h >= 0.0 else -t), 4.0 * e / ((1.0 + e) * (1.0 + e))
    if code == ACT_SIGMOID:
        e = math.exp(-abs(h))
        return (1.0 / (1.0 + e) if h >= 0.0 else e / (1.0 + e)), e / ((1.0 + e) * (1.0 + e))
    return _phi(code, h), _dphi(code, h)


@njit(cache=True)
def _cell(code, c, cs, xlo, dx, G):
    """What a message of a unit at pre-activation ``c`` needs, whatever the point (z or r):
    its squared slope ``phi'(cs)^2`` and the cell (k, f) of its output phi(c) on the grid of
    G outputs (linear interpolation ``(1 - f) row[k] + f row[k + 1]``, clamped at the ends)."""
    if cs == c:
        x, d = _phi_dphi(code, c)
    else:
        x, d = _phi(code, c), _dphi(code, cs)
    t = (x - xlo) / dx
    if t <= 0.0:
        return d * d, 0, 0.0
    if t >= G - 1:
        return d * d, G - 2, 1.0
    k = int(t)
    return d * d, k, t - k


# ---------------------------------------------------------------------------------------------
# singular values: chain linearisation, complex messages, Z points z at once
# ---------------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _add_h_sv(out, scale, code, dc, dcs, dS, dU, l, k, c, decoupled, xlo, dx, G):
    """out[z] += scale * D_k^2 down_k(z) of a layer-l unit k whose pre-activation is c (edge
    included): down = u / (1 - D^2 S u), u = U_k(phi(c)), for every point z."""
    d2, g, f = _cell(code, c, dcs[l, k] if decoupled else c, xlo, dx, G)
    for q in range(out.size):
        u = (1.0 - f) * dU[l, k, g, q] + f * dU[l, k, g + 1, q]
        den = 1.0 - d2 * dS[l, k, q] * u
        # u conj(den) / |den|^2: a real division, which vectorises (complex division does not;
        # fastmath: the messages are finite, Im z > 0 keeps den away from 0)
        out[q] += (scale * d2 / (den.real * den.real + den.imag * den.imag)) * (u * den.conjugate())


@njit(cache=True, nogil=True)
def sv_init(code, alpha, sigma_b, t_min, lam, m2, L, P, G, gamma0, Z, seed, kmax):
    """Initial singular-value population for Z points: stationary pre-activations layer by
    layer (shared by the points), messages ``up = i``, ``U = i`` (any point of the upper half
    plane; layer L's U is the boundary value -1/z, set by :func:`sv_population`). Returns
    the state (xs, ups, dc, dcs, dS, dU) that :func:`sv_population` updates in place."""
    _seed(seed)
    xs = np.zeros((L + 1, P))
    ups = np.full((L + 1, P, Z), 1j)
    dc = np.zeros((L + 1, P))
    dcs = np.zeros((L + 1, P))
    dS = np.zeros((L + 1, P, Z), dtype=np.complex128)
    dU = np.full((L + 1, P, G, Z), 1j)
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
def sv_population(zs, code, alpha, sigma_b, t_min, lam, m2, L, P, G, xlo, xhi, gamma0,
                  n_sweeps, decoupled, seed, kmax, xs, ups, dc, dcs, dS, dU):
    """Population dynamics of the singular values of J = D_L W_L ... D_1 W_1 at the points
    ``zs`` together, continuing from the state (xs, ups, dc, dcs, dS, dU) of :func:`sv_init`
    or of a previous call (warm start), which it updates in place.

    The weights, pre-activations and slopes drawn in a sweep serve every point; only the
    messages (ups, dS, dU: last axis the point) are per point. Each point's marginal chain
    is the single-point population dynamics, so the points' errors are correlated but each
    is unbiased as before, at a fraction of the cost per point.

    Returns (hist_u, hist_v), each (n_sweeps, Z): per sweep and point, the population means
    of R_u (layer-L rows) and R_v (layer-0 columns), diagonal entries of
    ((0, J), (J^T, 0)) - z)^-1.
    """
    _seed(seed)
    Z = zs.size
    dx = (xhi - xlo) / (G - 1)
    xg = np.empty(G)
    for g in range(G):
        xg[g] = xlo + dx * g
    mean_x2 = np.zeros(L + 1)
    mean_up = np.zeros((L + 1, Z), dtype=np.complex128)
    mean_h = np.zeros((L + 1, Z), dtype=np.complex128)
    ws = np.empty(kmax)
    ks = np.empty(kmax, dtype=np.int64)
    ws2 = np.empty(kmax)
    ks2 = np.empty(kmax, dtype=np.int64)
    Ug = np.empty((G, Z), dtype=np.complex128)
    Ux = np.empty(Z, dtype=np.complex128)
    S = np.empty(Z, dtype=np.complex128)
    acc_u = np.empty(Z, dtype=np.complex128)
    acc_v = np.empty(Z, dtype=np.complex128)
    hist_u = np.empty((n_sweeps, Z), dtype=np.complex128)
    hist_v = np.empty((n_sweeps, Z), dtype=np.complex128)
    for q in range(Z):
        dU[L, :, :, q] = -1.0 / zs[q]   # boundary U_L = -1/z (layer L has no rows above)
    for sweep in range(n_sweeps):
        for l in range(L):
            s2 = 0.0
            mean_up[l, :] = 0.0
            for i in range(P):
                s2 += xs[l, i] ** 2
                for q in range(Z):
                    mean_up[l, q] += ups[l, i, q]
            mean_x2[l] = s2 / P
            mean_up[l, :] /= P
        for l in range(1, L + 1):
            mean_h[l, :] = 0.0
            for k in range(P):
                _add_h_sv(mean_h[l], 1.0 / P, code, dc, dcs, dS, dU, l, k, dc[l, k], decoupled,
                          xlo, dx, G)
        # layer 0: inputs x = phi(gamma0 S), up = -1/(z + U(x))
        acc_v[:] = 0.0
        for i in range(P):
            x = _phi(code, gamma0 * _stable(alpha))
            n = _draw_weights(lam, t_min, alpha, ws, ks, P)
            for q in range(Z):
                Ux[q] = m2 * mean_h[1, q]
            for m in range(n):
                _add_h_sv(Ux, ws[m] * ws[m], code, dc, dcs, dS, dU, 1, ks[m], dc[1, ks[m]] + ws[m] * x,
                          decoupled, xlo, dx, G)
            xs[0, i] = x
            for q in range(Z):
                r = -1.0 / (zs[q] + Ux[q])
                ups[0, i, q] = r
                acc_v[q] += r
        for q in range(Z):
            hist_v[sweep, q] = acc_v[q] / P
        acc_u[:] = 0.0
        for l in range(1, L + 1):
            for i in range(P):
                n = _draw_weights(lam, t_min, alpha, ws, ks, P)
                c = sigma_b * _stable(alpha) + math.sqrt(m2 * mean_x2[l - 1]) * np.random.standard_normal()
                for q in range(Z):
                    S[q] = m2 * mean_up[l - 1, q]
                for m in range(n):
                    j = ks[m]
                    c += ws[m] * xs[l - 1, j]
                    w2 = ws[m] * ws[m]
                    for q in range(Z):
                        S[q] += w2 * ups[l - 1, j, q]
                cs = dc[l, np.random.randint(P)] if decoupled else c
                d = _dphi(code, cs)
                d2 = d * d
                if l < L:
                    x = _phi(code, c)
                    n2 = _draw_weights(lam, t_min, alpha, ws2, ks2, P)
                    for q in range(Z):
                        Ux[q] = m2 * mean_h[l + 1, q]
                        for g in range(G):
                            Ug[g, q] = Ux[q]
                    for m in range(n2):
                        w = ws2[m]
                        k = ks2[m]
                        c0 = dc[l + 1, k]
                        _add_h_sv(Ux, w * w, code, dc, dcs, dS, dU, l + 1, k, c0 + w * x, decoupled,
                                  xlo, dx, G)
                        for g in range(G):
                            _add_h_sv(Ug[g], w * w, code, dc, dcs, dS, dU, l + 1, k, c0 + w * xg[g],
                                      decoupled, xlo, dx, G)
                    xs[l, i] = x
                    for q in range(Z):
                        Lf = d2 * S[q]
                        ups[l, i, q] = Lf / (1.0 - Lf * Ux[q])
                        for g in range(G):
                            dU[l, i, g, q] = Ug[g, q]
                else:
                    for q in range(Z):
                        acc_u[q] += -1.0 / (zs[q] + d2 * S[q])
                dc[l, i] = c
                dcs[l, i] = cs
                for q in range(Z):
                    dS[l, i, q] = S[q]
        for q in range(Z):
            hist_u[sweep, q] = acc_u[q] / P
    return hist_u, hist_v


# ---------------------------------------------------------------------------------------------
# eigenvalues: block-cyclic C, hermitized with 2x2 resolvents, real messages, R radii at once
# ---------------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _add_h_eig(out, scale, code, dc, dcs, dS, dB, l, k, c, decoupled, xlo, dx, G, eta, r2):
    """out[r] += scale * D_k^2 beta_k of a layer-l unit k at pre-activation c, for every
    radius: beta = B / (A' B + r^2), A' = eta + D^2 S_k, B = B_k(phi(c))."""
    d2, g, f = _cell(code, c, dcs[l, k] if decoupled else c, xlo, dx, G)
    for q in range(out.size):
        b = (1.0 - f) * dB[l, k, g, q] + f * dB[l, k, g + 1, q]
        out[q] += scale * d2 * b / ((eta + d2 * dS[l, k, q]) * b + r2[q])


@njit(cache=True, nogil=True)
def eig_population(rs, eta, code, alpha, sigma_b, t_min, lam, m2, L, P, G, xlo, xhi, gamma0,
                   n_sweeps, decoupled, closed, seed, kmax):
    """Population dynamics of the block-cyclic matrix C at the real points mu = r of ``rs``
    together (weights, pre-activations and slopes shared, messages per radius; see
    :func:`sv_population`).

    Layers 1..L; layer L's nodes are also the columns of A_1, seen by layer 1 through the
    network input x0 they carry: an independent draw phi(gamma0 S), or, when ``closed``,
    their own output phi(c) (the network at a fixed point, x0 = F(x0)). Returns per sweep
    and radius (n_sweeps, R) the population mean of r^2 / (A B + r^2) over all nodes, i.e.
    F(r) = r g(r).
    """
    _seed(seed)
    R = rs.size
    r2 = rs * rs
    dx = (xhi - xlo) / (G - 1)
    xg = np.empty(G)
    for g in range(G):
        xg[g] = xlo + dx * g
    xs = np.zeros((L + 1, P))          # output seen by the next layer (layer L: input x0)
    al = np.full((L + 1, P, R), 1.0)    # up messages alpha
    dc = np.zeros((L + 1, P))
    dcs = np.zeros((L + 1, P))
    dS = np.full((L + 1, P, R), 1.0)
    dB = np.full((L + 1, P, G, R), 1.0)
    mean_x2 = np.zeros(L + 1)
    mean_al = np.zeros((L + 1, R))
    mean_h = np.zeros((L + 1, R))
    ws = np.empty(kmax)
    ks = np.empty(kmax, dtype=np.int64)
    ws2 = np.empty(kmax)
    ks2 = np.empty(kmax, dtype=np.int64)
    Bg = np.empty((G, R))
    Bx = np.empty(R)
    S = np.empty(R)
    acc = np.empty(R)
    hist = np.empty((n_sweeps, R))
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
            mean_al[l, :] = 0.0
            mean_h[l, :] = 0.0
            for i in range(P):
                s2 += xs[l, i] ** 2
                for q in range(R):
                    mean_al[l, q] += al[l, i, q]
                _add_h_eig(mean_h[l], 1.0 / P, code, dc, dcs, dS, dB, l, i, dc[l, i], decoupled, xlo,
                           dx, G, eta, r2)
            mean_x2[l] = s2 / P
            mean_al[l, :] /= P
        acc[:] = 0.0
        for l in range(1, L + 1):
            below = L if l == 1 else l - 1
            above = 1 if l == L else l + 1
            for i in range(P):
                n = _draw_weights(lam, t_min, alpha, ws, ks, P)
                c = sigma_b * _stable(alpha) + math.sqrt(m2 * mean_x2[below]) * np.random.standard_normal()
                for q in range(R):
                    S[q] = m2 * mean_al[below, q]
                for m in range(n):
                    j = ks[m]
                    c += ws[m] * xs[below, j]
                    w2 = ws[m] * ws[m]
                    for q in range(R):
                        S[q] += w2 * al[below, j, q]
                cs = dc[l, np.random.randint(P)] if decoupled else c
                d = _dphi(code, cs)
                d2 = d * d
                # output this node shows the layer above: phi(c), or the input x0 at layer L
                open_end = l == L and not closed
                x = _phi(code, gamma0 * _stable(alpha)) if open_end else _phi(code, c)
                n2 = _draw_weights(lam, t_min, alpha, ws2, ks2, P)
                for q in range(R):
                    Bx[q] = eta + m2 * mean_h[above, q]
                    for g in range(G):
                        Bg[g, q] = Bx[q]
                for m in range(n2):
                    w = ws2[m]
                    k = ks2[m]
                    c0 = dc[above, k]
                    _add_h_eig(Bx, w * w, code, dc, dcs, dS, dB, above, k, c0 + w * x, decoupled, xlo,
                               dx, G, eta, r2)
                    if not open_end:
                        for g in range(G):
                            _add_h_eig(Bg[g], w * w, code, dc, dcs, dS, dB, above, k, c0 + w * xg[g],
                                       decoupled, xlo, dx, G, eta, r2)
                xs[l, i] = x
                dc[l, i] = c
                dcs[l, i] = cs
                for q in range(R):
                    if open_end:    # x0 does not depend on the node's own pre-activation
                        for g in range(G):
                            Bg[g, q] = Bx[q]
                    A = eta + d2 * S[q]
                    acc[q] += r2[q] / (A * Bx[q] + r2[q])
                    al[l, i, q] = A / (A * Bx[q] + r2[q])
                    dS[l, i, q] = S[q]
                    for g in range(G):
                        dB[l, i, g, q] = Bg[g, q]
        for q in range(R):
            hist[sweep, q] = acc[q] / (L * P)
    return hist
