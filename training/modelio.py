"""Fully connected models on disk: users' trained networks and the ones esd saves.

A model is a chain of layers ``h_l = W_l x_{l-1} + b_l``, l = 0..L-1, with ``W_l`` of
shape (n_out, n_in) (PyTorch's ``nn.Linear`` convention) and ``b_l`` of shape (n_out,).
esd studies the fixed points of ``F: R^N -> R^N``, so the whole map must be square
(first n_in = last n_out); inner widths may differ (an autoencoder N -> k -> N).

Formats read by :func:`load_layers` (chosen by the suffix):

* ``.safetensors``: PyTorch-style keys ``<prefix>.weight`` / ``<prefix>.bias``
  (``net.0.weight``, ``fc1.bias``, ``layers.10.weight``); layers are ordered by the
  natural sort of the prefix (``layers.2`` before ``layers.10``). When the prefixes have
  different stems (``encoder.0`` and ``decoder.0``), alphabetical order says nothing about
  the forward order: ``encoder``/``decoder`` (and ``enc``/``dec``) stems are put in that
  order, any other mix is refused unless ``layer_order`` lists the prefixes. The order
  used is returned in ``meta["layer_order"]``. float16, bfloat16, float32 and float64 (and integer) tensors
  are read as float64; bfloat16, which numpy lacks, is decoded from its bits exactly.
  The header's metadata ``activation`` is returned, the rest as ``extra``.
* ``.npz`` (read without pickle), one of: (a) ``W`` (L, N, N) and ``b`` (L, N), the
  format of :func:`validation.networks.load_network`; (b) per-layer ``W0, b0, W1, b1,
  ...``; (c) PyTorch-style keys as above. Optional 0-d string arrays ``activation`` and
  ``metadata`` (a JSON object of strings, the ``extra`` of :func:`save_layers`).

A layer without a bias gets zeros (listed in ``meta["missing_bias"]``). Any other key
(a batch-norm ``running_mean``, a convolution's 4-D weight) is refused: only fully
connected layers are supported.

:func:`save_layers` writes ``.npz`` (``W0, b0, ...``, plus stacked ``W``, ``b`` when
every layer is N x N) or ``.safetensors`` (``layers.{l}.weight``/``.bias``), float64 so a
round trip is exact, through a temporary file renamed into place.

The per-format readers and writers are in :mod:`training.formats`, the layouts of keys
and the order of layers in :mod:`training.layerkeys`; this module checks the layers
as a chain and is the public entry point.
"""

from __future__ import annotations

import os

import numpy as np

from esd.exceptions import InvalidParameter

from .formats import _npz_bytes, _read_npz, _read_safetensors, _safetensors_bytes, write_atomic
from .layerkeys import _DENSE_ONLY, _check_stack_agrees, _npz_layers, _torch_layers

__all__ = ["load_layers", "save_layers"]

FORMATS = {".npz": "npz", ".safetensors": "safetensors"}


def load_layers(path, *, layer_order=None) -> tuple:
    """``(weights, biases, meta)`` of the model in ``path`` (see the module docstring).

    ``weights[l]`` (n_out, n_in) and ``biases[l]`` (n_out,) are float64. ``layer_order``:
    the PyTorch-style prefixes in forward order (``["encoder.0", "decoder.0"]``), needed
    only when their names do not tell it. ``meta``: path, format ("npz" or
    "safetensors"), keys (those used, in layer order), layer_order (PyTorch-style files),
    widths [n_in, n_1, ..., n_out], missing_bias (layer indices given zero biases) and,
    when the file stores them, activation and extra.
    """
    fmt = _format(path)
    text = os.fspath(path)
    if not os.path.isfile(text):
        raise InvalidParameter("path", text, "no such file")
    if fmt == "npz":
        arrays, stored = _read_npz(text)
        layers, keys, order = _npz_layers(arrays, layer_order)
    else:
        arrays, stored = _read_safetensors(text)
        layers, keys, order = _torch_layers(arrays, layer_order)
    if layer_order is not None and order is None:
        raise InvalidParameter("layer_order", list(layer_order), "applies only to PyTorch-style "
                               "<prefix>.weight keys; this file's layers are numbered")
    weights, biases, missing = _check_chain(layers)
    if fmt == "npz":
        _check_stack_agrees(arrays, weights, biases)
    meta = {"path": text, "format": fmt, "keys": keys, "widths": _widths(weights),
            "missing_bias": missing, **stored}
    if order is not None:
        meta["layer_order"] = order
    return weights, biases, meta


def save_layers(path, weights, biases, *, activation=None, extra=None) -> None:
    """Write the model to ``path`` (``.npz`` or ``.safetensors``, by the suffix), atomically.

    The layers are checked as :func:`load_layers` checks them, so every file written can
    be read back. ``activation`` (a name) and ``extra`` (a dict of str -> str) are stored
    as metadata and returned by :func:`load_layers`.
    """
    fmt = _format(path)
    text = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder) or os.path.isdir(text):
        raise InvalidParameter("path", text, "must name a file in an existing folder")
    layers = _given_layers(weights, biases)
    ws, bs, _ = _check_chain(layers)
    stored = _check_metadata(activation, extra)
    payload = _npz_bytes(ws, bs, stored) if fmt == "npz" else _safetensors_bytes(ws, bs, stored)
    write_atomic(text, payload)


# -- reading ------------------------------------------------------------------------
def _format(path):
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameter("path", path, "must be a path to an .npz or .safetensors file")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise InvalidParameter("path", os.fspath(path), "must end in .npz or .safetensors")
    return FORMATS[suffix]


# -- checks -------------------------------------------------------------------------
def _check_chain(layers):
    """``(weights, biases, missing_bias)`` as float64, checked layer by layer and as a chain.

    ``layers``: ``[(weight key, weight, bias key or None, bias or None)]`` in forward order.
    """
    if not layers:
        raise InvalidParameter("layers", "none", "need at least one fully connected layer")
    weights, biases, missing = [], [], []
    for l, (wkey, w, bkey, b) in enumerate(layers):
        w = _real(wkey, w)
        if w.ndim != 2 or min(w.shape) < 1:
            raise InvalidParameter(wkey, f"array of shape {w.shape}", _DENSE_ONLY)
        if l and w.shape[1] != weights[-1].shape[0]:
            raise InvalidParameter(wkey, f"array of shape {w.shape}", f"layer {l} takes {w.shape[1]} "
                                   f"inputs but layer {l - 1} ({layers[l - 1][0]}) gives "
                                   f"{weights[-1].shape[0]} outputs: the layers must form a chain")
        if b is None:
            b = np.zeros(w.shape[0])
            missing.append(l)
        else:
            b = _real(bkey, b)
            if b.shape != (w.shape[0],):
                raise InvalidParameter(bkey, f"array of shape {b.shape}", f"must have shape "
                                       f"({w.shape[0]},), one bias per output of {wkey}")
        for key, arr in ((wkey, w), (bkey, b)):
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            if bad:
                raise InvalidParameter(key, f"array with {bad} non-finite entries",
                                       "must be finite (no NaN or inf)")
        weights.append(w)
        biases.append(b)
    widths = _widths(weights)
    if widths[0] != widths[-1]:
        raise InvalidParameter("widths", widths, f"the map must be square, R^N -> R^N (esd studies its "
                               f"fixed points): it takes {widths[0]} inputs and gives {widths[-1]} outputs")
    return weights, biases, missing


def _real(key, arr):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        raise InvalidParameter(key, f"array of dtype {arr.dtype}", "must hold real numbers (float or int)")
    return arr.astype(np.float64)


def _widths(weights):
    return [int(weights[0].shape[1])] + [int(w.shape[0]) for w in weights]


# -- writing ------------------------------------------------------------------------
def _given_layers(weights, biases):
    sequences = []
    for name, value in (("weights", weights), ("biases", biases)):
        try:
            sequences.append(list(value))
        except TypeError as exc:
            raise InvalidParameter(name, value, "must be a sequence of arrays, one per layer") from exc
    weights, biases = sequences
    if len(weights) != len(biases):
        raise InvalidParameter("biases", f"{len(biases)} arrays", f"need one bias per weight matrix "
                               f"({len(weights)})")
    layers = []
    for l, (w, b) in enumerate(zip(weights, biases)):
        try:
            layers.append((f"weights[{l}]", np.asarray(w), f"biases[{l}]", np.asarray(b)))
        except (TypeError, ValueError) as exc:
            raise InvalidParameter(f"weights[{l}]", "not an array", "weights and biases must be "
                                   "numeric arrays") from exc
    return layers


def _check_metadata(activation, extra):
    stored = {}
    if activation is not None:
        if not isinstance(activation, str) or not activation:
            raise InvalidParameter("activation", activation, "must be None or a non-empty name")
        stored["activation"] = activation
    if extra is not None:
        if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in extra.items()):
            raise InvalidParameter("extra", extra, "must be None or a dict of str -> str")
        if "activation" in extra:
            raise InvalidParameter("extra", extra, "must not contain 'activation': pass activation=")
        stored["extra"] = dict(extra)
    return stored
