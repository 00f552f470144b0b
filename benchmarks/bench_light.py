"""Light-tailed density on 2000 points, against freealg on the same work, in one run.

    pip install freealg          # optional: without it only esd's times are printed
    python benchmarks/bench_light.py [--repeat 7]

For each case: the time of ``JacobianESD(spec)`` + ``density`` on 2000 points of
``default_grid`` (the ``esd theory --grid 2000`` work, compilation excluded by a first
call), and for linear gaussian networks freealg's ``FussCatalan(L).density`` on the same
points (the law of J J^T for L linear layers at sigma_w = 1). Ratios esd / freealg < 1
mean esd is faster; the issue's target is <= 0.2. Also each case's ratio to tanh at
L = 100 (no path should be slower than that case). Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse

import numpy as np

import esd
from esd.light.solve import warm_up
from bench_solver import best_time   # the benchmarks folder is on sys.path when run as a script

CASES = [("linear", 3, 1.0, 0.0), ("linear", 20, 1.0, 0.0), ("linear", 100, 1.0, 0.0),
         ("relu", 3, 1.4142, 0.1), ("relu", 20, 1.4142, 0.1), ("relu", 100, 1.4142, 0.1),
         ("hard-tanh", 3, 1.2, 0.1), ("hard-tanh", 20, 1.2, 0.1), ("tanh", 100, 1.5, 0.1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--points", type=int, default=2000)
    args = ap.parse_args()
    try:
        from freealg.distributions import FussCatalan
    except ImportError:
        FussCatalan = None
    warm_up()
    rows = []
    for act, depth, sw, sb in CASES:
        spec = esd.NetworkSpec(act, weights="gaussian", sigma_w=sw, sigma_b=sb, depth=depth)
        x = esd.JacobianESD(spec).default_grid(args.points)

        def work():
            esd.JacobianESD(spec).density(x)
        work()
        t = best_time(work, args.repeat)
        t_fa = None
        if FussCatalan is not None and act == "linear":
            fc = FussCatalan(depth)
            try:
                fc.density(x)
                t_fa = best_time(lambda: fc.density(x), args.repeat)
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
                t_fa = f"fails ({type(exc).__name__})"
        rows.append((act, depth, t, t_fa))
    t_ref = next(t for act, depth, t, _ in rows if act == "tanh" and depth == 100)
    print(f"{'case':>16} {'esd ms':>9} {'freealg ms':>11} {'esd/freealg':>12} {'/ tanh L=100':>13}")
    for act, depth, t, t_fa in rows:
        if isinstance(t_fa, float):
            fa = f"{1e3 * t_fa:11.2f} {t / t_fa:12.3f}"
        else:
            fa = f"{t_fa or '-':>24}"
        print(f"{act + ' L=' + str(depth):>16} {1e3 * t:9.2f} {fa} {t / t_ref:13.2f}")
    if FussCatalan is None:
        print("(freealg not installed: pip install freealg for the comparison)")


if __name__ == "__main__":
    main()
