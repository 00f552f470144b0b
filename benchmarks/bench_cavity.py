"""Cavity solver vs Monte Carlo: time to a heavy-tailed Jacobian spectrum at matched error.

Measured in one run on this machine (same-run ratios, never asserted): tanh, cauchy weights,
sigma_w = 1, sigma_b = 0.1, depth 4 (the ``esd theory --weights cauchy`` defaults).

- cavity: exactly what ``esd theory --weights cauchy`` computes with its default settings
  (quantiles 0.5/0.75/0.9/0.99 of log10 s from the step filter, the radial CDF of the
  eigenvalues with the fraction outside the unit circle and the 0.999 radius); statistical
  error = standard error over the repeats;
- Monte Carlo: ``validation.montecarlo.simulate`` at N = 1000, 8 networks; statistical error
  of the pooled quantiles by bootstrap over networks, of the fraction by the spread over
  networks.

Printed: wall times and their ratio, SE per quantile, and the error-per-second ratio
``(SE_mc^2 t_mc) / (SE_cav^2 t_cav)`` (how much more work Monte Carlo needs for the cavity's
error, for errors scaling as t^(-1/2)). Monte Carlo is additionally biased at finite N
(docs/theory/validation.md); the cavity by its population size and output grid.

    python benchmarks/bench_cavity.py [--networks 8] [--width 1000] [--depth 4]

Last run: see CHANGELOG.md and the issue notes.
"""

import argparse
import time

import numpy as np

PROBS = (0.5, 0.75, 0.9, 0.99)


def cavity(depth, seed=1):
    """The CLI's heavy-tailed theory at its default settings; (quantiles, SE, fraction,
    SE, seconds)."""
    from esd.cli import build_parser
    from esd.cli.heavy import heavy_theory
    args = build_parser().parse_args(["theory", "--activation", "tanh", "--weights", "cauchy",
                                      "--sigma-w", "1", "--sigma-b", "0.1", "--depth",
                                      str(depth), "--seed", str(seed)])
    out = heavy_theory(args)
    q = np.array(list(out["log10_singular_value_quantiles"].values()))
    qse = np.array(list(out["log10_singular_value_quantiles_stderr"].values()))
    return (q, qse, out["fraction_outside_unit_circle"], out["fraction_outside_unit_circle_stderr"],
            out["solve_seconds"])


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
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1, help="seed of the cavity run")
    a = ap.parse_args()
    from esd.heavy.cavity import warm_up
    warm_up()                                     # compile (cached kernels) outside the timing
    montecarlo(1, 100, 2)
    q, qse, f, fse, tc = cavity(a.depth, a.seed)
    mq, mqse, mf, mfse, mt = montecarlo(a.depth, a.width, a.networks)
    np.set_printoptions(precision=4, suppress=True)
    print(f"tanh cauchy sigma_w=1 sigma_b=0.1 L={a.depth}; quantiles {PROBS} of log10 s")
    print(f"cavity (esd theory defaults): {tc:.1f} s  q={q} se={qse}  frac_out={f:.5f}+-{fse:.5f}")
    print(f"monte carlo N={a.width} x {a.networks}: {mt:.1f} s  q={mq} se={mqse}  "
          f"frac_out={mf:.5f}+-{mfse:.5f}")
    print(f"time ratio cavity / monte carlo: {tc / mt:.2f}")
    print(f"SE ratio cavity / monte carlo per quantile: {qse / mqse}; frac_out {fse / mfse:.3f}")
    gain = (mqse ** 2 * mt) / (qse ** 2 * tc)
    print(f"error-per-second gain (SE_mc^2 t_mc / SE_cav^2 t_cav) per quantile: {gain}; "
          f"frac_out {(mfse ** 2 * mt) / (fse ** 2 * tc):.1f}")


if __name__ == "__main__":
    main()
