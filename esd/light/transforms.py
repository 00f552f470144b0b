"""Moment-level free probability: S-transforms as power series (docs/theory/light-tailed.md).

Sign convention (Pennington et al.): ``G(z) = ∫ rho(t)/(z - t) dt``, ``Im G < 0`` for
``Im z > 0``; ``M(z) = z G(z) - 1 = sum_k m_k z^-k``; ``S(m) = (1+m)/(m M^{-1}(m))``.
With ``psi(u) = sum_k m_k u^k`` (u = 1/z), ``S(m) = (1+m) psi^{-1}(m) / m``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["s_series_from_moments", "moments_from_s_series", "jacobian_moments",
           "to_freealg_sign"]


def _mul(a, b, n):
    return np.convolve(a, b)[:n]


def _revert(c, n):
    """Coefficients of the inverse series of ``psi(u) = c[1] u + c[2] u^2 + ...`` (c[0] = 0)."""
    # Newton iteration on power series: g <- g - (psi(g) - m) / psi'(g), exact to order n.
    g = np.zeros(n)
    g[1] = 1.0 / c[1]
    for _ in range(n):
        comp = np.zeros(n)
        dcomp = np.zeros(n)
        power = np.zeros(n)
        power[0] = 1.0
        for k in range(1, n):
            dcomp += k * c[k] * power
            power = _mul(power, g, n)
            comp += c[k] * power
        comp[1] -= 1.0
        inv = _series_inverse(dcomp, n)
        g = g - _mul(comp, inv, n)
    return g


def _series_inverse(a, n):
    out = np.zeros(n)
    out[0] = 1.0 / a[0]
    for k in range(1, n):
        out[k] = -np.dot(a[1:k + 1], out[k - 1::-1][:k]) / a[0]
    return out


def s_series_from_moments(moments) -> np.ndarray:
    """Power series of S(m) (coefficients of m^0..m^{n-1}) from moments m_1..m_n."""
    mom = np.asarray(moments, dtype=float)
    n = len(mom) + 1
    c = np.concatenate([[0.0], mom])
    g = _revert(c, n)                       # psi^{-1}(m) = g1 m + g2 m^2 + ...
    ratio = g[1:]                           # psi^{-1}(m)/m
    return _mul(np.array([1.0, 1.0]), ratio, n - 1)


def moments_from_s_series(s) -> np.ndarray:
    """Moments m_1..m_n from the power series of S(m) to order n-1."""
    s = np.asarray(s, dtype=float)
    n = len(s) + 1
    # psi^{-1}(m) = m S(m) / (1 + m)
    ratio = _mul(s, _series_inverse(np.array([1.0, 1.0] + [0.0] * (n - 2)), n - 1), n - 1)
    g = np.concatenate([[0.0], ratio])
    return _revert(g, n)[1:]


def jacobian_moments(mu, sigma_w, weights: str, kmax: int = 4) -> np.ndarray:
    """Moments m_1..m_kmax of J J^T from the slope moments mu (L, >=kmax) and sigma_w (L,).

    ``S_{JJ^T} = prod_l S_{W_l W_l^T} S_{D_l^2}`` with ``S_{WW^T}(m) = 1/(sigma^2 (1+m))``
    (gaussian) or ``1/sigma^2`` (orthogonal). Each layer's series is divided by its
    constant term (S(0) = 1/m_1 of the layer), whose logarithms add up to the overall scale,
    so a moment beyond the float range comes back as inf rather than as inf - inf = nan.
    """
    mu = np.atleast_2d(np.asarray(mu, dtype=float))[:, :kmax]
    sigma_w = np.broadcast_to(np.asarray(sigma_w, dtype=float), (mu.shape[0],))
    total = np.zeros(kmax)
    total[0] = 1.0
    log_scale = 0.0                                      # log of m_1 of the whole product
    geo = np.array([(-1.0) ** k for k in range(kmax)])   # 1/(1+m)
    cache = {}
    for row, sw in zip(mu, sigma_w):
        key = tuple(row)
        if key not in cache:
            cache[key] = s_series_from_moments(row)
        s_layer = cache[key] / sw ** 2
        if weights == "gaussian":
            s_layer = _mul(s_layer, geo, kmax)
        log_scale -= np.log(s_layer[0])
        total = _mul(total, s_layer / s_layer[0], kmax)
    with np.errstate(over="ignore"):
        return moments_from_s_series(total) * np.exp(log_scale * np.arange(1, kmax + 1))


def to_freealg_sign(G):
    """Convert a Stieltjes transform from esd's sign (∫ rho/(z-t)) to freealg's (∫ rho/(t-z))."""
    return -np.asarray(G)
