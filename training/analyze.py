"""Diagnose a trained (or any given) network: layer tails, Jacobian spectrum, fixed points.

Each report is a plain dict, JSON-ready:

* :func:`weight_report` — per layer the power-law fit of the ESD of ``W^T W / n_out``
  (:mod:`training.spectra`);
* :func:`jacobian_report` — the spectrum of ``J(x) = D_L W_L ... D_1 W_1`` at given
  inputs: quantiles of log10 of its singular values, the spectral radius and the fraction
  of eigenvalues outside the unit circle, pooled over the inputs;
* :func:`theory_report` — esd's random-network prediction for the same (activation, law,
  sigma_w, sigma_b, depth) at its stationary inputs: the free-probability solver for
  gaussian/orthogonal laws, the cavity solver for cauchy/stable ones. It describes the
  initialisation; the distance of a trained network from it measures what training did;
* :func:`fixed_point_report` — ``Q_stable``, ``Q_all``, periodic and unresolved shares and
  basin shares from :func:`validation.fixedpoints.find_fixed_points` (its homotopy phase
  only on request: a trained map with dozens of fixed points and index sum other than 1
  would spend minutes there);
* :func:`attractor_report` — whether given images (the training set) are attractors:
  iteration from the image converges, ends within ``radius`` (rms) of it, and the spectral
  radius of J at the end point is below 1.
"""

from __future__ import annotations

import math

import numpy as np

from esd.exceptions import EsdError, InvalidParameter

from validation.basins import iterate_map, jacobians
from validation.fixedpoints import find_fixed_points

from .spectra import layer_power_laws

__all__ = ["PROBS", "attractor_report", "fixed_point_report", "jacobian_report", "theory_report",
           "weight_report"]

#: Probabilities of the reported quantiles of log10 s.
PROBS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


def weight_report(network) -> list:
    return layer_power_laws([np.asarray(w) for w in network.W])


def _spectra(network, x):
    j = jacobians(network, x)
    s = np.linalg.svd(j, compute_uv=False)
    lam = np.linalg.eigvals(j)
    return s, lam


def jacobian_report(network, inputs) -> dict:
    """Singular values and eigenvalues of J at every row of ``inputs``, pooled."""
    s, lam = _spectra(network, inputs)
    tiny = np.finfo(float).tiny
    log_s = np.log10(np.maximum(s, tiny)).ravel()
    radius = np.max(np.abs(lam), axis=1)
    return {
        "log10_singular_value_quantiles": {f"{p:g}": float(np.quantile(log_s, p)) for p in PROBS},
        "spectral_radius": {"median": float(np.median(radius)), "max": float(radius.max())},
        "fraction_outside_unit_circle": float(np.mean(np.abs(lam) > 1.0)),
        "fraction_stable_inputs": float(np.mean(radius < 1.0)),
        "n_inputs": int(lam.shape[0]),
    }


def theory_report(activation, law, sigma_w, sigma_b, depth, *, alpha=None, population=2000,
                  repeats=2, seed=0) -> dict:
    """esd's random-network log10 s quantiles for this network's initialisation law."""
    try:
        if law in ("gaussian", "orthogonal"):
            from esd import JacobianESD, NetworkSpec
            sol = JacobianESD(NetworkSpec(activation, weights=law, sigma_w=sigma_w,
                                          sigma_b=sigma_b, depth=depth))
            atom = sol.atom_at_zero
            q = {f"{p:g}": (float(sol.quantile_log(p)) / (2.0 * math.log(10.0)) if p > atom else None)
                 for p in PROBS}
            return {"method": "free probability", "log10_singular_value_quantiles": q,
                    "fraction_outside_unit_circle": float(sol.fraction_outside_unit_circle)}
        from esd.heavy.cavity import HeavyTailedJacobian
        cav = HeavyTailedJacobian(activation, sigma_w, sigma_b, depth, alpha=1.0 if alpha is None else alpha,
                                  population=population, repeats=repeats, rng=seed)
        res = cav.log_singular_value_quantiles(PROBS[1:])
        q = {f"{p:g}": float(v) for p, v in zip(PROBS[1:], res.mean)}
        se = {f"{p:g}": float(v) for p, v in zip(PROBS[1:], res.stderr)}
        return {"method": "cavity (population dynamics)", "log10_singular_value_quantiles": q,
                "log10_singular_value_quantiles_stderr": se, "population": population,
                "repeats": repeats}
    except EsdError as exc:
        return {"method": None, "reason": str(exc)}


def fixed_point_report(network, *, starts=500, rng=0, max_iter=2000, homotopy_paths=0) -> dict:
    res = find_fixed_points(network, starts=starts, rng=rng, max_iter=max_iter,
                            homotopy_paths=homotopy_paths)
    d = res.to_dict()
    keep = ("q_stable", "q_all", "index_sum", "periodic_fraction", "unresolved_fraction",
            "spectral_radius", "stable", "basin_share", "periods", "periodic_shares",
            "certified_unique", "lipschitz_bound")
    return {k: d[k] for k in keep} | {"seconds": res.timings["total"]}


def attractor_report(network, images, *, radius=0.1, max_iter=1000) -> dict:
    """Share of ``images`` that are attractors of the network (see the module docstring)."""
    x = np.asarray(images, dtype=np.float64)
    if isinstance(radius, bool) or not (isinstance(radius, (int, float)) and radius > 0):
        raise InvalidParameter("radius", radius, "must be a number > 0")
    end, conv, _ = iterate_map(network, x, max_iter=max_iter)
    close = np.sqrt(np.mean((end - x) ** 2, axis=1)) <= radius
    rho_end = np.max(np.abs(np.linalg.eigvals(jacobians(network, end))), axis=1)
    rho_img = np.max(np.abs(np.linalg.eigvals(jacobians(network, x))), axis=1)
    return {
        "attractor_fraction": float(np.mean(conv & close & (rho_end < 1.0))),
        "converged_fraction": float(np.mean(conv)),
        "ends_near_image_fraction": float(np.mean(close)),
        "median_spectral_radius_at_images": float(np.median(rho_img)),
        "median_reconstruction_rms": float(np.median(np.sqrt(np.mean((iterate_map(
            network, x, max_iter=1)[0] - x) ** 2, axis=1)))),
        "radius": float(radius), "n_images": int(x.shape[0]),
    }
