"""Mean field of a deep network with light-tailed weights (docs/theory/light-tailed.md).

Pre-activations are Gaussian with variance q_l; the length map is
``q_l = sigma_w^2 V(q_{l-1}) + sigma_b^2`` with ``V(q) = E[phi(sqrt(q) Z)^2]``; the
squared slope ``d = phi'(sqrt(q_l) Z)^2`` has moments ``mu_k,l = E[d^k]`` and
``chi_l = sigma_w,l^2 mu_1,l`` (chi = 1: the edge of chaos).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from esd.activations import Activation, SlopeLaw
from esd.exceptions import InvalidParameter
from esd.spec import NetworkSpec

__all__ = ["q_star", "layer_variances", "MeanField", "mean_field", "conditioned_mean_field"]

_Q_HUGE = 1e300
_Q_TINY = 1e-300


def q_star(act: Activation, sigma_w: float, sigma_b: float, q0: float = 1.0) -> float:
    """Limit of ``q <- sigma_w^2 V(q) + sigma_b^2`` iterated from ``q0``.

    V is increasing, so the iteration is monotone and converges to the first fixed point
    in the direction it moves; that fixed point is bracketed geometrically and refined
    by Brent's method. Returns ``inf`` when the iteration diverges (e.g. relu with
    sigma_w^2 > 2) and ``q0`` itself when the map is the identity (linear with
    sigma_w = 1, relu with sigma_w^2 = 2, sigma_b = 0).
    """
    def g(q):
        return sigma_w ** 2 * act.length_map(q) + sigma_b ** 2 - q

    g0 = g(q0)
    if abs(g0) <= 1e-15 * max(q0, 1.0):
        # A map equal to the identity (scale-free activations at criticality) keeps q0;
        # otherwise q0 is an isolated fixed point already.
        return q0
    if g0 > 0:
        lo, hi = q0, q0
        while g(hi) > 0:
            lo, hi = hi, 4.0 * hi + 1.0
            if hi > _Q_HUGE:
                return float("inf")
    else:
        lo, hi = q0, q0
        while g(lo) < 0:
            hi, lo = lo, lo / 16.0
            if lo < _Q_TINY:
                return 0.0
    if g(lo) == 0.0:
        return lo
    if g(hi) == 0.0:
        return hi
    return brentq(g, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)


def layer_variances(spec: NetworkSpec) -> np.ndarray:
    """Pre-activation variances q_1..q_L of the network (see NetworkSpec.input_variance)."""
    act = spec.act
    sw, sb = spec.sigma_ws, spec.sigma_bs
    if spec.q is not None:
        return np.asarray(spec.q, dtype=float)
    if spec.input_variance is None:
        qs = q_star(act, sw[0], sb[0])
        if spec.identical_layers:
            return np.full(spec.depth, qs)
        q = [qs]
    else:
        q = [sw[0] ** 2 * spec.input_variance + sb[0] ** 2]
    for l in range(1, spec.depth):
        q.append(sw[l] ** 2 * act.length_map(q[-1]) + sb[l] ** 2)
    return np.asarray(q, dtype=float)


@dataclass(frozen=True)
class MeanField:
    """Per-layer mean-field quantities of a network.

    q : (L,) pre-activation variances; mu : (L, 4) slope moments mu_1..mu_4;
    chi : (L,) sigma_w,l^2 mu_1,l; q_star : stationary variance of the first layer's
    map (inf if the length map diverges); slope_laws : one SlopeLaw per distinct layer;
    layer_group : (L,) index of each layer's slope law in slope_laws.
    """

    spec: NetworkSpec
    q: np.ndarray
    q_star: float
    mu: np.ndarray
    chi: np.ndarray
    slope_laws: tuple
    layer_group: np.ndarray

    @property
    def p_nonzero(self) -> np.ndarray:
        """P(d_l > 0) per layer: the rank fraction of D_l."""
        return np.array([self.slope_laws[g].p_nonzero for g in self.layer_group])

    def to_dict(self) -> dict:
        return {
            "q_star": None if not np.isfinite(self.q_star) else float(self.q_star),
            "q": self.q.tolist(),
            "chi": self.chi.tolist(),
            "mu": self.mu.tolist(),
        }


def mean_field(spec: NetworkSpec) -> MeanField:
    """Solve the mean field of ``spec`` and build the per-layer slope laws."""
    act = spec.act
    qs = q_star(act, spec.sigma_ws[0], spec.sigma_bs[0])
    q = layer_variances(spec)
    scale_free = act._bernoulli_p is not None and act.name in ("linear", "relu")
    if not np.all(np.isfinite(q)):
        if not scale_free:
            raise InvalidParameter("sigma_w", spec.sigma_w,
                                   f"the length map of {act.name} diverges: no finite q for these scales")
        # Slopes of linear and relu do not depend on q: any finite stand-in will do.
        q = np.where(np.isfinite(q), q, 1.0)
    if np.any(q > 1e12):
        if not scale_free:
            raise InvalidParameter("sigma_w", spec.sigma_w,
                                   f"pre-activation variance {q.max():.3g} is beyond 1e12")
        q = np.minimum(q, 1e12)
    # Layers with equal (q, sigma_w) share a slope law; the solver then has one unknown
    # per distinct layer, whatever the depth.
    keys = {}
    group = np.empty(spec.depth, dtype=np.int64)
    laws = []
    mus = {}
    for l, ql in enumerate(q):
        key = float(ql)
        if key not in keys:
            keys[key] = len(laws)
            laws.append(act.slope_law(key))
            mus[key] = act.slope_moments(key, 4)
        group[l] = keys[key]
    mu = np.array([mus[float(ql)] for ql in q])
    chi = spec.sigma_ws ** 2 * mu[:, 0]
    return MeanField(spec=spec, q=q, q_star=qs, mu=mu, chi=chi, slope_laws=tuple(laws),
                     layer_group=group)


def conditioned_mean_field(spec: NetworkSpec, slopes) -> MeanField:
    """The mean field of one drawn network: its realised slopes replace the Gaussian laws.

    ``slopes`` (L, N) holds phi'(h_l,i) of one network at one input. Layer l's squared-slope
    law becomes the empirical measure of d_l,i = slopes[l, i]^2 (atoms of weight 1/N), so
    the free-product equations and the radial law (docs/theory/light-tailed.md) give the deterministic
    equivalent of J conditioned on its diagonal factors D_l. At finite N the empirical
    slope law fluctuates by O(1/sqrt N) around the mean field; for a near-isometric
    network that alone moves the thin eigenvalue ring of J by a sizeable part of its width,
    which this conditioning removes. Each layer is its own group (no sharing).
    """
    d = np.asarray(slopes, dtype=float)
    if d.ndim != 2 or d.shape[0] != spec.depth or d.shape[1] < 1:
        raise InvalidParameter("slopes", d, f"must have shape (L, N) with L = {spec.depth}")
    if not np.all(np.isfinite(d)):
        raise InvalidParameter("slopes", d, "must be finite")
    d2 = d * d
    q = layer_variances(spec)
    laws = []
    for row, ql in zip(d2, q):
        # Equal slopes (linear, relu, hard-tanh: 0 or 1) merge into one weighted atom.
        atoms, counts = np.unique(row, return_counts=True)
        laws.append(SlopeLaw(atoms=atoms, weights=counts / row.size, kind="empirical",
                             q=float(ql), ncore=atoms.size))
    mu = np.stack([np.mean(d2 ** k, axis=1) for k in range(1, 5)], axis=1)
    chi = spec.sigma_ws ** 2 * mu[:, 0]
    return MeanField(spec=spec, q=q, q_star=q_star(spec.act, spec.sigma_ws[0], spec.sigma_bs[0]),
                     mu=mu, chi=chi, slope_laws=tuple(laws), layer_group=np.arange(spec.depth))
