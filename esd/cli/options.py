"""Options shared by the subcommands, parsed once here: every number is checked on input
and a bad value is refused with a one-line message naming the option and its range."""

from __future__ import annotations

import argparse
import math

ACTIVATION_CHOICES = ["linear", "relu", "hard-tanh", "tanh", "erf", "sigmoid"]
WEIGHT_CHOICES = ["gaussian", "orthogonal"]
SIM_WEIGHT_CHOICES = ["gaussian", "orthogonal", "cauchy", "stable"]


def finite_float(name, low=None, low_open=False):
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


def int_at_least(name, low):
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
        g.add_argument("--alpha", type=finite_float("alpha", 0.0, True), default=None,
                       help="stability index of --weights stable, 0 < alpha < 2")
    g.add_argument("--sigma-w", type=finite_float("sigma-w", 0.0, True), default=1.0,
                   help="weight scale, > 0 (default 1)")
    g.add_argument("--sigma-b", type=finite_float("sigma-b", 0.0), default=0.0,
                   help="bias standard deviation, >= 0 (default 0)")
    if depth:
        g.add_argument("--depth", type=int_at_least("depth", 1), default=1, help="layers L >= 1")


def add_cavity_options(p, seed=True):
    """Options of the heavy-tailed (cavity) solver; ``seed`` False where --seed exists."""
    h = p.add_argument_group("heavy-tailed weights (cavity solver)")
    h.add_argument("--population", type=int_at_least("population", 100), default=1000,
                   help="population size of the cavity solver (default 1000; below about 1000 "
                        "the top tail of the singular values is biased upwards); the "
                        "eigenvalue chains use half of it")
    h.add_argument("--repeats", type=int_at_least("repeats", 2), default=4,
                   help="independent runs for the standard errors (default 4, run in parallel "
                        "on up to that many cores)")
    h.add_argument("--sweeps", type=int_at_least("sweeps", 2), default=10,
                   help="population sweeps averaged per point (default 10; the standard error "
                        "falls roughly like sweeps^-1/2, the time rises linearly)")
    if seed:
        h.add_argument("--seed", type=int_at_least("seed", 0), default=None,
                       help="seed of the population dynamics (default: fresh entropy)")


def add_output_options(p):
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--plot", metavar="PATH", help="write a figure to PATH (png, pdf, svg)")


def add_simulation_options(p):
    g = p.add_argument_group("simulation")
    g.add_argument("--width", type=int_at_least("width", 2), default=400, help="N (default 400)")
    g.add_argument("--samples", type=int_at_least("samples", 1), default=4,
                   help="independent networks (default 4)")
    g.add_argument("--seed", type=int_at_least("seed", 0), default=None,
                   help="root seed (default: fresh entropy, reported in the output)")
    g.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="array backend (cupy: everything on the GPU)")
    g.add_argument("--tied", action="store_true", help="one (W, b) repeated over the depth")
    g.add_argument("--weights-file", metavar="PATH.npz", default=None,
                   help="use the network in PATH.npz (arrays W (L,N,N), b (L,N))")
    g.add_argument("--save", metavar="PATH.npz", default=None, help="save the raw eigenvalues")


def title(args, depth: bool = True) -> str:
    """A figure title naming the network (with its depth unless the command sweeps it)."""
    text = (f"{args.activation}, {args.weights} weights, sigma_w={args.sigma_w:g}, "
            f"sigma_b={args.sigma_b:g}")
    return text + f", L={args.depth}" if depth else text


class OneLineErrors(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")
