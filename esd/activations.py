"""Activation functions and the laws of their squared slopes.

Each activation is an :class:`Activation` with the same methods: ``phi``, ``dphi``, the
length map ``length_map(q) = E[phi(sqrt(q) Z)^2]``, the slope moments
``slope_moments(q) = (E[d], ..., E[d^4])`` with ``d = phi'(sqrt(q) Z)^2``, and the
slope law ``slope_law(q)`` as a discrete measure the solver integrates against.
Closed forms are used where they exist (linear, relu, hard-tanh, erf; docs/theory/light-tailed.md);
otherwise Gaussian expectations are computed by the trapezoid rule, which converges
geometrically for integrands analytic in a strip. Kinked activations never go through
quadrature: their slope law is Bernoulli(p) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import erf, erfc, exp, pi, sqrt
from typing import Callable

import numpy as np

from . import config
from .exceptions import InvalidParameter

__all__ = ["Activation", "SlopeLaw", "get_activation", "ACTIVATIONS", "custom_activation"]

# Codes telling the kernel how to continue the slope d(h) analytically (pole correction).
POLES_NONE = 0      # no analytic continuation known: plain trapezoid
POLES_SECH4 = 1     # d(h) = A sech(b h)^4   (tanh: A=1, b=1; sigmoid: A=1/16, b=1/2)
POLES_GAUSS = 2     # d(h) = A exp(-C h^2)   (erf: A=1, C=pi/2)


@dataclass(frozen=True)
class SlopeLaw:
    """Law of the squared slope ``d = phi'(h)^2`` of one layer, ``h ~ N(0, q)``.

    ``ncore`` nodes (``|z| <= 9``) are always summed; the rest only where ``w`` is small.
    Either a finite set of exact atoms (``kind="atoms"``: linear, relu, hard-tanh; or
    ``kind="empirical"``: the realised slopes of one network), or
    trapezoid nodes in ``z = h / sqrt(q)`` with step ``hz`` (``kind="trapezoid"``). For the
    latter, ``pole_code`` and ``pole_params`` let the kernel add the exact correction
    for the poles of ``1 / (w - d(sqrt(q) z))`` near the real axis, which keeps the
    quadrature accurate to rounding when ``w`` approaches the support of ``d``.
    """

    atoms: np.ndarray
    weights: np.ndarray
    kind: str
    q: float
    hz: float = 0.0
    ncore: int = 0
    pole_code: int = POLES_NONE
    pole_params: tuple = (0.0, 0.0)

    @property
    def p_nonzero(self) -> float:
        """P(d > 0): one minus the mass of the slope law at 0 (exactly 1 without such
        mass, whatever the rounding of the weights' sum)."""
        return float(1.0 - np.sum(self.weights[self.atoms <= 0.0]))

    @property
    def d_max(self) -> float:
        return float(self.atoms.max())


def _gauss_nodes(hz: float, even: bool, zmax: float = config.QUAD_ZMAX):
    """Trapezoid nodes in z ~ N(0,1): (z_k, weights). Half line when the integrand is even."""
    n = int(np.ceil(zmax / hz))
    if even:
        z = hz * np.arange(n + 1)
        w = 2.0 * hz * np.exp(-0.5 * z * z) / sqrt(2.0 * pi)
        w[0] *= 0.5
    else:
        z = hz * np.arange(-n, n + 1)
        w = hz * np.exp(-0.5 * z * z) / sqrt(2.0 * pi)
    return z, w


@dataclass(frozen=True)
class Activation:
    """An activation with its derivative and Gaussian expectations.

    ``strip`` is the half-width of the strip around the real h axis where ``phi`` is
    analytic; it sets the trapezoid step for the length map and slope moments.
    """

    name: str
    phi: Callable = field(repr=False)
    dphi: Callable = field(repr=False)
    strip: float = 0.5
    slope_even: bool = True
    bounded: bool = False
    box: tuple | None = None
    _length_map: Callable | None = field(default=None, repr=False)
    _slope_moments: Callable | None = field(default=None, repr=False)
    _bernoulli_p: Callable | None = field(default=None, repr=False)
    pole_code: int = POLES_NONE
    pole_params: tuple = (0.0, 0.0)

    # -- Gaussian expectations -----------------------------------------------------
    def _hz(self, q: float, target: float = 60.0) -> float:
        # Trapezoid error ~ poly(1/hz) exp(-2 pi d / hz) for a strip of half-width
        # d = strip/sqrt(q) (the polynomial grows with the order of the poles of phi^2,
        # phi'^(2k), hence the margin over exp(-37) ~ 1e-16); 0.5 already resolves the
        # Gaussian weight to 1e-17.
        return min(0.5, 2.0 * pi * self.strip / (target * sqrt(max(q, 1e-300))))

    def gauss_expect(self, f: Callable, q: float) -> float:
        """E[f(sqrt(q) Z)], Z ~ N(0, 1), by the trapezoid rule (f analytic like phi)."""
        z, w = _gauss_nodes(self._hz(q), even=False)
        return float(np.sum(w * f(sqrt(q) * z)))

    def length_map(self, q: float) -> float:
        """V(q) = E[phi(sqrt(q) Z)^2]."""
        if self._length_map is not None:
            return float(self._length_map(q))
        return self.gauss_expect(lambda h: self.phi(h) ** 2, q)

    def slope_moments(self, q: float, kmax: int = 4) -> np.ndarray:
        """(mu_1, ..., mu_kmax), mu_k = E[phi'(sqrt(q) Z)^(2k)]."""
        k = np.arange(1, kmax + 1)
        if self._bernoulli_p is not None:
            return np.full(kmax, self._bernoulli_p(q)) if self.name != "linear" else np.ones(kmax)
        if self._slope_moments is not None:
            return np.asarray(self._slope_moments(q, k), dtype=float)
        # d^4 = phi'^8 has poles of order 16 (tanh): a finer step than for V.
        z, w = _gauss_nodes(self._hz(q, target=120.0), even=False)
        d = self.dphi(sqrt(q) * z) ** 2
        return np.array([np.sum(w * d ** kk) for kk in k])

    def slope_law(self, q: float, hz: float | None = None) -> SlopeLaw:
        """The law of d = phi'(h)^2, h ~ N(0, q), as atoms the solver integrates against."""
        if self._bernoulli_p is not None:
            p = 1.0 if self.name == "linear" else float(self._bernoulli_p(q))
            atoms = np.array([0.0, 1.0])
            return SlopeLaw(atoms=atoms, weights=np.array([1.0 - p, p]), kind="atoms", q=q, ncore=2)
        if q == 0.0:
            # h = 0 surely: the slope is the constant phi'(0).
            d0 = float(np.asarray(self.dphi(np.zeros(1)))[0] ** 2)
            return SlopeLaw(atoms=np.array([d0]), weights=np.array([1.0]), kind="atoms", q=q,
                            ncore=1)
        if hz is None:
            if self.pole_code == POLES_NONE:
                hz = self._hz(q, target=60.0)
            else:
                # With the poles corrected exactly the step only has to resolve the
                # Gaussian and d itself; ~0.6/(b sqrt q) keeps few poles in the band.
                b = self.pole_params[1] if self.pole_code == POLES_SECH4 else 1.0
                hz = min(0.5, 0.3 / (b * sqrt(max(q, 1e-300))))
        z, w = _gauss_nodes(hz, even=self.slope_even, zmax=self._slope_zmax(q))
        d = self.dphi(sqrt(q) * z) ** 2
        keep = w > 0.0
        z, w, d = z[keep], w[keep], d[keep]
        ncore = int(np.sum(np.abs(z) <= config.QUAD_ZMAX)) if self.slope_even else len(z)
        return SlopeLaw(atoms=np.ascontiguousarray(d, dtype=float),
                        weights=np.ascontiguousarray(w, dtype=float), kind="trapezoid",
                        q=q, hz=hz, ncore=ncore, pole_code=self.pole_code,
                        pole_params=tuple(float(v) for v in self.pole_params))

    def _slope_zmax(self, q: float) -> float:
        """Range of the slope-law nodes. Near the bottom of the spectrum w -> 0 and
        V(w) = E[w/(w - d)] ~ -w E[1/d] is carried by the Gaussian tail where 1/d grows
        (tanh: 1/d ~ e^(4 sqrt(q) |z|)), so the nodes must reach past that tail."""
        base = config.QUAD_ZMAX
        if self.pole_code == POLES_SECH4:
            return 38.0
        if self.pole_code == POLES_GAUSS:
            c = self.pole_params[1] * q
            return 38.0 if c >= 0.5 else min(38.0, base / sqrt(1.0 - 2.0 * c))
        return base


def _relu(h):
    return np.maximum(h, 0.0)


def _relu_d(h):
    return (np.asarray(h) > 0).astype(float)


def _hardtanh_d(h):
    return (np.abs(np.asarray(h)) < 1).astype(float)


def _hardtanh_V(q):
    if q == 0.0:
        return 0.0
    s = 1.0 / sqrt(2.0 * q)
    return q * erf(s) - sqrt(2.0 * q / pi) * exp(-s * s) + erfc(s)


def _erf_phi(h):
    from scipy.special import erf as sp_erf
    return sp_erf(sqrt(pi) * np.asarray(h) / 2.0)


def _erf_dphi(h):
    return np.exp(-pi * np.asarray(h) ** 2 / 4.0)


def _tanh_d(h):
    # sech^2 through exp(-2|h|): no overflow of cosh in the far tail.
    e = np.exp(-2.0 * np.abs(np.asarray(h, dtype=float)))
    return 4.0 * e / (1.0 + e) ** 2


def _sigmoid(h):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(h)))


def _sigmoid_d(h):
    e = np.exp(-np.abs(np.asarray(h, dtype=float)))
    return e / (1.0 + e) ** 2


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(
        "linear", phi=lambda h: np.asarray(h, dtype=float), dphi=lambda h: np.ones_like(h, dtype=float),
        _length_map=lambda q: q, _bernoulli_p=lambda q: 1.0),
    "relu": Activation(
        "relu", phi=_relu, dphi=_relu_d, _length_map=lambda q: 0.5 * q,
        _bernoulli_p=lambda q: 0.5),
    "hard-tanh": Activation(
        "hard-tanh", phi=lambda h: np.clip(h, -1.0, 1.0), dphi=_hardtanh_d, bounded=True,
        box=(-1.0, 1.0), _length_map=_hardtanh_V,
        _bernoulli_p=lambda q: erf(1.0 / sqrt(2.0 * q)) if q > 0 else 1.0),
    "erf": Activation(
        "erf", phi=_erf_phi, dphi=_erf_dphi, bounded=True, box=(-1.0, 1.0),
        _length_map=lambda q: (2.0 / pi) * np.arcsin(pi * q / (2.0 + pi * q)),
        _slope_moments=lambda q, k: (1.0 + k * pi * q) ** -0.5,
        pole_code=POLES_GAUSS, pole_params=(1.0, pi / 2.0)),
    "tanh": Activation(
        "tanh", phi=np.tanh, dphi=_tanh_d, strip=pi / 2,
        bounded=True, box=(-1.0, 1.0), pole_code=POLES_SECH4, pole_params=(1.0, 1.0)),
    "sigmoid": Activation(
        "sigmoid", phi=_sigmoid, dphi=_sigmoid_d, strip=pi, bounded=True, box=(0.0, 1.0),
        pole_code=POLES_SECH4, pole_params=(1.0 / 16.0, 0.5)),
}


def custom_activation(name: str, phi: Callable, dphi: Callable, *, bounded: bool = False,
                      box: tuple | None = None, slope_even: bool = False,
                      strip: float = 0.1) -> Activation:
    """A user-supplied activation from vectorised ``phi`` and its derivative ``dphi``.

    Expectations use the trapezoid rule with a step set by ``strip`` (the half-width of
    the strip of analyticity of ``phi``; smaller is safer and slower). Without the
    analytic continuation of the slope, spectra near the real axis are less accurate
    than for the built-in activations.
    """
    for label, f in (("phi", phi), ("dphi", dphi)):
        if not callable(f):
            raise InvalidParameter(label, f, "must be a callable mapping an array of h to an array")
        out = np.asarray(f(np.linspace(-3.0, 3.0, 7)), dtype=float)
        if out.shape != (7,) or not np.all(np.isfinite(out)):
            raise InvalidParameter(label, f, "must be vectorised and finite on real arrays")
    if not (strip > 0 and np.isfinite(strip)):
        raise InvalidParameter("strip", strip, "must be a finite number > 0")
    return Activation(name, phi=phi, dphi=dphi, strip=strip, slope_even=slope_even,
                      bounded=bounded, box=box)


def get_activation(activation) -> Activation:
    """Look up a built-in activation by name, or pass an :class:`Activation` through."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]
    raise InvalidParameter("activation", activation,
                           f"must be one of {sorted(ACTIVATIONS)} or an esd.Activation")
