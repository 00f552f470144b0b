"""Solver speed against one Monte-Carlo step, measured in the same run.

    python benchmarks/bench_solver.py [--repeat 7]

Prints: the time of one numpy.linalg.eigvals of a 1000 x 1000 gaussian matrix; the time of
the full density on 2000 grid points for tanh, L = 100 identical layers (spec -> mean
field -> density; compilation excluded) and its ratio to eigvals (target <= 1%); and
microseconds per grid point for L = 1, 10, 100, 1000 identical layers and 100 distinct
layers (layer-dependent variances from an input variance). Best of repeats (the
minimum is the least noisy estimate on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import esd


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    a = rng.standard_normal((1000, 1000))
    np.linalg.eigvals(a)
    t_eig = best_time(lambda: np.linalg.eigvals(a), max(3, args.repeat // 2))

    cases = {
        "L=1": esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=1),
        "L=10": esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=10),
        "L=100": esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=100),
        "L=1000": esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=1000),
        "100 distinct layers": esd.NetworkSpec("tanh", sigma_w=list(np.linspace(1.2, 1.8, 100)),
                                               sigma_b=0.1, depth=100, input_variance=0.5),
    }
    # Compile (or load cached) kernels once.
    esd.JacobianESD(cases["L=1"]).density(np.array([0.5, 1.0]))
    rows = {}
    for name, spec in cases.items():
        sol = esd.JacobianESD(spec)
        x = sol.default_grid(2000)
        t_density = best_time(lambda: esd.JacobianESD(spec).density(x), args.repeat)
        t_points = best_time(lambda: sol.density(x), args.repeat)
        rows[name] = {"density_2000_s": t_density, "us_per_point": 1e6 * t_points / len(x)}
    headline = rows["L=100"]["density_2000_s"]
    # The same solve on one thread (eigvals above uses every core through OpenBLAS).
    import numba
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    spec = cases["L=100"]
    x = esd.JacobianESD(spec).default_grid(2000)
    one_thread = best_time(lambda: esd.JacobianESD(spec).density(x), args.repeat)
    numba.set_num_threads(threads)
    result = {
        "eigvals_1000_s": t_eig,
        "tanh_L100_density_2000_s": headline,
        "ratio_to_eigvals": headline / t_eig,
        "threads": threads,
        "tanh_L100_density_2000_one_thread_s": one_thread,
        "cases": rows,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"numpy.linalg.eigvals 1000x1000          : {t_eig * 1e3:8.1f} ms")
    print(f"tanh L=100 density, 2000 points          : {headline * 1e3:8.2f} ms  "
          f"= {100 * headline / t_eig:.2f}% of one eigvals (target <= 1%), {threads} threads")
    print(f"  same on one thread                       : {one_thread * 1e3:8.2f} ms  "
          f"= {100 * one_thread / t_eig:.2f}%")
    print("microseconds per grid point (2000-point grid, spec construction included above):")
    for name, row in rows.items():
        print(f"  {name:<22}: {row['us_per_point']:7.2f} us/point   "
              f"(full solve {row['density_2000_s'] * 1e3:7.2f} ms)")


if __name__ == "__main__":
    main()
