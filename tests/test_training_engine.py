"""Training engine: the loss falls, checkpoints resume exactly (also after a SIGKILL),
a foreign checkpoint is refused, bad settings are named."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("jax", reason="training needs the 'train' extra (JAX + optax)")

from esd.exceptions import InvalidParameter  # noqa: E402
from training.engine import TrainConfig, default_save_epochs, train, training_flops  # noqa: E402
from validation.basins import iterate_map  # noqa: E402


def _images(n=120, dim=16, seed=0):
    """Smooth random 'images' in [0, 1]: a few prototypes plus small noise."""
    rng = np.random.default_rng(seed)
    protos = rng.random((4, dim))
    return np.clip(protos[rng.integers(4, size=n)] + 0.05 * rng.standard_normal((n, dim)), 0, 1)


def test_training_lowers_the_loss_and_reports_the_map_it_trained():
    x = _images()
    res = train(TrainConfig(widths=(16, 16, 16), epochs=40, batch_size=20, learning_rate=3e-3,
                            seed=3, save_epochs=(0, 40)), x)
    assert len(res.history) == 40
    assert res.history[-1] < 0.3 * res.history[0], res.history[::10]
    # The float64 copy of the trained weights reproduces the float32 training loss.
    out = iterate_map(res.network, x, max_iter=1)[0]
    assert np.mean((out - x) ** 2) == pytest.approx(res.train_loss, rel=1e-4)
    assert sorted(res.snapshots) == [0, 40]
    assert res.timings["samples_per_second"] > 0


@pytest.mark.parametrize("init", ["gaussian", "orthogonal", "cauchy", "stable"])
def test_every_weight_law_trains_an_autoencoder(init):
    x = _images()
    cfg = TrainConfig(widths=(16, 4, 16), init=init, alpha=1.5 if init == "stable" else None,
                      epochs=30, batch_size=20, learning_rate=1e-2, seed=1, save_epochs=(0,))
    res = train(cfg, x)
    assert res.history[-1] < res.history[0]
    assert [w.shape for w in res.network.W] == [(4, 16), (16, 4)]


def test_same_seed_same_weights_and_resume_is_exact(tmp_path):
    x = _images()
    cfg = dict(widths=(16, 16, 16), epochs=24, batch_size=16, noise=0.1, seed=5)
    full = train(TrainConfig(**cfg, save_epochs=(0, 24)), x)
    again = train(TrainConfig(**cfg, save_epochs=(0, 24)), x)
    assert all(np.array_equal(a, b) for a, b in zip(full.network.W, again.network.W))
    folder = str(tmp_path / "run")
    first = train(TrainConfig(**{**cfg, "epochs": 10}, save_epochs=(0, 5, 10)), x, checkpoint=folder)
    assert first.resumed_from == 0
    resumed = train(TrainConfig(**cfg, save_epochs=(0, 5, 10, 24)), x, checkpoint=folder)
    assert resumed.resumed_from == 10
    assert sorted(resumed.snapshots) == [0, 5, 10, 24]
    for a, b in zip(full.network.W + full.network.b, resumed.network.W + resumed.network.b):
        assert np.array_equal(a, b)
    assert resumed.history == full.history


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    x = _images()
    folder = str(tmp_path / "run")
    train(TrainConfig(widths=(16, 16), epochs=2, batch_size=16, seed=1), x, checkpoint=folder)
    with pytest.raises(InvalidParameter, match="another run"):
        train(TrainConfig(widths=(16, 16), epochs=2, batch_size=16, seed=2), x, checkpoint=folder)
    with pytest.raises(InvalidParameter, match="already at epoch 2"):
        train(TrainConfig(widths=(16, 16), epochs=1, batch_size=16, seed=1), x, checkpoint=folder)


_KILLED_RUN = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from tests.test_training_engine import _images
from training.engine import TrainConfig, train
train(TrainConfig(widths=(16, 16, 16), epochs=10**6, batch_size=16, noise=0.1, seed=7,
                  save_epochs=tuple(range(0, 10**6, 25))), _images(), checkpoint={folder!r})
"""


def test_a_run_killed_mid_training_resumes_to_the_uninterrupted_weights(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = str(tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN.format(root=root, folder=folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = os.path.join(folder, "state.npz")
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(state):
                with np.load(state) as data:
                    if int(data["epoch"]) >= 50:
                        break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with np.load(state) as data:
        killed_at = int(data["epoch"])
    target = killed_at + 30
    cfg = dict(widths=(16, 16, 16), epochs=target, batch_size=16, noise=0.1, seed=7)
    resumed = train(TrainConfig(**cfg, save_epochs=(target,)), _images(), checkpoint=folder)
    assert resumed.resumed_from == killed_at
    full = train(TrainConfig(**cfg, save_epochs=()), _images())
    for a, b in zip(full.network.W + full.network.b, resumed.network.W + resumed.network.b):
        assert np.array_equal(a, b)
    with open(os.path.join(folder, "run.json")) as fh:
        assert json.load(fh)["seed"] == 7


@pytest.mark.parametrize("kwargs, name", [
    ({"widths": (16, 8)}, "widths"),
    ({"widths": (16, 16), "activation": "softsign"}, "activation"),
    ({"widths": (16, 16), "init": "uniform"}, "init"),
    ({"widths": (16, 16), "init": "stable"}, "alpha"),
    ({"widths": (16, 16), "init": "gaussian", "alpha": 1.2}, "alpha"),
    ({"widths": (16, 16), "learning_rate": 0.0}, "learning_rate"),
    ({"widths": (16, 16), "epochs": 0}, "epochs"),
    ({"widths": (16, 16), "noise": -1.0}, "noise"),
    ({"widths": (16, 16), "epochs": 5, "save_epochs": (7,)}, "save_epochs"),
])
def test_bad_settings_are_named(kwargs, name):
    with pytest.raises(InvalidParameter, match=name):
        TrainConfig(**kwargs)


def test_data_must_match_the_first_width():
    with pytest.raises(InvalidParameter, match="data"):
        train(TrainConfig(widths=(16, 16), epochs=1), np.zeros((20, 8)))
    with pytest.raises(InvalidParameter, match="batch_size"):
        train(TrainConfig(widths=(16, 16), epochs=1, batch_size=50), np.zeros((20, 16)))


def test_default_save_epochs_and_flops():
    assert default_save_epochs(100) == (0, 1, 2, 5, 10, 20, 50, 100)
    assert default_save_epochs(1) == (0, 1)
    assert training_flops([64, 16, 64], 10) == 6 * 10 * 2 * 64 * 16
