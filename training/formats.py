"""The bytes of a model file: reading and writing ``.npz`` and ``.safetensors``, written atomically.

Readers return a file's arrays by key and the metadata it stores (activation and
``extra``); writers turn checked float64 layers into the bytes of either format;
:func:`write_atomic` puts bytes on disk through a temporary file renamed into place.
Which keys are layers, and in which order, is :mod:`training.layerkeys`'s job.
"""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile

import numpy as np

from esd.exceptions import InvalidParameter

__all__ = ["write_atomic"]

# zipfile.BadZipFile and EOFError come from truncated or foreign files, not only OSError
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile)
_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None,
                       "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
                       "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8}


# -- reading ------------------------------------------------------------------------
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


# -- writing ------------------------------------------------------------------------
def _npz_bytes(weights, biases, stored):
    arrays = {}
    for l, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"W{l}"], arrays[f"b{l}"] = w, b
    n = weights[0].shape[1]
    if all(w.shape == (n, n) for w in weights):
        # the stacked pair is what validation.networks.load_network reads
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
