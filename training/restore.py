"""Restoring damaged images through the attractors of a trained map.

A network trained to reconstruct its inputs, ``F(x) ~ x``, turns training images into
(near-)fixed points; when such a point is stable, damaged versions of the image inside
its basin flow back to it under ``x <- F(x)``. :func:`restore` measures this against two
baselines: one pass of the network, ``F(x_damaged)``, and the nearest training image
(Euclidean) to the damaged one, a pure memory lookup.

Damage of images with pixels in [0, 1] (:func:`damage`):

* ``"noise"``: ``x + level * Z``, Z standard normal, clipped to [0, 1];
* ``"pixels"``: a fraction ``level`` of the pixels, chosen at random, set to 0;
* ``"block"``: a square of side ``level`` pixels, at a random position, set to 0
  (needs a two-dimensional ``image_shape``).

Scores per image: ``PSNR = 10 log10(1 / mse)`` (peak 1; mse floored at 1e-10, i.e. at
most 100 dB) and recovery, ``rms(restored - clean) <= radius`` (default 0.1 of the pixel
range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from esd.exceptions import InvalidParameter

from validation.basins import iterate_map

__all__ = ["DAMAGES", "RestorationResult", "damage", "psnr", "restore"]

DAMAGES = ("noise", "pixels", "block")
MSE_FLOOR = 1e-10


def _images(name, x, n=None):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or (n is not None and x.shape[1] != n) or not np.all(np.isfinite(x)):
        want = f"(B, {n})" if n is not None else "(B, N)"
        raise InvalidParameter(name, x, f"must be a finite {want} array of images as rows")
    return x


def damage(x, kind: str, level, *, image_shape=None, rng=None) -> np.ndarray:
    """Damaged copies of the images ``x`` (B, N): see the module docstring for ``kind``."""
    x = _images("x", x)
    if kind not in DAMAGES:
        raise InvalidParameter("kind", kind, f"must be one of {list(DAMAGES)}")
    if isinstance(level, bool) or not isinstance(level, Real) or not math.isfinite(level) or level < 0:
        raise InvalidParameter("level", level, "must be a finite number >= 0")
    gen = np.random.default_rng(rng)
    out = x.copy()
    if kind == "noise":
        return np.clip(out + level * gen.standard_normal(x.shape), 0.0, 1.0)
    if kind == "pixels":
        if level > 1:
            raise InvalidParameter("level", level, "the masked fraction of pixels must be in [0, 1]")
        k = int(round(level * x.shape[1]))
        for row in out:
            row[gen.choice(x.shape[1], size=k, replace=False)] = 0.0
        return out
    shape = tuple(image_shape or ())
    if len(shape) != 2 or shape[0] * shape[1] != x.shape[1]:
        raise InvalidParameter("image_shape", image_shape,
                               f"block damage needs a 2-D image shape (H, W) with H W = {x.shape[1]}")
    side = int(level)
    if side != level or not 1 <= side <= min(shape):
        raise InvalidParameter("level", level, f"a block side must be an integer in [1, {min(shape)}]")
    imgs = out.reshape(-1, *shape)
    for img in imgs:
        i, j = gen.integers(shape[0] - side + 1), gen.integers(shape[1] - side + 1)
        img[i:i + side, j:j + side] = 0.0
    return imgs.reshape(x.shape)


def psnr(a, b) -> np.ndarray:
    """Peak signal-to-noise ratio per row, in dB, for pixels in [0, 1]."""
    mse = np.mean((np.asarray(a) - np.asarray(b)) ** 2, axis=-1)
    return 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def _rms(a, b):
    return np.sqrt(np.mean((a - b) ** 2, axis=-1))


@dataclass(frozen=True, eq=False)
class RestorationResult:
    """Restoration of B damaged images; arrays are per image, rows as the inputs.

    ``restored`` the iterates at the end (``converged``: ``|F(x) - x|_inf <= tol`` was
    reached within ``max_iter``, ``steps`` evaluations of F), ``one_pass`` the network's
    single output, ``nearest`` the nearest training image to each damaged one.
    """

    clean: np.ndarray
    damaged: np.ndarray
    restored: np.ndarray
    one_pass: np.ndarray
    nearest: np.ndarray
    converged: np.ndarray
    steps: np.ndarray
    radius: float
    params: dict = field(default_factory=dict)

    def recovery(self, images) -> float:
        return float(np.mean(_rms(images, self.clean) <= self.radius))

    def to_dict(self) -> dict:
        def mean_psnr(images):
            return float(np.mean(psnr(images, self.clean)))
        return {
            "recovery_rate": self.recovery(self.restored),
            "recovery_rate_baselines": {"one_pass": self.recovery(self.one_pass),
                                        "nearest_training": self.recovery(self.nearest),
                                        "damaged": self.recovery(self.damaged)},
            "psnr": {"before": mean_psnr(self.damaged), "after": mean_psnr(self.restored),
                     "baselines": {"one_pass": mean_psnr(self.one_pass),
                                   "nearest_training": mean_psnr(self.nearest)}},
            "converged_fraction": float(np.mean(self.converged)),
            "median_steps": float(np.median(self.steps)),
            "radius": self.radius, "n_images": int(self.clean.shape[0]), **self.params,
        }


def restore(network, clean, damaged, *, train_images, radius: float = 0.1,
            max_iter: int = 1000, tol: float = 1e-6) -> RestorationResult:
    """Iterate ``network`` from each damaged image to its attractor, and score it.

    ``clean`` and ``damaged`` are (B, N); ``train_images`` (M, N) serve the
    nearest-image baseline.
    """
    n = network.width
    clean = _images("clean", clean, n)
    damaged = _images("damaged", damaged, n)
    if damaged.shape != clean.shape:
        raise InvalidParameter("damaged", damaged, f"must have the shape of clean, {clean.shape}")
    train_images = _images("train_images", train_images, n)
    if isinstance(radius, bool) or not isinstance(radius, Real) or not radius > 0:
        raise InvalidParameter("radius", radius, "must be a number > 0")
    restored, converged, steps = iterate_map(network, damaged, max_iter=max_iter, tol=tol)
    one_pass = iterate_map(network, damaged, max_iter=1)[0]
    # |a - b|^2 = |a|^2 - 2 a.b + |b|^2: one GEMM instead of a (B, M, N) difference array.
    d2 = (np.sum(damaged ** 2, axis=1)[:, None] - 2.0 * damaged @ train_images.T
          + np.sum(train_images ** 2, axis=1)[None, :])
    nearest = train_images[np.argmin(d2, axis=1)]
    return RestorationResult(clean=clean, damaged=damaged, restored=restored, one_pass=one_pass,
                             nearest=nearest, converged=converged, steps=steps, radius=float(radius),
                             params={"max_iter": int(max_iter), "tol": float(tol)})
