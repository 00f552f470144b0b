"""Networks as data: the containers Network and LayeredNetwork, and networks read from files.

A network holds its layers' float64 arrays, its activation and a record of how it was
made; :func:`check_widths` is the rule its layer widths obey (a square map), and
:func:`load_network` reads one from an ``.npz`` file. Random draws are in
:mod:`validation.sampling`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from numbers import Integral

import numpy as np

from esd.activations import Activation, get_activation
from esd.exceptions import InvalidParameter

from .backend import asarray, get_namespace, to_numpy

__all__ = ["Network", "LayeredNetwork", "load_network", "check_widths"]


@dataclass(frozen=True, eq=False)
class Network:
    """One drawn network: ``h_l = W_l x_{l-1} + b_l``, ``x_l = phi(h_l)``, l = 1..L.

    ``W`` has shape (L, N, N) and ``b`` shape (L, N), float64 arrays of one namespace;
    ``params`` records how it was made (law, scales, alpha, width, depth, seed entropy
    and spawn key, or the file it was read from).
    """

    W: object
    b: object
    activation: Activation
    tied: bool = False
    params: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return int(self.W.shape[0])

    @property
    def width(self) -> int:
        return int(self.W.shape[1])

    @property
    def xp(self):
        return get_namespace(self.W)

    def to(self, xp) -> "Network":
        """The same network with its arrays in the namespace ``xp`` (an exact copy)."""
        xp = get_namespace(xp=xp)
        if self.tied:  # keep one stored layer, broadcast as sample_network does
            W = xp.broadcast_to(asarray(to_numpy(self.W[:1, ...]), xp), self.W.shape)
            b = xp.broadcast_to(asarray(to_numpy(self.b[:1, ...]), xp), self.b.shape)
            return replace(self, W=W, b=b)
        return replace(self, W=asarray(to_numpy(self.W), xp), b=asarray(to_numpy(self.b), xp))

    def layers(self) -> list:
        """``[(W_l, b_l)]``, l = 1..L, each ``W_l`` of shape (N, N)."""
        return [(self.W[l], self.b[l]) for l in range(self.depth)]

    def to_dict(self) -> dict:
        from esd import __version__
        return {"activation": self.activation.name, "tied": self.tied, **self.params,
                "esd_version": __version__}


@dataclass(frozen=True, eq=False)
class LayeredNetwork:
    """A network whose layers may differ in width: ``W_l`` of shape (n_l, n_{l-1}).

    The map ``F: R^{n_0} -> R^{n_L}`` must be square (``n_L = n_0``) to have fixed points;
    an autoencoder N -> k -> N is one. ``W`` and ``b`` are tuples of float64 NumPy arrays;
    ``params`` records how it was made (law and scales, or the file or training run).
    """

    W: tuple
    b: tuple
    activation: Activation
    params: dict = field(default_factory=dict)
    tied: bool = False

    def __post_init__(self):
        if len(self.W) < 1 or len(self.W) != len(self.b):
            raise InvalidParameter("W", f"{len(self.W)} weights, {len(self.b)} biases",
                                   "need one bias per weight matrix and at least one layer")
        widths = [int(self.W[0].shape[1])] + [int(w.shape[0]) for w in self.W]
        check_widths(widths)
        for l, (w, b) in enumerate(zip(self.W, self.b)):
            if w.shape != (widths[l + 1], widths[l]) or b.shape != (widths[l + 1],):
                raise InvalidParameter(f"W[{l}]", f"array of shape {w.shape} with bias {b.shape}",
                                       f"layer {l + 1} must map {widths[l]} to {widths[l + 1]} units")

    @property
    def widths(self) -> list:
        return [int(self.W[0].shape[1])] + [int(w.shape[0]) for w in self.W]

    @property
    def depth(self) -> int:
        return len(self.W)

    @property
    def width(self) -> int:
        return int(self.W[0].shape[1])

    def layers(self) -> list:
        return list(zip(self.W, self.b))

    def to_network(self) -> Network:
        """The same map as a :class:`Network` (every layer N x N), for the spectra code."""
        if any(w != self.width for w in self.widths):
            raise InvalidParameter("widths", self.widths, "every layer must be N x N to stack them")
        return Network(W=np.stack(self.W), b=np.stack(self.b), activation=self.activation,
                       params=dict(self.params))

    def to_dict(self) -> dict:
        from esd import __version__
        return {"activation": self.activation.name, "widths": self.widths, **self.params,
                "esd_version": __version__}


# -- validation ---------------------------------------------------------------------
def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidParameter(name, value, f"must be an integer >= {low}")
    return int(value)


def check_widths(widths) -> list:
    """Layer widths ``[n_0, n_1, ..., n_L]``: integers >= 1, L >= 1, and ``n_L = n_0``."""
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) < 2:
        raise InvalidParameter("widths", widths, "must be a list [n_0, ..., n_L] of L + 1 >= 2 sizes")
    out = [_check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    if out[-1] != out[0]:
        raise InvalidParameter("widths", widths, f"the map must be square: n_L = {out[-1]} must "
                               f"equal n_0 = {out[0]} (fixed points of F: R^N -> R^N)")
    return out


# -- files -----------------------------------------------------------------------------
def load_network(path, activation, xp=None) -> Network:
    """Read a network from an ``.npz`` file holding ``W`` (L, N, N) and ``b`` (L, N).

    The arrays must be real, numeric and finite; they are converted to float64.
    """
    act = get_activation(activation)
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameter("path", path, "must be a path to an .npz file")
    if not os.path.isfile(path):
        raise InvalidParameter("path", str(path), "no such file")
    unreadable = "is not a readable .npz archive of numeric arrays"
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidParameter("path", str(path), f"{unreadable} ({exc})") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InvalidParameter("path", str(path), "must be an .npz archive (np.savez), not a .npy array")
    with data:
        missing = [k for k in ("W", "b") if k not in data.files]
        if missing:
            raise InvalidParameter("path", str(path), f"the archive lacks {missing}: it holds "
                                   f"{sorted(data.files)}, needs 'W' (L, N, N) and 'b' (L, N)")
        try:
            arrays = {k: data[k] for k in ("W", "b")}
        except (OSError, ValueError) as exc:
            raise InvalidParameter("path", str(path), f"{unreadable} ({exc})") from exc
    W, b = arrays["W"], arrays["b"]
    for key, arr in (("W", W), ("b", b)):
        if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                         or np.issubdtype(arr.dtype, np.integer)):
            raise InvalidParameter(key, f"array of dtype {arr.dtype}",
                                   "must hold real numbers (float or int)")
    if W.ndim != 3 or W.shape[1] != W.shape[2] or W.shape[0] < 1 or W.shape[1] < 1:
        raise InvalidParameter("W", f"array of shape {W.shape}", "must have shape (L, N, N) with L, N >= 1"
                               " (a single layer is W[None])")
    depth, width = W.shape[0], W.shape[1]
    if b.shape != (depth, width):
        raise InvalidParameter("b", f"array of shape {b.shape}",
                               f"must have shape (L, N) = {(depth, width)} to match W")
    for key, arr in (("W", W), ("b", b)):
        if not np.all(np.isfinite(arr)):
            raise InvalidParameter(key, f"array with {int(np.sum(~np.isfinite(arr)))} non-finite entries",
                                   "must be finite (no NaN or inf)")
    xp = get_namespace(xp=xp)
    params = {"law": "file", "path": os.fspath(path), "sigma_w": None, "sigma_b": None, "alpha": None,
              "width": width, "depth": depth, "seed_entropy": None, "seed_spawn_key": None}
    return Network(W=asarray(W.astype(np.float64), xp), b=asarray(b.astype(np.float64), xp),
                   activation=act, tied=False, params=params)
