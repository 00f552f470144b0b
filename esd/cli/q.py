"""``esd fixed-points`` and ``esd predict-q``: count fixed points, predict Q(N, L).

``fixed-points`` runs :func:`validation.sweep.run_sweep` over the (width, depth) grid
with :func:`validation.sweep.fixed_point_cell`; ``predict-q`` evaluates
:func:`esd.qtheory.predict.predict_q` on the same grid and, given a ``fixed-points --json``
result, says which predictor falls within the measured error bars.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from esd.cli.options import (SIM_WEIGHT_CHOICES, add_network_options, add_output_options,
                             int_at_least, title)
from esd.cli.output import emit
from esd.cli.qrender import render_fixed_points, render_kac_rice, render_predictions
from esd.exceptions import InvalidParameter

#: Keys of one Q statistic in the JSON (the bootstrap intervals come along as well).
STAT_KEYS = ("mean", "median", "q10", "q90", "min", "max", "mean_ci", "median_ci")


def _ranges(args):
    from validation import parse_range
    widths = parse_range(args.width, name="--width")
    depths = parse_range(args.depth, name="--depth")
    for name, values in (("width", widths), ("depth", depths)):
        if any(not float(v).is_integer() or v < 1 for v in values):
            raise InvalidParameter(name, values, "must be integers >= 1")
    return [int(w) for w in widths], [int(d) for d in depths]


def _alpha(args):
    if args.weights == "stable" and args.alpha is None:
        raise InvalidParameter("alpha", None, "--weights stable needs --alpha in (0, 2)")
    return 1.0 if args.weights == "cauchy" else getattr(args, "alpha", None)


def band_meets(estimate, ci):
    """The estimate's 2-standard-error band ({value, stderr}) meets the interval ``ci``."""
    v, se = estimate["value"], estimate["stderr"]
    return bool(v + 2.0 * se >= ci[0] and v - 2.0 * se <= ci[1])


def q_row(width, depth, stats):
    """One JSON object of the issue's schema from :func:`validation.qstats.q_statistics`."""
    return {
        "width": width, "depth": depth,
        "q_stable": {k: stats["q_stable"][k] for k in STAT_KEYS},
        "q_all": {k: stats["q_all"][k] for k in STAT_KEYS},
        "p_multi": stats["p_multi"]["value"], "p_multi_ci": stats["p_multi"]["ci"],
        "periodic_fraction": stats["periodic_fraction"]["value"],
        "unresolved_fraction": stats["unresolved_fraction"]["value"],
        "index_sum_ok": stats["index_sum_ok"]["value"], "n_networks": stats["n_networks"],
    }


def cmd_fixed_points(args):
    import numpy as np

    from validation import fixed_point_cell, load_sweep, make_grid, run_sweep

    start = time.perf_counter()
    options = {"starts": args.starts}
    if args.newton_starts is not None:
        options["newton_starts"] = args.newton_starts
    if args.homotopy_paths is not None:
        options["homotopy_paths"] = args.homotopy_paths
    if args.lifted_paths or args.lifted_branches:
        options.update(lifted_paths=args.lifted_paths, lifted_steps=args.lifted_steps,
                       lifted_branches=args.lifted_branches)
    if args.lifted_exhaust:
        if not (args.lifted_paths or args.lifted_branches):
            raise InvalidParameter("lifted-exhaust", True, "needs --lifted-branches or --lifted-paths > 0")
        options["lifted_exhaust"] = True
    if args.status and (args.checkpoint is None or args.seed is None or args.weights_file):
        raise InvalidParameter("status", True, "reports on a sweep: needs --checkpoint DIR, its --seed, no --weights-file")
    pending = None
    if args.weights_file:
        rows, params = _one_file(args, options)
    else:
        widths, depths = _ranges(args)
        alpha = _alpha(args)
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2 ** 63)
        base = {"activation": args.activation, "weights": args.weights, "sigma_w": args.sigma_w,
                "sigma_b": args.sigma_b}
        if alpha is not None:
            base["alpha"] = alpha
        if args.tied:
            base["tied"] = True
        cells = [dict(base, **c) for c in make_grid(width=widths, depth=depths)]
        if args.status:
            result = load_sweep(fixed_point_cell, cells, nets=args.nets, seed=seed,
                                checkpoint=args.checkpoint, **options)
            pending = [{"width": c["width"], "depth": c["depth"], "networks_finished": k}
                       for c, k in result.pending]
        else:
            result = run_sweep(fixed_point_cell, cells, nets=args.nets, seed=seed,
                               checkpoint=args.checkpoint, scheduler=args.scheduler,
                               workers=args.workers, progress=not args.json,
                               overwrite=args.overwrite, **options)
        rows = [q_row(c.cell["width"], c.cell["depth"], s)
                for c, s in zip(result.cells, result.statistics)]
        params = {**base, "widths": widths, "depths": depths, "nets": args.nets,
                  "seed": seed, "checkpoint": args.checkpoint, **options}
    out = {"params": params, "results": rows, "seconds": time.perf_counter() - start}
    if pending is not None:
        out["pending"] = pending
    if args.plot:
        from esd.plots import plot_q_curves
        plot_q_curves(rows, args.plot, title=title(args, depth=False))
    return emit(out, args, render_fixed_points)


def _one_file(args, options):
    """Fixed points of the one network in ``--weights-file``."""
    import numpy as np

    from validation import find_fixed_points, load_network, q_statistics
    net = load_network(args.weights_file, args.activation)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2 ** 63)
    res = find_fixed_points(net, rng=seed, **options)
    record = res.to_dict()
    stats = q_statistics([record], rng=np.random.default_rng(seed))
    row = q_row(net.width, net.depth, stats)
    row["spectral_radius"] = record["spectral_radius"]
    row["basin_share"] = record["basin_share"]
    row["periods"] = record["periods"]
    row["index"] = record["index"]
    row["lifted"] = record["lifted"]
    params = {"weights_file": args.weights_file, "activation": args.activation, "seed": seed,
              **options}
    return [row], params


def _kac_rice_rows(args, widths, depths):
    """The finite-N Kac-Rice estimates (validation.kac_rice), one row per (N, L)."""
    import numpy as np

    from validation import kac_rice
    if args.weights == "orthogonal":
        raise InvalidParameter("weights", args.weights, "--method kac-rice-mc integrates gaussian, "
                               "cauchy and stable weights (an orthogonal row is not independent "
                               "of the others)")
    alpha = _alpha(args) if args.weights in ("cauchy", "stable") else None
    cells = [(w, d) for d in depths for w in widths]
    seeds = np.random.SeedSequence(args.seed).spawn(len(cells))
    rows = []
    for (width, depth), seed in zip(cells, seeds):
        est = kac_rice(args.activation, args.sigma_w, args.sigma_b, depth, width,
                       samples=args.samples, weights=args.weights, alpha=alpha,
                       seed=np.random.default_rng(seed), progress=not args.json)
        rows.append({"width": width, "depth": depth, **est.to_dict()})
    return rows


def _kac_rice_mc(args):
    """``predict-q --method kac-rice-mc``: the finite-N Kac-Rice estimator per (N, L)."""
    widths, depths = _ranges(args)
    start = time.perf_counter()
    rows = _kac_rice_rows(args, widths, depths)
    alpha = _alpha(args) if args.weights in ("cauchy", "stable") else None
    out = {"params": {"method": "kac-rice-mc", "activation": args.activation, "weights": args.weights,
                      "sigma_w": args.sigma_w, "sigma_b": args.sigma_b, "widths": widths,
                      "alpha": alpha, "depths": depths, "samples": args.samples, "seed": args.seed},
           "predictions": rows, "seconds": time.perf_counter() - start}
    if args.measured:
        by_key = {(r["width"], r["depth"]): r for r in rows}
        out["comparison"] = []
        for m in _load_measured(args.measured):
            r = by_key.get((m["width"], m["depth"]))
            if r is None:
                continue
            qa, qs = r["expected_q_all"], r["expected_q_stable"]
            out["comparison"].append({
                "width": m["width"], "depth": m["depth"], "measured_q_all": m["q_all"]["mean"],
                "measured_ci": list(m["q_all"]["mean_ci"]), "expected_q_all": qa["value"],
                "stderr": qa["stderr"],
                # the two error bars (CI of the measured mean, 2 SE of the estimate) overlap
                "within_error_bars": band_meets(qa, m["q_all"]["mean_ci"]),
                "reliable": r["reliable"], "measured_q_stable": m["q_stable"]["mean"],
                "measured_q_stable_ci": list(m["q_stable"]["mean_ci"]), "expected_q_stable": qs["value"],
                "stderr_stable": qs["stderr"],
                "q_stable_within_error_bars": band_meets(qs, m["q_stable"]["mean_ci"]),
                "reliable_stable": r["reliable_stable"], "measured_index_sum_ok": m.get("index_sum_ok")})
    return emit(out, args, render_kac_rice)


def cmd_predict_q(args):
    if args.method == "kac-rice-mc":
        return _kac_rice_mc(args)
    from esd.qtheory.predict import predict_q
    from esd.spec import NetworkSpec
    widths, depths = _ranges(args)
    start = time.perf_counter()
    rows = []
    if args.weights in ("cauchy", "stable"):
        import numpy as np

        from esd.qtheory.predict import heavy_counts, heavy_rates
        alpha = _alpha(args)
        seeds = np.random.SeedSequence(args.seed).spawn(len(depths))
        note = None if args.json else (lambda msg: print(f"[cavity] {msg}", flush=True))
        for depth, seed in zip(depths, seeds):
            # One cavity solve per depth: the rates are per unit; only the counts scale with N.
            rates = heavy_rates(args.activation, args.sigma_w, args.sigma_b, depth, alpha=alpha,
                                input_scales=args.input_scales, population=args.population,
                                repeats=args.repeats, rng=np.random.default_rng(seed),
                                progress=note)
            rows.extend(heavy_counts(rates, width) for width in widths)
    for depth in depths if args.weights in ("gaussian", "orthogonal") else ():
        spec = NetworkSpec(args.activation, weights=args.weights, sigma_w=args.sigma_w,
                           sigma_b=args.sigma_b, depth=depth)
        first = predict_q(spec, widths[0])
        for width in widths:
            # The rates are per unit and do not depend on N; only the counts do.
            d = (first if width == widths[0] else _rescale_counts(first, width)).to_dict()
            d.pop("spec")
            rows.append(d)
    if args.method == "all":
        # the finite-N Kac-Rice estimate beside the large-N candidates, per cell
        by_key = {(r["width"], r["depth"]): r for r in _kac_rice_rows(args, widths, depths)}
        for r in rows:
            kr = by_key[(r["width"], r["depth"])]
            r["kac_rice_mc"] = {k: kr[k] for k in ("expected_q_all", "expected_q_stable",
                                                   "index_mean", "ess", "pareto_k", "reliable",
                                                   "ess_stable", "pareto_k_stable",
                                                   "reliable_stable", "samples")}
    out = {"params": {"method": args.method, "activation": args.activation,
                      "weights": args.weights, "sigma_w": args.sigma_w,
                      "sigma_b": args.sigma_b, "widths": widths, "depths": depths},
           "predictions": rows, "seconds": time.perf_counter() - start}
    measured = None
    if args.measured:
        measured = _load_measured(args.measured)
        out["comparison"] = compare_predictions(rows, measured)
    if args.plot:
        from esd.plots import plot_q_prediction
        plot_q_prediction(rows, measured, args.plot, title=title(args, depth=False))
    return emit(out, args, render_predictions)


def _rescale_counts(base, width):
    """The same prediction at another width: rates are per unit, counts scale with N."""
    from dataclasses import replace
    kr = dict(base.kac_rice, q_all=math.exp(min(width * base.kac_rice["rate"], 700.0)))
    un = dict(base.unstable_count,
              q_all=1.0 + width * base.unstable_count["fraction_outside_unit_circle"])
    return replace(base, width=width, kac_rice=kr, unstable_count=un)


def _load_measured(path):
    try:
        with open(path) as fh:
            data = json.load(fh)
        rows = data["results"]
        for r in rows:
            r["width"], r["depth"], r["q_all"]["mean"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidParameter("measured", path,
                               f"must be the JSON output of 'esd fixed-points --json' ({exc})")
    return rows


def compare_predictions(predictions, measured) -> list[dict]:
    """For each measured (N, L): which predictor of Q_all lies within the bootstrap
    interval of the measured mean (and of Q_stable for the contraction bound)."""
    by_key = {(p["width"], p["depth"]): p for p in predictions}
    out = []
    for m in measured:
        p = by_key.get((m["width"], m["depth"]))
        if p is None:
            continue
        lo, hi = m["q_all"]["mean_ci"]
        inside = lambda v: lo - 1e-12 <= v <= hi + 1e-12  # noqa: E731
        certain = p["contraction"]["q_is_one"]
        predicted = {"kac_rice": p["kac_rice"]["q_all"],
                     "unstable_count": p["unstable_count"]["q_all"]}
        for extra in ("kac_rice_fixed_point", "unstable_count_fixed_point"):
            if extra in p:
                predicted[extra] = p[extra]["q_all"]
        within = {k: inside(v) for k, v in predicted.items()}
        if "kac_rice_mc" in p:
            # an estimate with its own error: its 2-standard-error band meets the interval
            est = p["kac_rice_mc"]["expected_q_all"]
            predicted["kac_rice_mc"] = est["value"]
            within["kac_rice_mc"] = band_meets(est, (lo, hi))
        predicted["contraction"] = 1.0 if certain else None
        within["contraction"] = bool(certain and m["q_all"]["max"] == 1)
        out.append({
            "width": m["width"], "depth": m["depth"], "measured_q_all": m["q_all"]["mean"],
            "measured_ci": [lo, hi], "measured_q_stable": m["q_stable"]["mean"],
            "predicted": predicted, "within_error_bars": within,
        })
    return out


def _factors(text):
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"--input-scales: {text!r} must be factors > 0, "
                                         "comma-separated")
    return vals


def add_parsers(sub) -> None:
    """Register both subcommands on the ``esd`` parser's subparsers."""
    fp = sub.add_parser(
        "fixed-points", help="find and count fixed points of random networks",
        description="For every (width, depth): draw --nets networks, iterate F from --starts "
                    "random starts (attractors, periodic orbits, basins) and run Newton on "
                    "F(x) - x (unstable fixed points too), then follow homotopy paths while the index "
                    "sum shows a miss (and, with --lifted-branches/--lifted-paths, gain curves in lifted coordinates); report Q_stable, Q_all, P(Q > 1), "
                    "periodic and unresolved fractions with bootstrap intervals.")
    add_network_options(fp, weights=SIM_WEIGHT_CHOICES, depth=False)
    g = fp.add_argument_group("sweep")
    g.add_argument("--width", default="30", help="N: a number, list 'a,b' or range 'a:b[:step]' (default 30)")
    g.add_argument("--depth", default="1", help="L: a number, list or range like 1:64 (default 1)")
    g.add_argument("--nets", type=int_at_least("nets", 1), default=20, help="networks per cell (default 20)")
    g.add_argument("--starts", type=int_at_least("starts", 1), default=1000,
                   help="random starts per network (default 1000)")
    g.add_argument("--newton-starts", type=int_at_least("newton-starts", 0), default=None,
                   help="Newton starts per network (default: as many as --starts; none when F is a "
                        "certified contraction)")
    g.add_argument("--homotopy-paths", type=int_at_least("homotopy-paths", 0), default=None,
                   help="homotopy paths per network at most, run while the index sum differs from 1 "
                        "(default 64; 0: none)")
    g.add_argument("--seed", type=int_at_least("seed", 0), default=None,
                   help="root seed (default: fresh entropy, reported in the output)")
    g.add_argument("--tied", action="store_true", help="one (W, b) repeated over the depth")
    g.add_argument("--weights-file", metavar="PATH.npz", default=None,
                   help="count the fixed points of the one network in PATH.npz instead")
    g.add_argument("--lifted-paths", type=int_at_least("lifted-paths", 0), default=0,
                   help="then follow up to this many gain-homotopy paths per network in lifted "
                        "coordinates (all layer outputs as unknowns) while the index sum differs "
                        "from 1: they find fixed points too unstable to be represented in x. A "
                        "path costs (N L)^3 per step, about a minute at N = 30, L = 16 "
                        "(default 0: none)")
    g.add_argument("--lifted-branches", type=int_at_least("lifted-branches", 0), default=0,
                   help="before any lifted path, trace the gain curves through up to this many "
                        "found points both ways while the index sum differs from 1: the missed "
                        "neighbours of found points lie on them, found in seconds (default 0: none)")
    g.add_argument("--lifted-exhaust", action="store_true",
                   help="run the lifted phase whatever the index sum and spend its whole budget instead "
                        "of stopping at index sum 1, which a missed pair of points (index +1 and -1) "
                        "leaves unchanged")
    g.add_argument("--lifted-steps", type=int_at_least("lifted-steps", 1), default=15000,
                   help="continuation steps per lifted path or traced direction at most (default 15000)")
    g.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="save each finished cell in DIR and resume from it")
    g.add_argument("--overwrite", action="store_true",
                   help="discard the results in --checkpoint DIR instead of resuming")
    g.add_argument("--status", action="store_true",
                   help="with --checkpoint DIR and --seed: report what the sweep has finished, computing "
                        "nothing (safe while it runs); unfinished cells are listed under 'pending'")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on a Dask scheduler (tcp://host:port) or 'local' (a local Dask cluster)")
    g.add_argument("--workers", type=int_at_least("workers", 1), default=None,
                   help="local processes (default: all cores)")
    add_output_options(fp)
    fp.set_defaults(func=cmd_fixed_points)

    pq = sub.add_parser(
        "predict-q", help="predict Q(N, L) from the Jacobian spectrum theory",
        description="Kac-Rice rate, unstable-direction count and contraction bound (see "
                    "the documentation's page on predicting Q) from the layer-dependent mean field (gaussian/orthogonal) or the "
                    "cavity solver (cauchy/stable: over the input scales gamma_0, and for J "
                    "at a fixed point); with --measured, which of them falls within the "
                    "measured error bars. --method kac-rice-mc estimates E[Q_all], E[Q_stable] "
                    "and the mean index at the given finite N instead (gaussian, cauchy or "
                    "stable weights), by importance sampling of the Kac-Rice integral.")
    add_network_options(pq, weights=SIM_WEIGHT_CHOICES, depth=False)
    g = pq.add_argument_group("grid")
    g.add_argument("--method", choices=["theory", "kac-rice-mc", "all"], default="theory",
                   help="theory: the large-N predictors (default); kac-rice-mc: the finite-N "
                        "Kac-Rice integral by importance sampling, no search (gaussian, cauchy "
                        "or stable weights, sigma_b > 0, increasing activations); all: both, "
                        "side by side, each judged by --measured")
    g.add_argument("--samples", type=int_at_least("samples", 2), default=20000,
                   help="importance samples per cell for kac-rice-mc (default 20000)")
    g.add_argument("--population", type=int_at_least("population", 100), default=1000,
                   help="cavity population for cauchy/stable weights (default 1000)")
    g.add_argument("--repeats", type=int_at_least("repeats", 2), default=2,
                   help="independent cavity runs for the standard errors (default 2)")
    g.add_argument("--input-scales", type=_factors, default=(0.25, 0.5, 1.0, 2.0, 4.0),
                   metavar="F1,F2,...",
                   help="input scales gamma_0 / gamma* of the heavy-tailed Kac-Rice family "
                        "(default 0.25,0.5,1,2,4; 1 is always included)")
    g.add_argument("--seed", type=int_at_least("seed", 0), default=None,
                   help="seed of the cavity solver (cauchy/stable weights) or of kac-rice-mc")
    g.add_argument("--width", default="30", help="N: a number, list or range (default 30)")
    g.add_argument("--depth", default="1", help="L: a number, list or range like 1:64 (default 1)")
    g.add_argument("--measured", metavar="PATH.json", default=None,
                   help="output of 'esd fixed-points --json' to compare with and overlay")
    add_output_options(pq)
    pq.set_defaults(func=cmd_predict_q)
