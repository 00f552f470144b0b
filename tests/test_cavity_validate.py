"""``esd validate`` for heavy-tailed weights: cavity quantiles against simulation (issue 5)."""

import json
import subprocess
import sys

import numpy as np

from esd.cavity import HeavyTailedJacobian
from validation.compare import compare_heavy
from validation.montecarlo import simulate

PROBS = ("0.5", "0.75", "0.9", "0.99")


def _theory(sigma_w):
    model = HeavyTailedJacobian("tanh", sigma_w, 0.1, 1, population=1500, repeats=2, rng=1)
    q = model.log_singular_value_quantiles(tuple(float(p) for p in PROBS))
    return dict(zip(PROBS, q.mean)), dict(zip(PROBS, q.stderr))


def test_cavity_agrees_with_simulation_and_rejects_a_wrong_scale():
    sim = simulate("tanh", "cauchy", 1.0, 0.1, 1, 300, 4, seed=7, alpha=1.0)
    right = compare_heavy(*_theory(1.0), 0.0, sim.sv2, sim.eigs)
    wrong = compare_heavy(*_theory(2.0), 0.0, sim.sv2, sim.eigs)
    assert right["pass"], right
    assert not wrong["pass"]
    diffs = [abs(v["difference"]) for v in right["log10_singular_value_quantiles"].values()]
    assert max(diffs) < 0.15 and np.isfinite(right["fraction_outside_unit_circle"]["simulation"])


def test_validate_cli_heavy_json():
    res = subprocess.run([sys.executable, "-m", "esd", "validate", "--activation", "sigmoid",
                          "--weights", "cauchy", "--sigma-w", "4", "--sigma-b", "0.5", "--depth", "1",
                          "--width", "200", "--samples", "3", "--seed", "1", "--population", "800",
                          "--repeats", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert list(out["log10_singular_value_quantiles"]) == list(PROBS)
    assert set(out["fraction_outside_unit_circle"]) == {"theory", "simulation"}
    assert isinstance(out["pass"], bool) and out["params"]["weights"] == "cauchy"
