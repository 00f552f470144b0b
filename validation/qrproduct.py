"""Singular values of a deep product ``J = A_L ... A_1`` by blocked QR accumulation.

A plainly multiplied J carries an absolute error ~eps s_max, so its singular values below
~1e-10 s_max are lost. Here the layers are grouped into consecutive blocks ``B_1 .. B_m``,
each multiplied plainly, and the blocks are accumulated with QR:
``B_1 = Q_1 R_1``, ``B_k Q_{k-1} = Q_k R_k``, so ``J = Q_m T`` with ``T = R_m ... R_1``
upper triangular and graded. T is formed explicitly (rescaled after every block, its scale
kept as a logarithm, so nothing overflows) and ``svdvals(T)`` gives the singular values
of J; the grading keeps the small ones to high relative accuracy.

Each QR first sorts the rows by decreasing max-norm: the rows of ``D_l W_l`` are scaled by
slopes that can span tens of decades (saturating units), and Householder QR is row-wise
backward stable only with the rows sorted (Cox & Higham 1998).

Accuracy. A plainly multiplied block carries a relative (multiplicative) error up to
~eps cond(B) in its small singular directions, so the singular values of J come back to
a relative error bounded by ~eps * sum_k cond(B_k) (:func:`relative_error_bound`; a
single layer counts cond(W) instead, see :func:`accumulate`); the errors measured at
N = 1000 are about 100 times below that bound. Blocks start as the two
halves of the depth and are shortened while cond(B), estimated from the diagonal of R
(:func:`log10_cond_estimate`), exceeds ``block_cond``; the rest of the depth is then
re-planned in blocks sized by the condition per layer just measured.

Cost. A block costs one QR and one multiplication by its Q on top of its plain products;
the product J itself, needed for the eigenvalues, is the product of the blocks and costs no
extra GEMM. On NumPy the factors stay Householder reflectors (SciPy's LAPACK ``geqrf``,
applied with ``ormqr``: Q is never formed), T grows by ``trmm`` and its singular values come
from SciPy's ``gesdd``, so the whole accumulation runs in SciPy's BLAS while NumPy's computes
the eigenvalues beside it (:func:`validation.backend.eigvals_beside`); two callers on one
BLAS thread pool would queue. Other namespaces (CuPy, array-api-strict) form Q with
``xp.linalg.qr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backend import is_numpy

__all__ = ["BlockFactor", "accumulate", "factor", "log10_cond_estimate", "relative_error_bound",
           "times_q"]


@dataclass
class BlockFactor:
    """QR of one block, rows sorted: ``y = Q R``; ``q`` is the namespace's handle on Q."""

    r: object
    q: object = None


def _lowest_nonzero(values, n_zero, xp):
    """Smallest entry of each row of ascending ``values`` past its ``n_zero`` structural zeros."""
    idx = xp.arange(values.shape[-1])
    return xp.min(xp.where(idx[None, :] >= n_zero[:, None], values, xp.full_like(values, math.inf)),
                  axis=-1)


def _factor_lapack(y):
    from scipy.linalg import lapack

    batch, n = y.shape[0], y.shape[-1]
    lwork = max(1, int(lapack.dgeqrf_lwork(n, n)[0]))
    r, reflectors = np.empty_like(y), []
    for i in range(batch):
        order = np.argsort(-np.max(np.abs(y[i]), axis=-1), kind="stable")
        qr, tau, _, info = lapack.dgeqrf(np.asfortranarray(y[i][order]), lwork=lwork,
                                         overwrite_a=True)
        if info != 0:
            raise RuntimeError(f"LAPACK dgeqrf failed (info = {info})")
        r[i] = np.triu(qr)
        reflectors.append((qr, tau, order))
    return BlockFactor(r=r, q=reflectors)


def _times_q_lapack(b, f):
    from scipy.linalg import lapack

    out = np.empty_like(b)
    for i, (qr, tau, order) in enumerate(f.q):
        # y[order] = Qs R, so Q = P^T Qs and b Q = b[:, order] Qs
        c, _, info = lapack.dormqr("R", "N", qr, tau, np.asfortranarray(b[i][:, order]),
                                   lwork=max(1, 64 * qr.shape[0]), overwrite_c=True)
        if info != 0:
            raise RuntimeError(f"LAPACK dormqr failed (info = {info})")
        out[i] = c
    return out


def times_q(b, f: BlockFactor, xp):
    """``b Q`` for the orthogonal factor of ``f`` (``y = Q R``), batched like ``b``."""
    return _times_q_lapack(b, f) if is_numpy(xp) else xp.matmul(b, f.q)


def factor(y, xp, *, r_only=False) -> BlockFactor:
    """Householder QR of each (N, N) matrix of ``y`` (B, N, N) with its rows sorted by
    decreasing max-norm: ``y = Q R``. ``r_only`` skips forming Q (``q`` is then None)."""
    if is_numpy(xp):
        f = _factor_lapack(y)
        return BlockFactor(r=f.r) if r_only else f
    batch, n = y.shape[0], y.shape[-1]
    offset = xp.reshape(xp.arange(batch) * n, (batch, 1))
    order = xp.argsort(xp.max(xp.abs(y), axis=-1), axis=-1, descending=True, stable=True)

    def rows(a, index):  # a[i, index[i], :] for each i, as one 1-D take
        return xp.reshape(xp.take(xp.reshape(a, (batch * n, n)), xp.reshape(index + offset, (-1,)),
                                  axis=0), (batch, n, n))

    q_sorted, r = xp.linalg.qr(rows(y, order))
    return BlockFactor(r=r, q=None if r_only else rows(q_sorted, xp.argsort(order, axis=-1,
                                                                             stable=True)))


def log10_cond_estimate(r, n_zero, xp) -> float:
    """log10 of cond(R), the worst over the batch, from its diagonal past ``n_zero`` zeros.

    Without column pivoting, max|R_ii| / min|R_ii| underestimates cond by about sqrt(N)
    for Ginibre-like columns (measured: 117 vs 8.8e3 at N = 1000), hence the margin.
    Infinite when a diagonal entry past the structural zeros vanishes.
    """
    n = r.shape[-1]
    diag = xp.sort(xp.abs(xp.linalg.diagonal(r)), axis=-1)
    low, top = _lowest_nonzero(diag, n_zero, xp), diag[..., -1]
    if not bool(xp.all((low > 0.0) & (top > 0.0))):
        return math.inf
    return float(xp.max(xp.log10(top) - xp.log10(low))) + 0.5 * math.log10(n)


def _triangular_product(r, t, xp):
    """``r @ t`` for upper triangular ``r`` (BLAS trmm on NumPy: half a GEMM's flops)."""
    if not is_numpy(xp):
        return xp.matmul(r, t)
    from scipy.linalg import blas

    return np.stack([blas.dtrmm(1.0, r[i], t[i]) for i in range(r.shape[0])])


def _svdvals(t, xp):
    """Singular values, descending; SciPy's LAPACK on NumPy (module docstring: one BLAS)."""
    if not is_numpy(xp):
        return xp.linalg.svdvals(t)
    from scipy.linalg import svdvals

    return np.stack([svdvals(t[i], overwrite_a=True, check_finite=False)
                     for i in range(t.shape[0])])


def _rescale(t, log_c, xp):
    c = xp.max(xp.abs(t), axis=(-2, -1), keepdims=True)
    c = xp.where(c > 0.0, c, xp.ones_like(c))
    return t / c, log_c + xp.log(c)


def accumulate(blocks, product, n_zero, block_cond, xp, weight_cond=None):
    """(log singular values ascending (B, N), blocks used) of ``J`` by QR accumulation.

    Parameters
    ----------
    blocks : list of [start, stop, product or None, BlockFactor or None]
        Consecutive layer ranges covering the depth, in order; a missing product is
        computed by ``product(start, stop)``, a missing factor by :func:`factor`.
    product : callable (start, stop) -> (B, N, N) plain product of layers start..stop-1
    n_zero : callable (start, stop) -> (B,) structural zeros of that block's rank
    block_cond : a block whose estimated condition number exceeds it is shortened
    weight_cond : callable l -> log10 cond estimate of layer l's weights, optional

    Returns the log singular values and the accepted blocks as
    ``(start, stop, log10 cond estimate, log10 error factor)``. The error factor is the
    block's condition, except for a single layer ``D W``: its rows are computed to
    relative accuracy and the sorted QR is row-wise backward stable, so the slopes' spread
    does not enter and the factor is ``cond(W)`` (``weight_cond``), which stays small
    where saturated slopes make cond(D W) huge.
    """
    limit = math.log10(block_cond)
    depth = blocks[-1][1]
    pending = [list(b) for b in blocks]
    t = log_c = prev = None
    used = []
    while pending:
        start, stop, p, f = pending.pop(0)
        if f is None:
            p = product(start, stop) if p is None else p
            f = factor(p if prev is None else times_q(p, prev, xp), xp, r_only=stop == depth)
        cond = log10_cond_estimate(f.r, n_zero(start, stop), xp)
        if cond > limit and stop - start > 1:
            # Too long: re-plan the rest of the depth at the condition per layer just
            # measured (log cond grows about linearly with the number of layers).
            length = max(1, min(stop - start - 1, int(limit * (stop - start) / cond)))
            pending = [[a, min(a + length, depth), None, None] for a in range(start, depth, length)]
            continue
        if t is None:
            t, log_c = _rescale(f.r, xp.zeros((f.r.shape[0], 1, 1), dtype=xp.float64), xp)
        else:
            t, log_c = _rescale(_triangular_product(f.r, t, xp), log_c, xp)
        prev = f
        err = cond
        if stop - start == 1 and weight_cond is not None:
            err = min(cond, weight_cond(start))
        used.append((start, stop, cond, err))
    s = xp.flip(_svdvals(t, xp), axis=-1)
    pos = s > 0.0
    log_s = xp.where(pos, xp.log(xp.where(pos, s, xp.ones_like(s))), xp.full_like(s, -math.inf))
    return log_s + log_c[:, :, 0], used


def relative_error_bound(used) -> float:
    """Estimated bound on the relative error of the singular values from the blocks
    ``used``: ``eps * sum_k`` (error factor of block k, :func:`accumulate`)."""
    return float(np.finfo(np.float64).eps * sum(10.0 ** u[3] for u in used))
