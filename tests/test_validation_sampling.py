"""Random networks and stationary inputs (validation/sampling.py): laws, seeds, files, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import esd
from esd.exceptions import InvalidParameter
from validation import backend
from validation.networks import Network, load_network
from validation.sampling import LAWS, sample_network, standard_stable, stationary_inputs

XP_STRICT = backend.namespace("array_api_strict")


def _draw(law, **kw):
    kw.setdefault("alpha", 1.5 if law == "stable" else None)
    return sample_network("tanh", law, kw.pop("sigma_w", 1.3), kw.pop("sigma_b", 0.2),
                          kw.pop("depth", 3), kw.pop("width", 16), rng=kw.pop("rng", 7), **kw)


# -- reproducibility -------------------------------------------------------------------
@pytest.mark.parametrize("law", LAWS)
def test_same_seed_same_network_different_seed_differs(law):
    a, b, c = _draw(law, rng=11), _draw(law, rng=11), _draw(law, rng=12)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.b, b.b)
    assert not np.array_equal(a.W, c.W) and not np.array_equal(a.b, c.b)
    assert a.W.dtype == np.float64 and a.W.shape == (3, 16, 16) and a.b.shape == (3, 16)


def test_generator_and_seed_are_the_same_stream_and_recorded():
    a = _draw("gaussian", rng=5)
    b = _draw("gaussian", rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.W, b.W)
    assert a.params["seed_entropy"] == 5 and a.params["seed_spawn_key"] == []
    child = np.random.SeedSequence(5).spawn(3)[2]
    c = _draw("gaussian", rng=np.random.default_rng(child))
    assert c.params["seed_entropy"] == 5 and c.params["seed_spawn_key"] == [2]
    # an unseeded draw records fresh entropy that replays it
    d = _draw("gaussian", rng=None)
    e = _draw("gaussian", rng=np.random.SeedSequence(d.params["seed_entropy"]))
    np.testing.assert_array_equal(d.W, e.W)


@pytest.mark.parametrize("law", LAWS)
def test_identical_network_in_array_api_strict(law):
    a = _draw(law)
    b = _draw(law, xp=XP_STRICT)
    assert backend.get_namespace(b.W) is XP_STRICT
    np.testing.assert_array_equal(a.W, backend.to_numpy(b.W))
    np.testing.assert_array_equal(a.b, backend.to_numpy(b.b))
    np.testing.assert_array_equal(a.W, backend.to_numpy(a.to(XP_STRICT).W))


def test_weights_do_not_depend_on_bias_scale():
    a, b = _draw("stable", sigma_b=0.0), _draw("stable", sigma_b=2.0)
    np.testing.assert_array_equal(a.W, b.W)
    assert np.all(a.b == 0.0) and np.all(b.b != 0.0)


# -- laws --------------------------------------------------------------------------------
def test_gaussian_variance():
    n, sw = 200, 1.7
    w = sample_network("tanh", "gaussian", sw, 0.0, 2, n, rng=1).W.ravel()
    var, count = sw ** 2 / n, w.size
    assert abs(w.mean()) < 5 * math.sqrt(var / count)
    assert abs(w.var() / var - 1.0) < 5 * math.sqrt(2.0 / count)


def test_orthogonal_is_scaled_orthogonal_and_haar():
    sw = 1.4
    W = sample_network("tanh", "orthogonal", sw, 0.0, 3, 64, rng=2).W
    for w in W:
        np.testing.assert_allclose(w @ w.T, sw ** 2 * np.eye(64), atol=1e-12)
    # Haar: E[O_11] = 0 and E[O_11^2] = 1/N (without the sign fix diag(R) > 0 biases O_11)
    O = sample_network("tanh", "orthogonal", 1.0, 0.0, 4000, 4, rng=3).W[:, 0, 0]
    assert abs(O.mean()) < 5 * math.sqrt(0.25 / O.size)
    assert abs(np.mean(O ** 2) - 0.25) < 0.02


def test_cauchy_median_abs_is_one():
    n, sw = 200, 0.8
    s = sample_network("tanh", "cauchy", sw, 0.0, 2, n, rng=4).W.ravel() * n / sw
    # |standard Cauchy| has median 1 and density 1/pi there: s.e. of the median pi / (2 sqrt(n))
    assert abs(np.median(np.abs(s)) - 1.0) < 5 * math.pi / (2 * math.sqrt(s.size))


@pytest.mark.parametrize("alpha", [0.7, 1.5])
def test_stable_characteristic_function(alpha):
    n, sw = 200, 1.2
    s = sample_network("tanh", "stable", sw, 0.0, 2, n, alpha=alpha, rng=5).W.ravel() * n ** (1 / alpha) / sw
    for t in (0.3, 1.0, 2.5):
        assert abs(np.mean(np.cos(t * s)) - math.exp(-t ** alpha)) < 5 / math.sqrt(2 * s.size)
        assert abs(np.mean(np.sin(t * s))) < 5 / math.sqrt(2 * s.size)


def test_standard_stable_alpha_one_is_tan():
    u = np.random.default_rng(9).random(10)
    np.testing.assert_array_equal(standard_stable(np.random.default_rng(9), 1.0, 10),
                                  np.tan(math.pi * (u - 0.5)))


def test_biases():
    n = 400
    b = sample_network("tanh", "gaussian", 1.0, 0.3, 5, n, rng=6).b.ravel()
    assert abs(b.var() / 0.09 - 1.0) < 5 * math.sqrt(2.0 / b.size)
    b = sample_network("tanh", "cauchy", 1.0, 0.3, 5, n, rng=6).b.ravel() / 0.3
    assert abs(np.median(np.abs(b)) - 1.0) < 5 * math.pi / (2 * math.sqrt(b.size))
    assert np.all(sample_network("tanh", "orthogonal", 1.0, 0.0, 2, 8, rng=6).b == 0.0)


def test_tied_repeats_one_layer():
    net = _draw("gaussian", tied=True, depth=5)
    assert net.tied and net.W.shape == (5, 16, 16)
    for l in range(5):
        np.testing.assert_array_equal(net.W[l], net.W[0])
        np.testing.assert_array_equal(net.b[l], net.b[0])
    # the tied layer is the first layer of the untied draw with the same seed
    np.testing.assert_array_equal(net.W[0], _draw("gaussian", depth=5).W[0])
    with pytest.raises(InvalidParameter, match="sigma_w"):
        _draw("gaussian", tied=True, sigma_w=[1.0, 2.0, 1.0])
    assert _draw("gaussian", tied=True, sigma_w=[1.5, 1.5, 1.5]).tied


@pytest.mark.parametrize("law", LAWS)
def test_per_layer_scales(law):
    sw, sb = [0.5, 1.0, 2.0], [0.0, 0.1, 0.3]
    a = _draw(law, sigma_w=sw, sigma_b=sb)
    one = _draw(law, sigma_w=1.0, sigma_b=1.0)
    for l in range(3):
        np.testing.assert_allclose(a.W[l], sw[l] * one.W[l], rtol=1e-14)
        np.testing.assert_allclose(a.b[l], sb[l] * one.b[l], rtol=1e-14)
    assert a.params["sigma_w"] == sw and one.params["sigma_w"] == 1.0


def test_to_dict_is_json():
    net = _draw("stable", rng=np.random.SeedSequence(3).spawn(2)[1])
    d = net.to_dict()
    assert d["law"] == "stable" and d["alpha"] == 1.5 and d["activation"] == "tanh"
    assert d["width"] == 16 and d["depth"] == 3 and d["seed_spawn_key"] == [1]
    assert d["esd_version"] == esd.__version__
    json.dumps(d)


# -- parameters --------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(weights="uniform"), "weights"),
    (dict(weights=3), "weights"),
    (dict(weights="stable", alpha=None), "alpha"),
    (dict(weights="stable", alpha=0.0), "alpha"),
    (dict(weights="stable", alpha=2.0), "alpha"),
    (dict(weights="stable", alpha=-1.0), "alpha"),
    (dict(weights="stable", alpha=True), "alpha"),
    (dict(weights="cauchy", alpha=1.5), "alpha"),
    (dict(weights="gaussian", alpha=1.5), "alpha"),
    (dict(sigma_w=0.0), "sigma_w"),
    (dict(sigma_w=-1.0), "sigma_w"),
    (dict(sigma_w=float("nan")), "sigma_w"),
    (dict(sigma_w=True), "sigma_w"),
    (dict(sigma_w="1"), "sigma_w"),
    (dict(sigma_w=[1.0, 2.0]), "sigma_w"),
    (dict(sigma_w=[1.0, 0.0, 1.0]), "sigma_w[1]"),
    (dict(sigma_b=-0.1), "sigma_b"),
    (dict(sigma_b=float("inf")), "sigma_b"),
    (dict(depth=0), "depth"),
    (dict(depth=2.0), "depth"),
    (dict(depth=True), "depth"),
    (dict(width=0), "width"),
    (dict(tied="yes"), "tied"),
    (dict(rng="seed"), "rng"),
    (dict(rng=-3), "rng"),
    (dict(activation="swish"), "activation"),
])
def test_bad_parameters(kwargs, name):
    args = dict(activation="tanh", weights="gaussian", sigma_w=1.0, sigma_b=0.1, depth=3, width=4)
    args.update(kwargs)
    with pytest.raises(InvalidParameter) as info:
        sample_network(args.pop("activation"), args.pop("weights"), args.pop("sigma_w"),
                       args.pop("sigma_b"), args.pop("depth"), args.pop("width"), **args)
    assert info.value.name == name


def test_cauchy_accepts_alpha_one_and_bad_backend_name():
    assert _draw("cauchy", alpha=1).params["alpha"] == 1.0
    with pytest.raises(InvalidParameter, match="numpy"):
        _draw("gaussian", xp="torch")


# -- files -------------------------------------------------------------------------------
def test_load_network_roundtrip(tmp_path):
    net = _draw("gaussian")
    path = tmp_path / "net.npz"
    np.savez(path, W=net.W, b=net.b)
    got = load_network(path, "tanh")
    np.testing.assert_array_equal(got.W, net.W)
    np.testing.assert_array_equal(got.b, net.b)
    assert got.params["law"] == "file" and got.params["path"] == str(path)
    assert got.depth == 3 and got.width == 16
    json.dumps(got.to_dict())
    np.savez(path, W=np.ones((2, 3, 3), dtype=np.int32), b=np.zeros((2, 3), dtype=np.float32))
    got = load_network(path, "relu", xp=XP_STRICT)
    assert got.W.dtype == XP_STRICT.float64 and got.b.dtype == XP_STRICT.float64


def _bad_npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("arrays, name, match", [
    (dict(b=np.zeros((2, 3))), "path", "lacks"),
    (dict(W=np.zeros((2, 3, 3))), "path", "lacks"),
    (dict(W=np.zeros((3, 3)), b=np.zeros((1, 3))), "W", "shape"),
    (dict(W=np.zeros((2, 3, 4)), b=np.zeros((2, 3))), "W", "shape"),
    (dict(W=np.zeros((0, 3, 3)), b=np.zeros((0, 3))), "W", "shape"),
    (dict(W=np.zeros((2, 3, 3)), b=np.zeros((3, 3))), "b", "shape"),
    (dict(W=np.zeros((2, 3, 3)), b=np.zeros(3)), "b", "shape"),
    (dict(W=np.zeros((2, 3, 3), dtype=complex), b=np.zeros((2, 3))), "W", "real"),
    (dict(W=np.zeros((2, 3, 3)), b=np.zeros((2, 3), dtype=bool)), "b", "real"),
    (dict(W=np.array([["a"]]), b=np.zeros((2, 3))), "W", "real"),
    (dict(W=np.full((2, 3, 3), np.nan), b=np.zeros((2, 3))), "W", "finite"),
    (dict(W=np.zeros((2, 3, 3)), b=np.full((2, 3), np.inf)), "b", "finite"),
])
def test_load_network_failures(tmp_path, arrays, name, match):
    with pytest.raises(InvalidParameter, match=match) as info:
        load_network(_bad_npz(tmp_path, **arrays), "tanh")
    assert info.value.name == name


def test_load_network_unreadable(tmp_path):
    with pytest.raises(InvalidParameter, match="no such file"):
        load_network(tmp_path / "missing.npz", "tanh")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive at all")
    with pytest.raises(InvalidParameter, match="readable"):
        load_network(garbage, "tanh")
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((2, 3, 3)))
    with pytest.raises(InvalidParameter, match="npz"):
        load_network(single, "tanh")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, W=np.array([{"a": 1}], dtype=object), b=np.zeros((1, 1)))
    with pytest.raises(InvalidParameter, match="readable"):
        load_network(pickled, "tanh")
    with pytest.raises(InvalidParameter, match="path"):
        load_network(3, "tanh")
    with pytest.raises(InvalidParameter, match="activation"):
        load_network(single, "swish")


# -- stationary inputs -------------------------------------------------------------------
def test_stationary_inputs_shape_seed_and_no_burn_in():
    net = _draw("gaussian")
    x = stationary_inputs(net, 5, rng=3)
    assert x.shape == (5, 16) and x.dtype == np.float64
    np.testing.assert_array_equal(x, stationary_inputs(net, 5, rng=3))
    assert not np.array_equal(x, stationary_inputs(net, 5, rng=4))
    z = np.random.default_rng(3).standard_normal((5, 16))
    np.testing.assert_array_equal(stationary_inputs(net, 5, burn_in=0, rng=3), np.tanh(z))
    xs = stationary_inputs(net.to(XP_STRICT), 5, rng=3)
    assert backend.get_namespace(xs) is XP_STRICT
    np.testing.assert_array_equal(backend.to_numpy(xs), x)


def test_stationary_inputs_reach_q_star():
    sw, sb, n = 3.0, 0.5, 300
    q = esd.q_star(esd.get_activation("tanh"), sw, sb)
    net = sample_network("tanh", "gaussian", sw, sb, 1, n, rng=8)
    for burn_in, close in ((8, True), (0, False)):
        h = net.W[0] @ stationary_inputs(net, 30, burn_in=burn_in, rng=9).T + net.b[0][:, None]
        assert (abs(np.mean(h ** 2) / q - 1.0) < 0.15) == close


@pytest.mark.parametrize("law", ["cauchy", "stable"])
def test_stationary_inputs_stable_laws(law):
    net = _draw(law)
    x = stationary_inputs(net, 4, rng=1)
    assert x.shape == (4, 16) and np.all(np.abs(x) <= 1.0)
    s = standard_stable(np.random.default_rng(1), net.params["alpha"], (4, 16))
    np.testing.assert_array_equal(stationary_inputs(net, 4, burn_in=0, rng=1), np.tanh(s))


def test_stationary_inputs_loaded_network_and_errors(tmp_path):
    net = _draw("gaussian")
    path = tmp_path / "n.npz"
    np.savez(path, W=net.W, b=net.b)
    loaded = load_network(path, "tanh")
    x = stationary_inputs(loaded, 2, burn_in=4, rng=0)
    y = np.tanh(np.random.default_rng(0).standard_normal((2, 16)))
    for k in range(4):
        y = np.tanh(y @ net.W[k % 3].T + net.b[k % 3])
    np.testing.assert_allclose(x, y, rtol=1e-14)
    for kwargs, name in ((dict(n_inputs=0), "n_inputs"), (dict(n_inputs=2, burn_in=-1), "burn_in"),
                         (dict(n_inputs=2, rng="x"), "rng")):
        with pytest.raises(InvalidParameter) as info:
            stationary_inputs(net, **kwargs)
        assert info.value.name == name
    with pytest.raises(InvalidParameter):
        stationary_inputs(np.zeros((2, 2)), 1)


def test_network_properties():
    net = _draw("orthogonal")
    assert isinstance(net, Network) and net.depth == 3 and net.width == 16
    assert backend.is_numpy(net.xp)
