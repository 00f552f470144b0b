"""``esd theory --weights cauchy|stable``: the heavy-tailed spectrum from the cavity solver.

The same JSON keys as the light-tailed theory where they have a meaning here
(``fraction_outside_unit_circle``, ``spectral_radius``), plus ``radial_cdf`` (P(|lambda| <= r)
at r in ``RADII``),
``log10_singular_value_quantiles`` (keyed "0.5", "0.75", "0.9", "0.99") and ``gamma_star``;
every cavity quantity comes with its standard error over independent repeats. The exact
logarithmic order parameters (:mod:`esd.heavy.lyapunov`): ``mean_log_singular_value`` (= mean
log|lambda|), ``lyapunov_mean``, ``lyapunov_spectrum_quantiles`` ((1/L) ln s at the
probabilities of the quantiles), ``log_abs_eigenvalue_moments`` {"1", "2"} and
``finite_moment_orders``; a divergent one is the string "-inf" or "inf" (JSON has no
infinities) and ``log_moments_reason`` says why.
"""

from __future__ import annotations

import math
import time

QUANTILES = (0.5, 0.75, 0.9, 0.99)
#: Radii of |lambda(J)| where the radial CDF is reported (and judged by ``validate``).
RADII = (0.1, 0.3, 0.5, 0.8, 1.0)


def _scalar(v) -> float:
    import numpy as np
    return float(np.asarray(v).reshape(-1)[0])


def _number(v):
    """A float for JSON: infinities as the strings "inf" / "-inf"; None stays None."""
    if v is None or math.isfinite(v):
        return v
    return "inf" if v > 0 else "-inf"


def heavy_theory(args, eigenvalues: bool = True) -> dict:
    """Solve the cavity equations for the network of ``args``; one JSON-ready dict.
    ``eigenvalues`` False skips the spectral-radius quantile (the slowest radial solve).
    A tqdm bar on stderr counts the points solved (shown on a terminal only)."""
    import numpy as np
    from tqdm.auto import tqdm

    from esd.heavy.cavity import HeavyTailedJacobian, warm_up
    from esd.heavy.cavity_eig import SPECTRAL_RADIUS_GRID
    from esd.heavy.cavity_result import radius_at_quantile
    from esd.exceptions import InvalidParameter
    from esd.heavy.lyapunov import log_spectrum_moments
    from esd.heavy.scale_map import gamma_star
    if args.weights == "stable" and args.alpha is None:
        raise InvalidParameter("alpha", None, "--weights stable needs --alpha in (0, 2)")
    alpha = 1.0 if args.weights == "cauchy" else args.alpha
    warm_up()
    start = time.perf_counter()
    radii = np.array(RADII + (SPECTRAL_RADIUS_GRID if eigenvalues else ()))
    bar = tqdm(unit="point", desc="cavity", leave=False, disable=None)
    with bar:
        model = HeavyTailedJacobian(args.activation, args.sigma_w, args.sigma_b, args.depth,
                                    alpha=alpha, population=args.population, repeats=args.repeats,
                                    sweeps=args.sweeps, progress=bar.update, rng=args.seed)
        # the quantiles' grid is set by a pilot run: its size is known only afterwards
        q = model.log_singular_value_quantiles(QUANTILES)
        bar.total = bar.n + args.repeats * radii.size
        bar.refresh()
        every = model.radial_cdf(radii)   # radius 1 is in RADII: the fraction outside
    radial = every.select(slice(0, len(RADII)))
    out_frac_mean, out_frac_se = 1.0 - float(radial.mean[-1]), float(radial.stderr[-1])
    radius = (radius_at_quantile(every.select(slice(len(RADII), None)), 0.999)
              if eigenvalues else None)
    gs = gamma_star(args.activation, args.sigma_w, args.sigma_b, alpha)
    logs = log_spectrum_moments(args.activation, args.sigma_w, args.sigma_b, alpha, args.depth)
    moments = logs.to_dict()
    return {
        "mean_log_singular_value": _number(logs.mean_log_singular_value),
        "mean_log_abs_eigenvalue": _number(logs.mean_log_singular_value),
        "lyapunov_mean": _number(logs.lyapunov_mean),
        # the finite-depth Lyapunov spectrum: (1/L) ln s, quantiles over the singular values
        "lyapunov_spectrum_quantiles": {str(p): float(math.log(10.0) * v / args.depth)
                                        for p, v in zip(QUANTILES, q.mean)},
        "log_abs_eigenvalue_moments": {k: _number(v) for k, v in
                                       moments["log_abs_eigenvalue_moments"].items()},
        "finite_moment_orders": moments["finite_moment_orders"],
        "log_moments_reason": logs.reason,
        "spec": {"activation": args.activation, "weights": args.weights, "alpha": alpha,
                 "sigma_w": args.sigma_w, "sigma_b": args.sigma_b, "depth": args.depth},
        "gamma_star": gs,
        "log10_singular_value_quantiles": {str(p): float(v) for p, v in zip(QUANTILES, q.mean)},
        "log10_singular_value_quantiles_stderr": {str(p): float(v) for p, v in zip(QUANTILES, q.stderr)},
        "fraction_outside_unit_circle": out_frac_mean,
        "fraction_outside_unit_circle_stderr": out_frac_se,
        "radial_cdf": {"radii": list(RADII), "cdf": radial.mean.tolist(),
                       "stderr": radial.stderr.tolist()},
        "spectral_radius": None if radius is None else _scalar(radius.mean),
        "spectral_radius_stderr": None if radius is None else _scalar(radius.stderr),
        "spectral_radius_definition": "0.999 quantile of |lambda(J)| (the maximum diverges with N)",
        "cavity": {"population": args.population, "repeats": args.repeats, "sweeps": args.sweeps,
                   "seed": args.seed, "radial_population": model.radial_population,
                   "filter_burn_in": model.filter_burn_in, "burn_in": model.burn_in,
                   "quantile_grid_log10_s": q.params["log10_range"],
                   "filter_order": q.params["order"], "quantile_grid_step": q.params["step"],
                   "convergence": {"quantiles": q.convergence, "radial_cdf": radial.convergence}},
        "solve_seconds": time.perf_counter() - start,
    }


def render_heavy(out: dict) -> None:
    """The human-readable summary of :func:`heavy_theory`."""
    q, se = out["log10_singular_value_quantiles"], out["log10_singular_value_quantiles_stderr"]
    print(f"{'gamma_star':>36}: {out['gamma_star']}")
    for p in q:
        print(f"{'log10 singular value quantile ' + p:>36}: {q[p]:.4f} +- {se[p]:.4f}")
    print(f"{'fraction_outside_unit_circle':>36}: {out['fraction_outside_unit_circle']:.5f} +- "
          f"{out['fraction_outside_unit_circle_stderr']:.5f}")
    print(f"{'spectral_radius (0.999 quantile)':>36}: {out['spectral_radius']:.4f} +- "
          f"{out['spectral_radius_stderr']:.4f}")
    print(f"{'mean log s = mean log|lambda|':>36}: {out['mean_log_singular_value']}")
    print(f"{'lyapunov_mean (per layer)':>36}: {out['lyapunov_mean']}")
    print(f"{'finite moments of log|lambda|':>36}: {out['finite_moment_orders']}")
    if out["log_moments_reason"]:
        print(f"{'':>36}  ({out['log_moments_reason']})")
    print(f"{'solve_seconds':>36}: {out['solve_seconds']:.2f}")
