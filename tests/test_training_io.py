"""Datasets (training.data) and model files (training.modelio): formats, round trips, errors."""

from __future__ import annotations

import json
import os
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from esd.exceptions import InvalidParameter
from training.data import Dataset, load_dataset, split
from training.modelio import load_layers, save_layers
from validation.networks import load_network


def _raises(call, *names):
    """The InvalidParameter of ``call``: one line, naming every string of ``names``."""
    with pytest.raises(InvalidParameter) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    for name in names:
        assert name in text
    return text


def _layers(widths, seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(widths[:-1], widths[1:])]
    biases = [rng.standard_normal(n_out) for n_out in widths[1:]]
    return weights, biases


def _assert_same(loaded, weights, biases):
    got_w, got_b, _ = loaded
    assert len(got_w) == len(weights) and len(got_b) == len(biases)
    for got, want in zip(got_w + got_b, weights + biases):
        assert got.dtype == np.float64
        assert np.array_equal(got, want)


# -- digits -------------------------------------------------------------------------
def test_digits_shape_range_and_params():
    data = load_dataset("digits")
    assert isinstance(data, Dataset)
    assert data.x.shape == (1797, 64) and data.x.dtype == np.float64
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    assert data.image_shape == (8, 8) and data.name == "digits"
    params = data.to_dict()
    assert params["scaling"] == {"rule": "1/16", "offset": 0.0, "scale": 16.0}
    assert params["n"] == 1797 and params["N"] == 64
    json.dumps(params)


def test_digits_limit_and_shuffle_are_reproducible():
    first = load_dataset(limit=100)
    assert np.array_equal(first.x, load_dataset().x[:100])
    a, b = load_dataset(limit=100, rng=3), load_dataset(limit=100, rng=3)
    assert a.x.shape == (100, 64) and np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, load_dataset(limit=100, rng=4).x)
    assert a.params["shuffled"] and a.params["shuffle_seed"] == 3 and a.params["limit"] == 100
    gen = load_dataset(limit=5, rng=np.random.default_rng(3))
    assert np.array_equal(gen.x, a.x[:5]) and gen.params["shuffle_seed"] is None


def test_split_sizes_disjoint_and_seeded(tmp_path):
    rows = np.random.default_rng(0).random((50, 4))
    np.save(tmp_path / "rows.npy", rows)
    data = load_dataset(tmp_path / "rows.npy")
    train, test = split(data, test_fraction=0.2, rng=1)
    assert train.x.shape == (40, 4) and test.x.shape == (10, 4)
    seen = {tuple(r) for r in train.x} | {tuple(r) for r in test.x}
    assert not {tuple(r) for r in train.x} & {tuple(r) for r in test.x}
    assert seen == {tuple(r) for r in rows}
    assert train.params["split"] == "train" and test.params["n"] == 10
    again = split(data, test_fraction=0.2, rng=1)
    assert np.array_equal(again[1].x, test.x)
    digits_train, digits_test = split(load_dataset())
    assert (digits_train.x.shape[0], digits_test.x.shape[0]) == (1438, 359)


@pytest.mark.parametrize("kwargs, name", [
    ({"limit": 0}, "limit"), ({"limit": 1798}, "limit"), ({"limit": 2.5}, "limit"),
    ({"rng": "seed"}, "rng"),
])
def test_load_dataset_bad_arguments(kwargs, name):
    _raises(lambda: load_dataset("digits", **kwargs), name)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1e-6, True, "0.2"])
def test_split_bad_fraction(fraction):
    _raises(lambda: split(load_dataset(limit=20), test_fraction=fraction), "test_fraction")


def test_bad_source_type():
    _raises(lambda: load_dataset(42), "source")


# -- users' arrays ------------------------------------------------------------------
def test_npy_uint8_images_divided_by_255(tmp_path):
    raw = np.random.default_rng(0).integers(0, 200, size=(10, 8, 8), dtype=np.uint8)
    np.save(tmp_path / "faces.npy", raw)
    data = load_dataset(tmp_path / "faces.npy")
    assert data.image_shape == (8, 8) and data.name == "faces"
    assert np.array_equal(data.x, raw.reshape(10, 64) / 255.0)
    assert data.params["scaling"]["rule"] == "uint8/255"


def test_npz_images_key_and_single_array(tmp_path):
    raw = np.random.default_rng(1).random((6, 5, 4))
    np.savez(tmp_path / "set.npz", labels=np.arange(6), images=raw)
    data = load_dataset(str(tmp_path / "set.npz"))
    assert data.params["key"] == "images" and data.image_shape == (5, 4)
    assert np.array_equal(data.x, raw.reshape(6, 20))
    assert data.params["scaling"]["rule"] == "none"
    np.savez(tmp_path / "one.npz", pictures=raw[..., None])
    single = load_dataset(tmp_path / "one.npz")
    assert single.params["key"] == "pictures" and single.image_shape == (5, 4)
    assert np.array_equal(single.x, data.x)


def test_float_range_is_min_max_scaled(tmp_path):
    raw = np.random.default_rng(2).uniform(0.5, 3.0, size=(7, 9))
    np.save(tmp_path / "rows.npy", raw)
    data = load_dataset(tmp_path / "rows.npy")
    lo, hi = raw.min(), raw.max()
    assert data.image_shape == (9,)
    assert np.array_equal(data.x, (raw - lo) / (hi - lo))
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    assert data.params["scaling"] == {"rule": "min-max", "offset": lo, "scale": hi - lo}


def _bad_file(tmp_path, case):
    images = np.random.default_rng(0).random((4, 3, 3))
    path = tmp_path / ("x.txt" if case == "suffix" else "x.npy")
    if case == "missing":
        return tmp_path / "absent.npy", "no such file"
    if case == "suffix":
        path.write_text("1 2 3")
        return path, ".npy or .npz"
    if case == "corrupt":
        path = tmp_path / "x.npz"
        path.write_bytes(b"\x00\x01 definitely not an archive \xff" * 8)
        return path, "not a readable"
    if case == "truncated":
        path = tmp_path / "x.npz"
        np.savez(path, images=images)
        path.write_bytes(path.read_bytes()[:60])
        return path, "not a readable"
    arrays = {
        "nan": np.where(np.arange(36).reshape(4, 3, 3) % 7 == 0, np.nan, images),
        "one_d": np.arange(10.0),
        "colour": np.random.default_rng(0).random((4, 3, 3, 3)),
        "empty": np.zeros((0, 3, 3)),
        "one_pixel": np.random.default_rng(0).random((4, 1)),
        "constant": np.full((4, 3, 3), 0.5),
        "complex": images + 1j,
        "object": np.array([{"a": 1}, None], dtype=object),
    }
    np.save(path, arrays[case], allow_pickle=True)
    return path, {"nan": "6 non-finite", "one_d": "shape (10,)", "colour": "grey",
                  "empty": "shape (0, 3, 3)", "one_pixel": "shape (4, 1)", "constant": "constant",
                  "complex": "real", "object": "pickled"}[case]


@pytest.mark.parametrize("case", ["missing", "suffix", "corrupt", "truncated", "nan", "one_d", "colour",
                                  "empty", "one_pixel", "constant", "complex", "object"])
def test_bad_image_files(tmp_path, case):
    path, reason = _bad_file(tmp_path, case)
    _raises(lambda: load_dataset(path), "path", reason)


def test_npz_object_array_and_ambiguous_keys(tmp_path):
    np.savez(tmp_path / "obj.npz", images=np.array([[1, 2], "ab"], dtype=object))
    _raises(lambda: load_dataset(tmp_path / "obj.npz"), "path", "pickled")
    np.savez(tmp_path / "two.npz", a=np.ones((3, 4)), b=np.ones((3, 4)))
    _raises(lambda: load_dataset(tmp_path / "two.npz"), "path", "['a', 'b']", "images")


# -- model files --------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("widths", [[16, 16, 16, 16], [16, 4, 16]])
def test_round_trip_is_exact(tmp_path, suffix, widths):
    weights, biases = _layers(widths)
    path = tmp_path / f"model{suffix}"
    save_layers(path, weights, biases)
    loaded = load_layers(path)
    _assert_same(loaded, weights, biases)
    meta = loaded[2]
    assert meta["format"] == suffix[1:] and meta["widths"] == widths and meta["missing_bias"] == []
    assert "activation" not in meta and "extra" not in meta
    assert os.listdir(tmp_path) == [path.name]


def test_autoencoder_npz_has_no_stacked_arrays(tmp_path):
    save_layers(tmp_path / "ae.npz", *_layers([16, 4, 16]))
    with np.load(tmp_path / "ae.npz") as data:
        assert sorted(data.files) == ["W0", "W1", "b0", "b1"]


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_activation_and_extra_round_trip(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    save_layers(path, *_layers([5, 5]), activation="tanh", extra={"epoch": "3", "note": "digits"})
    meta = load_layers(path)[2]
    assert meta["activation"] == "tanh" and meta["extra"] == {"epoch": "3", "note": "digits"}
    save_layers(path, *_layers([5, 5], seed=1), activation="relu")
    weights, _, meta = load_layers(path)
    assert meta["activation"] == "relu" and "extra" not in meta
    assert np.array_equal(weights[0], _layers([5, 5], seed=1)[0][0])


def test_stacked_npz_is_read_by_load_network(tmp_path):
    weights, biases = _layers([16, 16, 16, 16])
    save_layers(tmp_path / "net.npz", weights, biases, activation="tanh")
    network = load_network(tmp_path / "net.npz", "tanh")
    assert np.array_equal(network.W, np.stack(weights)) and np.array_equal(network.b, np.stack(biases))
    np.savez(tmp_path / "repo.npz", W=np.stack(weights), b=np.stack(biases))
    loaded = load_layers(tmp_path / "repo.npz")
    _assert_same(loaded, weights, biases)
    assert loaded[2]["keys"] == ["W", "b"]


def test_pytorch_style_float32_safetensors(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"net.2.bias": rng.standard_normal(8).astype(np.float32),
               "net.0.weight": rng.standard_normal((3, 8)).astype(np.float32),
               "net.2.weight": rng.standard_normal((8, 3)).astype(np.float32),
               "net.0.bias": rng.standard_normal(3).astype(np.float32)}
    save_file(tensors, tmp_path / "torch.safetensors", metadata={"format": "pt"})
    weights, biases, meta = load_layers(tmp_path / "torch.safetensors")
    assert meta["keys"] == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
    assert meta["widths"] == [8, 3, 8] and meta["extra"] == {"format": "pt"}
    assert np.array_equal(weights[0], tensors["net.0.weight"]) and weights[0].dtype == np.float64
    assert np.array_equal(biases[1], tensors["net.2.bias"])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_natural_sort_and_missing_bias(tmp_path, suffix):
    weights = [np.full((4, 4), float(l)) for l in range(12)]
    arrays = {f"layers.{l}.weight": w for l, w in reversed(list(enumerate(weights)))}
    arrays["layers.10.bias"] = np.ones(4)
    path = tmp_path / f"deep{suffix}"
    if suffix == ".npz":
        np.savez(path, **arrays)
    else:
        save_file(arrays, path)
    got_w, got_b, meta = load_layers(path)
    assert [w[0, 0] for w in got_w] == list(range(12))
    assert meta["missing_bias"] == [l for l in range(12) if l != 10]
    assert np.array_equal(got_b[10], np.ones(4)) and np.array_equal(got_b[0], np.zeros(4))


def _autoencoder_tensors(names):
    """An 8 -> 3 -> 8 model whose encoder/decoder prefixes sort in the wrong order."""
    weights, biases = _layers([8, 3, 8])
    tensors = {}
    for name, w, b in zip(names, weights, biases):
        tensors[f"{name}.weight"], tensors[f"{name}.bias"] = w, b
    return tensors, weights, biases


@pytest.mark.parametrize("names", [("encoder.0", "decoder.0"), ("model.enc.0", "model.dec.1"),
                                   ("encoder.layers.0", "decoder.layers.0")])
def test_encoder_comes_before_decoder(tmp_path, names):
    # alphabetically "decoder" < "encoder": a plain sort would give the map 3 -> 8 -> 3
    tensors, weights, biases = _autoencoder_tensors(names)
    save_file(tensors, tmp_path / "ae.safetensors")
    loaded = load_layers(tmp_path / "ae.safetensors")
    _assert_same(loaded, weights, biases)
    assert loaded[2]["layer_order"] == list(names) and loaded[2]["widths"] == [8, 3, 8]


def test_unknown_stems_need_a_layer_order(tmp_path):
    tensors, weights, biases = _autoencoder_tensors(("squeeze", "expand"))
    save_file(tensors, tmp_path / "ae.safetensors")
    text = _raises(lambda: load_layers(tmp_path / "ae.safetensors"), "layer_order", "expand", "squeeze")
    assert "--layer-order" in text
    loaded = load_layers(tmp_path / "ae.safetensors", layer_order=["squeeze", "expand"])
    _assert_same(loaded, weights, biases)
    _raises(lambda: load_layers(tmp_path / "ae.safetensors", layer_order=["squeeze"]),
            "layer_order", "exactly once")
    _raises(lambda: load_layers(tmp_path / "ae.safetensors", layer_order=["squeeze", "squeeze"]),
            "layer_order", "exactly once")


def test_layer_order_on_numbered_layers_is_refused(tmp_path):
    save_layers(tmp_path / "m.npz", *_layers([4, 4]))
    _raises(lambda: load_layers(tmp_path / "m.npz", layer_order=["a"]), "layer_order", "numbered")


def test_per_layer_npz_without_biases(tmp_path):
    weights, _ = _layers([6, 3, 6])
    np.savez(tmp_path / "w.npz", W0=weights[0], W1=weights[1])
    got_w, got_b, meta = load_layers(tmp_path / "w.npz")
    assert meta["missing_bias"] == [0, 1] and meta["keys"] == ["W0", "W1"]
    assert all(np.array_equal(b, np.zeros(n)) for b, n in zip(got_b, (3, 6)))


def _bfloat16_file(path, values):
    """A safetensors file with one BF16 tensor, written by hand (numpy has no bfloat16)."""
    data = (values.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"fc.weight": {"dtype": "BF16", "shape": list(values.shape),
                                       "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def test_bfloat16_is_decoded_exactly(tmp_path):
    values = np.array([[1.5, -2.0, 0.0], [3.0, 0.25, -0.125], [1024.0, -7.0, 0.5]])
    _bfloat16_file(tmp_path / "bf.safetensors", values)
    weights, _, meta = load_layers(tmp_path / "bf.safetensors")
    assert np.array_equal(weights[0], values) and meta["missing_bias"] == [0]


def _write(path, arrays):
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, path)


def _bad_models():
    ones = np.ones
    nan = ones((4, 4))
    nan[1, :3] = np.nan
    return {
        "chain": ({"l.0.weight": ones((8, 4)), "l.1.weight": ones((4, 6))}, ["l.1.weight", "6", "8"]),
        "square": ({"l.0.weight": ones((8, 4))}, ["square", "4", "8"]),
        "conv": ({"conv.weight": ones((4, 4, 3, 3))}, ["conv.weight", "fully connected"]),
        "bias": ({"l.0.weight": ones((4, 4)), "l.0.bias": ones(3)}, ["l.0.bias", "(4,)"]),
        "nan": ({"l.0.weight": nan}, ["l.0.weight", "3 non-finite"]),
        "batchnorm": ({"l.0.weight": ones((4, 4)), "bn.running_mean": ones(4)},
                      ["bn.running_mean", "fully connected"]),
        "orphan_bias": ({"l.0.weight": ones((4, 4)), "l.1.bias": ones(4)}, ["l.1.bias", "l.1.weight"]),
        "layernorm": ({"l.0.weight": ones((4, 4)), "ln.weight": ones(4)}, ["ln.weight", "fully connected"]),
    }


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
@pytest.mark.parametrize("case", sorted(_bad_models()))
def test_bad_models(tmp_path, suffix, case):
    arrays, names = _bad_models()[case]
    path = tmp_path / f"bad{suffix}"
    _write(path, arrays)
    _raises(lambda: load_layers(path), *names)


@pytest.mark.parametrize("arrays, names", [
    ({"W0": np.ones((4, 4)), "W2": np.ones((4, 4))}, ["W1", "without gaps"]),
    ({"W0": np.ones((4, 4)), "fc.weight": np.ones((4, 4))}, ["fc.weight", "one layout"]),
    ({"W": np.ones((2, 4, 4)), "W0": np.zeros((4, 4)), "W1": np.ones((4, 4))}, ["W", "disagrees"]),
    ({"W": np.ones((4, 4))}, ["W", "(L, N, N)"]),
    ({"W": np.ones((2, 4, 4)), "b": np.ones((3, 4))}, ["b", "(L, N)"]),
    ({"b": np.ones((2, 4))}, ["b", "W"]),
    ({"labels": np.ones(3)}, ["labels", "fully connected"]),
    ({}, ["path", "must hold"]),
    ({"W0": np.ones((4, 4), dtype=bool)}, ["W0", "real numbers"]),
    ({"W0": np.ones((4, 4)), "activation": np.ones(2)}, ["activation", "string"]),
])
def test_bad_npz_layouts(tmp_path, arrays, names):
    np.savez(tmp_path / "bad.npz", **arrays)
    _raises(lambda: load_layers(tmp_path / "bad.npz"), *names)


@pytest.mark.parametrize("name, content, reason", [
    ("absent.npz", None, "no such file"),
    ("model.pt", b"\x80\x02", ".safetensors"),
    ("x.npz", b"\x00garbage bytes\xff" * 10, "not a readable"),
    ("x.safetensors", b"\x00garbage bytes\xff" * 10, "not a readable"),
])
def test_unreadable_model_files(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    _raises(lambda: load_layers(path), "path", reason)


def test_npy_with_npz_suffix_and_odd_safetensors_dtype(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 4)))
    os.replace(tmp_path / "a.npy", tmp_path / "a.npz")
    _raises(lambda: load_layers(tmp_path / "a.npz"), "path", ".npy")
    header = json.dumps({"l.weight": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [0, 4]}})
    (tmp_path / "f8.safetensors").write_bytes(struct.pack("<Q", len(header)) + header.encode() + bytes(4))
    _raises(lambda: load_layers(tmp_path / "f8.safetensors"), "l.weight", "F8_E4M3")


@pytest.mark.parametrize("args, kwargs, names", [
    (("m.txt", [np.eye(2)], [np.zeros(2)]), {}, ["path", ".npz or .safetensors"]),
    (("no/such/folder/m.npz", [np.eye(2)], [np.zeros(2)]), {}, ["path", "existing folder"]),
    (("m.npz", [np.eye(2)], []), {}, ["biases", "one bias"]),
    (("m.npz", [], []), {}, ["layers", "at least one"]),
    (("m.npz", [np.ones((3, 2))], [np.zeros(3)]), {}, ["widths", "square"]),
    (("m.npz", [np.eye(2)], [np.zeros(3)]), {}, ["biases[0]", "(2,)"]),
    (("m.npz", [np.diag([np.inf, 1.0])], [np.zeros(2)]), {}, ["weights[0]", "1 non-finite"]),
    (("m.npz", 3, [np.zeros(2)]), {}, ["weights", "sequence"]),
    (("m.npz", [np.eye(2)], [np.zeros(2)]), {"activation": ""}, ["activation"]),
    (("m.npz", [np.eye(2)], [np.zeros(2)]), {"extra": {"a": 1}}, ["extra", "str"]),
    (("m.safetensors", [np.eye(2)], [np.zeros(2)]), {"extra": {"activation": "x"}}, ["extra"]),
])
def test_save_layers_refuses_bad_input(tmp_path, args, kwargs, names):
    path, weights, biases = args
    _raises(lambda: save_layers(tmp_path / path, weights, biases, **kwargs), *names)
    assert os.listdir(tmp_path) == []


@st.composite
def _chains(draw):
    inner = draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
    n = draw(st.integers(1, 6))
    return [n, *inner, n], draw(st.integers(0, 2**32 - 1))


@settings(max_examples=25, deadline=None)
@given(chain=_chains(), suffix=st.sampled_from([".npz", ".safetensors"]))
def test_random_chains_round_trip(chain, suffix):
    widths, seed = chain
    weights, biases = _layers(widths, seed)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"m{suffix}")
        save_layers(path, weights, biases)
        loaded = load_layers(path)
    _assert_same(loaded, weights, biases)
    assert loaded[2]["widths"] == widths
