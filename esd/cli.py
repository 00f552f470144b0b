"""The ``esd`` command line: ``esd theory``, ``esd demo``.

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


def add_network_options(p):
    """The network options shared by every subcommand that describes a network."""
    g = p.add_argument_group("network")
    g.add_argument("--activation", choices=ACTIVATION_CHOICES, default="tanh")
    g.add_argument("--weights", choices=WEIGHT_CHOICES, default="gaussian")
    g.add_argument("--sigma-w", type=_finite_float("sigma-w", 0.0, True), default=1.0,
                   help="weight scale, > 0 (default 1)")
    g.add_argument("--sigma-b", type=_finite_float("sigma-b", 0.0), default=0.0,
                   help="bias standard deviation, >= 0 (default 0)")
    g.add_argument("--depth", type=_int_at_least("depth", 1), default=1, help="layers L >= 1")


def add_output_options(p):
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--plot", metavar="PATH", help="write a figure to PATH (png, pdf, svg)")


def _spec(args):
    from .spec import NetworkSpec
    return NetworkSpec(activation=args.activation, weights=args.weights, sigma_w=args.sigma_w,
                       sigma_b=args.sigma_b, depth=args.depth)


def _theory(args, default_grid=None):
    import numpy as np

    from .jacobian import JacobianESD, solve
    spec = _spec(args)
    # Compile (or load the cached kernels) before the clock starts.
    JacobianESD(_spec_small(spec)).density(np.array([0.5]))
    grid = args.grid if args.grid is not None else default_grid
    out = solve(spec, grid=grid)
    out = {"spec": spec.to_dict(), **out}
    radial = None
    if args.plot:
        sol = JacobianESD(spec)
        b = sol.spectral_radius
        r = np.linspace(0.0, 1.05 * b, 200)
        radial = (r, sol.radial_cdf(r))
    return out, radial


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


def cmd_theory(args):
    out, radial = _theory(args)
    if args.plot:
        if "density" not in out:
            from .jacobian import JacobianESD
            sol = JacobianESD(_spec(args))
            x = sol.default_grid(400)
            out_plot = dict(out, density={"x": x.tolist(), "rho": sol.density(x).tolist()})
        else:
            out_plot = out
        from .plots import plot_theory
        plot_theory(out_plot, radial, args.plot, title=_title(args))
    _render(out, args, "theory")
    return 0


def cmd_demo(args):
    args.plot = args.plot or "esd_demo.png"
    if args.grid is None:
        args.grid = 400
    out, radial = _theory(args)
    from .plots import plot_theory
    plot_theory(out, radial, args.plot, title=_title(args))
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
    p = sub.add_parser("theory", help="solve the Jacobian spectrum of a light-tailed network",
                       description="Free-probability theory of the input-output Jacobian J: "
                                   "moments, support, atom and density of J J^T; radial law, "
                                   "spectral radius and fraction outside the unit circle of J.")
    add_network_options(p)
    p.add_argument("--grid", type=_int_at_least("grid", 2), default=None, metavar="K",
                   help="also report the density on K points spanning the support (K >= 2)")
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
    return parser




def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .exceptions import ConvergenceError, InvalidParameter
    try:
        return args.func(args)
    except InvalidParameter as exc:
        print(f"esd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ConvergenceError as exc:
        print(f"esd {args.command}: solver error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
