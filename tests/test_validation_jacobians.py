"""Forward pass, Jacobians and their spectra (validation/jacobians.py) and the namespaces
they run in (validation/backend.py).

The NumPy and array-api-strict runs execute the same code: equal numbers there show that
the engine calls only the array API, apart from the one documented dispatch
(backend.eigvals), so it runs unchanged on CuPy.
"""

from __future__ import annotations

import math
import sys

import mpmath as mp
import numpy as np
import pytest
from scipy.special import erf as sp_erf

import esd
from esd.activations import ACTIVATIONS
from esd.exceptions import BackendUnavailable, InvalidParameter
from validation import backend, xp_activations
from validation.jacobians import forward, jacobian, jacobian_spectra
from validation.networks import Network
from validation.sampling import sample_network, stationary_inputs

NP = backend.namespace("numpy")
XS = backend.namespace("array_api_strict")
SMOOTH = ["tanh", "erf", "sigmoid", "linear"]


def _net(act="tanh", law="gaussian", depth=4, width=32, rng=0, **kw):
    alpha = 1.5 if law == "stable" else None
    return sample_network(act, law, kw.pop("sigma_w", 1.5), kw.pop("sigma_b", 0.1), depth, width,
                          alpha=alpha, rng=rng, **kw)


def _qr_rtol(spec):
    """Relative error bound of the QR-accumulated squared singular values.

    Each plainly multiplied block carries a relative error up to ~eps cond(block); the
    bound ``sv_rtol = eps * sum_k cond(block k)`` follows from the blocks the algorithm
    chose (their estimated conditions), not from one machine's BLAS; squaring doubles it.
    """
    assert spec["method"] == "qr" and spec["sv_rtol"] is not None
    return 2.0 * spec["sv_rtol"]


def _assert_blocks_cover(spec, depth):
    blocks = spec["qr_blocks"]
    assert blocks[0][0] == 0 and blocks[-1][1] == depth
    assert all(b[1] == c[0] for b, c in zip(blocks[:-1], blocks[1:]))


def _assert_same_multiset(a, b, atol):
    """Every eigenvalue of a has one of b within atol and vice versa."""
    dist = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    assert dist.min(axis=1).max() <= atol and dist.min(axis=0).max() <= atol


# -- backend -----------------------------------------------------------------------------
def test_namespaces():
    assert backend.is_numpy(backend.namespace("NumPy")) and not backend.is_cupy(NP)
    assert backend.namespace("array_api_strict") is XS
    with pytest.raises(InvalidParameter, match=r"\['numpy', 'cupy', 'array_api_strict'\]"):
        backend.namespace("torch")
    assert backend.get_namespace(np.zeros(2)) is NP
    assert backend.get_namespace(XS.zeros(2), None, 3.0) is XS
    assert backend.get_namespace(np.zeros(2), xp=XS) is XS
    assert backend.get_namespace(xp="array_api_strict") is XS
    x = backend.asarray(np.arange(3.0), XS)
    np.testing.assert_array_equal(backend.to_numpy(x), np.arange(3.0))
    assert isinstance(backend.to_numpy(np.arange(2)), np.ndarray)


def test_missing_cupy_is_backend_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(BackendUnavailable) as info:
        backend.namespace("cupy")
    assert str(info.value) == ("CuPy is not installed: pip install 'esd[gpu]' on a machine "
                               "with an NVIDIA GPU")
    assert isinstance(info.value.__cause__, ImportError)


def test_eigvals_dispatch():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 6, 6))
    ref = np.linalg.eigvals(a)
    for xp in (NP, XS):
        got = backend.eigvals(backend.asarray(a, xp), xp)
        assert backend.get_namespace(got) is xp and got.dtype == xp.complex128 and got.shape == (3, 6)
        np.testing.assert_array_equal(backend.to_numpy(got), ref)
    sym = a[0] + a[0].T  # real eigenvalues still come back complex
    assert backend.eigvals(sym).dtype == np.complex128


# -- activations in any namespace ---------------------------------------------------------
def test_portable_erf():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 1e-300, -1e-8, 0.4999, 0.5, 30.0, -40.0]])
    got = xp_activations.erf(x, NP)
    np.testing.assert_allclose(got, sp_erf(x), rtol=0, atol=3e-15)
    small = np.abs(x) < 0.5
    np.testing.assert_allclose(got[small], sp_erf(x[small]), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_xp_activations_match_esd(name):
    act = ACTIVATIONS[name]
    h = np.linspace(-6, 6, 1001) + 1e-3
    for xp in (NP, XS):
        hx = backend.asarray(h, xp)
        np.testing.assert_allclose(backend.to_numpy(xp_activations.phi(act, hx, xp)), act.phi(h),
                                   rtol=0, atol=3e-15)
        np.testing.assert_allclose(backend.to_numpy(xp_activations.dphi(act, hx, xp)), act.dphi(h),
                                   rtol=0, atol=3e-15)


def test_custom_activation_runs_on_host_copy():
    soft = esd.custom_activation("softplus", lambda h: np.logaddexp(0.0, h),
                                 lambda h: 1.0 / (1.0 + np.exp(-h)))
    net = _net(soft, depth=3, width=12)
    x0 = stationary_inputs(net, 2, rng=1)
    a = jacobian_spectra(net, x0)
    b = jacobian_spectra(net.to(XS), backend.asarray(x0, XS))
    np.testing.assert_array_equal(a["sv2"], backend.to_numpy(b["sv2"]))


# -- forward and Jacobian ----------------------------------------------------------------
def test_forward_convention_and_shapes():
    net = _net(depth=3, width=8)
    x0 = np.random.default_rng(1).standard_normal((5, 8))
    h, out = forward(net, x0)
    assert h.shape == (3, 5, 8) and out.shape == (5, 8)
    x = x0
    for l in range(3):
        np.testing.assert_allclose(h[l], (net.W[l] @ x.T).T + net.b[l], rtol=1e-14, atol=1e-15)
        x = np.tanh(h[l])
    np.testing.assert_allclose(out, x, rtol=1e-14)
    h1, out1 = forward(net, x0[2])
    assert h1.shape == (3, 8) and out1.shape == (8,)
    np.testing.assert_allclose(out1, out[2], rtol=1e-14)


@pytest.mark.parametrize("act", SMOOTH + ["relu"])
def test_jacobian_matches_finite_differences(act):
    net = _net(act, depth=4, width=32, sigma_w=1.3)
    x0 = np.random.default_rng(2).standard_normal(32)
    J = jacobian(net, x0)
    step = 1e-5
    E = np.eye(32) * step
    fd = (forward(net, x0[None, :] + E)[1] - forward(net, x0[None, :] - E)[1]).T / (2 * step)
    assert np.linalg.norm(J - fd) <= 1e-6 * np.linalg.norm(J)


def test_jacobian_of_linear_network_is_product_of_weights():
    net = _net("linear", depth=5, width=16, sigma_w=1.0)
    P = np.eye(16)
    for w in net.W:
        P = w @ P
    J = jacobian(net, np.random.default_rng(3).standard_normal((4, 16)))
    for j in J:
        np.testing.assert_allclose(j, P, rtol=1e-12, atol=1e-14)


def test_batch_equals_one_by_one():
    net = _net(depth=6, width=24)
    x0 = stationary_inputs(net, 4, rng=4)
    J = jacobian(net, x0)
    spec = jacobian_spectra(net, x0, qr=True)
    for i in range(4):
        np.testing.assert_allclose(J[i], jacobian(net, x0[i]), rtol=1e-13, atol=1e-15)
        one = jacobian_spectra(net, x0[i], qr=True)
        np.testing.assert_allclose(spec["sv2"][i], one["sv2"], rtol=1e-10)
        _assert_same_multiset(spec["eigs"][i], one["eigs"], 1e-10 * np.abs(one["eigs"]).max())


# -- spectra ------------------------------------------------------------------------------
@pytest.mark.parametrize("qr", ["auto", True, False])
def test_spectra_match_dense_linear_algebra(qr):
    net = _net(depth=2, width=32, sigma_w=1.2)
    x0 = stationary_inputs(net, 3, rng=5)
    spec = jacobian_spectra(net, x0, qr=qr)
    J = jacobian(net, x0)
    s2 = np.sort(np.linalg.svd(J, compute_uv=False) ** 2, axis=-1)
    assert spec["sv2"].shape == (3, 32) and spec["eigs"].shape == (3, 32)
    assert spec["eigs"].dtype == np.complex128 and np.all(np.diff(spec["sv2"], axis=-1) >= 0)
    np.testing.assert_allclose(spec["sv2"], s2, rtol=1e-8)
    np.testing.assert_allclose(np.exp(2 * spec["log_sv"]), spec["sv2"], rtol=1e-13)
    for i in range(3):
        _assert_same_multiset(spec["eigs"][i], np.linalg.eigvals(J[i]), 1e-12)
    assert spec["method"] == ("qr" if qr is True else "gram")


def _graded_network(n=40, depth=10, lo=-30.0, hi=5.0, rng=3):
    """Linear network with W_l = O_l S_l O_{l-1}^T: J = O_L (prod S_l) O_0^T, exact singular
    values 10^linspace(lo, hi); each layer's own spread is only ~10^4."""
    g = np.random.default_rng(rng)

    def haar():
        q, r = np.linalg.qr(g.standard_normal((n, n)))
        return q * np.where(np.diag(r) < 0, -1.0, 1.0)

    logs = np.linspace(lo, hi, n)
    g.shuffle(logs)
    jitter = 0.3 * g.standard_normal((depth, n))
    per_layer = logs / depth + jitter - jitter.mean(axis=0)
    O = [haar() for _ in range(depth + 1)]
    W = np.stack([(O[l + 1] * 10.0 ** per_layer[l]) @ O[l].T for l in range(depth)])
    net = Network(W=W, b=np.zeros((depth, n)), activation=esd.get_activation("linear"))
    return net, np.sort(10.0 ** (2 * logs))


def test_qr_accumulation_recovers_graded_singular_values():
    net, exact = _graded_network()
    x0 = np.zeros(40)
    rel = lambda s: np.max(np.abs(s - exact) / exact)  # noqa: E731
    qr = jacobian_spectra(net, x0, qr=True)
    plain = jacobian_spectra(net, x0, qr=False)
    auto = jacobian_spectra(net, x0)
    assert qr["method"] == "qr" and auto["method"] == "qr" and plain["method"] == "svd"
    assert rel(qr["sv2"]) < _qr_rtol(qr) < 1e-3
    np.testing.assert_allclose(qr["log_sv"], 0.5 * np.log(exact), rtol=0, atol=_qr_rtol(qr) / 2)
    _assert_blocks_cover(qr, net.depth)
    assert rel(plain["sv2"]) > 1.0  # the plain product cannot see below eps * s_max
    np.testing.assert_array_equal(auto["sv2"], qr["sv2"])


def test_qr_spectrum_of_deep_tanh_network_against_mpmath():
    net = _net("tanh", depth=30, width=10, sigma_w=1.5, rng=6)
    x0 = stationary_inputs(net, 1, rng=7)[0]
    spec = jacobian_spectra(net, x0)
    assert spec["method"] == "qr"
    h, _ = forward(net, x0)
    with mp.workdps(60):
        J = mp.eye(10)
        for l in range(30):
            a = ACTIVATIONS["tanh"].dphi(h[l])[:, None] * net.W[l]  # the float64 factors, exactly
            J = mp.matrix(a.tolist()) * J
        exact = np.sort([float(s) ** 2 for s in mp.svd_r(J, compute_uv=False)])
    assert exact[0] / exact[-1] < 1e-30  # a spread the plain product cannot resolve
    np.testing.assert_allclose(spec["sv2"], exact, rtol=_qr_rtol(spec))
    assert len(spec["qr_blocks"]) >= 3  # 30 decades cannot be two blocks below 1e12
    _assert_blocks_cover(spec, net.depth)


def test_qr_spectrum_with_saturated_units_against_mpmath():
    """Cauchy weights saturate sigmoid units: slopes down to ~1e-63 scale single rows of
    D_l W_l. Without sorting the rows before each QR the smallest singular value came out
    ~1e40 times too large; with it, it is exact to rounding."""
    net = sample_network("sigmoid", "cauchy", 2.0, 0.1, 5, 24, rng=3)
    x0 = stationary_inputs(net, 1, rng=4)[0]
    spec = jacobian_spectra(net, x0)
    assert spec["method"] == "qr"
    h, _ = forward(net, x0)
    d = ACTIVATIONS["sigmoid"].dphi(h)
    assert d.min() < 1e-60
    with mp.workdps(200):
        J = mp.eye(24)
        for l in range(5):
            J = mp.matrix((d[l][:, None] * net.W[l]).tolist()) * J
        exact = np.sort([float(mp.log(s)) for s in mp.svd_r(J, compute_uv=False)])
    assert exact[-1] - exact[0] > 120 * np.log(10)
    assert spec["sv_rtol"] < 1e-10  # single-layer blocks: cond(W), not the slopes' spread
    np.testing.assert_allclose(spec["log_sv"], exact, rtol=0, atol=_qr_rtol(spec) / 2)
    np.testing.assert_allclose(spec["sv2"], np.exp(2 * exact), rtol=_qr_rtol(spec))


def test_method_choice_gram_for_orthogonal_linear():
    net = _net("linear", "orthogonal", depth=6, width=20, sigma_w=1.1)
    spec = jacobian_spectra(net, np.zeros(20))
    assert spec["method"] == "gram"
    np.testing.assert_allclose(spec["sv2"], 1.1 ** 12, rtol=1e-12)
    np.testing.assert_allclose(np.abs(spec["eigs"]), 1.1 ** 6, rtol=1e-12)


@pytest.mark.parametrize("act", ["relu", "hard-tanh"])
def test_structural_zero_singular_values(act):
    net = _net(act, depth=3, width=30, sigma_w=2.0)
    x0 = stationary_inputs(net, 2, rng=8)
    h, _ = forward(net, x0)
    d = ACTIVATIONS[act].dphi(h)
    n_zero = 30 - (d != 0).sum(axis=-1).min(axis=0)
    assert np.all(n_zero > 0)
    plain_s = np.sort(np.linalg.svd(jacobian(net, x0), compute_uv=False), axis=-1)
    for qr in ("auto", True, False):
        spec = jacobian_spectra(net, x0, qr=qr)
        for i in range(2):
            z = n_zero[i]
            assert np.all(spec["sv2"][i, :z] == 0.0) and np.all(spec["sv2"][i, z:] > 0.0)
            assert np.all(np.isneginf(spec["log_sv"][i, :z]))
            # the zeroed ones are exactly the numerically null ones of the plain product
            assert plain_s[i, z - 1] < 1e-12 * plain_s[i, -1] < plain_s[i, z]


def test_tied_and_stable_networks_run():
    for net in (_net(depth=5, width=16, tied=True), _net(law="stable", depth=5, width=16),
                _net(law="cauchy", depth=5, width=16, sigma_w=0.5)):
        spec = jacobian_spectra(net, stationary_inputs(net, 2, rng=1))
        assert np.all(np.isfinite(spec["sv2"])) and np.all(np.isfinite(spec["eigs"]))


def test_bad_arguments():
    net = _net(depth=2, width=8)
    with pytest.raises(InvalidParameter, match="qr"):
        jacobian_spectra(net, np.zeros(8), qr="always")
    for bad in (0.5, math.inf, "1e8"):
        with pytest.raises(InvalidParameter, match="block_cond"):
            jacobian_spectra(net, np.zeros(8), block_cond=bad)
    with pytest.raises(InvalidParameter, match="x0"):
        jacobian(net, np.zeros(7))
    with pytest.raises(InvalidParameter, match="x0"):
        forward(net, np.zeros((2, 2, 8)))
    with pytest.raises(InvalidParameter, match="x0"):
        forward(net, np.full(8, np.nan))
    with pytest.raises(InvalidParameter, match="x0"):
        forward(net, np.zeros(8, dtype=complex))
    with pytest.raises(InvalidParameter, match="network"):
        forward(np.zeros((2, 8, 8)), np.zeros(8))


# -- NumPy and array-api-strict run the same code ------------------------------------------
@pytest.mark.parametrize("act, law, qr", [
    ("tanh", "gaussian", "auto"), ("tanh", "gaussian", False), ("erf", "orthogonal", "auto"),
    ("sigmoid", "stable", True), ("relu", "gaussian", "auto"), ("hard-tanh", "cauchy", False),
    ("linear", "orthogonal", "auto"),
])
def test_numpy_and_array_api_strict_agree(act, law, qr):
    net = _net(act, law, depth=5, width=24, sigma_w=1.2)
    strict = net.to(XS)
    x0 = stationary_inputs(net, 3, rng=9)
    xs = stationary_inputs(strict, 3, rng=9)
    assert backend.get_namespace(xs) is XS
    np.testing.assert_allclose(backend.to_numpy(xs), x0, rtol=1e-10, atol=1e-14)
    h, out = forward(net, x0)
    hs, outs = forward(strict, xs)
    np.testing.assert_allclose(backend.to_numpy(hs), h, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(outs), out, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(jacobian(strict, xs)), jacobian(net, x0),
                               rtol=1e-10, atol=1e-14)
    a, b = jacobian_spectra(net, x0, qr=qr), jacobian_spectra(strict, xs, qr=qr)
    assert a["method"] == b["method"]
    for key in ("sv2", "eigs"):
        assert backend.get_namespace(b[key]) is XS
        np.testing.assert_allclose(backend.to_numpy(b[key]), a[key], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("block_cond", [1e12, 1e8])
def test_blocked_qr_matches_qr_after_every_layer(block_cond):
    # Plain products between QRs keep the relative accuracy sv_rtol promises: compare with
    # one QR per layer (block_cond = 1) on a deep gaussian tanh network whose singular
    # values spread over ~30 decades, so the blocks must be re-planned shorter.
    net = _net("tanh", depth=12, width=60, sigma_w=1.5, rng=12)
    x0 = stationary_inputs(net, 2, rng=13)
    blocked = jacobian_spectra(net, x0, qr=True, block_cond=block_cond)
    per_layer = jacobian_spectra(net, x0, qr=True, block_cond=1.0)
    assert [b[:2] for b in per_layer["qr_blocks"]] == [(l, l + 1) for l in range(12)]
    _assert_blocks_cover(blocked, 12)
    assert 2 < len(blocked["qr_blocks"]) < 12
    assert all(c <= np.log10(block_cond) for _, _, c, _ in blocked["qr_blocks"])
    spread = per_layer["log_sv"][:, -1] - per_layer["log_sv"][:, 0]
    assert np.all(spread > 15 * np.log(10))
    np.testing.assert_allclose(blocked["log_sv"], per_layer["log_sv"], rtol=0,
                               atol=blocked["sv_rtol"] + per_layer["sv_rtol"])
    np.testing.assert_allclose(blocked["eigs"], per_layer["eigs"], rtol=0,
                               atol=1e-10 * np.abs(per_layer["eigs"]).max())


def test_eigvals_beside_matches_sequential_and_raises():
    a = np.random.default_rng(0).standard_normal((3, 40, 40))
    eigs, done = backend.eigvals_beside(a, lambda: np.linalg.svd(a, compute_uv=False))
    np.testing.assert_array_equal(np.sort_complex(eigs), np.sort_complex(np.linalg.eigvals(a)))
    np.testing.assert_array_equal(done, np.linalg.svd(a, compute_uv=False))

    def boom():
        raise ValueError("work failed")

    with pytest.raises(ValueError, match="work failed"):
        backend.eigvals_beside(a, boom)
