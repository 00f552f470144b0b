"""Why the search finds no point on some deep Cauchy networks: two diagnostics on replayed networks.

    python benchmarks/bench_gain_path.py [--sweep cauchy-s3] [--width 30] [--depth 32]
        [--nets 2,10] [--paths 2] [--steps 100000] [--edge-rounds 40] [--json]

Replays networks of an archived sweep cell (``figures/fixed_points/sweeps/SWEEP``) from their
seeds (``validation.cells.network_seed``, the sweep seed of ``make_figures``); by default the
first two networks on which the sweep found no fixed point. For each:

* **gain paths**: follows ``--paths`` lifted gain paths (``validation.fpgain.track``; path j of
  network k has its offset from ``numpy.random.default_rng(1000 j + k)``) from beta = 0 for at
  most ``--steps`` steps each, and prints how far each got: how it ended (``steps``: budget
  spent; ``stalled``: step below ``STEP_MIN``), the largest beta reached, quantiles of beta
  over the accepted steps, how often beta turned back, crossings of beta = 1 and seconds per
  step.
* **edge bisection** (``--edge-rounds``, when the iteration ends on an attracting cycle of
  period p >= 2): the map swaps the cycle's phases, so it maps the boundary between the starts
  that reach phase 0 and those that reach phase 1 into itself; where the basins fill the cube,
  the fixed point, in neither basin, lies on it. Each
  round bisects the segment between two points of different phase to 1e-15 and runs lifted
  Newton from the boundary point's forward pass; then both ends are mapped once by F. Prints
  the smallest ``|F(x) - x|`` on the boundary and whether Newton converged in any round.

One BLAS thread, as in a sweep. The numbers in docs/theory/fixed-points.md ("Where Phase 4
finds nothing") come from the defaults (about 25 minutes on one core).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "figures"))

from make_figures import Q_SEED  # noqa: E402
from validation.cells import network_seed  # noqa: E402
from validation.fpgain import track  # noqa: E402
from validation.fplifted import _Lifted, _newton  # noqa: E402
from validation.netmap import _Map  # noqa: E402
from validation.sampling import sample_network  # noqa: E402

ITERATIONS = 400          # iterations of F before the cycle is read off
PHASE_PERIODS = 8         # periods of F^p before a point's phase is read off
PHASE_TOL = 1e-6          # sup distance to a cycle point that assigns a phase


def archived_cell(sweep, width, depth):
    """(cell, records) of the archived cell of that width and depth."""
    for path in sorted((ROOT / "figures" / "fixed_points" / "sweeps" / sweep).glob("cell-*.json.gz")):
        data = json.loads(gzip.open(path).read())
        if data["cell"]["width"] == width and data["cell"]["depth"] == depth:
            return data["cell"], data["records"]
    raise SystemExit(f"no archived cell of width {width}, depth {depth} in sweep {sweep!r}")


def replay(cell, k):
    rng = np.random.default_rng(network_seed(Q_SEED, cell, k))
    return sample_network(cell["activation"], cell["weights"], cell["sigma_w"], cell["sigma_b"], cell["depth"],
                          cell["width"], alpha=cell.get("alpha"), tied=cell.get("tied", False), rng=rng)


def gain_path(lifted, steps, seed):
    """One gain path from beta = 0: how far its beta got in ``steps`` steps."""
    betas = []
    factor = lifted.layer_jacobian

    def recording(X, beta, d):     # called once per accepted step, at its new point
        betas.append(float(beta))
        return factor(X, beta, d)

    lifted.layer_jacobian = recording
    start = time.perf_counter()
    try:
        crossings, taken, end = track(lifted, np.random.default_rng(seed).standard_normal(lifted.dim), steps)
    finally:
        del lifted.layer_jacobian
    seconds = time.perf_counter() - start
    b = np.asarray(betas)
    return {"steps": taken, "accepted": int(b.size), "end": end, "crossings": len(crossings),
            "beta_max": round(float(b.max()), 4),
            "beta_quantiles": [round(float(q), 4) for q in np.quantile(b, [0.1, 0.5, 0.9])],
            "turns": int(np.sum(np.diff(np.sign(np.diff(b))) != 0)),
            "seconds": round(seconds, 1), "ms_per_step": round(1e3 * seconds / taken, 2)}


def attracting_cycle(m, seed):
    x = np.random.default_rng(seed).random(m.width)[None]
    for _ in range(ITERATIONS):
        x = m(x)
    cycle = [x[0]]
    for _ in range(8):
        cycle.append(m(cycle[-1][None])[0])
        if np.max(np.abs(cycle[-1] - cycle[0])) < PHASE_TOL:
            return cycle[:-1]
    return None


def edge_bisection(m, lifted, cycle, rounds):
    """Bisection on the boundary between the phases of ``cycle``; lifted Newton from each boundary point."""
    p = len(cycle)

    def phase(x):
        y = m(x[None], p * PHASE_PERIODS)[0]
        dist = [np.max(np.abs(y - c)) for c in cycle]
        j = int(np.argmin(dist))
        return j if dist[j] < PHASE_TOL else -1

    lo, hi = cycle[0], cycle[1]
    gaps, found, done = [], None, 0
    for r in range(rounds):
        p_lo, p_hi = phase(lo), phase(hi)
        if p_lo < 0 or p_hi < 0 or p_lo == p_hi:
            break                  # the pair no longer straddles two phases
        while np.max(np.abs(hi - lo)) > 1e-15:
            mid = 0.5 * (lo + hi)
            if np.array_equal(mid, lo) or np.array_equal(mid, hi):
                break
            p_mid = phase(mid)
            if p_mid == p_lo:
                lo = mid
            elif p_mid == p_hi:
                hi = mid
            else:
                break
        gaps.append(float(np.max(np.abs(m(lo[None])[0] - lo))))
        X, ok = _newton(lifted, lifted.orbit(lo), 1e-12)
        done = r + 1
        if ok:
            found = r
            break
        lo, hi = m(lo[None])[0], m(hi[None])[0]
    return {"period": p, "rounds": done, "newton_converged_round": found,
            "min_gap": round(min(gaps), 4) if gaps else None,
            "median_gap": round(float(np.median(gaps)), 4) if gaps else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", default="cauchy-s3")
    ap.add_argument("--width", type=int, default=30)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--nets", default=None, help="network indices, e.g. 2,10 (default: the first two with no point)")
    ap.add_argument("--paths", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--edge-rounds", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cell, records = archived_cell(args.sweep, args.width, args.depth)
    nets = ([int(k) for k in args.nets.split(",")] if args.nets
            else [k for k, r in enumerate(records) if r["q_all"] == 0][:2])
    rows = []
    with threadpool_limits(1, "blas"):
        for k in nets:
            net = replay(cell, k)
            m, lifted = _Map(net), _Lifted(net)
            row = {"net": k, "sweep_q_all": records[k]["q_all"], "sweep_index_sum": records[k]["index_sum"],
                   "gain_paths": [gain_path(lifted, args.steps, seed=1000 * j + k) for j in range(args.paths)]}
            cycle = attracting_cycle(m, seed=k)
            row["edge"] = (edge_bisection(m, lifted, cycle, args.edge_rounds)
                           if cycle is not None and len(cycle) >= 2 and args.edge_rounds else None)
            rows.append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps({"cell": cell, "seed": Q_SEED, "steps": args.steps, "networks": rows}))


if __name__ == "__main__":
    main()
