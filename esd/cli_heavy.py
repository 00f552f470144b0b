"""``esd theory --weights cauchy|stable``: the heavy-tailed spectrum from the cavity solver.

The same JSON keys as the light-tailed theory where they have a meaning here
(``fraction_outside_unit_circle``, ``spectral_radius``), plus
``log10_singular_value_quantiles`` (keyed "0.5", "0.75", "0.9", "0.99") and ``gamma_star``;
every cavity quantity comes with its standard error over independent repeats.
"""

from __future__ import annotations

import time

QUANTILES = (0.5, 0.75, 0.9, 0.99)


def _scalar(v) -> float:
    import numpy as np
    return float(np.asarray(v).reshape(-1)[0])


def heavy_theory(args, eigenvalues: bool = True) -> dict:
    """Solve the cavity equations for the network of ``args``; one JSON-ready dict.
    ``eigenvalues`` False skips the spectral-radius quantile (the slowest radial solve)."""
    from .cavity import HeavyTailedJacobian
    from .exceptions import InvalidParameter
    from .stable import gamma_star
    if args.weights == "stable" and args.alpha is None:
        raise InvalidParameter("alpha", None, "--weights stable needs --alpha in (0, 2)")
    alpha = 1.0 if args.weights == "cauchy" else args.alpha
    start = time.perf_counter()
    model = HeavyTailedJacobian(args.activation, args.sigma_w, args.sigma_b, args.depth,
                                alpha=alpha, population=args.population, repeats=args.repeats,
                                rng=args.seed)
    q = model.log_singular_value_quantiles(QUANTILES)
    out_frac = model.fraction_outside_unit_circle()
    radius = model.spectral_radius_quantile(0.999) if eigenvalues else None
    gs = gamma_star(args.activation, args.sigma_w, args.sigma_b, alpha)
    return {
        "spec": {"activation": args.activation, "weights": args.weights, "alpha": alpha,
                 "sigma_w": args.sigma_w, "sigma_b": args.sigma_b, "depth": args.depth},
        "gamma_star": gs,
        "log10_singular_value_quantiles": {str(p): float(v) for p, v in zip(QUANTILES, q.mean)},
        "log10_singular_value_quantiles_stderr": {str(p): float(v) for p, v in zip(QUANTILES, q.stderr)},
        "fraction_outside_unit_circle": _scalar(out_frac.mean),
        "fraction_outside_unit_circle_stderr": _scalar(out_frac.stderr),
        "spectral_radius": None if radius is None else _scalar(radius.mean),
        "spectral_radius_stderr": None if radius is None else _scalar(radius.stderr),
        "spectral_radius_definition": "0.999 quantile of |lambda(J)| (the maximum diverges with N)",
        "cavity": {"population": args.population, "repeats": args.repeats, "seed": args.seed,
                   "convergence": {"quantiles": q.convergence, "fraction_outside": out_frac.convergence}},
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
    print(f"{'solve_seconds':>36}: {out['solve_seconds']:.2f}")
