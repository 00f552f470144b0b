"""Monte-Carlo Jacobian spectra against their floor, measured in the same run.

    python benchmarks/bench_jacobian.py [--backend numpy|cupy] [--sizes 512,1024,...]
                                        [--depth 10] [--repeat 3] [--json]

numpy (default sizes: 1000): one tanh network, gaussian weights (sigma_w = 1.5,
sigma_b = 0.1), L = --depth, one stationary input. Times ``jacobian_spectra`` (eigenvalues
of J J^T and of J) as used by default (``qr="auto"``, which accumulates the product with QR
when the singular values spread beyond 1e10, as they do here), and forced plain
(``qr=False``). The floor, measured in this run: L float64 GEMMs of N x N at the rate
measured here (best of several), plus one ``numpy.linalg.eigvals`` and one ``eigvalsh`` of
an N x N matrix. Prints each time's ratio to the floor (target <= 1.2 for the plain
product), the GEMM rate against the nominal peak of this CPU (cores x clock x 16 or 32
flops per cycle for AVX2 / AVX-512 with two FMA units: an estimate), and the rate the
Jacobian product itself reaches.

cupy (default sizes: 512,1024,2048,4096): Jacobian spectra per second on the GPU
(device synchronised around each timing) and on the CPU with NumPy, and their ratio.

Then the `esd simulate` comparison (issue target: within 1.2x): ``validation.simulate`` with
the CLI defaults (tanh, gaussian, sigma_w 1, sigma_b 0) at N = 1000, L = --depth,
2 samples, against a plain NumPy loop over the same networks in the same run: sample the
network, forward pass, the product J, ``numpy.linalg.eigvals(J)`` and
``numpy.linalg.svd(J, compute_uv=False)``. Also at sigma_w 1.5, sigma_b 0.1, where the
spread needs more than two QR blocks. The loop's smallest singular values are wrong
there (spread 1e20): the table gives the accuracy bound ``sv_rtol`` simulate keeps.

Best of ``--repeat`` runs (the least noisy estimate on a shared machine); nothing is
asserted. ``--json`` prints one JSON object instead of the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation import backend  # noqa: E402
from validation.jacobians import jacobian, jacobian_spectra  # noqa: E402
from validation.sampling import sample_network, stationary_inputs  # noqa: E402

SIGMA_W, SIGMA_B = 1.5, 0.1


def best_time(fn, repeat, sync=None):
    times = []
    for _ in range(max(1, repeat)):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return float(min(times))


def cpu_peak_gflops():
    """Nominal float64 peak of the cores this process may use (an estimate)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags, mhz, model = set(), None, platform.processor()
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags" and not flags:
                flags = set(value.split())
            elif key == "cpu MHz" and mhz is None:
                mhz = float(value)
            elif key == "model name" and not model:
                model = value.strip()
    except OSError:
        pass
    try:
        mhz = float(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e3
    except (OSError, ValueError):
        pass
    per_cycle = 32 if "avx512f" in flags else 16 if {"avx2", "fma"} <= flags else 4
    peak = cores * (mhz or 0.0) / 1e3 * per_cycle if mhz else None
    return {"cores": cores, "clock_ghz": None if mhz is None else mhz / 1e3,
            "flops_per_cycle": per_cycle, "peak_gflops": peak, "model": model}


def network(n, depth, xp):
    net = sample_network("tanh", "gaussian", SIGMA_W, SIGMA_B, depth, n, rng=0, xp=xp)
    return net, stationary_inputs(net, 1, rng=1)


def numpy_row(n, depth, repeat):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    sym = a + a.T
    a @ b
    t_gemm = best_time(lambda: a @ b, max(5, repeat))
    t_eig = best_time(lambda: np.linalg.eigvals(a), repeat)
    t_eigh = best_time(lambda: np.linalg.eigvalsh(sym), repeat)
    floor = depth * t_gemm + t_eig + t_eigh

    net, x0 = network(n, depth, backend.namespace("numpy"))
    t_product = best_time(lambda: jacobian(net, x0), repeat)
    row = {"N": n, "L": depth, "gemm_s": t_gemm, "eigvals_s": t_eig, "eigvalsh_s": t_eigh,
           "floor_s": floor, "gemm_gflops": 2 * n ** 3 / t_gemm / 1e9,
           "product_gflops": (depth - 1) * 2 * n ** 3 / t_product / 1e9 if depth > 1 else None}
    for label, qr in (("auto", "auto"), ("plain", False)):
        method = jacobian_spectra(net, x0, qr=qr)["method"]
        t = best_time(lambda: jacobian_spectra(net, x0, qr=qr), repeat)
        row[label] = {"method": method, "time_s": t, "ratio_to_floor": t / floor}
    return row


def simulate_row(n, depth, sigma_w, sigma_b, repeat, samples=2):
    """``validation.simulate`` against a plain loop over the same networks and inputs."""
    from esd.activations import get_activation
    from esd.light.meanfield import q_star
    from validation import simulate

    act = get_activation("tanh")
    q = q_star(act, sigma_w, sigma_b)
    q = q if np.isfinite(q) and q > 0 else 1.0

    def plain_loop():
        for child in np.random.SeedSequence(5).spawn(samples):
            rng = np.random.default_rng(child)
            net = sample_network(act, "gaussian", sigma_w, sigma_b, depth, n, rng=rng)
            x = np.asarray(act.phi(np.sqrt(q) * rng.standard_normal(n)))
            j = np.eye(n)
            for l in range(depth):
                h = net.W[l] @ x + net.b[l]
                j = act.dphi(h)[:, None] * (net.W[l] @ j if l else net.W[l])
                x = act.phi(h)
            np.linalg.eigvals(j)
            np.linalg.svd(j, compute_uv=False)

    def run_simulate():
        return simulate("tanh", "gaussian", sigma_w, sigma_b, depth, n, samples, seed=5)

    run_simulate()
    t_loop, t_sim = [], []
    for _ in range(max(1, repeat)):  # interleaved: both see the same machine state
        t_loop.append(best_time(plain_loop, 1))
        t_sim.append(best_time(run_simulate, 1))
    net = sample_network(act, "gaussian", sigma_w, sigma_b, depth, n, rng=0)
    spec = jacobian_spectra(net, stationary_inputs(net, 1, rng=1))
    return {"N": n, "L": depth, "sigma_w": sigma_w, "sigma_b": sigma_b, "samples": samples,
            "plain_loop_s": min(t_loop), "simulate_s": min(t_sim),
            "ratio": min(t_sim) / min(t_loop), "method": spec["method"],
            "qr_blocks": len(spec["qr_blocks"]), "sv_rtol": spec["sv_rtol"]}


def gpu_rows(sizes, depth, repeat, cpu_repeat):
    import cupy  # benchmarks may import CuPy; the package does it only in validation.backend

    xp_gpu, xp_cpu = backend.namespace("cupy"), backend.namespace("numpy")
    sync = cupy.cuda.Device().synchronize
    rows = []
    for n in sizes:
        net_g, x_g = network(n, depth, xp_gpu)
        net_c, x_c = network(n, depth, xp_cpu)
        method = jacobian_spectra(net_g, x_g)["method"]  # warm-up: kernels, cuSOLVER handles
        sync()
        t_gpu = best_time(lambda: jacobian_spectra(net_g, x_g), repeat, sync)
        t_cpu = best_time(lambda: jacobian_spectra(net_c, x_c), cpu_repeat)
        a = cupy.random.default_rng(0).standard_normal((n, n))
        a @ a
        t_gemm = best_time(lambda: a @ a, max(5, repeat), sync)
        rows.append({"N": n, "L": depth, "method": method, "gpu_s": t_gpu, "cpu_s": t_cpu,
                     "gpu_per_s": 1 / t_gpu, "cpu_per_s": 1 / t_cpu, "speedup": t_cpu / t_gpu,
                     "gpu_gemm_tflops": 2 * n ** 3 / t_gemm / 1e12})
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return rows, name.decode() if isinstance(name, bytes) else str(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    ap.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",") if v.strip()], default=None,
                    help="comma-separated widths N")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu-repeat", type=int, default=1, help="repeats of the CPU timing in cupy mode")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    cpu = cpu_peak_gflops()
    result = {"backend": args.backend, "depth": args.depth, "sigma_w": SIGMA_W, "sigma_b": SIGMA_B,
              "activation": "tanh", "weights": "gaussian", "numpy": np.__version__, "cpu": cpu}
    if args.backend == "numpy":
        result["rows"] = [numpy_row(n, args.depth, args.repeat) for n in (args.sizes or [1000])]
        for row in result["rows"]:
            row["gemm_fraction_of_peak"] = (row["gemm_gflops"] / cpu["peak_gflops"]
                                            if cpu["peak_gflops"] else None)
        result["simulate"] = [simulate_row(1000, args.depth, sw, sb, args.repeat)
                              for sw, sb in ((1.0, 0.0), (1.5, 0.1))]
    else:
        result["rows"], result["device"] = gpu_rows(args.sizes or [512, 1024, 2048, 4096],
                                                    args.depth, args.repeat, args.cpu_repeat)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    peak = cpu["peak_gflops"]
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores, nominal peak "
          f"{'unknown' if peak is None else f'{peak:.0f} GFLOP/s'} (float64)")
    if args.backend == "numpy":
        for r in result["rows"]:
            print(f"\nN = {r['N']}, L = {r['L']} (tanh, gaussian, one input)")
            print(f"  floor: {r['L']} x GEMM {r['gemm_s'] * 1e3:.1f} ms + eigvals {r['eigvals_s']:.3f} s"
                  f" + eigvalsh {r['eigvalsh_s']:.3f} s = {r['floor_s']:.3f} s")
            frac = r["gemm_fraction_of_peak"]
            print(f"  GEMM {r['gemm_gflops']:.1f} GFLOP/s"
                  + ("" if frac is None else f" = {100 * frac:.0f}% of nominal peak")
                  + ("" if r["product_gflops"] is None else
                     f"; Jacobian product {r['product_gflops']:.1f} GFLOP/s"))
            for label in ("auto", "plain"):
                m = r[label]
                print(f"  {label:>5} (method {m['method']:>4}): {m['time_s']:.3f} s,"
                      f" ratio to floor {m['ratio_to_floor']:.2f}")
        print("\n  target: plain ratio <= 1.2; 'auto' adds the QR accumulation deep products need")
        print("\nvalidation.simulate (2 samples) vs a plain loop (sample, products, eigvals, svd):")
        for r in result["simulate"]:
            print(f"  N {r['N']} L {r['L']} sigma_w {r['sigma_w']} sigma_b {r['sigma_b']}: "
                  f"loop {r['plain_loop_s']:.3f} s, simulate {r['simulate_s']:.3f} s, "
                  f"ratio {r['ratio']:.2f} (method {r['method']}, {r['qr_blocks']} QR blocks, "
                  f"sv_rtol {r['sv_rtol'] or 0:.1e})")
        print("  target: ratio <= 1.2 at the defaults (sigma_w 1, sigma_b 0)")
    else:
        print(f"GPU: {result['device']}; L = {args.depth}, tanh, gaussian, one input per Jacobian")
        print(f"{'N':>6} {'method':>6} {'GPU /s':>10} {'CPU /s':>10} {'speedup':>8} {'GPU GEMM TF/s':>14}")
        for r in result["rows"]:
            print(f"{r['N']:>6} {r['method']:>6} {r['gpu_per_s']:>10.3f} {r['cpu_per_s']:>10.3f}"
                  f" {r['speedup']:>8.2f} {r['gpu_gemm_tflops']:>14.2f}")


if __name__ == "__main__":
    main()
