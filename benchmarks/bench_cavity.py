"""Cavity solver vs Monte Carlo: time to a converged heavy-tailed Jacobian spectrum.

Measured in one run on this machine (same-run ratios, never asserted): tanh, cauchy weights,
sigma_w = 1, sigma_b = 0.1, depth 3.

- cavity: ``log_singular_value_quantiles`` (0.5/0.75/0.9/0.99) and
  ``fraction_outside_unit_circle``; statistical error = standard error over repeats;
- Monte Carlo: ``validation.montecarlo.simulate`` at N = 1000; statistical error of the pooled
  quantiles by bootstrap over networks, of the fraction by the spread over networks.

Printed per method: wall time, SE, and the cost-normalised error ``SE sqrt(t)`` (the error one
second of work buys, for errors scaling as t^(-1/2)). Monte Carlo is additionally biased at
finite N (docs/theory/validation.md); the cavity by its population size and output grid.

    python benchmarks/bench_cavity.py [--networks 8] [--width 1000]

Last run (2 cores, 2026-12-03, one population serving 8 singular-value points and all
radii): cavity quantiles 106.6 s at SE <= 0.008 (282 s before, one point at a time),
fraction outside 15.6 s at SE 0.00017; Monte Carlo N = 1000 x 8 networks 8.6 s at SE
0.009-0.015 / 0.0006. SE sqrt(t): quantiles 0.080 (cavity) vs 0.043 (MC), fraction
outside 0.0007 vs 0.0018. The cavity's 0.99 quantile (0.856) sits 0.07 above Monte Carlo's
(0.782): the finite-N and population-size biases of the top tail.
"""

import argparse
import time

import numpy as np

PROBS = (0.5, 0.75, 0.9, 0.99)


def cavity(depth):
    from esd.heavy.cavity import HeavyTailedJacobian
    # the solver's default sweeps, burn-in and tree truncation: the settings validated
    # against simulation (cheaper ones move the 0.99 quantile by +0.05)
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, depth, population=3000, repeats=2, rng=1)
    t = time.perf_counter()
    q = h.log_singular_value_quantiles(PROBS, eta_rel=0.02)   # default step: resolves the edge
    tq = time.perf_counter() - t
    t = time.perf_counter()
    f = h.fraction_outside_unit_circle()
    tf = time.perf_counter() - t
    return q.mean, q.stderr, tq, f.mean[0], f.stderr[0], tf


def montecarlo(depth, width, networks):
    from validation.montecarlo import simulate
    t = time.perf_counter()
    sim = simulate("tanh", "cauchy", 1.0, 0.1, depth, width, networks, seed=1, alpha=1.0)
    dt = time.perf_counter() - t
    lg = 0.5 * np.log10(np.maximum(sim.sv2, 1e-300))
    rng = np.random.default_rng(0)
    boot = [np.quantile(lg[rng.integers(0, networks, networks)].ravel(), PROBS) for _ in range(200)]
    fo = np.mean(np.abs(sim.eigs) > 1.0, axis=1)
    return (np.quantile(lg.ravel(), PROBS), np.std(boot, axis=0), fo.mean(),
            fo.std(ddof=1) / np.sqrt(networks), dt)


def main():
    ap = argparse.ArgumentParser(usage="python benchmarks/bench_cavity.py [--networks 8]")
    ap.add_argument("--networks", type=int, default=8)
    ap.add_argument("--width", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=3)
    a = ap.parse_args()
    cavity(1)                                     # compile (cached kernels) outside the timing
    q, qse, tq, f, fse, tf = cavity(a.depth)
    mq, mqse, mf, mfse, mt = montecarlo(a.depth, a.width, a.networks)
    np.set_printoptions(precision=3, suppress=True)
    print(f"tanh cauchy sigma_w=1 sigma_b=0.1 L={a.depth}; quantiles {PROBS} of log10 s")
    print(f"cavity     : q={q} se={qse} ({tq:.1f} s); frac_out={f:.5f}+-{fse:.5f} ({tf:.1f} s)")
    print(f"  SE*sqrt(t): quantiles max {qse.max() * np.sqrt(tq):.3f}, frac {fse * np.sqrt(tf):.5f}")
    print(f"monte carlo: N={a.width} x {a.networks} nets ({mt:.1f} s): q={mq} se={mqse}; "
          f"frac_out={mf:.5f}+-{mfse:.5f}")
    print(f"  SE*sqrt(t): quantiles max {mqse.max() * np.sqrt(mt):.3f}, frac {mfse * np.sqrt(mt):.5f}")
    need = mt * (mqse.max() / max(qse.max(), 1e-12)) ** 2
    print(f"Monte Carlo time to the cavity's quantile SE: ~{need:.0f} s (SE ~ t^-1/2)")
    need_f = mt * (mfse / max(fse, 1e-12)) ** 2
    print(f"Monte Carlo time to the cavity's frac_out SE: ~{need_f:.0f} s, at N = {a.width}, "
          f"whose finite-N bias the cavity does not have")
    from esd.heavy.lyapunov import log_spectrum_moments
    t = time.perf_counter()
    m = log_spectrum_moments("tanh", 1.0, 0.1, 1.5, a.depth)
    print(f"exact mean log|lambda| (alpha = 1.5, esd.heavy.lyapunov): {m.mean_log_singular_value:.4f} "
          f"in {time.perf_counter() - t:.2f} s (no sampling error)")


if __name__ == "__main__":
    main()
