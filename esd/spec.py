"""The network being described: one frozen, validated specification."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from .activations import Activation, get_activation
from .exceptions import InvalidParameter

__all__ = ["NetworkSpec", "LIGHT_TAILED_LAWS"]

LIGHT_TAILED_LAWS = ("gaussian", "orthogonal")


def _check_real(name, value, *, low, low_open, high=np.inf):
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise InvalidParameter(name, value, f"must be a finite real number {'>' if low_open else '>='} {low}")
    if (value <= low) if low_open else (value < low):
        raise InvalidParameter(name, value, f"must be a finite real number {'>' if low_open else '>='} {low}")
    if value > high:
        raise InvalidParameter(name, value, f"must be <= {high}")
    return float(value)


def _per_layer(name, value, depth, *, low, low_open):
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value, dtype=object).ravel())
        if len(values) != depth:
            raise InvalidParameter(name, value, f"a per-layer sequence must have depth={depth} entries")
        return tuple(_check_real(f"{name}[{i}]", v if not isinstance(v, np.floating) else float(v),
                                 low=low, low_open=low_open) for i, v in enumerate(values))
    if isinstance(value, np.floating):
        value = float(value)
    return _check_real(name, value, low=low, low_open=low_open)


@dataclass(frozen=True)
class NetworkSpec:
    """A deep random network (docs/theory/model.md): depth L layers of width N -> infinity.

    Parameters
    ----------
    activation : str or Activation
        linear, relu, hard-tanh, tanh, erf, sigmoid, or :func:`esd.custom_activation`.
    weights : {"gaussian", "orthogonal"}
        ``W_ij ~ N(0, sigma_w^2/N)`` or ``W = sigma_w O`` with O Haar orthogonal.
    sigma_w, sigma_b : float or sequence of length ``depth``
        Weight scale (> 0) and bias standard deviation (>= 0), per layer if a sequence.
    depth : int
        Number of layers L >= 1.
    input_variance : float or None
        ``|x_0|^2 / N``. None puts every layer at the stationary variance q* (for
        per-layer scales: the first layer at its own q*, the rest by the recursion).
        A value makes the layers follow ``q_1 = sigma_w1^2 input_variance + sigma_b1^2``,
        ``q_l = sigma_wl^2 V(q_{l-1}) + sigma_bl^2``.
    q : sequence of length ``depth`` or None
        Explicit pre-activation variances q_l, overriding the mean-field recursion.
    """

    activation: object = "tanh"
    weights: str = "gaussian"
    sigma_w: object = 1.0
    sigma_b: object = 0.0
    depth: int = 1
    input_variance: float | None = None
    q: tuple | None = None
    act: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "act", get_activation(self.activation))
        if not isinstance(self.weights, str) or self.weights.lower() not in LIGHT_TAILED_LAWS:
            raise InvalidParameter("weights", self.weights, f"must be one of {list(LIGHT_TAILED_LAWS)}")
        object.__setattr__(self, "weights", self.weights.lower())
        if isinstance(self.depth, bool) or not isinstance(self.depth, Integral) or self.depth < 1:
            raise InvalidParameter("depth", self.depth, "must be an integer >= 1")
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "sigma_w", _per_layer("sigma_w", self.sigma_w, self.depth, low=0.0, low_open=True))
        object.__setattr__(self, "sigma_b", _per_layer("sigma_b", self.sigma_b, self.depth, low=0.0, low_open=False))
        if self.input_variance is not None:
            object.__setattr__(self, "input_variance",
                               _check_real("input_variance", self.input_variance, low=0.0, low_open=False))
        if self.q is not None:
            qs = _per_layer("q", tuple(self.q) if not isinstance(self.q, Real) else self.q,
                            self.depth, low=0.0, low_open=False)
            object.__setattr__(self, "q", qs if isinstance(qs, tuple) else (qs,) * self.depth)

    @property
    def sigma_ws(self) -> np.ndarray:
        """Per-layer sigma_w as an array of length depth."""
        return np.broadcast_to(np.asarray(self.sigma_w, dtype=float), (self.depth,)).copy()

    @property
    def sigma_bs(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.sigma_b, dtype=float), (self.depth,)).copy()

    @property
    def identical_layers(self) -> bool:
        """True when every layer has the same scales and the same stationary variance."""
        return (not isinstance(self.sigma_w, tuple) and not isinstance(self.sigma_b, tuple)
                and self.input_variance is None and self.q is None)

    def to_dict(self) -> dict:
        return {
            "activation": self.act.name,
            "weights": self.weights,
            "sigma_w": list(self.sigma_w) if isinstance(self.sigma_w, tuple) else self.sigma_w,
            "sigma_b": list(self.sigma_b) if isinstance(self.sigma_b, tuple) else self.sigma_b,
            "depth": self.depth,
            "input_variance": self.input_variance,
            "q": list(self.q) if self.q is not None else None,
        }
