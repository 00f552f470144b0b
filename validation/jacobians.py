"""Forward passes, input-output Jacobians and their spectra, in any array namespace.

Conventions (docs/theory/model.md), row vectors batched over inputs: ``h_l = x_{l-1} W_l^T + b_l``,
``x_l = phi(h_l)``, ``J = D_L W_L ... D_1 W_1`` with ``D_l = diag(phi'(h_l))``. The code
calls the array API only (``xp.matmul``, ``xp.linalg.qr``, ``svdvals``, ``eigvalsh``);
the eigenvalues of the non-symmetric J go through :func:`validation.backend.eigvals`,
the one documented dispatch.

Deep products (docs/theory/validation.md). Computed as a plain product, J carries an absolute error
~eps s_max, so singular values below ~1e-10 s_max are lost. ``jacobian_spectra`` then
accumulates the product with QR: ``Q_0 = I``, ``D_l W_l Q_{l-1} = Q_l R_l``, so
``J = Q_L T`` with ``T = R_L ... R_1`` upper triangular and graded (each QR sorts the
rows by size first, which keeps saturated units' tiny slopes accurate). T is formed
explicitly (rescaled each layer, its scale kept as a logarithm, so nothing overflows) and
its singular values, those of J, come from ``svdvals(T)``; the grading keeps the small
ones to high relative accuracy. Tests: exact singular values spanning 1e-30..1e5 come
back to ~1e-12 where the plain product is off by 16 orders of magnitude; a saturated
sigmoid network with singular values over 130 decades matches 200-digit mpmath to 1e-14
in log. Limits: ``log_sv`` loses precision where ``s_min / s_max`` < ~1e-300 (T then
holds subnormal numbers), and ``sv2`` underflows to 0 below ~1e-308 (``log_sv`` stays
finite). The eigenvalues of J are those of ``Q_L T`` (absolute accuracy ~eps |J|): the
QR accumulation does not make small eigenvalues accurate.
"""

from __future__ import annotations

import math

from esd.exceptions import InvalidParameter

from .backend import asarray, eigvals
from .networks import Network
from .xp_activations import dphi, phi

__all__ = ["forward", "jacobian", "jacobian_spectra", "QR_SPREAD", "QR_BLOCK_COND", "GRAM_RATIO"]

#: Singular-value spread s_max/s_min beyond which the product is accumulated with QR.
QR_SPREAD = 1e10
#: Largest condition number of a block of layers multiplied plainly between two QRs.
QR_BLOCK_COND = 1e8
#: Smallest accepted lambda_min/lambda_max of J J^T computed as eigvalsh of the Gram matrix
#: (absolute error ~eps lambda_max); below it the singular values come from svdvals(J).
GRAM_RATIO = 1e-8


def _inputs(network, x0):
    if not isinstance(network, Network):
        raise InvalidParameter("network", network, "must be a validation.Network")
    xp = network.xp
    x = asarray(x0, xp)
    if x.dtype != xp.float64:
        if not (xp.isdtype(x.dtype, "real floating") or xp.isdtype(x.dtype, "integral")):
            raise InvalidParameter("x0", f"array of dtype {x.dtype}", "must be real")
        x = xp.astype(x, xp.float64)
    n = network.width
    if x.ndim not in (1, 2) or x.shape[-1] != n:
        raise InvalidParameter("x0", f"array of shape {tuple(x.shape)}",
                               f"must have shape (B, N) or (N,) with N = {n}")
    if not bool(xp.all(xp.isfinite(x))):
        raise InvalidParameter("x0", "array with non-finite entries", "must be finite")
    single = x.ndim == 1
    return xp, (x[None, :] if single else x), single


def _forward(network, x, xp):
    depth = network.depth
    hs = xp.empty((depth,) + tuple(x.shape), dtype=xp.float64)
    for l in range(depth):
        h = xp.matmul(x, network.W[l, ...].T) + network.b[l, ...]
        hs[l, ...] = h
        x = phi(network.activation, h, xp)
    return hs, x


def forward(network: Network, x0):
    """Pre-activations ``h`` (L, B, N) and output ``x_L`` (B, N) for inputs ``x0`` (B, N).

    A single input of shape (N,) gives ``h`` (L, N) and ``x_L`` (N,).
    """
    xp, x, single = _inputs(network, x0)
    hs, out = _forward(network, x, xp)
    return (hs[:, 0, :], out[0, :]) if single else (hs, out)


def _product(network, d, a1, xp):
    j = a1
    for l in range(1, network.depth):
        j = d[l, :, :, None] * xp.matmul(network.W[l, ...], j)
    return j


def jacobian(network: Network, x0):
    """``J = D_L W_L ... D_1 W_1`` at each input: shape (B, N, N), or (N, N) for one input."""
    xp, x, single = _inputs(network, x0)
    hs, _ = _forward(network, x, xp)
    d = dphi(network.activation, hs, xp)
    j = _product(network, d, d[0, :, :, None] * network.W[0, ...], xp)
    return j[0, ...] if single else j


def _safe_log(s, xp):
    pos = s > 0.0
    return xp.where(pos, xp.log(xp.where(pos, s, xp.ones_like(s))), xp.full_like(s, -math.inf))


def _lowest_nonzero(values, n_zero, xp):
    """Smallest entry of each row of ascending ``values`` past its ``n_zero`` structural zeros."""
    idx = xp.arange(values.shape[-1])
    return xp.min(xp.where(idx[None, :] >= n_zero[:, None], values, xp.full_like(values, math.inf)),
                  axis=-1)


def _spread_estimate(r, n_zero_1, depth, xp):
    """log10 of the spread of J estimated from the first layer: depth * log10(max/min |R_ii|)."""
    diag = xp.sort(xp.abs(xp.linalg.diagonal(r)), axis=-1)
    low = _lowest_nonzero(diag, n_zero_1, xp)
    top = diag[..., -1]
    ok = (low > 0.0) & (top > 0.0)
    one = xp.ones_like(low)
    log_ratio = xp.log10(xp.where(ok, top, one)) - xp.log10(xp.where(ok, low, one))
    est = xp.where(ok, depth * log_ratio, xp.full_like(low, math.inf))
    return float(xp.max(est))


def _plain_spectrum(j, n_zero, xp):
    """(sv2 ascending, log singular values, method, ok_without_qr) from the explicit J."""
    lam = xp.linalg.eigvalsh(xp.matmul(j, xp.matrix_transpose(j)))
    top = lam[..., -1]
    if bool(xp.all(_lowest_nonzero(lam, n_zero, xp) >= GRAM_RATIO * top)):
        lam = xp.where(lam > 0.0, lam, xp.zeros_like(lam))
        return lam, 0.5 * _safe_log(lam, xp), "gram", True
    s = xp.flip(xp.linalg.svdvals(j), axis=-1)
    ok = bool(xp.all(_lowest_nonzero(s, n_zero, xp) * QR_SPREAD >= s[..., -1]))
    return s * s, _safe_log(s, xp), "svd", ok


def _qr(y, xp):
    """Householder QR of the rows sorted by decreasing max-norm: ``y = q r``.

    The rows of ``D_l W_l Q`` are scaled by the slopes, which can span tens of decades
    (saturating units). Householder QR is row-wise backward stable only with the rows
    sorted (Cox & Higham 1998); unsorted, the small rows pick up errors of the size of
    the large ones and the smallest singular values are lost.
    """
    batch, n = y.shape[0], y.shape[-1]
    offset = xp.reshape(xp.arange(batch) * n, (batch, 1))
    order = xp.argsort(xp.max(xp.abs(y), axis=-1), axis=-1, descending=True, stable=True)
    back = xp.argsort(order, axis=-1, stable=True)

    def rows(a, index):  # a[i, index[i], :] for each i, as one 1-D take
        return xp.reshape(xp.take(xp.reshape(a, (batch * n, n)), xp.reshape(index + offset, (-1,)),
                                  axis=0), (batch, n, n))

    q_sorted, r = xp.linalg.qr(rows(y, order))
    return rows(q_sorted, back), r


def _rescale(t, log_c, xp):
    c = xp.max(xp.abs(t), axis=(-2, -1), keepdims=True)
    c = xp.where(c > 0.0, c, xp.ones_like(c))
    return t / c, log_c + xp.log(c)


def _log10_cond_estimate(r, n_zero, n, xp):
    """log10 of cond(R) estimated from its diagonal, past ``n_zero`` structural zeros.

    Without column pivoting, max|R_ii| / min|R_ii| underestimates cond by about sqrt(N)
    for Ginibre-like columns (measured: 117 vs 8.8e3 at N = 1000), hence the margin.
    """
    diag = xp.sort(xp.abs(xp.linalg.diagonal(r)), axis=-1)
    low, top = _lowest_nonzero(diag, n_zero, xp), diag[..., -1]
    if not bool(xp.all((low > 0.0) & (top > 0.0))):
        return math.inf
    return float(xp.max(xp.log10(top) - xp.log10(low))) + 0.5 * math.log10(n)


def _qr_spectrum(network, d, a1, first, nnz, xp):
    """(log singular values ascending, J) by QR accumulation of the product.

    Layers are multiplied plainly in blocks whose condition number stays below about
    ``QR_BLOCK_COND`` and a QR is taken only between blocks: a block computed plainly
    carries a relative (multiplicative) error ~eps cond(block), so the singular values
    keep ~1e-9 relative accuracy (measured) while most layers cost one GEMM only. The
    block length follows the per-layer condition measured on the previous block and at
    most doubles; a block that comes out worse than 10 QR_BLOCK_COND is redone shorter.
    """
    n, depth = network.width, network.depth
    limit = math.log10(QR_BLOCK_COND)
    q, r = first if first is not None else _qr(a1, xp)
    t, log_c = _rescale(r, xp.zeros((r.shape[0], 1, 1), dtype=xp.float64), xp)
    start, block = 1, 1
    cond = _log10_cond_estimate(r, n - nnz[0, ...], n, xp)
    while start < depth:
        block = min(depth - start, 2 * block, max(1, int(limit * block / max(cond, 1e-3))))
        while True:
            y = q
            for l in range(start, start + block):
                y = d[l, :, :, None] * xp.matmul(network.W[l, ...], y)
            q_new, r = _qr(y, xp)
            cond = _log10_cond_estimate(r, n - xp.min(nnz[start:start + block, ...], axis=0),
                                        n, xp)
            if block == 1 or cond <= limit + 1.0:
                break
            block //= 2
        q = q_new
        t, log_c = _rescale(xp.matmul(r, t), log_c, xp)
        start += block
    s = xp.flip(xp.linalg.svdvals(t), axis=-1)
    log_sv = _safe_log(s, xp) + log_c[:, :, 0]
    return log_sv, xp.matmul(q, t) * xp.exp(log_c)


def jacobian_spectra(network: Network, x0, *, qr="auto") -> dict:
    """Squared singular values and eigenvalues of J at each input.

    Parameters
    ----------
    network : Network
    x0 : array (B, N) or (N,)
    qr : "auto", True or False
        True accumulates the product with QR (module docstring); False forms J plainly;
        "auto" uses QR when the spread of the singular values is estimated (from the first
        layer's R) or measured (from the plain product) to exceed ``QR_SPREAD``.

    Returns
    -------
    dict with arrays of the network's namespace, one row per input (no batch axis for a
    single input): ``sv2`` (B, N) eigenvalues of ``J J^T`` ascending; ``log_sv`` (B, N)
    their halved logarithms, free of under/overflow; ``eigs`` (B, N) complex eigenvalues
    of J; ``slopes`` (L, B, N) the slopes phi'(h_l) at each input; and ``method``: "gram" (eigvalsh of ``J J^T``, used when its smallest nonzero
    eigenvalue is above ``GRAM_RATIO`` of the largest), "svd" (svdvals of J) or "qr".
    With zero slopes (relu, hard-tanh) J has rank ``min_l #{phi'(h_l) != 0}``
    (almost surely); the remaining squared singular values are set to exactly 0. The
    method is chosen once for the whole batch.
    """
    if not (isinstance(qr, bool) or qr == "auto"):
        raise InvalidParameter("qr", qr, "must be 'auto', True or False")
    xp, x, single = _inputs(network, x0)
    n, depth = network.width, network.depth
    hs, _ = _forward(network, x, xp)
    d = dphi(network.activation, hs, xp)
    nnz = xp.sum(xp.astype(d != 0.0, xp.int64), axis=-1)          # (L, B)
    n_zero = n - xp.min(nnz, axis=0)                               # (B,)
    a1 = d[0, :, :, None] * network.W[0, ...]

    first, use_qr = None, qr is True
    if qr == "auto":
        first = _qr(a1, xp)
        use_qr = _spread_estimate(first[1], n - nnz[0, ...], depth, xp) >= math.log10(QR_SPREAD)
    if not use_qr:
        j = _product(network, d, a1, xp)
        sv2, log_sv, method, ok = _plain_spectrum(j, n_zero, xp)
        use_qr = qr == "auto" and not ok
    if use_qr:
        log_sv, j = _qr_spectrum(network, d, a1, first, nnz, xp)
        sv2, method = xp.exp(2.0 * log_sv), "qr"

    zero = xp.arange(n)[None, :] < n_zero[:, None]
    sv2 = xp.where(zero, xp.zeros_like(sv2), sv2)
    log_sv = xp.where(zero, xp.full_like(log_sv, -math.inf), log_sv)
    eigs = eigvals(j, xp)
    if single:
        return {"sv2": sv2[0, ...], "log_sv": log_sv[0, ...], "eigs": eigs[0, ...],
                "slopes": d[:, 0, :], "method": method}
    return {"sv2": sv2, "log_sv": log_sv, "eigs": eigs, "slopes": d, "method": method}
