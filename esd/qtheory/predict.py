"""Analytic predictors of the number of fixed points Q(N, L) (docs/theory/q-predictors.md).

Three candidates, each computed from the light-tailed theory of :mod:`esd.light.jacobian` with
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

  (Jensen's formula for the rotation-invariant eigenvalue law of J, docs/theory/light-tailed.md), and
  ``E Q_all ~ exp(N sup_q0 rate(q0))`` to leading exponential order (the O(1) prefactor is
  not computed). The supremum over a one-parameter family is a lower bound on the full
  annealed rate. At the stationary variance q0 = q* every layer is identical and
  K does not depend on L; away from it q_l moves along the length map, which is where
  depth enters.
* **Unstable-direction count.** ``Q - 1 ~ N f_out`` with ``f_out`` the fraction of
  eigenvalues of J outside the unit circle at the stationary point.
* **Heavy tails** (:func:`heavy_rates`, :func:`predict_q_heavy`): the same Kac-Rice rate
  from the cavity solver's radial law (:mod:`esd.heavy.cavity`) over the family of input scales
  gamma_0 (layer scales gamma_l from the stable scale map, KL between stable laws), and
  the unstable count; both also for J at a fixed point (the closed cavity network), whose
  eigenvalues differ from those at a typical input (tanh, L = 1: about 3x more mass
  outside |lambda| = 0.8, in the cavity and at fixed points found in simulation).
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

from esd.exceptions import InvalidParameter
from esd.light.jacobian import JacobianESD
from esd.light.meanfield import q_star
from esd.spec import NetworkSpec

__all__ = ["QPrediction", "predict_q", "predict_q_heavy", "heavy_rates", "heavy_counts",
           "kac_rice_rate", "log_growth"]

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
    """The three predictors (docs/theory/q-predictors.md) for one (spec, N)."""

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
    """The predictors (docs/theory/q-predictors.md) of Q(N, L) for ``spec`` (light-tailed weights) at width N."""
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


#: Input scales gamma_0 / gamma* searched by the heavy-tailed Kac-Rice rate.
HEAVY_INPUT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def heavy_rates(activation, sigma_w: float, sigma_b: float, depth: int, *, alpha: float = 1.0,
                input_scales=HEAVY_INPUT_SCALES, population: int = 1000, repeats: int = 2,
                closed: bool = True, rng=None, progress=None) -> dict:
    """Width-independent parts of the heavy-tailed predictors, from the cavity solver.

    Kac-Rice over the one-parameter family of inputs ``x0 = phi(gamma_0 S)``: layer by
    layer the scales follow the scale map gamma_1, ..., gamma_L (the populations carry it),
    and the fixed-point condition asks ``h_L ~ stable(gamma_L)`` to equal
    ``phi^{-1}(x0) ~ stable(gamma_0)``::

        rate(gamma_0) = K(gamma_0) - KL(stable(gamma_0) || stable(gamma_L)),

    ``K = int log max(1, |lambda|) dmu_J`` (:meth:`HeavyTailedJacobian.log_growth`), the
    supremum taken over ``gamma_0 = gamma* x input_scales`` (1 is always added). With ``closed`` the same two
    numbers also come from J *at a fixed point* (``closed=True`` in the cavity: a unit's
    slope and the value it feeds back are set by the same pre-activation), where the KL
    term is 0 by construction. Every number carries its standard error over repeats.
    ``progress`` (callable, optional) is called with a message before each cavity solve.
    """
    from esd.heavy.cavity import HeavyTailedJacobian
    from esd.heavy.scale_map import gamma_star, layer_scales, stable_kl
    scales = np.asarray(input_scales, dtype=float)
    if scales.ndim != 1 or scales.size == 0 or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise InvalidParameter("input_scales", input_scales, "must be one or more factors > 0")
    # gamma* itself is always solved: the unstable count and rate_at_gamma_star are read there
    scales = np.unique(np.append(scales, 1.0))
    seeds = np.random.default_rng(rng).integers(0, 2 ** 31 - 1, size=scales.size + 1)
    gs = gamma_star(activation, sigma_w, sigma_b, alpha)
    family = []
    for factor, seed in zip(scales, seeds):
        g0 = float(factor * gs)
        if progress:
            progress(f"L={depth}: open network, gamma_0 = {factor:g} gamma*")
        model = HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, alpha=alpha,
                                    population=population, repeats=repeats, input_scale=g0,
                                    rng=seed)
        res = model.log_growth()
        g_out = float(layer_scales(activation, sigma_w, sigma_b, alpha, depth, gamma0=g0)[-1])
        kl = stable_kl(g0, g_out, alpha)
        family.append({"input_scale": g0, "input_scale_over_gamma_star": float(factor),
                       "gamma_L": g_out, "log_growth": float(res.mean[0]),
                       "log_growth_stderr": float(res.stderr[0]), "kl": kl,
                       "rate": float(res.mean[0]) - kl,
                       "fraction_outside_unit_circle": float(res.mean[1]),
                       "fraction_outside_stderr": float(res.stderr[1]),
                       "convergence": float(res.convergence)})
    best = max(family, key=lambda f: f["rate"])
    stationary = next(f for f in family if f["input_scale_over_gamma_star"] == 1.0)
    out = {"depth": int(depth), "alpha": float(alpha), "gamma_star": gs, "family": family,
           "best": best, "stationary": stationary,
           "cavity": {"population": population, "repeats": repeats}}
    if closed:
        if progress:
            progress(f"L={depth}: J at a fixed point (closed network)")
        res = HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, alpha=alpha,
                                  population=population, repeats=repeats, closed=True,
                                  rng=seeds[-1]).log_growth()
        out["fixed_point"] = {"log_growth": float(res.mean[0]), "log_growth_stderr": float(res.stderr[0]),
                              "fraction_outside_unit_circle": float(res.mean[1]),
                              "fraction_outside_stderr": float(res.stderr[1]),
                              "convergence": float(res.convergence)}
    return out


def heavy_counts(rates: dict, width: int) -> dict:
    """The predictors (docs/theory/q-predictors.md) at width N from :func:`heavy_rates` (one JSON object of
    ``esd predict-q``): Kac-Rice ``exp(N sup rate)``; unstable count ``1 + N f_out`` at
    the stationary input and, when available, at a fixed point; the contraction bound,
    which never certifies Q = 1 here (a stable(alpha) layer's largest weight grows like
    ``sigma_w N^(1/alpha)``)."""
    if not (isinstance(width, (int, np.integer)) and width >= 1):
        raise InvalidParameter("width", width, "must be an integer >= 1")
    best, st = rates["best"], rates["stationary"]
    rate = max(best["rate"], 0.0)
    row = {
        "width": int(width), "depth": rates["depth"], "alpha": rates["alpha"],
        "kac_rice": {"rate": rate, "rate_stderr": best["log_growth_stderr"],
                     "log_growth": best["log_growth"], "kl": best["kl"],
                     "input_scale": best["input_scale"], "gamma_star": rates["gamma_star"],
                     "rate_at_gamma_star": st["rate"],
                     "q_all": math.exp(min(width * rate, 700.0)), "family": rates["family"]},
        "unstable_count": {"fraction_outside_unit_circle": st["fraction_outside_unit_circle"],
                           "stderr": st["fraction_outside_stderr"],
                           "q_all": 1.0 + width * st["fraction_outside_unit_circle"]},
        "contraction": {"lipschitz_bound": None, "q_is_one": False,
                        "reason": "a stable(alpha) layer's largest weight grows like sigma_w N^(1/alpha)"},
        "cavity": rates["cavity"],
    }
    fp = rates.get("fixed_point")
    if fp is not None:
        row["kac_rice_fixed_point"] = {"rate": fp["log_growth"], "rate_stderr": fp["log_growth_stderr"],
                                       "q_all": math.exp(min(width * fp["log_growth"], 700.0))}
        row["unstable_count_fixed_point"] = {
            "fraction_outside_unit_circle": fp["fraction_outside_unit_circle"],
            "stderr": fp["fraction_outside_stderr"],
            "q_all": 1.0 + width * fp["fraction_outside_unit_circle"]}
    return row


def predict_q_heavy(activation, sigma_w: float, sigma_b: float, depth: int, width: int, *,
                    alpha: float = 1.0, input_scales=HEAVY_INPUT_SCALES, population: int = 1000,
                    repeats: int = 2, closed: bool = True, rng=None) -> dict:
    """The predictors (docs/theory/q-predictors.md) for stable(alpha) weights at one (depth, width):
    :func:`heavy_counts` of :func:`heavy_rates`."""
    if not (isinstance(width, (int, np.integer)) and width >= 1):
        raise InvalidParameter("width", width, "must be an integer >= 1")
    return heavy_counts(heavy_rates(activation, sigma_w, sigma_b, depth, alpha=alpha,
                                    input_scales=input_scales, population=population,
                                    repeats=repeats, closed=closed, rng=rng), width)
