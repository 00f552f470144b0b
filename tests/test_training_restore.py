"""Damage, PSNR and restoration through attractors (against the one-pass baseline)."""

import numpy as np
import pytest

from esd.exceptions import InvalidParameter
from training.restore import damage, psnr, restore


def test_damage_kinds():
    x = np.full((3, 16), 0.5)
    noisy = damage(x, "noise", 0.1, rng=0)
    assert noisy.min() >= 0 and noisy.max() <= 1 and 0.05 < np.std(noisy - x) < 0.15
    masked = damage(x, "pixels", 0.25, rng=0)
    assert np.all(np.sum(masked == 0, axis=1) == 4)
    block = damage(x, "block", 2, image_shape=(4, 4), rng=0)
    assert np.all(np.sum(block == 0, axis=1) == 4)
    for img in block.reshape(3, 4, 4):  # the zeros form one 2x2 square
        i, j = np.argwhere(img == 0).min(axis=0)
        assert np.all(img[i:i + 2, j:j + 2] == 0)
    assert np.array_equal(damage(x, "pixels", 0.25, rng=5), damage(x, "pixels", 0.25, rng=5))


@pytest.mark.parametrize("kind, level, shape, name", [
    ("blur", 1.0, None, "kind"), ("noise", -1.0, None, "level"), ("pixels", 1.5, None, "level"),
    ("block", 2, None, "image_shape"), ("block", 9, (4, 4), "level"), ("block", 1.5, (4, 4), "level"),
])
def test_bad_damage_is_named(kind, level, shape, name):
    with pytest.raises(InvalidParameter, match=name):
        damage(np.zeros((2, 16)), kind, level, image_shape=shape)


def test_psnr():
    a = np.zeros((2, 4))
    assert np.allclose(psnr(a, a + 0.1), 20.0)
    assert np.allclose(psnr(a, a), 100.0)


def test_restoration_beats_one_pass_on_a_small_trained_net():
    pytest.importorskip("jax", reason="training needs the 'train' extra (JAX + optax)")
    from sklearn.datasets import load_digits

    from training.engine import TrainConfig, train
    x = load_digits().data[:50] / 16.0
    net = train(TrainConfig(widths=(64, 64, 64), epochs=3000, batch_size=10, learning_rate=3e-3,
                            noise=0.2, seed=1, save_epochs=()), x).network
    for kind, level in (("pixels", 0.3), ("block", 3)):
        hurt = damage(x, kind, level, image_shape=(8, 8), rng=0)
        r = restore(net, x, hurt, train_images=x).to_dict()
        # Measured (seed 1): pixels 0.72 vs 0.42, PSNR 24.6 vs 18.9 dB; block 0.56 vs 0.40,
        # 22.0 vs 20.1 dB. The margins leave room for other BLAS/JAX builds.
        assert r["recovery_rate"] >= r["recovery_rate_baselines"]["one_pass"] + 0.1, r
        assert r["psnr"]["after"] >= r["psnr"]["baselines"]["one_pass"] + 1.0, r
        assert r["psnr"]["after"] > r["psnr"]["before"], r
        assert r["converged_fraction"] > 0.9
