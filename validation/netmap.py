"""The network map of the fixed-point search: F^p and its Jacobian on batches of rows.

:class:`_Map` evaluates ``F^p`` and the transposed Jacobian of ``F^p`` on (B, N) arrays of
starts (host NumPy copies of the layers), and the helpers here are the linear algebra
and sup-norm distances built on them: ``I - J``, batched solves and inverses, the
nearest known point of each row.
"""

from __future__ import annotations

import numpy as np

from .backend import to_numpy
from .xp_activations import dphi, phi

JACOBIAN_CHUNK = 1 << 22     # most entries of a Jacobian or distance batch (32 MiB of float64)
FLUSH = 1e-100               # slopes and partial Jacobian entries below this are set to 0


# -- the map ------------------------------------------------------------------------------
class _Map:
    """F^p and its Jacobian on (B, N) row batches of one network (host copies).

    Layers may differ in width (a :class:`~validation.networks.LayeredNetwork`, e.g. an
    autoencoder); only the map itself is square.
    """

    def __init__(self, network):
        self.wt = [np.ascontiguousarray(to_numpy(w).T, dtype=np.float64) for w, _ in network.layers()]
        self.b = [np.ascontiguousarray(to_numpy(b), dtype=np.float64) for _, b in network.layers()]
        self.act = network.activation
        self.depth, self.width = len(self.wt), self.wt[0].shape[0]

    def __call__(self, x, p=1):
        for _ in range(p):
            for l in range(self.depth):
                h = x @ self.wt[l]
                h += self.b[l]
                x = phi(self.act, h, np)
        return x

    def jacobian_t(self, x, p=1):
        """``J^T`` of F^p at each row, (B, N, N): ``W_1^T D_1 W_2^T D_2 ...`` accumulated.

        Slopes and accumulated entries below ``FLUSH`` are set to 0: saturated units give
        slopes down to 1e-300, and subnormal arithmetic is ~100x slower. J enters only
        through ``I - J``, rho(J) against 1 and Newton steps, which such entries cannot
        change unless later layers amplify them by > 1e80.
        """
        n = self.width
        out = np.empty((x.shape[0], n, n))
        chunk = max(1, JACOBIAN_CHUNK // (n * max(w.shape[1] for w in self.wt)))
        for s in range(0, x.shape[0], chunk):
            y, t = x[s:s + chunk], None
            for _ in range(p):
                for l in range(self.depth):
                    h = y @ self.wt[l]
                    h += self.b[l]
                    d = dphi(self.act, h, np)
                    d[d < FLUSH] = 0.0
                    y = phi(self.act, h, np)
                    if t is None:
                        t = self.wt[l][None, :, :] * d[:, None, :]
                    else:
                        t = np.matmul(t, self.wt[l])
                        t *= d[:, None, :]
                        t[np.abs(t) < FLUSH] = 0.0
            out[s:s + chunk] = t
        return out


    def preactivation(self, x):
        """``h_L(x)``, the last layer's pre-activation: ``F(x) = phi(h_L(x))``."""
        for l in range(self.depth):
            h = x @ self.wt[l]
            h += self.b[l]
            if l < self.depth - 1:
                x = phi(self.act, h, np)
        return h

    def preactivation_jacobian_t(self, x):
        """``(dh_L/dx)^T`` at each row, (B, N, N): J of F without its last slopes ``D_L``."""
        n = self.width
        out = np.empty((x.shape[0], n, n))
        chunk = max(1, JACOBIAN_CHUNK // (n * max(w.shape[1] for w in self.wt)))
        for s in range(0, x.shape[0], chunk):
            y = x[s:s + chunk]
            t = np.broadcast_to(self.wt[0], (y.shape[0],) + self.wt[0].shape).copy()
            for l in range(self.depth - 1):
                h = y @ self.wt[l]
                h += self.b[l]
                d = dphi(self.act, h, np)
                d[d < FLUSH] = 0.0
                y = phi(self.act, h, np)
                t *= d[:, None, :]
                t = np.matmul(t, self.wt[l + 1])
            out[s:s + chunk] = t
        return out


def _i_minus_j(jt):
    """``I - J`` from ``J^T`` stacked (B, N, N)."""
    return np.eye(jt.shape[-1]) - np.swapaxes(jt, 1, 2)


def _solve(a, g):
    """Rows of ``a^{-1} g`` for a (B, N, N) stack; least squares for exactly singular rows."""
    try:
        return np.linalg.solve(a, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.empty_like(g)
        for i in range(a.shape[0]):
            out[i] = np.linalg.lstsq(a[i], g[i], rcond=None)[0]
        return out


def _inverse(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(a)


def _sup(a, axis=-1):
    return np.max(np.abs(a), axis=axis)


def _nearest(x, pts):
    """Index of the sup-norm nearest row of pts for each row of x, and that distance."""
    near = np.empty(x.shape[0], dtype=int)
    dist = np.empty(x.shape[0])
    chunk = max(1, JACOBIAN_CHUNK // (pts.shape[0] * x.shape[1]))
    for s in range(0, x.shape[0], chunk):
        d = _sup(x[s:s + chunk, None, :] - pts[None, :, :])
        near[s:s + chunk] = np.argmin(d, axis=1)
        dist[s:s + chunk] = d[np.arange(d.shape[0]), near[s:s + chunk]]
    return near, dist
