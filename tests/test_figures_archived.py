"""figures/make_figures.py --archived: the Q tables drawn from sweep archives as they stand.

A tiny stand-in for the committed grid (one Cauchy law, N = 3, L = 1 and 2, two networks per
cell, a small finder budget) is archived one cell at a time; the tables must hold the finished
cells only and list the others as pending, and nothing may be computed or written into the
archive while they are drawn.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from validation import archive_checkpoint, run_sweep
from validation.sweep import fixed_point_cell

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def figures(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "figures" / "make_figures.py")
    mf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mf)
    for name, value in {"FP": tmp_path, "ARCHIVE": tmp_path / "sweeps", "KR_CACHE": tmp_path / "kr.json",
                        "Q_SWEEPS": [{"weights": "cauchy", "s": 1.0, "sigma_b": 0.5}], "Q_WIDTHS": (3,),
                        "Q_DEPTHS": (1, 2), "Q_NETS": 2, "Q_STARTS": 20, "Q_NEWTON": 10, "Q_LIFTED": 0,
                        "Q_BRANCHES": 0, "KR_SAMPLES": 200, "FROM_ARCHIVE": True}.items():
        monkeypatch.setattr(mf, name, value)
    return mf


def _archive_first_cell(mf, tmp_path):
    law = mf.Q_SWEEPS[0]
    name, cells, nets, kwargs = mf._q_sweep_setup(law, audit=False)
    run_sweep(fixed_point_cell, cells[:1], nets=nets, seed=mf.Q_SEED, checkpoint=tmp_path / "ck",
              workers=1, progress=False, **kwargs)
    archive_checkpoint(tmp_path / "ck", mf.ARCHIVE / name)
    return mf.ARCHIVE / name


def test_no_archive_leaves_every_cell_pending(figures, tmp_path):
    figures.q_completeness()
    report = json.loads((tmp_path / "q_completeness.json").read_text())
    assert report["rows"] == []
    assert report["pending"] == ["s=1 N=3 L=1 (0 of 2)", "s=1 N=3 L=2 (0 of 2)"]
    assert "Still running, left out: s=1 N=3 L=1 (0 of 2)" in (tmp_path / "q_completeness.md").read_text()


def test_finished_cells_are_drawn_and_the_rest_listed(figures, tmp_path):
    archive = _archive_first_cell(figures, tmp_path)
    before = {f.name: f.read_bytes() for f in archive.iterdir()}
    figures.q_completeness()
    figures.kac_rice_table()
    figures.q_curves()
    assert {f.name: f.read_bytes() for f in archive.iterdir()} == before
    assert not (tmp_path / "checkpoints").exists()              # no sweep was started
    for table in ("q_completeness", "cauchy_kac_rice"):
        report = json.loads((tmp_path / f"{table}.json").read_text())
        assert [(r["width"], r["depth"]) for r in report["rows"]] == [(3, 1)]
        assert report["pending"] == ["s=1 N=3 L=2 (0 of 2)"]
    curves = json.loads((tmp_path / "q_curves.json").read_text())["results"][0]
    assert [(r["width"], r["depth"]) for r in curves["rows"]] == [(3, 1)]
    assert (tmp_path / "q_curves.png").stat().st_size > 0


def test_an_audited_cell_is_judged_against_its_audited_estimate(figures, tmp_path, monkeypatch):
    from validation import audit_cell
    for name, value in {"AUDIT_WIDTH": 3, "AUDIT_DEPTHS": (1,), "AUDIT_NETS": 2}.items():
        monkeypatch.setattr(figures, name, value)
    _archive_first_cell(figures, tmp_path)
    law = figures.Q_SWEEPS[0]
    name, cells, nets, kwargs = figures._q_sweep_setup(law, audit=True)
    run_sweep(fixed_point_cell, cells, nets=nets, seed=figures.Q_SEED, checkpoint=tmp_path / "ck-audit",
              workers=1, progress=False, **kwargs)
    archive_checkpoint(tmp_path / "ck-audit", figures.ARCHIVE / name)
    figures.kac_rice_table()
    row, = json.loads((tmp_path / "cauchy_kac_rice.json").read_text())["rows"]
    sweep = figures.q_sweep(law).cells[0].records
    expected = audit_cell(sweep, figures.q_sweep(law, audit=True).cells[0].records)
    for key in ("q_all", "q_stable"):
        assert row[f"audited_{key}"] == {k: expected[key][k] for k in ("value", "stderr")}
        assert row[f"{key}_within_best"] == figures._bands_meet(row[f"kac_rice_{key}"], expected[key])
    table = (tmp_path / "cauchy_kac_rice.md").read_text()
    assert f"| {expected['q_all']['value']:.2f} ± {expected['q_all']['stderr']:.2f}" in table


def test_bands_meet_is_the_two_standard_error_overlap(figures):
    est = {"value": 3.0, "stderr": 0.25}
    assert figures._bands_meet(est, {"value": 6.0, "stderr": 1.25})          # 3.0 <= 2 * 1.5
    assert not figures._bands_meet(est, {"value": 6.1, "stderr": 1.25})
