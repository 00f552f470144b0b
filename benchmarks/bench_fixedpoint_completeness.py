"""How complete the fixed-point search is: share of networks whose index sum is 1.

    python benchmarks/bench_fixedpoint_completeness.py [--scales 1,3] [--width 30]
        [--depths 1,2,4,8,16] [--nets 20] [--newton-starts 1000]
        [--variants "x only,x and u,homotopy"] [--lifted-paths 8] [--json]

Sigmoid networks with Cauchy weights of scale s (sigma_w = s N), sigma_b = 0.5, 300
iteration starts and ``--newton-starts`` Newton starts per round (up to the default 6
rounds). Each cell runs once per variant on the same networks and starts: "x only"
(Phase 2 with Newton in x only: the pre-activation Newton replaced by one that converges
nowhere; no Phase 3), "x and u" (Newton in x and in the last pre-activation u; no Phase
3), "homotopy" (as shipped: Phase 3 homotopy paths while the index sum differs from
1), "lifted" (as shipped, then, where the index sum still differs from 1,
``validation.lifted_fixed_points`` with up to ``--lifted-paths`` gain paths of at most
30000 steps in lifted coordinates) and "lifted-all" (the same on every network, all
``--lifted-paths`` paths: an index sum of 1 can hide a missed pair). The lifted variants
are not in the defaults, since one path at N = 30, L = 16 takes minutes. Prints per cell
the share with index sum 1, the mean Q_all, the share of networks where the lifted paths
added points, and the seconds per network. The table in docs/theory/fixed-points.md comes from the defaults. One BLAS
thread, as in a sweep.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import validation.fixedpoints as fixedpoints  # noqa: E402
from validation.fplifted import lifted_fixed_points  # noqa: E402
from validation.sampling import sample_network  # noqa: E402


def _x_only(m, x0, tol):
    return x0, np.zeros(x0.shape[0], dtype=bool), 0


VARIANTS = ("x only", "x and u", "homotopy", "lifted", "lifted-all")
DEFAULT_VARIANTS = ("x only", "x and u", "homotopy")


def cell(s, width, depth, nets, newton_starts, variant, lifted_paths=8):
    shipped = fixedpoints._preactivation_newton
    if variant == "x only":
        fixedpoints._preactivation_newton = _x_only
    paths = {} if variant in ("homotopy", "lifted", "lifted-all") else {"homotopy_paths": 0}
    rows, start = [], time.perf_counter()
    try:
        for i in range(nets):
            rng = np.random.default_rng([11, int(s), width, depth, i])
            net = sample_network("sigmoid", "cauchy", s * width, 0.5, depth, width, rng=rng)
            r = fixedpoints.find_fixed_points(net, starts=300, newton_starts=newton_starts, rng=rng,
                                              **paths)
            new = 0
            if variant == "lifted-all" or (variant == "lifted" and r.index_sum != 1):
                r = lifted_fixed_points(net, r, paths=lifted_paths, branches=0, rng=rng,
                                        stop_on_index=variant == "lifted")
                new = int(r.new.sum())
            rows.append((r.index_sum == 1, r.q_all, new > 0))
    finally:
        fixedpoints._preactivation_newton = shipped
    ok, q, new = np.array(rows, dtype=float).T
    return {"s": s, "N": width, "L": depth, "variant": variant, "index_ok": float(ok.mean()),
            "q_all": float(q.mean()), "share_with_lifted_points": float(new.mean()),
            "seconds_per_net": (time.perf_counter() - start) / nets}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ints = lambda t: [int(v) for v in t.split(",")]  # noqa: E731
    ap.add_argument("--scales", type=lambda t: [float(v) for v in t.split(",")], default=[1.0, 3.0])
    ap.add_argument("--width", type=int, default=30)
    ap.add_argument("--depths", type=ints, default=[1, 2, 4, 8, 16])
    ap.add_argument("--nets", type=int, default=20)
    ap.add_argument("--newton-starts", type=int, default=1000)
    ap.add_argument("--variants", type=lambda t: t.split(","), default=list(DEFAULT_VARIANTS))
    ap.add_argument("--lifted-paths", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if set(args.variants) - set(VARIANTS):
        ap.error(f"--variants: each must be one of {', '.join(VARIANTS)}")
    out = []
    with threadpool_limits(limits=1, user_api="blas"):
        for s in args.scales:
            for depth in args.depths:
                for variant in args.variants:
                    row = cell(s, args.width, depth, args.nets, args.newton_starts, variant,
                               args.lifted_paths)
                    out.append(row)
                    if not args.json:
                        print(f"s {s:g} N {row['N']} L {depth:>2} {variant:>8}: index sum 1 in "
                              f"{row['index_ok']:.2f}, mean Q_all {row['q_all']:.2f}, "
                              f"new points from lifted paths in {row['share_with_lifted_points']:.2f}, "
                              f"{row['seconds_per_net']:.2f} s/net", flush=True)
    if args.json:
        print(json.dumps({"nets": args.nets, "newton_starts": args.newton_starts, "rows": out}))


if __name__ == "__main__":
    main()
