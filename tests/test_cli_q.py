"""``esd fixed-points`` and ``esd predict-q``: JSON schema, ranges, checkpoints, errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from esd.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "esd", *args], capture_output=True, text=True,
                          timeout=300)


FP = ("fixed-points", "--activation", "tanh", "--weights", "cauchy", "--sigma-w", "1",
      "--sigma-b", "0.1", "--width", "8", "--nets", "4", "--starts", "100", "--seed", "3",
      "--workers", "1", "--json")


def test_fixed_points_json_has_one_object_per_depth(tmp_path, capsys):
    assert main([*FP, "--depth", "1:3", "--plot", str(tmp_path / "q.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["depth"] for r in out["results"]] == [1, 2, 3]
    for r in out["results"]:
        for key in ("q_stable", "q_all"):
            assert set(r[key]) >= {"mean", "median", "q10", "q90", "min", "max"}
            assert 1 <= r[key]["min"] <= r[key]["median"] <= r[key]["max"] or key == "q_stable"
        for key in ("p_multi", "periodic_fraction", "unresolved_fraction"):
            assert 0.0 <= r[key] <= 1.0
        assert r["n_networks"] == 4
    assert out["params"]["seed"] == 3
    assert (tmp_path / "q.png").stat().st_size > 0


def test_fixed_points_checkpoint_resumes_identically(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert main([*FP, "--depth", "1,2", "--checkpoint", ck]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*FP, "--depth", "1,2", "--checkpoint", ck]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["results"] == first["results"]
    # A different configuration must not reuse the directory.
    res = run(*[a if a != "100" else "50" for a in FP], "--depth", "1,2", "--checkpoint", ck)
    assert res.returncode == 2 and "checkpoint" in res.stderr.lower()


def test_fixed_points_status_reports_without_computing(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert main([*FP, "--depth", "1", "--checkpoint", ck]) == 0
    done = json.loads(capsys.readouterr().out)
    files = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert main([*FP, "--depth", "1,2", "--checkpoint", ck, "--status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["results"] == done["results"]
    assert status["pending"] == [{"width": 8, "depth": 2, "networks_finished": 0}]
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == files      # nothing computed
    assert main([*[a for a in FP if a != "--json"], "--depth", "1,2", "--checkpoint", ck, "--status"]) == 0
    assert "running: 0 of 4 networks" in capsys.readouterr().out
    seedless = [a for i, a in enumerate(FP) if a != "--seed" and FP[i - 1] != "--seed"]
    res = run(*seedless, "--depth", "1", "--checkpoint", ck, "--status")
    assert res.returncode == 2 and "--seed" in res.stderr


def test_homotopy_paths_reach_the_finder(capsys):
    # The N = 20, s = 3, L = 3 network of test_fixedpoints: Newton alone leaves index sum 0.
    base = ["fixed-points", "--activation", "sigmoid", "--weights", "cauchy", "--sigma-w", "60",
            "--sigma-b", "0.5", "--width", "20", "--depth", "3", "--nets", "2", "--starts", "100",
            "--seed", "0", "--workers", "1", "--json"]
    ok = []
    for paths in ("0", "64"):
        assert main([*base, "--homotopy-paths", paths]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["params"]["homotopy_paths"] == int(paths)
        ok.append(out["results"][0]["index_sum_ok"])
    assert ok[1] >= ok[0]
    res = run(*base, "--homotopy-paths", "-1")
    assert res.returncode == 2 and "homotopy-paths" in res.stderr


def test_gaussian_sigmoid_has_one_fixed_point_from_the_cli(capsys):
    args = ["fixed-points", "--activation", "sigmoid", "--sigma-w", "1.5", "--sigma-b", "0.5",
            "--width", "12", "--depth", "1,4", "--nets", "3", "--starts", "50", "--seed", "0",
            "--workers", "1", "--json"]
    assert main(args) == 0
    for r in json.loads(capsys.readouterr().out)["results"]:
        assert r["q_all"]["max"] == 1 and r["q_stable"]["min"] == 1 and r["p_multi"] == 0.0


def test_fixed_points_of_a_weights_file(tmp_path, capsys):
    # Coordinate-wise tanh(2x) in d = 3: 27 fixed points, 8 stable (docs/theory/fixed-points.md oracle).
    path = tmp_path / "net.npz"
    np.savez(path, W=2.0 * np.eye(3)[None], b=np.zeros((1, 3)))
    assert main(["fixed-points", "--activation", "tanh", "--weights-file", str(path),
                 "--starts", "400", "--seed", "1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["q_all"]["mean"] == 27 and row["q_stable"]["mean"] == 8


def test_predict_q_json_and_comparison(tmp_path, capsys):
    measured = tmp_path / "m.json"
    args = ["fixed-points", "--activation", "sigmoid", "--sigma-w", "1.5", "--sigma-b", "0.5",
            "--width", "10", "--depth", "1,3", "--nets", "3", "--starts", "50", "--seed", "0",
            "--workers", "1", "--json"]
    assert main(args) == 0
    measured.write_text(capsys.readouterr().out)
    assert main(["predict-q", "--activation", "sigmoid", "--sigma-w", "1.5", "--sigma-b", "0.5",
                 "--width", "10,20", "--depth", "1,3", "--measured", str(measured), "--json",
                 "--plot", str(tmp_path / "p.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["predictions"]) == 4
    assert {(p["width"], p["depth"]) for p in out["predictions"]} == {(10, 1), (20, 1), (10, 3), (20, 3)}
    for c in out["comparison"]:
        assert c["within_error_bars"]["contraction"] and c["within_error_bars"]["kac_rice"]
    assert (tmp_path / "p.png").stat().st_size > 0


def test_predict_q_heavy_one_cavity_solve_per_depth(tmp_path, capsys):
    assert main(["predict-q", "--activation", "sigmoid", "--weights", "cauchy", "--sigma-w", "6",
                 "--sigma-b", "0.5", "--width", "10,30", "--depth", "1", "--population", "200",
                 "--input-scales", "1,2", "--seed", "3", "--json",
                 "--plot", str(tmp_path / "h.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    a, b = out["predictions"]
    assert (a["width"], b["width"]) == (10, 30)
    # the rates are per unit: one solve serves both widths
    assert a["kac_rice"]["rate"] == b["kac_rice"]["rate"]
    assert [f["input_scale_over_gamma_star"] for f in a["kac_rice"]["family"]] == [1.0, 2.0]
    for key in ("kac_rice_fixed_point", "unstable_count_fixed_point"):
        assert a[key]["q_all"] >= 1.0
    assert (tmp_path / "h.png").stat().st_size > 0


@pytest.mark.parametrize("args, name", [
    (("predict-q", "--weights", "cauchy", "--input-scales", "1,-1"), "input-scales"),
    (("fixed-points", "--depth", "0:3"), "depth"),
    (("fixed-points", "--width", "a:b"), "width"),
    (("fixed-points", "--weights", "stable", "--depth", "1"), "alpha"),
    (("predict-q", "--weights", "stable"), "alpha"),
    (("predict-q", "--measured", "/nonexistent.json"), "measured"),
])
def test_bad_input_is_one_line_with_exit_2(args, name):
    res = run(*args)
    assert res.returncode == 2, res.stderr
    assert name in res.stderr and res.stderr.count("\n") == 1


def test_predict_q_kac_rice_mc_json_and_measured(tmp_path, capsys):
    base = ["--activation", "sigmoid", "--sigma-w", "1.5", "--sigma-b", "0.5", "--width", "6,8",
            "--depth", "1,2", "--seed", "0"]
    assert main(["fixed-points", *base, "--nets", "3", "--starts", "40", "--workers", "1",
                 "--json"]) == 0
    measured = tmp_path / "fp.json"
    measured.write_text(capsys.readouterr().out)
    assert main(["predict-q", "--method", "kac-rice-mc", *base, "--samples", "2000",
                 "--measured", str(measured), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["width"], r["depth"]) for r in out["predictions"]] == [(6, 1), (8, 1), (6, 2), (8, 2)]
    for r in out["predictions"]:
        for key in ("expected_q_all", "expected_q_stable", "index_mean"):
            assert set(r[key]) == {"value", "stderr"}
        assert abs(r["index_mean"]["value"] - 1.0) <= 3 * r["index_mean"]["stderr"] + 1e-9
        assert r["ess"] > 100 and r["ess_stable"] > 100 and r["reliable_stable"]
    assert all(c["within_error_bars"] for c in out["comparison"]) and len(out["comparison"]) == 4
    assert all(c["q_stable_within_error_bars"] for c in out["comparison"])
    assert main(["predict-q", "--method", "kac-rice-mc", *base, "--samples", "2000",
                 "--measured", str(measured)]) == 0
    text = capsys.readouterr().out
    assert "k stable" in text and text.count("Q_stable 1.000") == 4, text


def test_predict_q_kac_rice_mc_refuses_orthogonal_weights(capsys):
    assert main(["predict-q", "--method", "kac-rice-mc", "--weights", "orthogonal", "--json"]) == 2
    assert "orthogonal" in capsys.readouterr().err


def test_predict_q_all_judges_kac_rice_beside_the_theory(tmp_path, capsys):
    """--method all: the finite-N Kac-Rice estimate next to the large-N candidates, each
    judged against a measured Cauchy sweep."""
    base = ["--activation", "sigmoid", "--weights", "cauchy", "--sigma-w", "10", "--sigma-b", "1",
            "--width", "10", "--depth", "1", "--seed", "4"]
    assert main(["fixed-points", *base, "--nets", "30", "--starts", "200", "--json"]) == 0
    measured = tmp_path / "fp.json"
    measured.write_text(capsys.readouterr().out)
    assert main(["predict-q", "--method", "all", *base, "--samples", "4000", "--population", "200",
                 "--input-scales", "1", "--measured", str(measured), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,), (cmp,) = out["predictions"], out["comparison"]
    assert set(row["kac_rice_mc"]) >= {"expected_q_all", "expected_q_stable", "index_mean", "ess"}
    assert abs(row["kac_rice_mc"]["index_mean"]["value"] - 1) <= 3 * row["kac_rice_mc"]["index_mean"]["stderr"]
    assert {"kac_rice", "unstable_count", "kac_rice_mc"} <= set(cmp["within_error_bars"])
    assert cmp["within_error_bars"]["kac_rice_mc"], cmp


def test_fixed_points_lifted_paths_of_a_weights_file(tmp_path, capsys):
    # the N = 10, L = 8 Cauchy network of tests/test_fplifted.py whose 4th point only a
    # lifted path finds; here the finder's index sum is 1, so Phase 4 does not run, and
    # the row says which points came from it (none)
    from validation.sampling import sample_network
    net = sample_network("sigmoid", "cauchy", 30.0, 0.5, 8, 10, rng=np.random.default_rng([5, 10, 8, 8]))
    path = tmp_path / "net.npz"
    np.savez(path, W=net.W, b=net.b)
    assert main(["fixed-points", "--activation", "sigmoid", "--weights-file", str(path),
                 "--starts", "300", "--newton-starts", "200", "--seed", "1", "--lifted-paths", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = out["results"]
    assert len(row["lifted"]) == len(row["index"]) == row["q_all"]["mean"]
    assert out["params"]["lifted_paths"] == 2 and out["params"]["lifted_steps"] == 15000


def test_fixed_points_lifted_paths_in_a_sweep(capsys):
    assert main([*FP, "--depth", "2", "--lifted-paths", "1", "--lifted-steps", "500",
                 "--lifted-branches", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["lifted_paths"] == 1 and out["params"]["lifted_branches"] == 3
    assert out["results"][0]["index_sum_ok"] >= 0.0
    assert main([*FP, "--depth", "2", "--lifted-paths", "1", "--lifted-steps", "500", "--lifted-exhaust"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["lifted_exhaust"] is True
    assert main([*FP, "--depth", "2", "--lifted-exhaust"]) == 2
    assert "--lifted-branches or --lifted-paths" in capsys.readouterr().err
