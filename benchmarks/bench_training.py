"""Training throughput against the GEMM floor of the same shapes, and the full digits run.

Run: ``python benchmarks/bench_training.py [--quick]``

1. For each (widths, batch): samples/s of ``training.engine.train`` (compiled epochs, no
   checkpoint) and the time of the same epoch's GEMMs alone (forward ``x W^T`` and the two
   backward products per layer, scanned over the same batches, jitted the same way): their
   ratio is the share of the floor that the real step reaches. The large-GEMM rate of this
   machine (float32, 1024^2) is printed for scale.
2. The full digits experiment of the CLI's defaults (train + layer exponents + fixed
   points over the saved epochs + restoration), wall time per part.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best_seconds(f, arg, repeats=5):
    """Fastest of ``repeats`` timed calls of a jitted ``f`` after one warm-up call."""
    f(arg).block_until_ready()
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(arg).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def _gemm_floor(widths, batch, n_batches):
    import jax
    import jax.numpy as jnp

    ws = [jnp.ones((b, a), jnp.float32) * 0.01 for a, b in zip(widths[:-1], widths[1:])]

    def step(carry, x):
        acc = carry
        hs = [x]
        for w in ws:  # forward products
            hs.append(hs[-1] @ w.T)
        delta = hs[-1]
        for w, h in zip(ws[::-1], hs[-2::-1]):  # backward: dW = delta^T h, dx = delta W
            acc = acc + jnp.sum(delta.T @ h)
            delta = delta @ w
        return acc, None

    run = jax.jit(lambda xs: jax.lax.scan(step, jnp.float32(0), xs)[0])
    return _best_seconds(run, jnp.ones((n_batches, batch, widths[0]), jnp.float32))


def _peak_gflops(n=1024):
    import jax
    import jax.numpy as jnp
    return 2 * n ** 3 / _best_seconds(jax.jit(lambda a: a @ a), jnp.ones((n, n), jnp.float32)) / 1e9


def throughput(quick):
    from sklearn.datasets import load_digits

    from training.engine import TrainConfig, train, training_flops
    x = load_digits().data / 16.0
    print(f"large-GEMM rate (float32, 1024^2): {_peak_gflops():.1f} GFLOP/s")
    print(f"{'widths':>16} {'batch':>5} {'samples/s':>10} {'GFLOP/s':>8} {'floor s/epoch':>13} "
          f"{'step s/epoch':>12} {'floor/step':>10}")
    epochs = 20 if quick else 100
    for widths in ([64, 64, 64], [64, 256, 64], [64, 256, 256, 64]):
        for batch in (10, 64, 256):
            res = train(TrainConfig(widths=tuple(widths), epochs=epochs, batch_size=batch, seed=0,
                                    save_epochs=()), x)
            n_batches = x.shape[0] // batch
            per_epoch = res.timings["train"] / epochs
            floor = _gemm_floor(widths, batch, n_batches)
            rate = res.timings["samples_per_second"]
            print(f"{str(widths):>16} {batch:>5} {rate:>10.0f} "
                  f"{training_flops(widths, rate) / 1e9:>8.2f} {floor:>13.2e} {per_epoch:>12.2e} "
                  f"{floor / per_epoch:>10.2f}")


def full_experiment(quick):
    from esd.cli import main
    import contextlib
    import io
    args = ["train", "--json"] + (["--epochs", "200", "--starts", "50"] if quick else [])
    t0 = time.perf_counter()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(args)
    total = time.perf_counter() - t0
    import json
    out = json.loads(buf.getvalue())
    fp = sum(row.get("fixed_points", {}).get("seconds", 0.0) for row in out["epochs"])
    print(f"\nfull digits experiment (esd train {' '.join(args[1:])}): {total:.1f} s wall; "
          f"training {out['timings']['total']:.1f} s ({out['config']['epochs']} epochs), "
          f"fixed points over {len(out['epochs'])} epochs {fp:.1f} s")
    r = out["restoration"]["train"]
    for key, v in r.items():
        print(f"  restore {key}: recovery {v['recovery_rate']:.2f} vs one pass "
              f"{v['recovery_rate_baselines']['one_pass']:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs (a smoke run)")
    args = p.parse_args()
    throughput(args.quick)
    full_experiment(args.quick)


if __name__ == "__main__":
    main()
