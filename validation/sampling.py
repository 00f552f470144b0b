"""Random networks (docs/theory/model.md) and inputs at the stationary regime (docs/theory/validation.md).

Every random number is drawn on the host by one NumPy ``Generator`` (SPEC 7:
``rng`` is normalised by ``numpy.random.default_rng``), in a fixed order, and only then
moved to the namespace ``xp``: the same seed gives the identical network on every backend.

Draw order of :func:`sample_network`: the weights of layer 1, 2, ..., L, then the biases
of layer 1, ..., L (so the weights do not depend on ``sigma_b``); a tied network draws one
layer. Laws:

* gaussian: ``W_ij ~ N(0, sigma_w^2 / N)``;
* orthogonal: ``W = sigma_w O``, O Haar (QR of a gaussian matrix, columns multiplied by
  the signs of diag(R));
* stable(alpha), 0 < alpha < 2, and cauchy = stable(1): ``W_ij = sigma_w N^(-1/alpha) S``,
  S symmetric alpha-stable with characteristic function ``exp(-|t|^alpha)``, drawn by
  Chambers–Mallows–Stuck (alpha = 1: ``tan(pi (U - 1/2))``, exactly standard Cauchy);
* biases ``N(0, sigma_b^2)`` for gaussian/orthogonal, ``sigma_b S`` for stable laws.

The containers :class:`~validation.networks.Network` and
:class:`~validation.networks.LayeredNetwork` are in :mod:`validation.networks`.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from esd.activations import get_activation
from esd.exceptions import InvalidParameter

from . import xp_activations
from .backend import asarray, get_namespace
from .networks import LayeredNetwork, Network, _check_int, check_widths

__all__ = ["LAWS", "STABLE_LAWS", "sample_network", "sample_layered", "stationary_inputs", "standard_stable"]

LAWS = ("gaussian", "orthogonal", "cauchy", "stable")
STABLE_LAWS = ("cauchy", "stable")


# -- validation ---------------------------------------------------------------------
def _check_scale(name, value, depth, *, positive):
    rule = "a finite real number > 0" if positive else "a finite real number >= 0"

    def one(label, v):
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) \
                or (v <= 0 if positive else v < 0):
            raise InvalidParameter(label, v, f"must be {rule}")
        return float(v)

    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.asarray(value, dtype=object).ravel())
        if len(values) != depth:
            raise InvalidParameter(name, value, f"a per-layer sequence must have depth={depth} entries")
        return np.array([one(f"{name}[{i}]", v) for i, v in enumerate(values)])
    return np.full(depth, one(name, value))


def _check_law(weights, alpha):
    if not isinstance(weights, str) or weights.lower() not in LAWS:
        raise InvalidParameter("weights", weights, f"must be one of {list(LAWS)}")
    law = weights.lower()
    if law == "stable":
        if alpha is None:
            raise InvalidParameter("alpha", alpha, "is required for weights='stable': a number in (0, 2)")
        if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < alpha < 2.0:
            raise InvalidParameter("alpha", alpha, "must be a number in the open interval (0, 2)")
        return law, float(alpha)
    if law == "cauchy":
        if alpha is not None and alpha != 1:
            raise InvalidParameter("alpha", alpha, "cauchy is the stable law with alpha=1; "
                                   "leave alpha unset or use weights='stable'")
        return law, 1.0
    if alpha is not None:
        raise InvalidParameter("alpha", alpha, f"is only used with weights in {list(STABLE_LAWS)}")
    return law, None


def _make_rng(rng):
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("rng", rng, "must be None, a seed (int, sequence of ints, "
                               "SeedSequence) or a numpy.random.Generator") from exc


def _seed_record(gen) -> dict:
    ss = getattr(gen.bit_generator, "seed_seq", None) or getattr(gen.bit_generator, "_seed_seq", None)
    if ss is None or not hasattr(ss, "entropy"):
        return {"seed_entropy": None, "seed_spawn_key": None}
    return {"seed_entropy": ss.entropy, "seed_spawn_key": list(ss.spawn_key)}


# -- draws (host, NumPy) ---------------------------------------------------------------
def standard_stable(rng: np.random.Generator, alpha: float, shape) -> np.ndarray:
    """Symmetric alpha-stable samples, characteristic function ``exp(-|t|^alpha)``.

    Chambers–Mallows–Stuck with beta = 0: ``V = pi (U - 1/2)``, ``E ~ Exp(1)``,
    ``S = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / E)^((1 - alpha)/alpha)``;
    alpha = 1 draws no E and returns ``tan(V)`` (standard Cauchy).
    """
    v = math.pi * (rng.random(shape) - 0.5)
    if alpha == 1.0:
        return np.tan(v)
    e = np.maximum(rng.standard_exponential(shape), np.finfo(np.float64).tiny)
    return (np.sin(alpha * v) / np.cos(v) ** (1.0 / alpha)
            * (np.cos((1.0 - alpha) * v) / e) ** ((1.0 - alpha) / alpha))


def _draw_weight(law, n, sigma_w, alpha, rng, n_in=None) -> np.ndarray:
    """One (n, n_in) weight matrix (n_in = n by default), normalised by the fan-in n_in.

    A rectangular orthogonal matrix has orthonormal columns (n >= n_in) or rows, times
    sigma_w; square draws are the same with or without ``n_in``.
    """
    n_in = n if n_in is None else n_in
    if law == "gaussian":
        return rng.standard_normal((n, n_in)) * (sigma_w / math.sqrt(n_in))
    if law == "orthogonal":
        q, r = np.linalg.qr(rng.standard_normal((max(n, n_in), min(n, n_in))))
        q = q * np.where(np.diagonal(r) < 0.0, -1.0, 1.0)
        return sigma_w * (q if n >= n_in else q.T)
    return standard_stable(rng, alpha, (n, n_in)) * (sigma_w * n_in ** (-1.0 / alpha))


def _draw_bias(law, n, sigma_b, alpha, rng) -> np.ndarray:
    if law in STABLE_LAWS:
        return sigma_b * standard_stable(rng, alpha, n)
    return sigma_b * rng.standard_normal(n)


# -- public -----------------------------------------------------------------------------
def sample_network(activation, weights, sigma_w, sigma_b, depth, width, *, alpha=None,
                   tied=False, rng=None, xp=None) -> Network:
    """Draw a network of ``depth`` layers of ``width`` units (docs/theory/model.md).

    Parameters
    ----------
    activation : str or esd.Activation
    weights : {"gaussian", "orthogonal", "cauchy", "stable"}
    sigma_w, sigma_b : float or sequence of length ``depth``
        Weight scale (> 0) and bias scale (>= 0), per layer if a sequence.
    depth, width : int
        L >= 1 layers of N >= 1 units.
    alpha : float, optional
        Stability index in (0, 2), required for "stable"; "cauchy" means alpha = 1.
    tied : bool
        Draw one (W, b) and repeat it in every layer (scales must then be constant).
    rng : None, seed or numpy.random.Generator
    xp : array namespace or its name; NumPy by default.

    Examples
    --------
    >>> net = sample_network("tanh", "gaussian", 1.5, 0.1, depth=3, width=4, rng=0)
    >>> net.W.shape, net.b.shape, net.params["law"]
    ((3, 4, 4), (3, 4), 'gaussian')
    """
    act = get_activation(activation)
    law, alpha = _check_law(weights, alpha)
    depth = _check_int("depth", depth, 1)
    width = _check_int("width", width, 1)
    sw = _check_scale("sigma_w", sigma_w, depth, positive=True)
    sb = _check_scale("sigma_b", sigma_b, depth, positive=False)
    if not isinstance(tied, (bool, np.bool_)):
        raise InvalidParameter("tied", tied, "must be True or False")
    tied = bool(tied)
    if tied:
        for name, arr, given in (("sigma_w", sw, sigma_w), ("sigma_b", sb, sigma_b)):
            if np.any(arr != arr[0]):
                raise InvalidParameter(name, given, "must be the same in every layer when tied=True")
    xp = get_namespace(xp=xp)
    gen = _make_rng(rng)
    record = _seed_record(gen)

    n_draw = 1 if tied else depth
    W = xp.empty((n_draw, width, width), dtype=xp.float64)
    b = xp.empty((n_draw, width), dtype=xp.float64)
    for l in range(n_draw):
        W[l, ...] = asarray(_draw_weight(law, width, sw[l], alpha, gen), xp)
    for l in range(n_draw):
        b[l, ...] = asarray(_draw_bias(law, width, sb[l], alpha, gen), xp)
    if tied:
        W = xp.broadcast_to(W, (depth, width, width))
        b = xp.broadcast_to(b, (depth, width))

    def scale(arr, given):
        return [float(v) for v in arr] if isinstance(given, (list, tuple, np.ndarray)) else float(arr[0])

    params = {"law": law, "sigma_w": scale(sw, sigma_w), "sigma_b": scale(sb, sigma_b),
              "alpha": alpha, "width": width, "depth": depth, **record}
    return Network(W=W, b=b, activation=act, tied=tied, params=params)


def sample_layered(activation, weights, sigma_w, sigma_b, widths, *, alpha=None,
                   rng=None) -> LayeredNetwork:
    """Draw a network with layer widths ``[n_0, ..., n_L]`` (``n_L = n_0``) on the host.

    The laws of :func:`sample_network`, each layer normalised by its fan-in ``n_{l-1}``
    (gaussian ``N(0, sigma_w^2 / n_{l-1})``, stable ``sigma_w n_{l-1}^(-1/alpha) S``), so a
    pre-activation keeps the scale the theory assumes; same draw order (weights of layer
    1..L, then biases). With all widths equal it draws exactly ``sample_network``'s arrays.

    Examples
    --------
    >>> net = sample_layered("sigmoid", "cauchy", 1.0, 0.5, [8, 3, 8], rng=0)
    >>> [w.shape for w in net.W]
    [(3, 8), (8, 3)]
    """
    act = get_activation(activation)
    law, alpha = _check_law(weights, alpha)
    widths = check_widths(widths)
    depth = len(widths) - 1
    sw = _check_scale("sigma_w", sigma_w, depth, positive=True)
    sb = _check_scale("sigma_b", sigma_b, depth, positive=False)
    gen = _make_rng(rng)
    record = _seed_record(gen)
    W = tuple(_draw_weight(law, widths[l + 1], sw[l], alpha, gen, n_in=widths[l]) for l in range(depth))
    b = tuple(_draw_bias(law, widths[l + 1], sb[l], alpha, gen) for l in range(depth))
    params = {"law": law, "sigma_w": [float(v) for v in sw], "sigma_b": [float(v) for v in sb],
              "alpha": alpha, "widths": widths, **record}
    return LayeredNetwork(W=W, b=b, activation=act, params=params)


def stationary_inputs(network: Network, n_inputs: int, *, burn_in: int = 8, rng=None):
    """Inputs ``x0`` (n_inputs, N) whose pre-activations have the stationary law (docs/theory/validation.md).

    Draws ``x0 = phi(z)``, z standard normal (gaussian/orthogonal) or standard
    alpha-stable (stable laws), then passes it through ``burn_in`` freshly drawn layers of
    the network's law and first-layer scales. For a network read from a file (no law),
    the burn-in goes through the network's own layers, cycled. Returns an array of the
    network's namespace.
    """
    if not isinstance(network, Network):
        raise InvalidParameter("network", network, "must be a validation.Network")
    n_inputs = _check_int("n_inputs", n_inputs, 1)
    burn_in = _check_int("burn_in", burn_in, 0)
    gen = _make_rng(rng)
    xp = network.xp
    act = network.activation
    n = network.width
    law = network.params.get("law")
    alpha = network.params.get("alpha")
    if law in STABLE_LAWS:
        z = standard_stable(gen, alpha, (n_inputs, n))
    else:
        z = gen.standard_normal((n_inputs, n))
    x = xp_activations.phi(act, asarray(z, xp), xp)
    if law in LAWS:
        sw = float(np.ravel(network.params["sigma_w"])[0])
        sb = float(np.ravel(network.params["sigma_b"])[0])
    for k in range(burn_in):
        if law in LAWS:
            W = asarray(_draw_weight(law, n, sw, alpha, gen), xp)
            b = asarray(_draw_bias(law, n, sb, alpha, gen), xp)
        else:
            W, b = network.W[k % network.depth, ...], network.b[k % network.depth, ...]
        x = xp_activations.phi(act, xp.matmul(x, W.T) + b, xp)
    return x
