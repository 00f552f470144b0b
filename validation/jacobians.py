"""Forward passes, input-output Jacobians and their spectra, in any array namespace.

Conventions (docs/theory/model.md), row vectors batched over inputs: ``h_l = x_{l-1} W_l^T + b_l``,
``x_l = phi(h_l)``, ``J = D_L W_L ... D_1 W_1`` with ``D_l = diag(phi'(h_l))``. The code
calls the array API only (``xp.matmul``, ``xp.linalg.qr``, ``svdvals``, ``eigvalsh``);
the eigenvalues of the non-symmetric J go through :func:`validation.backend.eigvals`,
the one documented dispatch.

Deep products (docs/theory/validation.md). Computed as a plain product, J carries an absolute error
~eps s_max, so singular values below ~1e-10 s_max are lost. ``jacobian_spectra`` then
accumulates the product with QR in blocks of layers (:mod:`validation.qrproduct`): the
singular values come back to a relative error below ~eps * sum_k cond(block k) (reported
with the result; blocks are kept below ``QR_BLOCK_COND``). Tests: exact singular values
spanning 1e-30..1e5 come back within that bound where the plain product is off by 16
orders of magnitude; a saturated sigmoid network with singular values over 130 decades
matches 200-digit mpmath within it. Limits: ``log_sv`` loses precision where
``s_min / s_max`` < ~1e-300 (T then holds subnormal numbers), and ``sv2`` underflows to 0
below ~1e-308 (``log_sv`` stays finite). The eigenvalues of J are those of the plain
product of the blocks (absolute accuracy ~eps |J|): the QR accumulation does not make
small eigenvalues accurate.
"""

from __future__ import annotations

import math

from esd.exceptions import InvalidParameter

from .backend import asarray, eigvals_beside
from .networks import Network
from .qrproduct import _lowest_nonzero, accumulate, factor, log10_cond_estimate, relative_error_bound
from .xp_activations import dphi, phi

__all__ = ["forward", "jacobian", "jacobian_spectra", "QR_SPREAD", "QR_BLOCK_COND", "GRAM_RATIO"]

#: Singular-value spread s_max/s_min beyond which the product is accumulated with QR.
QR_SPREAD = 1e10
#: Default largest estimated condition number of a block of layers multiplied plainly
#: between two QRs: relative error of the singular values up to ~eps * 1e12 = 2e-4 per
#: block (measured at N = 1000: 100 times less; 1e-7 in log s at two blocks of 1e11).
QR_BLOCK_COND = 1e12
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


def _product(network, d, start, stop, xp):
    """``D_{stop} W_{stop} ... D_{start+1} W_{start+1}`` (layers start..stop-1, 0-based)."""
    j = d[start, :, :, None] * network.W[start, ...]
    for l in range(start + 1, stop):
        j = d[l, :, :, None] * xp.matmul(network.W[l, ...], j)
    return j


def jacobian(network: Network, x0):
    """``J = D_L W_L ... D_1 W_1`` at each input: shape (B, N, N), or (N, N) for one input."""
    xp, x, single = _inputs(network, x0)
    hs, _ = _forward(network, x, xp)
    d = dphi(network.activation, hs, xp)
    j = _product(network, d, 0, network.depth, xp)
    return j[0, ...] if single else j


def _safe_log(s, xp):
    pos = s > 0.0
    return xp.where(pos, xp.log(xp.where(pos, s, xp.ones_like(s))), xp.full_like(s, -math.inf))


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


def jacobian_spectra(network: Network, x0, *, qr="auto", block_cond=QR_BLOCK_COND) -> dict:
    """Squared singular values and eigenvalues of J at each input.

    Parameters
    ----------
    network : Network
    x0 : array (B, N) or (N,)
    qr : "auto", True or False
        True accumulates the product with QR (module docstring); False forms J plainly;
        "auto" uses QR when the spread of the singular values is predicted (from the
        condition of the first half of the layers) or measured (from the plain product)
        to exceed ``QR_SPREAD``.
    block_cond : float >= 1
        Largest estimated condition number of a block of layers multiplied plainly between
        two QRs; lower it for more accuracy at the cost of more QRs (1 takes a QR after
        every layer).

    Returns
    -------
    dict with arrays of the network's namespace, one row per input (no batch axis for a
    single input): ``sv2`` (B, N) eigenvalues of ``J J^T`` ascending; ``log_sv`` (B, N)
    their halved logarithms, free of under/overflow; ``eigs`` (B, N) complex eigenvalues
    of J; ``slopes`` (L, B, N) the slopes phi'(h_l) at each input; ``method``: "gram"
    (eigvalsh of ``J J^T``, used when its smallest nonzero eigenvalue is above
    ``GRAM_RATIO`` of the largest), "svd" (svdvals of J) or "qr"; ``qr_blocks``: the
    blocks of layers ``(start, stop, log10 cond estimate, log10 error factor)`` the QR
    accumulation used (empty otherwise); ``sv_rtol``: the estimated bound on the relative
    error of the singular values that follows from those blocks (``eps * sum`` of the
    error factors: a block's condition, cond(W) for a single layer; ``None`` for the plain
    methods). With zero slopes (relu, hard-tanh) J has rank
    ``min_l #{phi'(h_l) != 0}`` (almost surely); the remaining squared singular values are
    set to exactly 0. The method is chosen once for the whole batch.
    """
    if not (isinstance(qr, bool) or qr == "auto"):
        raise InvalidParameter("qr", qr, "must be 'auto', True or False")
    if not (isinstance(block_cond, (int, float)) and math.isfinite(block_cond) and block_cond >= 1):
        raise InvalidParameter("block_cond", block_cond, "must be a finite number >= 1")
    xp, x, single = _inputs(network, x0)
    n, depth = network.width, network.depth
    hs, _ = _forward(network, x, xp)
    d = dphi(network.activation, hs, xp)
    nnz = xp.sum(xp.astype(d != 0.0, xp.int64), axis=-1)          # (L, B)
    n_zero = n - xp.min(nnz, axis=0)                               # (B,)

    def product(start, stop):
        return _product(network, d, start, stop, xp)

    def block_zeros(start, stop):
        return n - xp.min(nnz[start:stop, ...], axis=0)

    weight_conds = {}

    def weight_cond(l):
        if l not in weight_conds:
            w = network.W[l, ...][None, ...]
            weight_conds[l] = log10_cond_estimate(factor(w, xp, r_only=True).r,
                                                  xp.zeros((1,), dtype=xp.int64), xp)
        return weight_conds[l]

    # J is the product of two halves, so the first QR block costs no extra GEMM.
    half = (depth + 1) // 2
    blocks = [[0, half, product(0, half), None]]
    j = blocks[0][2]
    if half < depth:
        blocks.append([half, depth, product(half, depth), None])
        j = xp.matmul(blocks[1][2], j)

    def singular_values():
        use_qr = qr is True
        if qr == "auto":
            blocks[0][3] = factor(blocks[0][2], xp, r_only=half == depth)
            lead = log10_cond_estimate(blocks[0][3].r, block_zeros(0, half), xp)
            use_qr = lead * depth / half >= math.log10(QR_SPREAD)
        if not use_qr:
            sv2, log_sv, method, ok = _plain_spectrum(j, n_zero, xp)
            if ok or qr is False:
                return sv2, log_sv, method, [], None
        log_sv, used = accumulate(blocks, product, block_zeros, block_cond, xp, weight_cond)
        return xp.exp(2.0 * log_sv), log_sv, "qr", used, relative_error_bound(used)

    # The eigenvalues need only J; they are computed beside the singular values.
    eigs, (sv2, log_sv, method, used, rtol) = eigvals_beside(j, singular_values, xp)
    zero = xp.arange(n)[None, :] < n_zero[:, None]
    sv2 = xp.where(zero, xp.zeros_like(sv2), sv2)
    log_sv = xp.where(zero, xp.full_like(log_sv, -math.inf), log_sv)
    info = {"method": method, "qr_blocks": used, "sv_rtol": rtol}
    if single:
        return {"sv2": sv2[0, ...], "log_sv": log_sv[0, ...], "eigs": eigs[0, ...],
                "slopes": d[:, 0, :], **info}
    return {"sv2": sv2, "log_sv": log_sv, "eigs": eigs, "slopes": d, **info}
