"""The ``esd`` command line, the one place where the theory (``esd``) and the simulation
(``validation``, ``training``) meet.

Subcommands: ``theory``, ``demo``, ``simulate``, ``validate`` (:mod:`esd.cli.spectra`),
``fixed-points``, ``predict-q`` (:mod:`esd.cli.q`), ``train``, ``analyze``
(:mod:`esd.cli.train`). Every subcommand has ``--help``, ``--json`` (one JSON object on
stdout) and ``--plot PATH``; options are parsed in :mod:`esd.cli.options` and answers
printed by :mod:`esd.cli.output`. Bad input exits with status 2 and a one-line message
naming the parameter; a solver that did not converge exits with status 3.
"""

from __future__ import annotations

import sys

from esd import __version__
from esd.cli.options import OneLineErrors

__all__ = ["build_parser", "main"]


def build_parser():
    from esd.cli import q, spectra, train
    parser = OneLineErrors(
        prog="esd", description="Spectra and fixed points of deep random neural networks. "
        "Example: esd theory --activation tanh --depth 10 --json")
    parser.add_argument("--version", action="version", version=f"esd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    spectra.add_parsers(sub)
    q.add_parsers(sub)
    train.add_parsers(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from esd.exceptions import ConvergenceError, EsdError
    try:
        return args.func(args)
    except ConvergenceError as exc:
        print(f"esd {args.command}: solver error: {exc}", file=sys.stderr)
        return 3
    except EsdError as exc:  # bad parameters, a missing backend, a refused checkpoint
        print(f"esd {args.command}: error: {exc}", file=sys.stderr)
        return 2
