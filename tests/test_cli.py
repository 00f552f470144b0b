"""The installed ``esd`` entry point: JSON keys, plots, and one-line errors with exit 2."""

import json
import math
import subprocess
import sys

import pytest

from esd.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "esd", *args], capture_output=True, text=True,
                          timeout=300)


def test_theory_json_keys_and_values():
    res = run("theory", "--activation", "relu", "--sigma-w", str(math.sqrt(2)), "--depth", "10",
              "--json", "--grid", "50")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("q_star", "chi", "moments", "support", "atom_at_zero", "spectral_radius",
                "fraction_outside_unit_circle", "solve_seconds", "density", "spec"):
        assert key in out
    assert out["moments"][:2] == pytest.approx([1.0, 21.0], rel=1e-10)
    assert out["atom_at_zero"] == pytest.approx(0.5)
    assert len(out["density"]["x"]) == len(out["density"]["rho"]) == 50
    assert out["solve_seconds"] > 0
    assert out["spec"]["depth"] == 10


def test_theory_plot(tmp_path):
    path = tmp_path / "t.png"
    assert main(["theory", "--activation", "tanh", "--sigma-w", "1.5", "--sigma-b", "0.1",
                 "--depth", "3", "--plot", str(path)]) == 0
    assert path.stat().st_size > 10_000


def test_demo_writes_plot(tmp_path):
    path = tmp_path / "demo.png"
    res = run("demo", "--plot", str(path), "--json")
    assert res.returncode == 0, res.stderr
    assert path.exists() and "density" in json.loads(res.stdout)


@pytest.mark.parametrize("args,name", [
    (["--sigma-w", "-1"], "sigma-w"), (["--sigma-b", "-0.1"], "sigma-b"),
    (["--depth", "0"], "depth"), (["--activation", "softplus"], "activation"),
    (["--weights", "uniform"], "weights"), (["--sigma-w", "nan"], "sigma-w"),
    (["--grid", "1"], "grid"), (["--depth", "2.5"], "depth"),
])
def test_bad_input_one_line_exit_2(args, name):
    res = run("theory", "--json", *args)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


def test_help():
    for sub in ("theory", "demo"):
        res = run(sub, "--help")
        assert res.returncode == 0 and "--json" in res.stdout and "--plot" in res.stdout


def test_theory_heavy_tailed_json_keys():
    # Cauchy weights go to the cavity solver: the light-tailed keys that keep a meaning here,
    # plus log10_singular_value_quantiles keyed by probability, each with its standard error.
    res = run("theory", "--activation", "tanh", "--weights", "cauchy", "--sigma-w", "1",
              "--sigma-b", "0.1", "--depth", "1", "--population", "400", "--repeats", "2",
              "--sweeps", "20", "--seed", "3", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["cavity"]["sweeps"] == 20 and out["cavity"]["population"] == 400
    q = out["log10_singular_value_quantiles"]
    assert list(q) == ["0.5", "0.75", "0.9", "0.99"]
    assert q["0.5"] < q["0.75"] < q["0.9"] < q["0.99"]
    # Simulation, N = 600, 4 networks: -0.47 / -0.11 / 0.14 / 0.61.
    assert q["0.5"] == pytest.approx(-0.47, abs=0.1) and q["0.99"] == pytest.approx(0.61, abs=0.2)
    assert 0.0 <= out["fraction_outside_unit_circle"] < 0.02
    assert out["gamma_star"] > 0 and out["spec"]["alpha"] == 1.0
    for key in ("fraction_outside_unit_circle_stderr", "spectral_radius", "solve_seconds"):
        assert key in out
    # Cauchy + tanh: E log phi'(h) = -inf, so the mean log|lambda| diverges (strict JSON)
    assert out["mean_log_singular_value"] == "-inf" and out["lyapunov_mean"] == "-inf"
    assert out["log_abs_eigenvalue_moments"] == {"1": "-inf", "2": "inf"}
    assert out["finite_moment_orders"] == "k < 1" and "-inf" in out["log_moments_reason"]
    assert "Infinity" not in res.stdout and "NaN" not in res.stdout
    assert out["lyapunov_spectrum_quantiles"]["0.5"] == pytest.approx(math.log(10) * q["0.5"])


def test_theory_stable_needs_alpha():
    res = run("theory", "--weights", "stable", "--population", "200")
    assert res.returncode == 2 and "alpha" in res.stderr
