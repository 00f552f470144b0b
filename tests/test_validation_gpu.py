"""CuPy runs the engine's code and gives NumPy's numbers for the same seed.

Skipped as a module where CuPy cannot be imported or no CUDA device is usable.
"""

from __future__ import annotations

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")

from esd.exceptions import BackendUnavailable  # noqa: E402
from validation import backend  # noqa: E402
from validation.jacobians import forward, jacobian, jacobian_spectra  # noqa: E402
from validation.sampling import LAWS, sample_network, stationary_inputs  # noqa: E402

try:
    CP = backend.namespace("cupy")
except BackendUnavailable as exc:  # CuPy installed, but no GPU
    pytest.skip(str(exc), allow_module_level=True)

NP = backend.namespace("numpy")


def _pair(law, act="tanh", depth=5, width=64, **kw):
    alpha = 1.5 if law == "stable" else None
    args = (act, law, 1.3, 0.1, depth, width)
    return (sample_network(*args, alpha=alpha, rng=3, xp=NP, **kw),
            sample_network(*args, alpha=alpha, rng=3, xp=CP, **kw))


def _assert_same_multiset(a, b, atol):
    """Every eigenvalue of a has one of b within atol and vice versa."""
    dist = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :])
    assert dist.min(axis=1).max() <= atol and dist.min(axis=0).max() <= atol


def test_namespace_and_host_copy():
    assert backend.is_cupy(CP) and not backend.is_numpy(CP)
    x = backend.asarray(np.arange(4.0), CP)
    assert isinstance(x, cupy.ndarray) and backend.get_namespace(x) is CP
    np.testing.assert_array_equal(backend.to_numpy(x), np.arange(4.0))


@pytest.mark.parametrize("law", LAWS)
def test_same_seed_same_network_on_gpu(law):
    a, b = _pair(law)
    np.testing.assert_array_equal(backend.to_numpy(b.W), a.W)
    np.testing.assert_array_equal(backend.to_numpy(b.b), a.b)
    t_a, t_b = _pair(law, tied=True)
    np.testing.assert_array_equal(backend.to_numpy(t_b.W), t_a.W)


def test_eigvals_on_gpu_matches_numpy():
    a = np.random.default_rng(0).standard_normal((3, 50, 50))
    got = backend.eigvals(backend.asarray(a, CP), CP)
    assert isinstance(got, cupy.ndarray) and got.dtype == cupy.complex128 and got.shape == (3, 50)
    for g, r in zip(backend.to_numpy(got), np.linalg.eigvals(a)):
        _assert_same_multiset(g, r, 1e-10)


@pytest.mark.parametrize("act, law, qr", [("tanh", "gaussian", "auto"), ("tanh", "gaussian", False),
                                          ("erf", "orthogonal", "auto"), ("relu", "gaussian", True),
                                          ("sigmoid", "stable", "auto")])
def test_cupy_equals_numpy(act, law, qr):
    a, b = _pair(law, act)
    xa = stationary_inputs(a, 3, rng=4)
    xb = stationary_inputs(b, 3, rng=4)
    assert isinstance(xb, cupy.ndarray)
    np.testing.assert_allclose(backend.to_numpy(xb), xa, rtol=1e-12, atol=1e-14)
    xb = backend.asarray(xa, CP)  # same inputs, to compare the Jacobian code alone
    np.testing.assert_allclose(backend.to_numpy(forward(b, xb)[1]), forward(a, xa)[1],
                               rtol=1e-12, atol=1e-14)
    Ja = jacobian(a, xa)
    np.testing.assert_allclose(backend.to_numpy(jacobian(b, xb)), Ja, rtol=1e-10, atol=1e-12 * np.abs(Ja).max())
    sa, sb = jacobian_spectra(a, xa, qr=qr), jacobian_spectra(b, xb, qr=qr)
    assert sa["method"] == sb["method"]
    sv2 = backend.to_numpy(sb["sv2"])
    keep = sa["sv2"] > 1e-12 * sa["sv2"][:, -1:] if sa["method"] != "qr" else np.ones_like(sv2, bool)
    np.testing.assert_allclose(sv2[keep], sa["sv2"][keep], rtol=1e-8)
    eb = backend.to_numpy(sb["eigs"])
    for i in range(3):
        _assert_same_multiset(eb[i], sa["eigs"][i], 1e-8 * np.abs(sa["eigs"][i]).max())
