"""``esd train`` and ``esd analyze`` through the entry point: JSON schema, files, errors."""

import json

import numpy as np
import pytest

from esd.cli import main

pytest.importorskip("jax", reason="esd train needs the 'train' extra (JAX + optax)")


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_train_json_and_analyze_the_saved_model(tmp_path, capsys):
    model = str(tmp_path / "model.safetensors")
    rc, out, _ = _run(capsys, ["train", "--epochs", "40", "--train-size", "30", "--test-size", "20",
                               "--starts", "20", "--save-epochs", "0,40", "--json",
                               "--checkpoint", str(tmp_path / "ckpt"), "--save-model", model,
                               "--plot", str(tmp_path / "train.png")])
    assert rc == 0
    d = json.loads(out)
    assert d["train_loss"] < d["history"][0]
    assert [row["epoch"] for row in d["epochs"]] == [0, 40]
    for layer in d["layers"]:
        assert {"alpha", "ks", "xmin", "regime"} <= set(layer)
    assert isinstance(d["q_stable"], int) and d["q_all"] >= d["q_stable"] >= 0
    r = d["restoration"]["train"]["pixels:0.3"]
    assert set(r["psnr"]) == {"before", "after", "baselines"}
    assert set(r["psnr"]["baselines"]) == {"one_pass", "nearest_training"}
    assert 0 <= r["recovery_rate"] <= 1
    assert d["jacobian"]["theory"]["method"] == "free probability"
    assert (tmp_path / "train.png").stat().st_size > 0
    assert (tmp_path / "ckpt" / "epoch_00040.npz").exists()

    rc, out, _ = _run(capsys, ["analyze", "--weights-file", model, "--inputs", "digits",
                               "--n-inputs", "20", "--starts", "20", "--json",
                               "--plot", str(tmp_path / "analyze.png")])
    assert rc == 0
    a = json.loads(out)
    assert a["params"]["activation"] == "sigmoid"  # read from the file's metadata
    assert [layer["alpha"] for layer in a["layers"]] == pytest.approx([layer["alpha"] for layer in d["layers"]])
    assert {"q_stable", "q_all", "attractors", "jacobian"} <= set(a)


def test_analyze_npz_and_autoencoder_widths(tmp_path, capsys):
    from training.modelio import save_layers
    rng = np.random.default_rng(0)
    path = str(tmp_path / "ae.npz")
    save_layers(path, [rng.standard_normal((4, 16)), rng.standard_normal((16, 4))],
                [np.zeros(4), np.zeros(16)], activation="tanh")
    rc, out, _ = _run(capsys, ["analyze", "--weights-file", path, "--starts", "20", "--json"])
    assert rc == 0
    a = json.loads(out)
    assert a["params"]["widths"] == [16, 4, 16]
    assert a["layers"][0]["regime"] == "too small to fit"


def test_analyze_layer_order_option(tmp_path, capsys):
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    path = str(tmp_path / "ae.safetensors")
    save_file({"squeeze.weight": rng.standard_normal((4, 16)), "squeeze.bias": np.zeros(4),
               "expand.weight": rng.standard_normal((16, 4)), "expand.bias": np.zeros(16)}, path)
    rc, _, err = _run(capsys, ["analyze", "--weights-file", path, "--starts", "0", "--json"])
    assert rc == 2 and "--layer-order" in err and len(err.strip().splitlines()) == 1
    rc, out, _ = _run(capsys, ["analyze", "--weights-file", path, "--starts", "0", "--json",
                               "--layer-order", "squeeze,expand"])
    assert rc == 0
    params = json.loads(out)["params"]
    assert params["widths"] == [16, 4, 16] and params["layer_order"] == ["squeeze", "expand"]


@pytest.mark.parametrize("content, name", [(b"not a model", "path"), (None, "path")])
def test_analyze_bad_file_is_one_line_exit_2(tmp_path, capsys, content, name):
    path = tmp_path / "bad.safetensors"
    if content is not None:
        path.write_bytes(content)
    rc, out, err = _run(capsys, ["analyze", "--weights-file", str(path), "--json"])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and name in err


def test_analyze_rejects_nan_weights(tmp_path, capsys):
    w = np.ones((2, 8, 8))
    w[1, 3, 3] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, W=w, b=np.zeros((2, 8)))
    rc, _, err = _run(capsys, ["analyze", "--weights-file", str(path)])
    assert rc == 2 and err.count("\n") == 1 and "non-finite" in err


def test_train_bad_widths_exit_2(capsys):
    rc, _, err = _run(capsys, ["train", "--widths", "64,16,32", "--epochs", "1", "--json"])
    assert rc == 2 and "widths" in err and err.count("\n") == 1


def test_analyze_homotopy_paths_option(tmp_path, capsys):
    from training.modelio import save_layers
    rng = np.random.default_rng(0)
    path = str(tmp_path / "ae.npz")
    save_layers(path, [3.0 * rng.standard_normal((4, 16)), 3.0 * rng.standard_normal((16, 4))],
                [np.zeros(4), np.zeros(16)], activation="tanh")
    counts = []
    for paths in ("0", "16"):
        rc, out, _ = _run(capsys, ["analyze", "--weights-file", path, "--starts", "50",
                                   "--homotopy-paths", paths, "--json"])
        assert rc == 0
        counts.append(json.loads(out)["q_all"])
    assert counts[1] >= counts[0] >= 1
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--weights-file", path, "--homotopy-paths", "-1"])
    assert exc.value.code == 2 and "homotopy-paths" in capsys.readouterr().err
