"""Datasets of grey-scale images as row vectors with pixels in [0, 1].

A :class:`Dataset` holds ``x``, a float64 array (n, N): one image per row, flattened in
C order, so ``x[i].reshape(image_shape)`` is image i. Sources of :func:`load_dataset`:

* ``"digits"``: scikit-learn's bundled handwritten digits (1797 images 8 x 8, pixels
  0..16, no download), divided by 16;
* a ``.npy`` file (one array) or an ``.npz`` archive (the array under ``images``, ``x``
  or ``X``, in that order of preference, or its only array), read without pickle.
  Shapes: (n, H, W) or (n, H, W, 1) images, image_shape (H, W); (n, N) rows, image_shape
  (N,). Values must be real, finite and not all equal. Scaling to [0, 1]: uint8 is
  divided by 255; values already in [0, 1] are kept; any other range is min-max scaled.

The scaling applied is recorded in ``params["scaling"]`` as ``x = (raw - offset) / scale``.
"""

from __future__ import annotations

import copy
import os
import zipfile
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from esd.exceptions import InvalidParameter

from validation.sampling import _make_rng

__all__ = ["Dataset", "load_dataset", "split"]

IMAGE_KEYS = ("images", "x", "X")
_SOURCES = "must be 'digits' or a path to an .npy file or .npz archive"
# zipfile.BadZipFile and EOFError come from truncated or foreign files, not only OSError
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
_SHAPES = "must hold images (n, H, W) or (n, H, W, 1), or rows (n, N), with n >= 1 and N >= 2"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images as rows: ``x`` (n, N) float64 in [0, 1], each of shape ``image_shape``.

    ``params`` records where the images came from (source, path, npz key), how many
    there are (n, N), the scaling applied, and any shuffle, limit or split.
    """

    x: np.ndarray
    image_shape: tuple
    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.params)


def load_dataset(source="digits", *, limit=None, rng=None) -> Dataset:
    """The images of ``source`` (see the module docstring), optionally shuffled and cut.

    ``rng`` (None, a seed or a numpy Generator): shuffle the samples first; None keeps the
    file's order. ``limit``: keep the first ``limit`` samples (after the shuffle).
    """
    if isinstance(source, str) and source == "digits":
        raw, image_shape, name, origin = _digits()
    elif isinstance(source, (str, os.PathLike)):
        raw, image_shape, name, origin = _read_images(source)
    else:
        raise InvalidParameter("source", source, _SOURCES)
    x, scaling = _scale(raw, origin)
    n_available = x.shape[0]
    limit = _check_limit(limit, n_available)
    if rng is not None:
        x = x[_make_rng(rng).permutation(n_available)]
    if limit is not None:
        x = x[:limit]
    params = {**origin, "n_available": n_available, "n": int(x.shape[0]), "N": int(x.shape[1]),
              "image_shape": list(image_shape), "scaling": scaling, "limit": limit,
              "shuffled": rng is not None, "shuffle_seed": _seed_of(rng)}
    return Dataset(x=np.ascontiguousarray(x), image_shape=image_shape, name=name, params=params)


def split(dataset: Dataset, test_fraction=0.2, rng=0) -> tuple:
    """``(train, test)``: a random split, ``round(n * test_fraction)`` samples for test.

    Both parts keep the random order of the permutation drawn from ``rng``, so the first
    k test images are a random subset of the test set.
    """
    if not isinstance(dataset, Dataset):
        raise InvalidParameter("dataset", dataset, "must be a training.data.Dataset")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, Real) \
            or not 0.0 < test_fraction < 1.0:
        raise InvalidParameter("test_fraction", test_fraction, "must be a number in (0, 1)")
    n = dataset.x.shape[0]
    n_test = int(round(n * float(test_fraction)))
    if not 1 <= n_test <= n - 1:
        raise InvalidParameter("test_fraction", test_fraction, f"leaves {n_test} of the {n} samples "
                               "for test; both parts need at least one sample")
    order = _make_rng(rng).permutation(n)
    common = {"test_fraction": float(test_fraction), "split_seed": _seed_of(rng)}
    return tuple(Dataset(x=dataset.x[idx], image_shape=dataset.image_shape, name=dataset.name,
                         params={**dataset.params, **common, "split": part, "n": int(idx.size)})
                 for part, idx in (("train", order[n_test:]), ("test", order[:n_test])))


# -- sources ------------------------------------------------------------------------
def _digits():
    from sklearn.datasets import load_digits
    images = load_digits().images
    return images, (8, 8), "digits", {"source": "digits", "path": None, "key": None}


def _read_images(path):
    """The raw array of a .npy/.npz file, reshaped to (n, N), and its image shape."""
    text = os.fspath(path)
    if not text.lower().endswith((".npy", ".npz")):
        raise InvalidParameter("path", text, f"must end in .npy or .npz: source {_SOURCES}")
    if not os.path.isfile(text):
        raise InvalidParameter("path", text, f"no such file: source {_SOURCES}")
    arr, key = _load_array(text)
    if arr.dtype.kind not in "biuf":
        raise InvalidParameter("path", text, f"holds an array of dtype {arr.dtype}: the pixels must be "
                               "real numbers (integer or float)")
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 4 and arr.shape[-1] in (3, 4):
        raise InvalidParameter("path", text, f"holds colour images of shape {arr.shape}: convert them "
                               "to grey scale, (n, H, W)")
    if arr.ndim not in (2, 3) or arr.shape[0] < 1 or int(np.prod(arr.shape[1:])) < 2:
        raise InvalidParameter("path", text, f"holds an array of shape {arr.shape}: it {_SHAPES}")
    name = os.path.splitext(os.path.basename(text))[0]
    return arr, tuple(int(s) for s in arr.shape[1:]), name, {"source": "file", "path": text, "key": key}


def _load_array(path):
    """``(array, npz key or None)``; every failure of numpy's reader becomes one message."""
    try:
        data = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    if isinstance(data, np.ndarray):
        return data, None
    with data:
        key = _image_key(path, data.files)
        try:
            return data[key], key
        except _READ_ERRORS as exc:
            raise _unreadable(path, exc) from exc


def _unreadable(path, exc):
    return InvalidParameter("path", path, "is not a readable .npy/.npz file of numeric arrays "
                            f"(pickled objects are refused): {_one_line(exc)}")


def _image_key(path, keys):
    for key in IMAGE_KEYS:
        if key in keys:
            return key
    if len(keys) == 1:
        return keys[0]
    raise InvalidParameter("path", path, f"the archive holds {sorted(keys)}: put the images under one of "
                           f"{list(IMAGE_KEYS)} or store a single array")


# -- values -------------------------------------------------------------------------
def _scale(raw, origin):
    """``(x, scaling)``: float64 rows in [0, 1] and the affine map that produced them."""
    where = origin["path"] or origin["source"]
    flat = raw.reshape(raw.shape[0], -1)
    values = flat.astype(np.float64)
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        raise InvalidParameter("path", where, f"holds {bad} non-finite values (NaN or inf): "
                               "every pixel must be finite")
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        raise InvalidParameter("path", where, f"every value equals {lo}: images must not be constant")
    if origin["source"] == "digits":
        rule, offset, scale = "1/16", 0.0, 16.0
    elif raw.dtype == np.uint8:
        rule, offset, scale = "uint8/255", 0.0, 255.0
    elif 0.0 <= lo and hi <= 1.0:
        rule, offset, scale = "none", 0.0, 1.0
    else:
        rule, offset, scale = "min-max", lo, hi - lo
    return (values - offset) / scale, {"rule": rule, "offset": offset, "scale": scale}


def _check_limit(limit, n):
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, Integral) or not 1 <= limit <= n:
        raise InvalidParameter("limit", limit, f"must be None or an integer in [1, {n}] "
                               f"(the number of samples)")
    return int(limit)


def _seed_of(rng):
    """The seed when it is a plain integer (JSON-safe), else None."""
    return int(rng) if isinstance(rng, Integral) and not isinstance(rng, bool) else None


def _one_line(exc) -> str:
    return " ".join(str(exc).split())
