"""Fixed-point search throughput against the machine's GEMM rate, measured in the same run.

    python benchmarks/bench_fixedpoints.py [--width 256] [--depth 10] [--batch 4096]
                                           [--sweep] [--sweep-depths 1:64] [--json]

1. Batched iteration: one evaluation of F on B starts is L GEMMs (B x N by N x N) plus the
   activation; its achieved FLOP rate (2 B N^2 L per evaluation) is compared with the same
   GEMMs alone and with the peak GEMM rate (N_big x N_big products), on all cores and on
   one (the sweep runs one process per core with one BLAS thread each).
2. A whole ``find_fixed_points`` call at that size (cauchy sigmoid; ``--newton-starts``
   Newton starts, each step of which forms J at 2 N^3 L flops; Phase 3 only with
   ``--homotopy-paths``, since a path step at N = 256 costs seconds), with the time of
   each phase and the FLOP rate of the iteration phase.
3. Homotopy paths (Phase 3) on a saturated sigmoid Cauchy network (N = 30, s = 3,
   sigma_w = 90): continuation steps per second, crossings of t = 1, and the seconds per
   distinct fixed point, against Newton in x and u from random starts (Phase 2) on the same
   network and in the same run; then lifted gain paths (Phase 4, ``--lifted-paths`` x
   ``--lifted-path-steps``) on it, with the points that neither Phase 2 nor 3 found, and
   the time of the path's bordered LU on the active units against the dense one at one of
   its points.
4. The structured QR of the lifted path (``validation.fpcyclic``, used above
   ``CYCLIC_MIN_DIM``) against the active-unit LU, at depths ``--cyclic-depths`` (N = 30,
   s = 3): one factorisation plus three solves (a step's tangent and two corrector
   iterations) at a point on a gain path, and the shipped path's steps per second.
5. ``--sweep``: the wall time of a Q(N, L) sweep, N = 30, L = 1..64, 100 networks x 1000
   starts per cell (cauchy sigmoid, sigma_w = 4, sigma_b = 0.5), on every core of this
   machine, checkpointed under a temporary directory.

Best of ``--repeat`` runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation.fixedpoints import find_fixed_points, iterate_flops  # noqa: E402
from validation.fphomotopy import homotopy_fixed_points  # noqa: E402
from validation.fpcyclic import CyclicQR  # noqa: E402
from validation.fpgain import CYCLIC_MIN_DIM, _Bordered  # noqa: E402
from validation.fplifted import _Lifted, lifted_fixed_points  # noqa: E402
from validation.fpsearch import _greedy_reps, _newton, _preactivation_newton  # noqa: E402
from validation.netmap import _Map  # noqa: E402
from validation.sampling import sample_network  # noqa: E402


def best(fn, repeat):
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(min(times))


def iteration_rates(width, depth, batch, repeat):
    net = sample_network("sigmoid", "cauchy", 4.0, 0.5, depth, width, rng=0)
    fmap = _Map(net)
    x = np.random.default_rng(1).uniform(size=(batch, width))
    flops = iterate_flops(net, batch)
    big = np.random.default_rng(2).standard_normal((2048, 2048))
    w = fmap.wt[0]
    out = {}
    for label, threads in (("all cores", None), ("1 thread", 1)):
        with threadpool_limits(limits=threads, user_api="blas"):
            fmap(x)
            t_f = best(lambda: fmap(x), repeat)
            t_gemm = best(lambda: [x @ w for _ in range(depth)], repeat)
            t_peak = best(lambda: big @ big, repeat)
        out[label] = {
            "F_seconds": t_f, "F_gflops": flops / t_f / 1e9,
            "gemm_only_gflops": flops / t_gemm / 1e9,
            "peak_gemm_gflops": 2 * 2048 ** 3 / t_peak / 1e9,
        }
        out[label]["F_vs_peak"] = out[label]["F_gflops"] / out[label]["peak_gemm_gflops"]
    return out


def finder_profile(width, depth, starts, newton_starts, homotopy_paths):
    net = sample_network("sigmoid", "cauchy", 4.0, 0.5, depth, width, rng=3)
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        res = find_fixed_points(net, starts=starts, newton_starts=newton_starts, rng=4,
                                homotopy_paths=homotopy_paths)
        total = time.perf_counter() - t0
    it = res.timings.get("iterate", float("nan"))
    return {"seconds": total, "timings": res.timings, "q_stable": res.q_stable, "q_all": res.q_all,
            "iterate_gflops": iterate_flops(net, res.iterations) / it / 1e9}


def _distinct(x):
    return 0 if x.shape[0] == 0 else int(_greedy_reps(x, 1e-6).size)


def homotopy_rates(depths, paths, steps, newton_starts, lifted_paths, lifted_steps):
    """Phases 3 and 4 against Phase 2 on one saturated network per depth (N = 30, s = 3)."""
    out = {}
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        for depth in depths:
            net = sample_network("sigmoid", "cauchy", 90.0, 0.5, depth, 30, rng=np.random.default_rng([7, depth]))
            m = _Map(net)
            gen = np.random.default_rng(0)
            t0 = time.perf_counter()
            pts, crossings, taken = homotopy_fixed_points(m, gen.random((paths, 30)), steps, 1e-12, (0.0, 1.0))
            t_h = time.perf_counter() - t0
            xs = gen.random((newton_starts, 30))
            t0 = time.perf_counter()
            xu, conv_u, _ = _preactivation_newton(m, xs, 1e-12)
            xx, _, conv_x, _ = _newton(m, xs, 1, 1e-12, (0.0, 1.0))
            t_n = time.perf_counter() - t0
            found_h = _distinct(pts)
            by_newton = np.concatenate([xx[conv_x], xu[conv_u]])
            found_n = _distinct(by_newton)
            both = _distinct(np.concatenate([by_newton, pts]))
            lifted = lifted_fixed_points(net, paths=lifted_paths, steps=lifted_steps, branches=0,
                                         stop_on_index=False, rng=0)
            known = np.concatenate([by_newton, pts])
            only_lifted = sum(known.shape[0] == 0 or np.min(np.max(np.abs(known - x), axis=1)) > 1e-6
                              for x in lifted.points)
            out[depth] = {"lifted_seconds": lifted.timings["paths"], "lifted_steps": lifted.path_steps,
                          "lifted_steps_per_second": lifted.path_steps / lifted.timings["paths"],
                          "lifted_crossings": lifted.crossings, "distinct_by_lifted": lifted.q_all,
                          "only_by_lifted": int(only_lifted),
                          "lifted_max_rho": float(lifted.spectral_radius.max()) if lifted.q_all else None,
                          **_lu_ratio(net, lifted), **_phase3(t_h, taken, crossings, found_h, t_n,
                                                              found_n, both)}
    return out


def _lu_ratio(net, lifted):
    """The path's LU on the active units against the dense LU, at one point of the network."""
    sys_ = _Lifted(net)
    X = lifted.orbits[0] if lifted.q_all else np.full(sys_.dim, 0.5)
    jx, jb, coupling = sys_.jacobian(X, 1.0, sys_.zero)
    row = np.ones(sys_.dim + 1) / np.sqrt(sys_.dim + 1)
    t_active = best(lambda: _Bordered(jx, jb, coupling, row), 5)
    t_dense = best(lambda: _Bordered(jx, jb, np.ones(sys_.dim), row), 5)
    return {"lifted_dim": sys_.dim, "active_units": int(_Bordered(jx, jb, coupling, row).act.size),
            "dense_over_active_lu": t_dense / t_active}


def cyclic_rates(depths, steps):
    """Structured QR against the active-unit LU of one path step, N = 30, s = 3."""
    out = {}
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        for depth in depths:
            net = sample_network("sigmoid", "cauchy", 90.0, 0.5, depth, 30, rng=np.random.default_rng([7, depth]))
            sys_ = _Lifted(net)
            path = lifted_fixed_points(net, paths=1, steps=steps, branches=0, stop_on_index=False, rng=1)
            # a point of a path at beta = 0.5: between the easy start and the steep end
            d = np.random.default_rng(2).standard_normal(sys_.dim)
            X = 0.5 * (path.orbits[0] if path.q_all else np.full(sys_.dim, 0.5)) + 0.5 * (1 / (1 + np.exp(-d)))
            row = np.random.default_rng(3).standard_normal(sys_.dim + 1)
            r = np.random.default_rng(4).standard_normal(sys_.dim + 1)

            def step(make):
                lu = make()
                for _ in range(3):
                    lu.solve(r)

            def cyclic():
                blocks, jb, _ = sys_.layer_jacobian(X, 0.5, d)
                return CyclicQR(blocks, jb, row, sys_.stops)

            t_cyc = best(lambda: step(cyclic), 5)
            t_lu = best(lambda: step(lambda: _Bordered(*sys_.jacobian(X, 0.5, d), row)), 5)
            out[depth] = {"lifted_dim": sys_.dim, "cyclic_step_ms": 1e3 * t_cyc,
                          "active_lu_step_ms": 1e3 * t_lu, "active_lu_over_cyclic": t_lu / t_cyc,
                          "shipped_solver": "cyclic" if sys_.dim > CYCLIC_MIN_DIM else "active LU",
                          "path_steps_per_second": path.path_steps / path.timings["paths"]}
    return out


def _phase3(t_h, taken, crossings, found_h, t_n, found_n, both):
    return {"path_seconds": t_h, "path_steps": taken, "steps_per_second": taken / t_h,
                          "crossings": crossings, "distinct_by_paths": found_h,
                          "newton_seconds": t_n, "distinct_by_newton": found_n,
                          "only_by_paths": both - found_n,
                          "seconds_per_point_paths": t_h / max(found_h, 1),
                          "seconds_per_point_newton": t_n / max(found_n, 1)}


def sweep_time(depths, nets, starts):
    from validation.cells import make_grid, parse_range
    from validation.sweep import fixed_point_cell, run_sweep
    cells = [dict(activation="sigmoid", weights="cauchy", sigma_w=4.0, sigma_b=0.5, **c)
             for c in make_grid(width=[30], depth=[int(v) for v in parse_range(depths, name="--sweep-depths")])]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_sweep(fixed_point_cell, cells, nets=nets, seed=1, checkpoint=tmp, starts=starts)
        seconds = time.perf_counter() - t0
    means = [s["q_stable"]["mean"] for s in res.statistics]
    return {"cells": len(cells), "nets": nets, "starts": starts, "seconds": seconds,
            "workers": len(os.sched_getaffinity(0)), "q_stable_mean_by_depth": means}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--starts", type=int, default=1000)
    p.add_argument("--newton-starts", type=int, default=100,
                   help="Newton starts of the whole-finder timing (each costs ~2 N^3 L per step)")
    p.add_argument("--homotopy-paths", type=int, default=0,
                   help="Phase-3 paths of the whole-finder timing (default 0)")
    p.add_argument("--path-depths", default="4,16", help="depths of the Phase-3 comparison")
    p.add_argument("--paths", type=int, default=16)
    p.add_argument("--path-steps", type=int, default=2000)
    p.add_argument("--lifted-paths", type=int, default=2)
    p.add_argument("--lifted-path-steps", type=int, default=8000)
    p.add_argument("--cyclic-depths", default="8,16,24,32,64",
                   help="depths of the structured-QR comparison (N = 30)")
    p.add_argument("--cyclic-path-steps", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sweep", action="store_true", help="also time the N = 30, L = 1..64 sweep")
    p.add_argument("--sweep-depths", default="1:64")
    p.add_argument("--sweep-nets", type=int, default=100)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    out = {"width": a.width, "depth": a.depth, "batch": a.batch,
           "iteration": iteration_rates(a.width, a.depth, a.batch, a.repeat),
           "finder": finder_profile(a.width, a.depth, a.starts, a.newton_starts, a.homotopy_paths),
           "homotopy": homotopy_rates([int(v) for v in a.path_depths.split(",")], a.paths,
                                      a.path_steps, a.starts, a.lifted_paths, a.lifted_path_steps),
           "cyclic": cyclic_rates([int(v) for v in a.cyclic_depths.split(",")], a.cyclic_path_steps)}
    if a.sweep:
        out["sweep"] = sweep_time(a.sweep_depths, a.sweep_nets, a.starts)
    if a.json:
        print(json.dumps(out, sort_keys=True))
        return
    print(f"batched iteration, N = {a.width}, L = {a.depth}, B = {a.batch} (cauchy sigmoid)")
    for label, r in out["iteration"].items():
        print(f"  {label:>9}: F {r['F_seconds'] * 1e3:.1f} ms = {r['F_gflops']:.1f} GFLOP/s; "
              f"its GEMMs alone {r['gemm_only_gflops']:.1f}; peak GEMM {r['peak_gemm_gflops']:.1f} "
              f"-> F at {100 * r['F_vs_peak']:.0f}% of peak")
    f = out["finder"]
    print(f"find_fixed_points ({a.starts} starts, {a.newton_starts} Newton starts, 1 thread): {f['seconds']:.2f} s, "
          f"Q_stable {f['q_stable']}, Q_all {f['q_all']}; iteration phase "
          f"{f['iterate_gflops']:.1f} GFLOP/s; phases {json.dumps({k: round(v, 3) for k, v in f['timings'].items()})}")
    for depth, h in out["homotopy"].items():
        print(f"Phase 3 vs Phase 2, N = 30, s = 3, L = {depth}: {a.paths} paths x <= {a.path_steps} steps "
              f"{h['path_seconds']:.1f} s ({h['steps_per_second']:.0f} path-steps/s), {h['crossings']} "
              f"crossings, {h['distinct_by_paths']} distinct points = {h['seconds_per_point_paths']:.2f} s/point "
              f"({h['only_by_paths']} that Newton missed); "
              f"Newton from {a.starts} starts {h['newton_seconds']:.1f} s, {h['distinct_by_newton']} distinct "
              f"= {h['seconds_per_point_newton']:.2f} s/point")
        print(f"  Phase 4: {a.lifted_paths} lifted paths x <= {a.lifted_path_steps} steps {h['lifted_seconds']:.1f} s "
              f"({h['lifted_steps_per_second']:.0f} steps/s, dimension {h['lifted_dim']}, "
              f"{h['active_units']} active units: dense LU {h['dense_over_active_lu']:.1f}x the active one), "
              f"{h['lifted_crossings']} crossings, {h['distinct_by_lifted']} distinct points, "
              f"{h['only_by_lifted']} that Phases 2 and 3 missed (largest rho {h['lifted_max_rho']})")
    for depth, c in out["cyclic"].items():
        print(f"lifted path step, N = 30, s = 3, L = {depth} (dimension {c['lifted_dim']}): structured QR "
              f"{c['cyclic_step_ms']:.2f} ms, active-unit LU {c['active_lu_step_ms']:.2f} ms "
              f"(ratio {c['active_lu_over_cyclic']:.2f}); shipped ({c['shipped_solver']}) path "
              f"{c['path_steps_per_second']:.0f} steps/s")
    if a.sweep:
        s = out["sweep"]
        print(f"sweep N = 30, {s['cells']} depths x {s['nets']} networks x {s['starts']} starts: "
              f"{s['seconds']:.0f} s on {s['workers']} cores")


if __name__ == "__main__":
    main()
