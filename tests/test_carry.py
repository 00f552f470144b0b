"""Carrying an older sweep's records into a new version's checkpoint (validation/carry.py)."""

from __future__ import annotations

import numpy as np
import pytest

from esd.exceptions import InvalidParameter
from validation import carry_checkpoint, run_sweep
from validation.cells import make_grid, network_seed
from validation.checkpoint import ForeignCheckpoint
from validation.sweep import _carry_fixed_point_record, fixed_point_cell

CELLS = make_grid(width=[4, 16], weights=["cauchy", "gaussian"])
NETS, SEED = 5, 77


def old_cell(cell, net_index, seed_seq, *, starts=10):
    rng = np.random.default_rng(seed_seq)
    return {"q_all": int(rng.poisson(cell["width"] / 4)), "odd": net_index % 2, "starts": starts}


def new_cell(cell, net_index, seed_seq, *, starts=10):
    """old_cell with a new field; it changes the records of odd networks only."""
    record = old_cell(cell, net_index, seed_seq, starts=starts)
    return {**record, "q_all": record["q_all"] + record["odd"], "new": True}


def _carry(record, source_config, cell_kwargs):
    return None if record["odd"] else {**record, "new": True}


new_cell.carry = _carry


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A finished old sweep, then the new cell function under the old one's name (version 2)."""
    path = tmp_path / "v1"
    monkeypatch.setattr(old_cell, "version", 1, raising=False)
    run_sweep(old_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=path)
    monkeypatch.setattr(new_cell, "__qualname__", "old_cell")
    monkeypatch.setattr(new_cell, "version", 2, raising=False)
    return path


def test_carried_records_and_recomputed_rest_give_the_fresh_sweep(source, tmp_path):
    before = {f.name: f.read_bytes() for f in source.iterdir()}
    counts = carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=SEED)
    evens = (NETS + 1) // 2
    assert counts == {"carried": evens * len(CELLS), "recompute": (NETS - evens) * len(CELLS), "present": 0}
    assert {f.name: f.read_bytes() for f in source.iterdir()} == before      # the source is only read
    resumed = run_sweep(new_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False,
                        checkpoint=tmp_path / "v2")
    fresh = run_sweep(new_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False)
    assert resumed == fresh and resumed.computed == (NETS - evens) * len(CELLS)
    again = carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=SEED)
    assert again == {"carried": 0, "recompute": 0, "present": NETS * len(CELLS)}


def test_a_cell_carried_whole_is_written_as_a_cell_file(source, tmp_path, monkeypatch):
    monkeypatch.setattr(new_cell, "carry", lambda record, config, kwargs: {**record, "new": True})
    counts = carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=SEED)
    assert counts["carried"] == NETS * len(CELLS)
    assert len(list((tmp_path / "v2").glob("cell-*.json"))) == len(CELLS)
    assert not list((tmp_path / "v2").glob("*.partial.jsonl"))


def test_carry_refuses_what_it_cannot_trust(source, tmp_path, monkeypatch):
    with pytest.raises(ForeignCheckpoint, match="seed is 77 there, 78 here"):
        carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=78)
    with pytest.raises(ForeignCheckpoint, match="nets"):
        carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS + 1, seed=SEED)
    monkeypatch.setattr(new_cell, "version", 1)
    with pytest.raises(InvalidParameter, match="source"):
        carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=SEED)
    monkeypatch.delattr(new_cell, "carry")
    with pytest.raises(InvalidParameter, match="carry"):
        carry_checkpoint(source, tmp_path / "v2", new_cell, CELLS, nets=NETS, seed=SEED)


def test_fixed_point_records_carried_from_version_6_are_what_version_7_computes():
    """Records of Cauchy s = 3, N = 10, L = 6 networks under the version-6 finder (Phase 4 =
    random lifted paths only; its records lack lifted_branches): where Phase 4 did not run
    and the index sum is 1, the carried record is the version-7 record with branch tracing
    on; every other record is refused."""
    cell = {"activation": "sigmoid", "weights": "cauchy", "sigma_w": 30.0, "sigma_b": 0.5, "width": 10,
            "depth": 6}
    old_kwargs = {"starts": 100, "newton_starts": 50, "homotopy_paths": 0, "lifted_paths": 1}
    new_kwargs = {**old_kwargs, "lifted_branches": 4}
    source = {"cell_fn_version": 6, "cell_kwargs": old_kwargs}
    carried = refused = 0
    for i in range(6):
        seq = network_seed(3, cell, i)
        old = fixed_point_cell(cell, i, seq, **old_kwargs)
        old.pop("lifted_branches")
        old["params"].pop("lifted_branches")
        new = fixed_point_cell(cell, i, seq, **new_kwargs)
        got = _carry_fixed_point_record(old, source, new_kwargs)
        if old["lifted_paths"] == 0 and old["index_sum"] == 1:
            assert got == new
            carried += 1
        else:
            assert got is None
            refused += 1
    assert carried >= 3
    phase4 = {**old, "lifted_paths": 2}
    assert _carry_fixed_point_record(phase4, source, new_kwargs) is None
    assert _carry_fixed_point_record(old, {**source, "cell_fn_version": 4}, new_kwargs) is None
    assert _carry_fixed_point_record(old, source, {**new_kwargs, "starts": 99}) is None
