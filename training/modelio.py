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
  format of :func:`validation.sampling.load_network`; (b) per-layer ``W0, b0, W1, b1,
  ...``; (c) PyTorch-style keys as above. Optional 0-d string arrays ``activation`` and
  ``metadata`` (a JSON object of strings, the ``extra`` of :func:`save_layers`).

A layer without a bias gets zeros (listed in ``meta["missing_bias"]``). Any other key
(a batch-norm ``running_mean``, a convolution's 4-D weight) is refused: only fully
connected layers are supported.

:func:`save_layers` writes ``.npz`` (``W0, b0, ...``, plus stacked ``W``, ``b`` when
every layer is N x N) or ``.safetensors`` (``layers.{l}.weight``/``.bias``), float64 so a
round trip is exact, through a temporary file renamed into place.
"""

from __future__ import annotations

import io
import json
import os
import re
import uuid
import zipfile

import numpy as np

from esd.exceptions import InvalidParameter

__all__ = ["load_layers", "save_layers"]

FORMATS = {".npz": "npz", ".safetensors": "safetensors"}
_DENSE_ONLY = ("only fully connected layers are supported: <prefix>.weight of shape (n_out, n_in) "
               "and <prefix>.bias of shape (n_out,)")
_TORCH_KEY = re.compile(r"(?P<prefix>.+)\.(?P<kind>weight|bias)")
_INDEXED_KEY = re.compile(r"(?P<kind>[Wb])(?P<index>0|[1-9][0-9]*)")
_NPZ_META = ("activation", "metadata")
# zipfile.BadZipFile and EOFError come from truncated or foreign files, not only OSError
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None,
                       "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
                       "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8}


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


def _read_npz(path):
    """``(arrays, stored metadata)`` of an .npz archive."""
    unreadable = "is not a readable .npz archive of numeric arrays (pickled objects are refused)"
    try:
        data = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as exc:
        raise InvalidParameter("path", path, f"{unreadable}: {_one_line(exc)}") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InvalidParameter("path", path, "holds a single .npy array, not an .npz archive of layers")
    with data:
        try:
            arrays = {key: data[key] for key in data.files}
        except _NPZ_ERRORS as exc:
            raise InvalidParameter("path", path, f"{unreadable}: {_one_line(exc)}") from exc
    stored = {}
    if "activation" in arrays:
        stored["activation"] = _stored_string("activation", arrays.pop("activation"))
    if "metadata" in arrays:
        stored["extra"] = _stored_extra(arrays.pop("metadata"))
    return arrays, stored


def _stored_string(key, arr):
    if arr.ndim != 0 or arr.dtype.kind != "U":
        raise InvalidParameter(key, f"array of dtype {arr.dtype} and shape {arr.shape}",
                               "must be a 0-d string array, as save_layers writes it")
    return str(arr[()])


def _stored_extra(arr):
    try:
        extra = json.loads(_stored_string("metadata", arr))
    except json.JSONDecodeError as exc:
        raise InvalidParameter("metadata", "unparsable JSON", "must hold a JSON object of strings, "
                               "as save_layers writes it") from exc
    if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
        raise InvalidParameter("metadata", extra, "must hold a JSON object of strings")
    return extra


def _read_safetensors(path):
    """``(arrays, stored metadata)`` of a .safetensors file."""
    from safetensors import SafetensorError, deserialize, safe_open
    from safetensors.numpy import load_file

    unreadable = "is not a readable .safetensors file"
    try:
        with safe_open(path, framework="np") as fh:
            header = dict(fh.metadata() or {})
            dtypes = {key: fh.get_slice(key).get_dtype() for key in fh.keys()}
        for key, dtype in dtypes.items():
            if dtype not in _SAFETENSORS_DTYPES:
                raise InvalidParameter(key, f"tensor of dtype {dtype}", "must be a float (F16, BF16, "
                                       "F32, F64) or integer tensor")
        if "BF16" in dtypes.values():
            with open(path, "rb") as fh:
                arrays = {key: _decode(view) for key, view in deserialize(fh.read())}
        else:
            arrays = load_file(path)
    except (SafetensorError, OSError) as exc:
        raise InvalidParameter("path", path, f"{unreadable}: {_one_line(exc)}") from exc
    stored = {}
    if "activation" in header:
        stored["activation"] = header.pop("activation")
    if header:
        stored["extra"] = header
    return arrays, stored


def _decode(view):
    """A raw safetensors tensor as a numpy array; bfloat16 is the top half of a float32."""
    if view["dtype"] == "BF16":
        bits = np.frombuffer(view["data"], dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(view["shape"])
    dtype = np.dtype(_SAFETENSORS_DTYPES[view["dtype"]]).newbyteorder("<")
    return np.frombuffer(view["data"], dtype=dtype).reshape(view["shape"])


# -- layers from keys ---------------------------------------------------------------
def _npz_layers(arrays, layer_order=None):
    """``(layers, keys used, prefix order or None)`` of an archive in one of the three layouts."""
    stacked = [key for key in ("W", "b") if key in arrays]
    indexed = [key for key in arrays if _INDEXED_KEY.fullmatch(key)]
    torch = [key for key in arrays if _TORCH_KEY.fullmatch(key)]
    other = sorted(set(arrays) - set(stacked) - set(indexed) - set(torch))
    if other:
        raise InvalidParameter(other[0], "key of the archive", f"is not a layer key; {_DENSE_ONLY} "
                               "(or W0, b0, W1, ... or stacked W, b)")
    if torch and (stacked or indexed):
        raise InvalidParameter(torch[0], "key of the archive", f"mixes PyTorch-style keys with "
                               f"{(stacked + indexed)[0]!r}: use one layout per file")
    if torch:
        return _torch_layers(arrays, layer_order)
    if indexed:
        return (*_indexed_layers(arrays, indexed), None)
    if stacked:
        return (*_stacked_layers(arrays), None)
    raise InvalidParameter("path", "archive without layers", "must hold W (L, N, N) and b (L, N), "
                           "or W0, b0, W1, ..., or <prefix>.weight/<prefix>.bias arrays")


def _torch_layers(arrays, layer_order=None):
    groups = {}
    for key in arrays:
        match = _TORCH_KEY.fullmatch(key)
        if match is None:
            raise InvalidParameter(key, "key of the model", f"is not a layer key; {_DENSE_ONLY}")
        groups.setdefault(match["prefix"], {})[match["kind"]] = key
    for group in groups.values():
        # a non-dense tensor (a layer norm's 1-D weight) is the error to report, not the order
        if "weight" in group and np.ndim(arrays[group["weight"]]) != 2:
            shape = np.shape(arrays[group["weight"]])
            raise InvalidParameter(group["weight"], f"array of shape {shape}", _DENSE_ONLY)
    order = _prefix_order(groups, layer_order)
    layers, keys = [], []
    for prefix in order:
        group = groups[prefix]
        if "weight" not in group:
            raise InvalidParameter(group["bias"], "bias without a weight",
                                   f"needs {prefix}.weight; {_DENSE_ONLY}")
        bkey = group.get("bias")
        layers.append((group["weight"], arrays[group["weight"]], bkey,
                       None if bkey is None else arrays[bkey]))
        keys += [group["weight"]] + ([bkey] if bkey else [])
    return layers, keys, order


# stems that name their place in the forward pass, in that order
_FORWARD_STEMS = (("encoder", "decoder"), ("enc", "dec"))


def _prefix_order(groups, layer_order):
    """The layer prefixes in forward order: given, or natural-sorted within a known stem order."""
    if layer_order is not None:
        given = [str(p) for p in layer_order]
        if sorted(given) != sorted(groups):
            raise InvalidParameter("layer_order", given, f"must list each layer prefix of the file "
                                   f"exactly once: {sorted(groups, key=_natural_key)}")
        return given
    order = sorted(groups, key=_natural_key)
    stems = {_stem(p) for p in order}
    if len(stems) == 1:
        return order
    for names in _FORWARD_STEMS:
        ranks = {p: _forward_rank(p, names) for p in order}
        if None not in ranks.values():
            return sorted(order, key=lambda p: (ranks[p], _natural_key(p)))
    raise InvalidParameter("layer_order", None, f"the layer prefixes {order} have different names, "
                           "so their forward order is unknown: give it (--layer-order "
                           f"{','.join(order)}, reordered)")


def _forward_rank(prefix, names):
    """Index in ``names`` of the one name that is a dotted part of ``prefix`` (``model.encoder.0``), else None."""
    found = {names.index(part) for part in _stem(prefix).split(".") if part in names}
    return found.pop() if len(found) == 1 else None


def _stem(prefix):
    """``"encoder.0"`` -> ``"encoder"``, ``"net.layers.10"`` -> ``"net.layers"``: the name without its numbers."""
    return ".".join(part for part in prefix.split(".") if not part.isdigit()).rstrip("0123456789_") or prefix


def _natural_key(prefix):
    """``"layers.10"`` -> ``("layers.", 10, "")``: digit runs compare as integers.

    ``re.split`` with a group puts text at even and digits at odd positions, so two keys
    never compare a string with an integer.
    """
    return tuple(int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", prefix)))


def _indexed_layers(arrays, keys):
    found = {(m["kind"], int(m["index"])) for m in map(_INDEXED_KEY.fullmatch, keys)}
    depth = 1 + max(index for kind, index in found)
    layers, used = [], []
    for l in range(depth):
        if ("W", l) not in found:
            label = f"b{l}" if ("b", l) in found else f"W{l}"
            raise InvalidParameter(label, "missing weight", f"W{l} is absent: per-layer keys must be "
                                   "W0, b0, W1, b1, ... without gaps")
        bkey = f"b{l}" if ("b", l) in found else None
        layers.append((f"W{l}", arrays[f"W{l}"], bkey, None if bkey is None else arrays[bkey]))
        used += [f"W{l}"] + ([bkey] if bkey else [])
    return layers, used


def _stacked_layers(arrays):
    if "W" not in arrays:
        raise InvalidParameter("b", "stacked biases without W", "needs W (L, N, N) alongside b (L, N)")
    W = arrays["W"]
    if W.ndim != 3 or W.shape[0] < 1:
        raise InvalidParameter("W", f"array of shape {W.shape}", "must have shape (L, N, N) with L >= 1")
    b = arrays.get("b")
    if b is not None and (b.ndim != 2 or b.shape[0] != W.shape[0]):
        raise InvalidParameter("b", f"array of shape {b.shape}",
                               f"must have shape (L, N) = {W.shape[:2]} to match W")
    layers = [(f"W[{l}]", W[l], None if b is None else f"b[{l}]", None if b is None else b[l])
              for l in range(W.shape[0])]
    return layers, ["W"] + (["b"] if b is not None else [])


def _check_stack_agrees(arrays, weights, biases):
    """Archives holding both per-layer and stacked arrays (as save_layers writes) must agree."""
    if not any(_INDEXED_KEY.fullmatch(key) for key in arrays):
        return
    for key, layers in (("W", weights), ("b", biases)):
        if key in arrays and not (len({x.shape for x in layers}) == 1
                                  and np.array_equal(arrays[key], np.stack(layers))):
            raise InvalidParameter(key, f"array of shape {arrays[key].shape}",
                                   f"disagrees with the per-layer {key}0, {key}1, ...: keep one layout")


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


def _npz_bytes(weights, biases, stored):
    arrays = {}
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = w, b
    n = weights[0].shape[1]
    if all(w.shape == (n, n) for w in weights):
        # the stacked pair is what validation.sampling.load_network reads
        arrays["W"], arrays["b"] = np.stack(weights), np.stack(biases)
    if "activation" in stored:
        arrays["activation"] = np.array(stored["activation"])
    if "extra" in stored:
        arrays["metadata"] = np.array(json.dumps(stored["extra"], sort_keys=True))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _safetensors_bytes(weights, biases, stored):
    from safetensors.numpy import save

    tensors = {}
    for l, (w, b) in enumerate(zip(weights, biases)):
        tensors[f"layers.{l}.weight"] = np.ascontiguousarray(w)
        tensors[f"layers.{l}.bias"] = np.ascontiguousarray(b)
    header = {**stored.get("extra", {}), **({"activation": stored["activation"]}
                                             if "activation" in stored else {})}
    return save(tensors, metadata=header or None)


def write_atomic(path, payload: bytes):
    """Write to a fresh name in the same folder, then rename: readers never see half a file.

    ``os.open`` with mode 0o666 lets the umask set the permissions, as for a plain open.
    """
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InvalidParameter("path", path, f"cannot be written: {_one_line(exc)}") from exc
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _one_line(exc) -> str:
    return " ".join(str(exc).split())
