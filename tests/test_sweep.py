"""Sweeps and Q statistics (validation/sweep.py, validation/qstats.py).

Statistics against hand-computed values; grids and ranges; seeds that depend only on
(seed, cell, network); checkpoints that resume to the uninterrupted result (after an
exception, after SIGKILL, with a grown grid) and refuse damaged or foreign files; the
same records serially, on a process pool and on Dask. The cell functions are cheap
stand-ins (``toy_cell``), never the real fixed-point finder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from esd.exceptions import BackendUnavailable, InvalidParameter
from validation import cells
from validation.qstats import q_statistics, summarize, wilson_interval
from validation.cells import cell_id, make_grid, network_seed, parse_range
from validation.checkpoint import (CheckpointError, CorruptedCheckpoint, ForeignCheckpoint, archive_checkpoint,
                                  restore_checkpoint)
from validation.sweep import fixed_point_cell, load_sweep, run_sweep

CELLS = make_grid(width=[4, 16], weights=["cauchy", "gaussian"])
NETS = 5
SEED = 20240611
# (cell id, network index) at which toy_cell raises; set by a test, read in-process
# (serial runs only).
FAIL_AT = None


def toy_cell(cell, net_index, seed_seq, *, starts=10):
    """A stand-in for fixed_point_cell: a fixed-point-like record drawn from the seed."""
    if FAIL_AT == (cell_id(cell), net_index):
        raise RuntimeError("injected failure")
    rng = np.random.default_rng(seed_seq)
    q = 1 + int(rng.poisson(cell["width"] / 8))
    periodic = float(rng.random() / 10)
    return {"q_stable": q, "q_all": q + int(rng.poisson(1)), "index_sum": 1 if rng.random() < 0.9 else -1,
            "periods": [2] if periodic > 0.05 else [], "periodic_fraction": periodic,
            "unresolved_fraction": float(rng.random() / 20), "u": float(rng.random()), "starts": starts}


def slow_cell(cell, net_index, seed_seq, *, starts=10):
    """toy_cell, slowly: leaves time to kill a sweep between networks."""
    time.sleep(0.05)
    return toy_cell(cell, net_index, seed_seq, starts=starts)


def versioned_cell(cell, net_index, seed_seq, *, starts=10):
    return toy_cell(cell, net_index, seed_seq, starts=starts)


def _records(result):
    return [list(c.records) for c in result.cells]


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted serial sweep every other run must reproduce."""
    return run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False)


# -- qstats ---------------------------------------------------------------------------------
def test_summarize_known_values():
    s = summarize([9, 1, 8, 2, 7, 3, 6, 4, 5], rng=0)
    # Linear quantiles of 1..9: position 0.1 * 8 = 0.8 -> 1.8, 0.9 * 8 = 7.2 -> 8.2.
    assert (s["n"], s["mean"], s["median"], s["min"], s["max"]) == (9, 5.0, 5.0, 1.0, 9.0)
    assert s["q10"] == pytest.approx(1.8) and s["q90"] == pytest.approx(8.2)
    assert s["mean_ci"][0] < 5.0 < s["mean_ci"][1] and s["median_ci"][0] <= 5.0 <= s["median_ci"][1]
    assert summarize([3.0], rng=0)["mean_ci"] == [3.0, 3.0]
    assert summarize([1, 5, 2], rng=4) == summarize([1, 5, 2], rng=4)  # seeded bootstrap
    json.dumps(s)


def test_bootstrap_interval_covers_the_true_mean():
    rng = np.random.default_rng(7)
    s = summarize(rng.exponential(1.0, 400), rng=1, level=0.9)
    assert s["mean_ci"][0] < 1.0 < s["mean_ci"][1]
    assert s["median_ci"][0] < math.log(2) < s["median_ci"][1]
    # Coverage over repeated samples is near the nominal 90% (percentile bootstrap runs
    # a little under it at n = 40 for a skewed law).
    covered = [lo < 1.0 < hi for lo, hi in
               (summarize(rng.exponential(1.0, 40), rng=rng, n_boot=400)["mean_ci"] for _ in range(200))]
    assert 0.80 <= np.mean(covered) <= 0.96


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10, 0.95) == [0.0, pytest.approx(0.27753, abs=1e-5)]
    assert wilson_interval(10, 10, 0.95) == [pytest.approx(0.72247, abs=1e-5), 1.0]
    lo, hi = wilson_interval(5, 10, 0.9)
    assert lo + hi == pytest.approx(1.0) and lo == pytest.approx(0.26927, abs=1e-5)


def test_q_statistics_counts():
    records = [{"q_stable": q, "q_all": q + 2, "index_sum": s, "periods": [], "periodic_fraction": p,
                "unresolved_fraction": 0.0}
               for q, s, p in [(1, 1, 0.0), (2, 1, 0.2), (3, None, 0.1), (1, -1, 0.1)]]
    st = q_statistics(records, rng=0)
    assert st["n_networks"] == 4
    assert st["q_stable"]["median"] == 1.5 and st["q_all"]["mean"] == 3.75
    assert st["p_multi"]["k"] == 2 and st["p_multi"]["value"] == 0.5
    assert st["index_sum_ok"]["k"] == 2  # None and -1 fail the check
    assert st["periodic_fraction"]["value"] == pytest.approx(0.1)
    assert st["unresolved_fraction"] == {"value": 0.0, "ci": [0.0, 0.0], "method": "bootstrap"}
    assert q_statistics(records, rng=3) == q_statistics(records, rng=3)
    json.dumps(st)


@pytest.mark.parametrize("records, name", [
    ([], "records"),
    ({"q_stable": 1}, "records"),
    ([{"q_stable": 1}], "records[0]"),
    ([{"q_stable": 1, "q_all": 1, "index_sum": 1, "periodic_fraction": 1.5, "unresolved_fraction": 0}],
     "records[0]['periodic_fraction']"),
    ([{"q_stable": -1, "q_all": 1, "index_sum": 1, "periodic_fraction": 0, "unresolved_fraction": 0}],
     "records[0]['q_stable']"),
    ([{"q_stable": 1, "q_all": math.inf, "index_sum": 1, "periodic_fraction": 0, "unresolved_fraction": 0}],
     "records[0]['q_all']"),
    ([{"q_stable": 1, "q_all": 1, "index_sum": 0.5, "periodic_fraction": 0, "unresolved_fraction": 0}],
     "records[0]['index_sum']"),
])
def test_q_statistics_rejects_bad_records(records, name):
    with pytest.raises(InvalidParameter) as info:
        q_statistics(records)
    assert info.value.name == name


@pytest.mark.parametrize("kwargs, name", [({"values": []}, "values"), ({"values": [1, np.nan]}, "values"),
                                          ({"values": [[1, 2]]}, "values"), ({"values": [1], "level": 1.0}, "level"),
                                          ({"values": [1], "n_boot": 0}, "n_boot")])
def test_summarize_rejects_bad_input(kwargs, name):
    with pytest.raises(InvalidParameter) as info:
        summarize(**kwargs)
    assert info.value.name == name


# -- grids --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("1:64", list(range(1, 65))),
    ("1:64:4", list(range(1, 65, 4))),
    ("64:1:-21", [64, 43, 22, 1]),
    ("1,2,5", [1, 2, 5]),
    (" 7 ", [7]),
    ("0.1:0.3:0.1", [0.1, 0.2, 0.3]),
    ("0.5,1,2.5", [0.5, 1.0, 2.5]),
    ("1:2:0.5", [1.0, 1.5, 2.0]),
])
def test_parse_range(text, expected):
    values = parse_range(text)
    assert values == expected and [type(v) for v in values] == [type(v) for v in expected]


@pytest.mark.parametrize("text", ["", "a:3", "1:2:0", "5:1", "1:2:3:4", "1,2:3", "1,1", "nan", "1:inf", None, 3])
def test_parse_range_errors_name_the_option(text):
    with pytest.raises(InvalidParameter) as info:
        parse_range(text, name="--widths")
    assert info.value.name == "--widths" and "--widths" in str(info.value)


def test_make_grid():
    grid = make_grid(width=parse_range("8,16"), depth=range(1, 4), weights="cauchy", alpha=None)
    assert len(grid) == 6 and grid[0] == {"width": 8, "depth": 1, "weights": "cauchy", "alpha": None}
    assert [(c["width"], c["depth"]) for c in grid[:4]] == [(8, 1), (8, 2), (8, 3), (16, 1)]
    assert make_grid(sigma_w=[[1.0, 2.0]]) == [{"sigma_w": [1.0, 2.0]}]
    for axes, name in [({"width": []}, "width"), ({"depth": [1, 1]}, "depth"), ({"law": {"a": 1}}, "law"),
                       ({}, "axes")]:
        with pytest.raises(InvalidParameter) as info:
            make_grid(**axes)
        assert info.value.name == name


# -- seeds --------------------------------------------------------------------------------------
def test_network_seed_depends_only_on_seed_cell_and_index():
    cell = {"width": 8, "sigma_w": 1.5}
    same = {"sigma_w": np.float64(1.5), "width": np.int64(8)}  # key order and NumPy types do not matter
    draw = lambda ss: np.random.default_rng(ss).random(4)  # noqa: E731
    np.testing.assert_array_equal(draw(network_seed(1, cell, 3)), draw(network_seed(1, same, 3)))
    others = [network_seed(2, cell, 3), network_seed(1, cell, 4), network_seed(1, {**cell, "width": 9}, 3)]
    assert all(not np.array_equal(draw(network_seed(1, cell, 3)), draw(ss)) for ss in others)


def test_results_independent_of_grid_order_and_seeded(reference):
    shuffled = run_sweep(toy_cell, CELLS[::-1], nets=NETS, seed=SEED, workers=1, progress=False)
    assert _records(shuffled)[::-1] == _records(reference)
    assert shuffled.statistics[::-1] == reference.statistics
    other = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED + 1, workers=1, progress=False)
    assert _records(other) != _records(reference)


def test_to_dict_is_json_and_carries_the_config(reference):
    d = json.loads(json.dumps(reference.to_dict()))
    assert d["config"]["seed"] == SEED and d["config"]["nets"] == NETS and d["config"]["cells"] == CELLS
    assert d["config"]["cell_fn"] == f"{toy_cell.__module__}:toy_cell" and "esd_version" in d["config"]
    assert [len(c["records"]) for c in d["cells"]] == [NETS] * len(CELLS)
    assert d["cells"][0]["statistics"]["n_networks"] == NETS
    assert "records" not in reference.to_dict(records=False)["cells"][0]


# -- backends ---------------------------------------------------------------------------------
def test_process_pool_gives_the_serial_records(reference, tmp_path):
    pooled = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=2, progress=False, checkpoint=tmp_path)
    assert pooled == reference and pooled.to_dict() == reference.to_dict()


def test_dask_gives_the_serial_records(reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        by_client = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, scheduler=client, progress=False)
        by_address = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, scheduler=cluster.scheduler_address,
                               progress=False)
        assert client.status == "running"  # a Client passed in is left open
    assert by_client == reference and by_address == reference


def test_local_dask_cluster_of_processes(reference):
    pytest.importorskip("distributed")
    local = run_sweep(toy_cell, CELLS[:1], nets=NETS, seed=SEED, scheduler="local", workers=2, progress=False)
    assert _records(local) == _records(reference)[:1]


def test_missing_dask_raises_backend_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(BackendUnavailable, match=r"pip install esd\[distributed\]"):
        run_sweep(toy_cell, CELLS, nets=1, seed=0, scheduler="local", progress=False)


# -- checkpoints: resume ----------------------------------------------------------------------
def test_resume_after_an_exception(reference, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[2]), 3))
    with pytest.raises(RuntimeError, match="injected failure") as info:
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert "network 3 of the sweep cell" in "".join(getattr(info.value, "__notes__", []))
    # Cells 0 and 1 are finished, networks 0-2 of cell 2 are journalled.
    assert sorted(p.name for p in tmp_path.glob("cell-*.json")) == sorted(
        f"cell-{cell_id(c)}.json" for c in CELLS[:2])
    journal = tmp_path / f"cell-{cell_id(CELLS[2])}.partial.jsonl"
    assert len(journal.read_text().splitlines()) == 3

    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    resumed = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert resumed == reference and resumed.computed == len(CELLS) * NETS - 2 * NETS - 3
    assert not journal.exists() and len(list(tmp_path.glob("cell-*.json"))) == len(CELLS)
    again = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert again == reference and again.computed == 0


def test_resume_after_sigkill(reference, tmp_path):
    script = ("import sys; sys.path[:0] = sys.argv[1].split('|'); import importlib\n"
              "from validation.sweep import run_sweep\n"
              "m = importlib.import_module(sys.argv[2])\n"
              "run_sweep(m.slow_cell, m.CELLS, nets=m.NETS, seed=m.SEED, checkpoint=sys.argv[3], workers=2,"
              " progress=False)\n")
    here = Path(__file__).resolve().parent  # tests/, and the repository holding validation/
    proc = subprocess.Popen([sys.executable, "-c", script, f"{here.parent}|{here}", slow_cell.__module__,
                             str(tmp_path)], start_new_session=True)  # its own group: the pool dies with it
    try:
        deadline = time.monotonic() + 20
        while not (any(tmp_path.glob("cell-*.json")) and any(tmp_path.glob("cell-*.partial.jsonl"))):
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before it was killed"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = len(list(tmp_path.glob("cell-*.json")))
    # Networks journalled for unfinished cells (a finished cell's journal may outlive it
    # if the kill fell between the two writes); a line counts once it has its newline.
    journalled = sum(p.read_bytes().count(b"\n") for p in tmp_path.glob("cell-*.partial.jsonl")
                     if not p.with_name(p.name.replace(".partial.jsonl", ".json")).exists())
    assert finished < len(CELLS)

    resumed = run_sweep(slow_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert _records(resumed) == _records(reference) and resumed.statistics == reference.statistics
    assert resumed.computed == len(CELLS) * NETS - finished * NETS - journalled


def test_load_sweep_reads_finished_cells_and_lists_pending(reference, tmp_path, monkeypatch):
    """load_sweep computes and writes nothing: the finished cells equal the full sweep's,
    the cell in progress is pending with its journalled count, untouched cells with 0; a
    foreign config and a directory without a sweep are refused."""
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[2]), 3))
    with pytest.raises(RuntimeError):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    loaded = load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, checkpoint=tmp_path)
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == before
    assert loaded.cells == reference.cells[:2] and loaded.computed == 0
    assert loaded.statistics == reference.statistics[:2]
    assert loaded.pending == ((CELLS[2], 3), (CELLS[3], 0))
    assert loaded.to_dict(records=False)["pending"][0] == {"cell": CELLS[2], "networks_finished": 3}
    assert reference.to_dict(records=False)["pending"] == []
    full = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, checkpoint=tmp_path).cells == full.cells
    with pytest.raises(ForeignCheckpoint, match="seed"):
        load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED + 1, checkpoint=tmp_path)
    with pytest.raises(CheckpointError, match="no manifest.json"):
        load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, checkpoint=tmp_path / "empty")


def test_load_sweep_reads_a_checkpoint_a_live_sweep_writes(reference, tmp_path, monkeypatch):
    """With the writer's exclusive lock held and a torn last journal line (a line being
    written), load_sweep reads the finished cells and the complete journal lines."""
    fcntl = pytest.importorskip("fcntl")
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[1]), 2))
    with pytest.raises(RuntimeError):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    journal = tmp_path / f"cell-{cell_id(CELLS[1])}.partial.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"net": 2, "rec')
    with open(tmp_path / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CheckpointError, match="in use"):   # a second writer is still refused
            run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
        loaded = load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, checkpoint=tmp_path)
    assert loaded.cells == reference.cells[:1]
    assert [k for _, k in loaded.pending] == [2, 0, 0]
    assert journal.read_bytes().endswith(b'{"net": 2, "rec')      # the reader truncated nothing


def test_grown_grid_reuses_finished_cells(reference, tmp_path):
    first = run_sweep(toy_cell, CELLS[:2], nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert _records(first) == _records(reference)[:2]
    grown = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert grown == reference and grown.computed == 2 * NETS
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["cells"] == CELLS and manifest["config"]["seed"] == SEED


def test_on_record_sees_each_computed_network_once_it_is_stored(reference, tmp_path):
    """on_record runs after the network is in the checkpoint, for computed networks only
    (a resumed sweep does not replay the loaded ones); an exception from it stops the sweep."""
    seen = []

    def on_record(cell, i, record):
        stored = sum(p.read_text().count("\n") for p in tmp_path.glob("cell-*.partial.jsonl"))
        stored += NETS * len(list(tmp_path.glob("cell-*.json")))
        seen.append((cell_id(cell), i, record, stored))

    first = run_sweep(toy_cell, CELLS[:2], nets=NETS, seed=SEED, workers=1, progress=False,
                      checkpoint=tmp_path, on_record=on_record)
    assert [(c, i, r) for c, i, r, _ in seen] == [(c.cell_id, i, r) for c in first.cells
                                                 for i, r in enumerate(c.records)]
    assert [n for *_, n in seen] == list(range(1, 2 * NETS + 1))
    seen.clear()
    grown = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False,
                      checkpoint=tmp_path, on_record=on_record)
    assert grown == reference and len(seen) == grown.computed == (len(CELLS) - 2) * NETS
    assert {c for c, *_ in seen} == {cell_id(c) for c in CELLS[2:]}

    def refuse(cell, i, record):
        raise RuntimeError("callback failed")
    with pytest.raises(RuntimeError, match="callback failed"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False,
                  checkpoint=tmp_path / "other", on_record=refuse)
    assert len((tmp_path / "other" / f"cell-{cell_id(CELLS[0])}.partial.jsonl").read_text().splitlines()) == 1


# -- checkpoints: archives ----------------------------------------------------------------------
def test_archive_restores_a_sweep_in_a_new_directory(reference, tmp_path, monkeypatch):
    """A half-finished sweep, archived and restored elsewhere, resumes where it stopped;
    archiving again rewrites only what changed and drops the journal of a finished cell."""
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[2]), 3))
    with pytest.raises(RuntimeError):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path / "a")
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    archive = tmp_path / "archive"
    assert archive_checkpoint(tmp_path / "a", archive) == 4           # manifest, 2 cells, 1 journal
    first = {f.name: f.read_bytes() for f in archive.iterdir()}
    assert archive_checkpoint(tmp_path / "a", archive) == 0           # same bytes: nothing rewritten
    assert restore_checkpoint(archive, tmp_path / "b") == 4
    resumed = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path / "b")
    assert resumed == reference and resumed.computed == len(CELLS) * NETS - 2 * NETS - 3
    assert archive_checkpoint(tmp_path / "b", archive) == 2           # the manifest is the same; 2 new cells
    names = sorted(f.name for f in archive.iterdir())
    assert not any("partial" in n for n in names) and len(names) == len(CELLS) + 1
    assert all(first[n] == (archive / n).read_bytes() for n in first if "partial" not in n and "manifest" not in n)
    assert restore_checkpoint(archive, tmp_path / "b") == 0           # holds a sweep already: left alone
    assert restore_checkpoint(tmp_path / "nothing", tmp_path / "c") == 0


def test_archive_errors(tmp_path):
    with pytest.raises(InvalidParameter, match="checkpoint"):
        archive_checkpoint(tmp_path, tmp_path / "archive")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "manifest.json.gz").write_bytes(b"not gzip")
    with pytest.raises(CorruptedCheckpoint, match="decompressed"):
        restore_checkpoint(tmp_path / "archive", tmp_path / "out")
    archived = _finished_checkpoint(tmp_path / "ok")
    archive_checkpoint(tmp_path / "ok", tmp_path / "good")
    damaged = tmp_path / "good" / f"{archived.name}.gz"
    import gzip
    damaged.write_bytes(gzip.compress(archived.read_bytes().replace(b'"q_all"', b'"q_al1"'), mtime=0))
    restore_checkpoint(tmp_path / "good", tmp_path / "restored")
    with pytest.raises(CorruptedCheckpoint, match="checksum"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path / "restored")


# -- checkpoints: refusal -----------------------------------------------------------------------
def _finished_checkpoint(path):
    run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=path)
    return path / f"cell-{cell_id(CELLS[1])}.json"


@pytest.mark.parametrize("damage", ["flip a digit", "truncate", "empty", "not json"])
def test_corrupted_cell_file_is_rejected(tmp_path, damage):
    file = _finished_checkpoint(tmp_path)
    text = file.read_text()
    if damage == "flip a digit":
        k = text.index('"q_stable":') + len('"q_stable":')
        text = text[:k] + str((int(text[k]) + 1) % 10) + text[k + 1:]
    elif damage == "truncate":
        text = text[: len(text) // 2]
    elif damage == "empty":
        text = ""
    else:
        text = "[1, 2]"
    file.write_text(text)
    with pytest.raises(CorruptedCheckpoint, match=file.name):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)


def test_checksum_failure_message(tmp_path):
    file = _finished_checkpoint(tmp_path)
    file.write_text(file.read_text().replace('"u":0.', '"u":1.', 1))
    with pytest.raises(CorruptedCheckpoint, match="fails its checksum"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)


def test_damaged_journal_line_rejected_torn_last_line_dropped(reference, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[0]), 4))
    with pytest.raises(RuntimeError):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    journal = tmp_path / f"cell-{cell_id(CELLS[0])}.partial.jsonl"
    lines = journal.read_bytes().split(b"\n")
    assert len(lines) == 5 and lines[-1] == b""

    # A crash mid-write leaves a last line without its newline: dropped, recomputed.
    journal.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:20])
    resumed = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path,
                        overwrite=False)
    assert resumed == reference and resumed.computed == len(CELLS) * NETS - 3

    # A damaged line inside the journal is refused.
    other = tmp_path / "other"
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", (cell_id(CELLS[0]), 4))
    with pytest.raises(RuntimeError):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=other)
    monkeypatch.setattr(sys.modules[__name__], "FAIL_AT", None)
    journal = other / journal.name
    journal.write_bytes(journal.read_bytes().replace(b'"u":0.', b'"u":1.', 1))
    with pytest.raises(CorruptedCheckpoint, match=r"line 1 fails its checksum"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=other)


@pytest.mark.parametrize("change, key", [({"nets": NETS + 1}, "nets"), ({"seed": SEED + 1}, "seed"),
                                         ({"starts": 11}, "cell_kwargs"), ({"cell_fn": versioned_cell}, "cell_fn")])
def test_foreign_checkpoint_is_rejected(reference, tmp_path, change, key):
    _finished_checkpoint(tmp_path)
    kwargs = {"nets": NETS, "seed": SEED, "workers": 1, "progress": False, "checkpoint": tmp_path}
    change = dict(change)
    cell_fn = change.pop("cell_fn", toy_cell)
    kwargs.update(change)
    with pytest.raises(ForeignCheckpoint, match=f"another sweep.*{key} is") as info:
        run_sweep(cell_fn, CELLS, **kwargs)
    assert "overwrite=True" in str(info.value)
    fresh = run_sweep(cell_fn, CELLS, overwrite=True, **kwargs)
    assert fresh.computed == len(CELLS) * kwargs["nets"]
    assert fresh == run_sweep(cell_fn, CELLS, **{**kwargs, "checkpoint": None})


def test_cell_function_version_enters_the_config(tmp_path, monkeypatch):
    monkeypatch.setattr(versioned_cell, "version", 1, raising=False)
    run_sweep(versioned_cell, CELLS, nets=1, seed=0, workers=1, progress=False, checkpoint=tmp_path)
    monkeypatch.setattr(versioned_cell, "version", 2)
    with pytest.raises(ForeignCheckpoint, match="cell_fn_version is 1 there, 2 here"):
        run_sweep(versioned_cell, CELLS, nets=1, seed=0, workers=1, progress=False, checkpoint=tmp_path)


def test_cell_file_from_another_sweep_is_rejected(tmp_path):
    file = _finished_checkpoint(tmp_path / "a")
    run_sweep(toy_cell, CELLS[:1], nets=NETS, seed=SEED + 1, workers=1, progress=False, checkpoint=tmp_path / "b")
    (tmp_path / "b" / file.name).write_bytes(file.read_bytes())
    with pytest.raises(ForeignCheckpoint, match="written by another sweep"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED + 1, workers=1, progress=False, checkpoint=tmp_path / "b")


def test_cell_files_without_manifest_are_rejected(tmp_path):
    _finished_checkpoint(tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(CorruptedCheckpoint, match="no manifest"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)


def test_edited_manifest_is_rejected(tmp_path):
    _finished_checkpoint(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["config"]["nets"] = NETS + 1  # edited by hand to pass as another sweep
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptedCheckpoint, match="manifest.json fails its checksum"):
        run_sweep(toy_cell, CELLS, nets=NETS + 1, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)


def test_checkpoint_in_use_is_rejected(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    with open(tmp_path / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CheckpointError, match="in use"):
            run_sweep(toy_cell, CELLS, nets=1, seed=0, workers=1, progress=False, checkpoint=tmp_path)


# -- checkpoints: atomic writes -----------------------------------------------------------------
def test_failed_write_leaves_no_cell_file(reference, tmp_path, monkeypatch):
    real_replace = os.replace

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    # The manifest is the first file written: nothing, not even a temporary file, is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]

    monkeypatch.setattr(os, "replace", real_replace)
    file = _finished_checkpoint(tmp_path)
    # A writer killed between writing its temporary file and renaming it leaves the
    # temporary file: it is never read as a cell, and it is cleared.
    file.unlink()
    (tmp_path / f".tmp-x1y2-{file.name}").write_text(reference.to_dict()["config"]["format"])
    resumed = run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    assert resumed == reference and resumed.computed == NETS
    assert not list(tmp_path.glob(".tmp-*"))
    for cell_file in tmp_path.glob("cell-*.json"):  # every file written is complete and verifies
        data = json.loads(cell_file.read_text())
        payload = {k: v for k, v in data.items() if k != "checksum"}
        assert cells._sha256(cells.canonical_json(payload)) == data["checksum"]


# -- argument errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, name", [
    ((lambda c, i, s: {}, CELLS), {}, "cell_fn"),
    ((toy_cell, []), {}, "cells"),
    ((toy_cell, {"width": 4}), {}, "cells"),
    ((toy_cell, [CELLS[0], dict(CELLS[0])]), {}, "cells[1]"),
    ((toy_cell, [{"width": object()}]), {}, "cells[0]"),
    ((toy_cell, CELLS), {"nets": 0}, "nets"),
    ((toy_cell, CELLS), {"seed": -1}, "seed"),
    ((toy_cell, CELLS), {"workers": 0}, "workers"),
    ((toy_cell, CELLS), {"scheduler": "somewhere"}, "scheduler"),
    ((toy_cell, CELLS), {"scheduler": "tcp://127.0.0.1:1", "workers": 2}, "workers"),
    ((toy_cell, CELLS), {"starts": object()}, "cell_kwargs"),
    ((toy_cell, CELLS), {"on_record": "archive"}, "on_record"),
])
def test_invalid_arguments(args, kwargs, name):
    kwargs = {"nets": 1, "seed": 0, "progress": False, **kwargs}
    with pytest.raises(InvalidParameter) as info:
        run_sweep(*args, **kwargs)
    assert info.value.name == name


def test_checkpoint_must_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidParameter, match="must be a directory"):
        run_sweep(toy_cell, CELLS, nets=1, seed=0, progress=False, checkpoint=tmp_path / "file")


def test_fixed_point_cell_validates_its_cell():
    # Raised before find_fixed_points is imported.
    with pytest.raises(InvalidParameter, match=r"missing \['sigma_b'.*unknown \['N'\]"):
        fixed_point_cell({"activation": "tanh", "weights": "cauchy", "sigma_w": 1.0, "N": 4},
                         0, network_seed(0, {}, 0))


def test_load_sweep_sees_a_cell_finished_between_its_two_reads(reference, tmp_path, monkeypatch):
    """A writer that finishes a cell (cell file written, then journal dropped) after the reader
    found no cell file still gives the reader the whole cell, not an empty journal."""
    from validation import checkpoint
    run_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, workers=1, progress=False, checkpoint=tmp_path)
    cell_file = tmp_path / f"cell-{cell_id(CELLS[0])}.json"
    aside = cell_file.rename(tmp_path / "aside")
    read_journal = checkpoint._Checkpoint._read_journal

    def finished_meanwhile(self, cid):
        if cid == cell_id(CELLS[0]) and aside.exists():
            aside.rename(cell_file)
        return read_journal(self, cid)
    monkeypatch.setattr(checkpoint._Checkpoint, "_read_journal", finished_meanwhile)
    loaded = load_sweep(toy_cell, CELLS, nets=NETS, seed=SEED, checkpoint=tmp_path)
    assert loaded.cells == reference.cells and loaded.pending == ()
