"""Analytic predictors of the number of fixed points Q(N, L) (THEORY.md §5).

Three candidates, each computed from the light-tailed theory of :mod:`esd.jacobian` with
the layer-dependent mean field, to be measured against counted fixed points (the package
keeps or drops them on that evidence; see ``esd predict-q``):

* **Kac-Rice rate.** ``E #FP = ∫ E[|det(I - J(x))| | F(x) = x] p_F(x)(x) dx``. Restrict the
  integral to inputs whose entries look like ``x_i = phi(h_i)``, ``h_i ~ N(0, q0)``
  (one parameter q0). Layer by layer ``q_1 = sigma_w^2 V(q0) + sigma_b^2``, ...,
  ``q_L``; the fixed-point condition asks the output pre-activations ``h_L ~ N(0, q_L)``
  to equal ``phi^{-1}(x)``, whose law is N(0, q0). Laplace's method over the empirical
  law of x gives, per unit,

      rate(q0) = K(q0) - KL(N(0, q0) || N(0, q_L)),
      K(q0) = lim (1/N) log|det(I - J)| = ∫ log|1 - lambda| dmu_J = ∫ log max(1, |lambda|) dmu_J

  (Jensen's formula for the rotation-invariant eigenvalue law of J, §3.5), and
  ``E Q_all ~ exp(N sup_q0 rate(q0))`` to leading exponential order (the O(1) prefactor is
  not computed). The supremum over a one-parameter family is a lower bound on the full
  annealed rate. At the stationary variance q0 = q* every layer is identical and
  K does not depend on L; away from it q_l moves along the length map, which is where
  depth enters.
* **Unstable-direction count.** ``Q - 1 ~ N f_out`` with ``f_out`` the fraction of
  eigenvalues of J outside the unit circle at the stationary point.
* **Heavy tails** (:func:`predict_q_heavy`): the same Kac-Rice growth term and unstable
  count from the cavity solver's radial law (:mod:`esd.cavity`), at the stationary scale
  gamma* only (the KL term is 0 there and the layers are identical; the layer-dependent
  family is not available for the cavity solver yet).
* **Contraction bound.** ``||J(x)|| <= prod_l max|phi'| ||W_l||`` for every x, with
  ``||W|| -> 2 sigma_w`` (square gaussian) or ``sigma_w`` (orthogonal) as N -> inf: when
  the product is below 1, F is a contraction and Q = 1 exactly (Banach). The typical
  version asks only the upper edge of the J J^T spectrum at the stationary point to be < 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize_scalar

from .exceptions import InvalidParameter
from .jacobian import JacobianESD
from .meanfield import q_star
from .spec import NetworkSpec

__all__ = ["QPrediction", "predict_q", "predict_q_heavy", "kac_rice_rate", "log_growth"]

_GL_X, _GL_W = np.polynomial.legendre.leggauss(32)
#: q0 is searched over this many decades on either side of q* (then refined by Brent).
_Q0_DECADES = 3.0


def log_growth(sol: JacobianESD) -> float:
    """``∫ log max(1, |lambda|) dmu_J = ∫_{F(1)}^1 log r(F) dF`` (r(F): the explicit radial
    quantile), by Gauss-Legendre in F; 0 when the spectral radius is <= 1."""
    if sol.spectral_radius <= 1.0:
        return 0.0
    f1 = float(sol.radial_cdf(np.array([1.0]))[0])
    if f1 >= 1.0:
        return 0.0
    # r(F) rises like a square root near F = 1 for most laws: substitute F = 1 - (1-f1) s^2.
    s = 0.5 * (_GL_X + 1.0)
    F = 1.0 - (1.0 - f1) * s * s
    r = sol.radial_quantile(np.clip(F, np.nextafter(f1, 1.0), np.nextafter(1.0, 0.0)))
    integrand = np.log(np.maximum(r, 1.0)) * 2.0 * (1.0 - f1) * s
    return float(0.5 * np.sum(_GL_W * integrand))


def _layer_q(spec: NetworkSpec, q0: float) -> np.ndarray:
    act = spec.act
    q = []
    prev = q0
    for sw, sb in zip(spec.sigma_ws, spec.sigma_bs):
        prev = sw * sw * act.length_map(prev) + sb * sb
        q.append(prev)
    return np.asarray(q)


def _kl_gauss(q0: float, qL: float) -> float:
    """KL(N(0, q0) || N(0, qL)) per unit."""
    ratio = q0 / qL
    return 0.5 * (ratio - 1.0 - math.log(ratio))


def kac_rice_rate(spec: NetworkSpec, q0: float) -> dict:
    """``rate(q0) = K(q0) - KL(N(0, q0) || N(0, q_L))`` for inputs phi(sqrt(q0) z) (module doc)."""
    if not (math.isfinite(q0) and q0 > 0):
        raise InvalidParameter("q0", q0, "must be a finite variance > 0")
    q = _layer_q(spec, q0)
    sol = JacobianESD(replace(spec, q=tuple(float(v) for v in q), input_variance=None))
    k = log_growth(sol)
    kl = _kl_gauss(q0, float(q[-1]))
    return {"q0": float(q0), "q": q.tolist(), "log_growth": k, "kl": kl, "rate": k - kl}


@dataclass(frozen=True)
class QPrediction:
    """The three §5 predictors for one (spec, N)."""

    spec: NetworkSpec
    width: int
    kac_rice: dict
    unstable_count: dict
    contraction: dict

    def to_dict(self) -> dict:
        return {"depth": self.spec.depth, "width": self.width, "kac_rice": self.kac_rice,
                "unstable_count": self.unstable_count, "contraction": self.contraction,
                "spec": self.spec.to_dict()}


def _sup_rate(spec: NetworkSpec, qs: float) -> dict:
    """sup over q0 of the Kac-Rice rate: a grid in log q0 around q*, then Brent's method."""
    grid = np.linspace(math.log(qs) - _Q0_DECADES * math.log(10), math.log(qs) + _Q0_DECADES * math.log(10), 25)
    grid = np.sort(np.append(grid, math.log(qs)))
    vals = [kac_rice_rate(spec, math.exp(t))["rate"] for t in grid]
    k = int(np.argmax(vals))
    best = kac_rice_rate(spec, math.exp(grid[k]))
    if 0 < k < len(grid) - 1:
        res = minimize_scalar(lambda t: -kac_rice_rate(spec, math.exp(t))["rate"],
                              bounds=(grid[k - 1], grid[k + 1]), method="bounded",
                              options={"xatol": 1e-6})
        if -res.fun > best["rate"]:
            best = kac_rice_rate(spec, math.exp(res.x))
    return best


def predict_q(spec: NetworkSpec, width: int) -> QPrediction:
    """The §5 predictors of Q(N, L) for ``spec`` (light-tailed weights) at width N."""
    if not isinstance(spec, NetworkSpec):
        raise InvalidParameter("spec", spec, "must be an esd.NetworkSpec")
    if not (isinstance(width, (int, np.integer)) and width >= 1):
        raise InvalidParameter("width", width, "must be an integer >= 1")
    act = spec.act
    qs = q_star(act, spec.sigma_ws[0], spec.sigma_bs[0])
    if not (math.isfinite(qs) and qs > 0):
        raise InvalidParameter("sigma_w", spec.sigma_w,
                               f"{act.name} has no finite stationary variance q* > 0 here; "
                               "the predictors need one")
    stationary = kac_rice_rate(spec, qs)
    best = _sup_rate(spec, qs)
    rate = max(best["rate"], 0.0)
    kac_rice = {"rate": rate, "q0": best["q0"], "log_growth": best["log_growth"], "kl": best["kl"],
                "rate_at_q_star": stationary["rate"], "q_star": qs,
                "q_all": math.exp(min(width * rate, 700.0))}

    sol = JacobianESD(replace(spec, q=tuple(stationary["q"]), input_variance=None))
    f_out = float(sol.fraction_outside_unit_circle)
    unstable = {"fraction_outside_unit_circle": f_out, "q_all": 1.0 + width * f_out}

    slope_max = _max_slope(act)
    norm_w = 2.0 if spec.weights == "gaussian" else 1.0
    log_lip = float(np.sum(np.log(slope_max * norm_w * spec.sigma_ws)))
    top = math.exp(sol.log_support[1])
    contraction = {"lipschitz_bound": math.exp(min(log_lip, 700.0)),
                   "q_is_one": bool(log_lip < 0.0),
                   "typical_top_edge": top, "typical_contraction": bool(top < 1.0)}
    return QPrediction(spec=spec, width=int(width), kac_rice=kac_rice,
                       unstable_count=unstable, contraction=contraction)


def _max_slope(act) -> float:
    """sup |phi'| (on a fine grid; exact for the built-ins, whose slope peaks at 0 or is 1)."""
    h = np.linspace(-50.0, 50.0, 200001)
    return float(np.max(np.abs(act.dphi(h))))


#: Radii (|lambda| of J) at which the heavy-tailed radial law is evaluated for log_growth.
_HEAVY_RADII = np.geomspace(1.0, 64.0, 13)


def predict_q_heavy(activation, sigma_w: float, sigma_b: float, depth: int, width: int, *,
                    alpha: float = 1.0, population: int = 2000, repeats: int = 2,
                    rng=None) -> dict:
    """The §5 predictors for stable(alpha) weights from the cavity solver, at the stationary
    scale gamma*: ``∫ log max(1, |lambda|) dmu_J = ∫_1^inf (1 - F(r))/r dr`` (trapezoid in
    log r on 1..64, plus a power-law tail fitted to the last two radii), ``E Q_all ~
    exp(N rate)``; the unstable count ``1 + N f_out``; and the contraction bound, which
    never certifies Q = 1 here: the largest of the N^2 weights of a layer grows like
    ``sigma_w N^(1/alpha)``. Every number carries its standard error over repeats."""
    from .cavity import HeavyTailedJacobian
    if not (isinstance(width, (int, np.integer)) and width >= 1):
        raise InvalidParameter("width", width, "must be an integer >= 1")
    model = HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, alpha=alpha,
                                population=population, repeats=repeats, rng=rng)
    res = model.radial_cdf(_HEAVY_RADII)
    out_mass = np.clip(1.0 - np.asarray(res.mean, dtype=float), 0.0, 1.0)
    t = np.log(_HEAVY_RADII)
    growth = float(np.sum(0.5 * (out_mass[1:] + out_mass[:-1]) * np.diff(t)))
    if out_mass[-1] > 0 and out_mass[-2] > out_mass[-1]:
        kappa = math.log(out_mass[-2] / out_mass[-1]) / (t[-1] - t[-2])
        growth += out_mass[-1] / kappa
    growth_se = float(np.sqrt(np.sum((0.5 * (np.asarray(res.stderr)[1:] + np.asarray(res.stderr)[:-1])
                                      * np.diff(t)) ** 2)))
    f_out, f_se = float(out_mass[0]), float(np.asarray(res.stderr)[0])
    return {
        "width": int(width), "depth": int(depth), "alpha": alpha,
        "kac_rice": {"rate": growth, "rate_stderr": growth_se, "log_growth": growth, "kl": 0.0,
                     "q_all": math.exp(min(width * growth, 700.0)), "stationary_only": True},
        "unstable_count": {"fraction_outside_unit_circle": f_out, "stderr": f_se,
                           "q_all": 1.0 + width * f_out},
        "contraction": {"lipschitz_bound": None, "q_is_one": False,
                        "reason": "a stable(alpha) layer's largest weight grows like sigma_w N^(1/alpha)"},
        "cavity": {"population": population, "repeats": repeats,
                   "convergence": float(res.convergence)},
    }
