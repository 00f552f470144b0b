"""The ``esd`` command line: ``esd theory``, ``demo``, ``simulate``, ``validate``,
``fixed-points`` and ``predict-q`` (these two in :mod:`esd.cli_q`), ``train`` and
``analyze`` (in :mod:`esd.cli_train`).

Every subcommand has ``--help``, ``--json`` (one JSON object on stdout) and ``--plot PATH``.
Bad input exits with status 2 and a one-line message naming the parameter.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

ACTIVATION_CHOICES = ["linear", "relu", "hard-tanh", "tanh", "erf", "sigmoid"]
WEIGHT_CHOICES = ["gaussian", "orthogonal"]
SIM_WEIGHT_CHOICES = ["gaussian", "orthogonal", "cauchy", "stable"]


def _finite_float(name, low=None, low_open=False):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a number, got {text!r}")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"--{name} must be finite, got {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            op = ">" if low_open else ">="
            raise argparse.ArgumentTypeError(f"--{name} must be {op} {low}, got {text!r}")
        return value
    return parse


def _int_at_least(name, low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be an integer, got {text!r}")
        if value < low:
            raise argparse.ArgumentTypeError(f"--{name} must be an integer >= {low}, got {text!r}")
        return value
    return parse


def add_network_options(p, weights=WEIGHT_CHOICES, depth=True):
    """The network options shared by every subcommand that describes a network (``depth``
    False: the subcommand defines its own ``--depth``, e.g. a range)."""
    g = p.add_argument_group("network")
    g.add_argument("--activation", choices=ACTIVATION_CHOICES, default="tanh")
    g.add_argument("--weights", choices=weights, default="gaussian")
    if "stable" in weights:
        g.add_argument("--alpha", type=_finite_float("alpha", 0.0, True), default=None,
                       help="stability index of --weights stable, 0 < alpha < 2")
    g.add_argument("--sigma-w", type=_finite_float("sigma-w", 0.0, True), default=1.0,
                   help="weight scale, > 0 (default 1)")
    g.add_argument("--sigma-b", type=_finite_float("sigma-b", 0.0), default=0.0,
                   help="bias standard deviation, >= 0 (default 0)")
    if depth:
        g.add_argument("--depth", type=_int_at_least("depth", 1), default=1, help="layers L >= 1")


def add_cavity_options(p, seed=True):
    """Options of the heavy-tailed (cavity) solver; ``seed`` False where --seed exists."""
    h = p.add_argument_group("heavy-tailed weights (cavity solver)")
    h.add_argument("--population", type=_int_at_least("population", 100), default=4000,
                   help="population size of the cavity solver (default 4000)")
    h.add_argument("--repeats", type=_int_at_least("repeats", 2), default=3,
                   help="independent runs for the standard errors (default 3)")
    h.add_argument("--sweeps", type=_int_at_least("sweeps", 2), default=30,
                   help="population sweeps averaged per point (default 30; the standard error "
                        "falls roughly like sweeps^-1/2, the time rises linearly)")
    if seed:
        h.add_argument("--seed", type=_int_at_least("seed", 0), default=None,
                       help="seed of the population dynamics (default: fresh entropy)")


def add_output_options(p):
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--plot", metavar="PATH", help="write a figure to PATH (png, pdf, svg)")


def add_simulation_options(p):
    g = p.add_argument_group("simulation")
    g.add_argument("--width", type=_int_at_least("width", 2), default=400, help="N (default 400)")
    g.add_argument("--samples", type=_int_at_least("samples", 1), default=4,
                   help="independent networks (default 4)")
    g.add_argument("--seed", type=_int_at_least("seed", 0), default=None,
                   help="root seed (default: fresh entropy, reported in the output)")
    g.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="array backend (cupy: everything on the GPU)")
    g.add_argument("--tied", action="store_true", help="one (W, b) repeated over the depth")
    g.add_argument("--weights-file", metavar="PATH.npz", default=None,
                   help="use the network in PATH.npz (arrays W (L,N,N), b (L,N))")
    g.add_argument("--save", metavar="PATH.npz", default=None, help="save the raw eigenvalues")


def _simulate(args):
    from validation.montecarlo import simulate
    if args.weights == "stable" and args.alpha is None:
        from .exceptions import InvalidParameter
        raise InvalidParameter("alpha", None, "--weights stable needs --alpha in (0, 2)")
    alpha = 1.0 if args.weights == "cauchy" else getattr(args, "alpha", None)
    sim = simulate(args.activation, args.weights, args.sigma_w, args.sigma_b, args.depth,
                   args.width, args.samples, seed=args.seed, backend=args.backend, alpha=alpha,
                   tied=args.tied, weights_file=args.weights_file, progress=not args.json)
    if args.save:
        sim.save(args.save)
    return sim


def cmd_simulate(args):
    import time
    start = time.perf_counter()
    sim = _simulate(args)
    out = {"params": sim.params, **sim.summary(), "simulate_seconds": time.perf_counter() - start}
    if args.plot:
        from .plots import plot_simulation
        plot_simulation(sim.sv2, sim.eigs, args.plot, title=_title(args) + f", N={args.width}")
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for key in ("moments", "spectral_radius", "fraction_outside_unit_circle", "n_samples",
                    "log10_singular_value_quantiles", "simulate_seconds"):
            print(f"{key:>32}: {out[key]}")
    return 0


def cmd_validate(args):
    from validation.compare import compare
    from .exceptions import InvalidParameter
    from .jacobian import JacobianESD
    if args.weights in ("cauchy", "stable"):
        return _validate_heavy(args)
    sol = JacobianESD(_spec(args))
    sim = _simulate(args)
    m = compare(sol, sim.sv2, sim.eigs, args.width, slopes=sim.slopes)
    out = {
        "params": sim.params, "ks": m["ks"], "w1": m["w1"], "w1_log": m["w1_log"],
        "moment_rel_err": m["moment_rel_err"], "radial_ks": m["radial_ks"],
        "radial_ks_conditional": m["radial_ks_conditional"],
        "fraction_outside_unit_circle": m["fraction_outside_unit_circle"],
        "spectral_radius": m["spectral_radius"], "checks": m["checks"],
        "tolerances": m["tolerances"], "pass": m["pass"],
    }
    if args.plot:
        from .plots import plot_validation
        plot_validation(sol, sim.sv2, sim.eigs, args.plot,
                        title=_title(args) + f", N={args.width}, {sim.n_samples} nets")
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for key in ("ks", "w1", "w1_log", "moment_rel_err", "radial_ks",
                    "radial_ks_conditional", "fraction_outside_unit_circle", "pass"):
            print(f"{key:>30}: {out[key]}")
    return 0


def _validate_heavy(args):
    """Cavity theory against simulation for cauchy/stable weights (quantiles of log10 s)."""
    from validation.compare import compare_heavy
    from .cli_heavy import heavy_theory
    theory = heavy_theory(args, eigenvalues=False)
    sim = _simulate(args)
    m = compare_heavy(theory["log10_singular_value_quantiles"],
                      theory["log10_singular_value_quantiles_stderr"],
                      theory["fraction_outside_unit_circle"], sim.sv2, sim.eigs,
                      radial=theory["radial_cdf"],
                      fraction_outside_stderr=theory["fraction_outside_unit_circle_stderr"])
    out = {"params": sim.params, "theory": theory, **m}
    if args.plot:
        from .plots import plot_simulation
        plot_simulation(sim.sv2, sim.eigs, args.plot,
                        title=_title(args) + f", N={args.width}, {sim.n_samples} nets")
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        for key, q in m["log10_singular_value_quantiles"].items():
            print(f"{'log10 s quantile ' + key:>30}: theory {q['theory']:.3f}, simulation "
                  f"{q['simulation']:.3f} (tolerance {m['tolerances'][key]:.3f})")
        for r, c in m.get("radial_cdf", {}).items():
            print(f"{'P(|lambda| <= ' + r + ')':>30}: theory {c['theory']:.4f}, simulation "
                  f"{c['simulation']:.4f} (tolerance {m['tolerances']['radial_cdf_' + r]:.4f})")
        f = m["fraction_outside_unit_circle"]
        print(f"{'fraction_outside_unit_circle':>30}: theory {f['theory']:.5f}, simulation "
              f"{f['simulation']:.5f} (tolerance {m['tolerances']['fraction_outside']:.5f})")
        print(f"{'pass':>30}: {m['pass']}")
    return 0


def _spec(args):
    from .spec import NetworkSpec
    return NetworkSpec(activation=args.activation, weights=args.weights, sigma_w=args.sigma_w,
                       sigma_b=args.sigma_b, depth=args.depth)


def _theory(args):
    import numpy as np

    from .jacobian import JacobianESD, solve
    spec = _spec(args)
    # Compile (or load the cached kernels) before the clock starts.
    JacobianESD(_spec_small(spec)).density(np.array([0.5]))
    out, sol = solve(spec, grid=args.grid)
    out = {"spec": spec.to_dict(), **out}
    return out, sol


def _spec_small(spec):
    from dataclasses import replace
    return replace(spec, depth=1, sigma_w=1.0, sigma_b=0.1, input_variance=None, q=None)


def _render(out, args, title):
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return
    for key in ("q_star", "chi", "moments", "support", "atom_at_zero", "spectral_radius",
                "inner_radius", "fraction_outside_unit_circle", "solve_seconds"):
        if key in out:
            print(f"{key:>30}: {out[key]}")
    if "density" in out:
        print(f"{'density':>30}: {len(out['density']['x'])} grid points")
    if args.plot:
        print(f"{'plot':>30}: {args.plot}")


def _plot_theory(out, sol, args):
    import numpy as np

    from .plots import plot_theory
    if "density" not in out:
        x = sol.default_grid(400)
        out = dict(out, density={"x": x.tolist(), "rho": sol.density(x).tolist()})
    r = np.linspace(0.0, 1.05 * sol.spectral_radius, 200)
    plot_theory(out, (r, sol.radial_cdf(r)), args.plot, title=_title(args))


def cmd_theory(args):
    if args.weights in ("cauchy", "stable"):
        from .cli_heavy import heavy_theory, render_heavy
        out = heavy_theory(args)
        if args.plot:
            from .plots import plot_heavy_quantiles
            plot_heavy_quantiles(out, args.plot, title=_title(args))
        if args.json:
            print(json.dumps(out, sort_keys=True))
        else:
            render_heavy(out)
        return 0
    out, sol = _theory(args)
    if args.plot:
        _plot_theory(out, sol, args)
    _render(out, args, "theory")
    return 0


def cmd_demo(args):
    args.plot = args.plot or "esd_demo.png"
    if args.grid is None:
        args.grid = 400
    out, sol = _theory(args)
    _plot_theory(out, sol, args)
    _render(out, args, "demo")
    return 0


def _title(args):
    return (f"{args.activation}, {args.weights} weights, sigma_w={args.sigma_w:g}, "
            f"sigma_b={args.sigma_b:g}, L={args.depth}")


class _OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    parser = _OneLineErrors(
        prog="esd", description="Spectra and fixed points of deep random neural networks. "
        "Example: esd theory --activation tanh --depth 10 --json")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("theory", help="solve the Jacobian spectrum of a network",
                       description="Gaussian/orthogonal weights: free-probability theory of the "
                                   "input-output Jacobian J: moments, support, atom and density "
                                   "of J J^T; radial law, spectral radius and fraction outside "
                                   "the unit circle of J. Cauchy/stable weights: the cavity "
                                   "method solved by population dynamics (quantiles of log10 "
                                   "singular values, fraction outside the unit circle, 0.999 "
                                   "quantile of |lambda|), each with its statistical error.")
    add_network_options(p, weights=SIM_WEIGHT_CHOICES)
    p.add_argument("--grid", type=_int_at_least("grid", 2), default=None, metavar="K",
                   help="also report the density on K points spanning the support (K >= 2)")
    add_cavity_options(p)
    add_output_options(p)
    p.set_defaults(func=cmd_theory)
    d = sub.add_parser("demo", help="solve an example spectrum and write a plot",
                       description="Solve a deep tanh network's Jacobian spectrum and plot it "
                                   "(default esd_demo.png).")
    add_network_options(d)
    d.set_defaults(activation="tanh", sigma_w=1.5, sigma_b=0.1, depth=10)
    d.add_argument("--grid", type=_int_at_least("grid", 2), default=None, metavar="K")
    add_output_options(d)
    d.set_defaults(func=cmd_demo)
    sim = sub.add_parser("simulate", help="sample networks and compute their Jacobian spectra",
                         description="Monte Carlo: eigenvalues of J J^T and of J for random "
                                     "networks of width N at stationary inputs.")
    add_network_options(sim, weights=SIM_WEIGHT_CHOICES)
    add_simulation_options(sim)
    add_output_options(sim)
    sim.set_defaults(func=cmd_simulate)
    val = sub.add_parser("validate", help="compare theory and simulation",
                         description="Solve the theory, simulate, and report KS / W1 distances, "
                                     "moment errors, the radial-law distance and a verdict "
                                     "(tolerances c/N calibrated over widths).")
    add_network_options(val, weights=SIM_WEIGHT_CHOICES)
    add_simulation_options(val)
    add_cavity_options(val, seed=False)
    add_output_options(val)
    val.set_defaults(func=cmd_validate)
    from .cli_q import add_parsers
    add_parsers(sub, add_network_options, add_output_options, _int_at_least, SIM_WEIGHT_CHOICES)
    from .cli_train import add_parsers as add_train_parsers
    add_train_parsers(sub, add_network_options, add_output_options, _int_at_least, _finite_float)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .exceptions import ConvergenceError, EsdError
    try:
        return args.func(args)
    except ConvergenceError as exc:
        print(f"esd {args.command}: solver error: {exc}", file=sys.stderr)
        return 3
    except EsdError as exc:  # bad parameters, a missing backend, a refused checkpoint
        print(f"esd {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
