"""From the keys of a model file to its layers in forward order.

An ``.npz`` archive holds its layers in one of three layouts (stacked ``W``/``b``,
per-layer ``W0, b0, ...`` or PyTorch-style ``<prefix>.weight``/``<prefix>.bias``), a
``.safetensors`` file in the last; this module picks the layout, orders PyTorch-style
prefixes (natural sort, known stems such as encoder/decoder, or the order given) and
returns ``(weight key, weight, bias key, bias)`` per layer for :mod:`training.modelio` to
check.
"""

from __future__ import annotations

import re

import numpy as np

from esd.exceptions import InvalidParameter

_DENSE_ONLY = ("only fully connected layers are supported: <prefix>.weight of shape (n_out, n_in) "
               "and <prefix>.bias of shape (n_out,)")
_TORCH_KEY = re.compile(r"(?P<prefix>.+)\.(?P<kind>weight|bias)")
_INDEXED_KEY = re.compile(r"(?P<kind>[Wb])(?P<index>0|[1-9][0-9]*)")


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
