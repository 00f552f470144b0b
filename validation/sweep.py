"""Sweeps over grids of cells: deterministic seeds, checkpoints, local or Dask execution.

A **cell** is a dict of parameters (e.g. ``{"activation": "tanh", "weights": "cauchy",
"sigma_w": 1.0, "sigma_b": 0.1, "depth": 4, "width": 16}``); a sweep runs ``nets``
independent draws (networks) per cell through a **cell function**::

    cell_fn(cell: dict, net_index: int, seed_seq: numpy.random.SeedSequence, **cell_kwargs) -> dict

a top-level (picklable) function returning one JSON-serialisable record per network.
:func:`fixed_point_cell` is the one for Q (docs/theory/fixed-points.md); :mod:`validation.qstats`
summarises its records per cell.

This module runs a sweep (:func:`run_sweep`) and holds :func:`fixed_point_cell`; a
cell's canonical form, id, seeds and grids are in :mod:`validation.cells`, the
checkpoint directory in :mod:`validation.checkpoint`, the execution backends in
:mod:`validation.executors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from tqdm import tqdm

from esd.exceptions import InvalidParameter

from .cells import _check_int, _normalise, _sha256, _statistics_seed, canonical_json, cell_id
from .checkpoint import FORMAT, _Checkpoint
from .executors import _check_scheduler, _completed, _open_backend
from .qstats import q_statistics
from .sampling import sample_network

__all__ = ["CellResult", "SweepResult", "run_sweep", "load_sweep", "fixed_point_cell"]


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellResult:
    """One cell: its parameters, id and one record per network, in network order."""

    cell: dict
    cell_id: str
    records: tuple


@dataclass(frozen=True)
class SweepResult:
    """The records of every cell of a sweep and its configuration.

    ``config`` is the checkpoint config plus ``cells``, the grid of this run in the order
    given. ``computed`` counts the networks computed by this call (the rest were read
    from the checkpoint); it is bookkeeping, left out of equality and of :meth:`to_dict`.
    ``pending`` is empty after :func:`run_sweep`; from :func:`load_sweep` it holds
    ``(cell, networks finished)`` for each cell of the grid not finished yet (left out of
    ``cells``).
    """

    config: dict
    config_hash: str
    cells: tuple
    computed: int = field(default=0, compare=False)
    pending: tuple = ()

    @cached_property
    def statistics(self) -> list[dict]:
        """:func:`validation.qstats.q_statistics` of each cell, bootstrap seeded from the
        sweep seed and the cell (see :mod:`validation.cells`), so it is reproducible."""
        seed = self.config["seed"]
        return [q_statistics(list(c.records), rng=np.random.default_rng(_statistics_seed(seed, c.cell)))
                for c in self.cells]

    def to_dict(self, *, records: bool = True, statistics: bool = True) -> dict:
        """JSON-serialisable summary: config, config hash, and per cell its parameters, id,
        records (unless ``records=False``) and Q statistics (unless ``statistics=False``,
        needed when the cell function does not return fixed-point summaries)."""
        cells = []
        for k, c in enumerate(self.cells):
            entry = {"cell": c.cell, "cell_id": c.cell_id}
            if records:
                entry["records"] = list(c.records)
            if statistics:
                entry["statistics"] = self.statistics[k]
            cells.append(entry)
        return {"config": self.config, "config_hash": self.config_hash, "cells": cells,
                "pending": [{"cell": cell, "networks_finished": k} for cell, k in self.pending]}


# -- sweep -------------------------------------------------------------------------------------
def _cell_fn_name(cell_fn) -> str:
    module = getattr(cell_fn, "__module__", None)
    qualname = getattr(cell_fn, "__qualname__", None)
    if not callable(cell_fn) or module is None or qualname is None or "<" in qualname:
        raise InvalidParameter("cell_fn", cell_fn, "must be a top-level function: workers import it by name "
                               "and the checkpoint records it; pass options through **cell_kwargs, "
                               "not a lambda, closure or functools.partial")
    return f"{module}:{qualname}"


def _check_cells(cells) -> list[dict]:
    if isinstance(cells, (str, bytes, Mapping)):
        raise InvalidParameter("cells", cells, "must be a list of cell dicts (make_grid builds one)")
    try:
        cells = list(cells)
    except TypeError:
        raise InvalidParameter("cells", cells, "must be a list of cell dicts (make_grid builds one)") from None
    if not cells:
        raise InvalidParameter("cells", cells, "must hold at least one cell")
    out, seen = [], {}
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or not all(isinstance(k, str) for k in cell):
            raise InvalidParameter(f"cells[{i}]", cell, "must be a dict with string keys")
        cell = _normalise(f"cells[{i}]", dict(cell))
        key = canonical_json(cell)
        if key in seen:
            raise InvalidParameter(f"cells[{i}]", cell, f"repeats cells[{seen[key]}]")
        seen[key] = i
        out.append(cell)
    return out


def _sweep_config(cell_fn, nets, seed, cell_kwargs) -> tuple[dict, str]:
    """The checkpoint config of a sweep (what fixes its records) and its hash."""
    from esd import __version__

    config = {
        "format": FORMAT,
        "cell_fn": _cell_fn_name(cell_fn),
        "cell_fn_version": _normalise("cell_fn.version", getattr(cell_fn, "version", None)),
        "cell_kwargs": _normalise("cell_kwargs", cell_kwargs),
        "nets": _check_int("nets", nets, 1),
        "seed": _check_int("seed", seed, 0),
        "esd_version": __version__,
    }
    return config, _sha256(canonical_json(config))


def run_sweep(cell_fn, cells, *, nets: int, seed: int, checkpoint=None, scheduler=None, workers=None,
              progress: bool = True, overwrite: bool = False, on_record=None, **cell_kwargs) -> SweepResult:
    """Run ``nets`` networks of every cell through ``cell_fn``; resume from ``checkpoint``.

    Parameters
    ----------
    cell_fn : top-level function ``(cell, net_index, seed_seq, **cell_kwargs) -> dict``
        Its ``version`` attribute, if any, enters the config: bump it when its results
        change, so that older checkpoints are refused.
    cells : sequence of dict
        Distinct, JSON-serialisable cells (:func:`validation.cells.make_grid`).
    nets : int
        Networks per cell (>= 1).
    seed : int
        Root entropy (>= 0) of every stream (:mod:`validation.cells`); required, so that every
        sweep can be replayed and resumed.
    checkpoint : path, optional
        Directory of results (:mod:`validation.checkpoint`); finished networks found there are
        loaded, not recomputed. Without it, nothing is written.
    scheduler : None, "local", address or distributed.Client
        None: ``workers`` local processes (default: the CPUs available; 1 runs serially
        in this process). "local": a Dask LocalCluster of ``workers`` single-threaded
        processes, closed at the end. "tcp://host:port" (any Dask address): that
        scheduler, whose workers must be able to import ``cell_fn``. A Client is used as
        is and left open.
    workers : int, optional
        Only with scheduler None or "local".
    progress : bool
        A tqdm bar over networks on stderr.
    overwrite : bool
        Discard the sweep files (manifest, cell files, journals) already in
        ``checkpoint`` instead of refusing a foreign or damaged checkpoint.
    on_record : callable, optional
        ``on_record(cell, net_index, record)``, called in this process after each computed
        network is written to the checkpoint (not for networks loaded from it): e.g. to
        copy the checkpoint elsewhere now and then. An exception from it stops the sweep
        as one from ``cell_fn`` does, with that network kept.
    **cell_kwargs
        JSON-serialisable keyword arguments of ``cell_fn`` (e.g. ``starts=1000``); they
        enter the config.

    Returns
    -------
    SweepResult
        Cells in the order given, records in network order; identical for a given seed
        whatever the backend, worker count, order of cells or interruptions.

    Raises
    ------
    ForeignCheckpoint, CorruptedCheckpoint, CheckpointError
        The checkpoint belongs to another config, is damaged, or is in use.
    BackendUnavailable
        Dask is needed but not installed, or the scheduler cannot be reached.

    Records are gathered as they complete and written by this process at once. An
    exception from ``cell_fn`` stops the sweep (its note names the network); what
    finished is kept in the checkpoint. Worker processes are started by forkserver or
    spawn, never fork, so a script calling this with several workers needs the
    ``if __name__ == "__main__":`` guard.
    """
    config, config_hash = _sweep_config(cell_fn, nets, seed, cell_kwargs)
    name, nets, seed = config["cell_fn"], config["nets"], config["seed"]
    cells = _check_cells(cells)
    scheduler, workers = _check_scheduler(scheduler, workers)
    if on_record is not None and not callable(on_record):
        raise InvalidParameter("on_record", on_record, "must be None or a callable (cell, net_index, record)")
    ids = [cell_id(c) for c in cells]

    store = None if checkpoint is None else _Checkpoint(checkpoint, config, config_hash, cells, overwrite=overwrite)
    computed = 0
    try:
        done = {cid: (store.load(cell, cid) if store else {}) for cell, cid in zip(cells, ids)}
        tasks = [(cell, cid, i) for cell, cid in zip(cells, ids) for i in range(nets) if i not in done[cid]]
        n_finished = sum(len(d) == nets for d in done.values())
        with tqdm(total=len(cells) * nets, initial=len(cells) * nets - len(tasks), unit="net", desc="sweep",
                  disable=not progress, dynamic_ncols=True) as bar:
            bar.set_postfix_str(f"cells {n_finished}/{len(cells)}", refresh=False)
            if tasks:
                backend = _open_backend(scheduler, workers)
                results = _completed(backend, cell_fn, seed, config["cell_kwargs"], tasks)
                try:
                    for (cell, cid, i), record in results:
                        if not isinstance(record, Mapping):
                            raise InvalidParameter("cell_fn", name, f"must return a dict; network {i} of the "
                                                   f"cell {cell!r} gave {type(record).__name__}")
                        done[cid][i] = record = _normalise(f"record of network {i} of the cell {cell!r}",
                                                           record)
                        computed += 1
                        if len(done[cid]) < nets:
                            if store:
                                store.append(cid, i, record)
                        else:
                            n_finished += 1
                            if store:
                                store.finish(cell, cid, [done[cid][j] for j in range(nets)])
                            bar.set_postfix_str(f"cells {n_finished}/{len(cells)}", refresh=False)
                        bar.update()
                        if on_record is not None:
                            on_record(cell, i, record)
                finally:
                    results.close()  # cancels the tasks in flight when a record is refused
                    backend.close()
    finally:
        if store:
            store.close()
    return SweepResult(
        config={**config, "cells": cells},
        config_hash=config_hash,
        cells=tuple(CellResult(cell, cid, tuple(done[cid][i] for i in range(nets))) for cell, cid in zip(cells, ids)),
        computed=computed,
    )


def load_sweep(cell_fn, cells, *, nets: int, seed: int, checkpoint, **cell_kwargs) -> SweepResult:
    """What ``checkpoint`` holds of the sweep :func:`run_sweep` would run with these
    arguments, computing and writing nothing. The sweep may be running meanwhile: its
    finished cells are read whole and its journals up to their last complete line.

    Returns a :class:`SweepResult` whose ``cells`` are the finished cells, in the order
    given, and whose ``pending`` lists the others with their count of finished networks.
    Figures drawn from it while the sweep still runs leave the pending cells out, rather
    than show cells of the networks that happened to finish first.

    Raises :class:`~validation.checkpoint.CheckpointError` when the directory holds no
    sweep, and ``ForeignCheckpoint`` or ``CorruptedCheckpoint`` as :func:`run_sweep` does.
    """
    config, config_hash = _sweep_config(cell_fn, nets, seed, cell_kwargs)
    cells = _check_cells(cells)
    store = _Checkpoint(checkpoint, config, config_hash, cells, overwrite=False, read_only=True, lock=False)
    finished, pending = [], []
    try:
        for cell in cells:
            cid = cell_id(cell)
            done = store.load(cell, cid)
            if len(done) == config["nets"]:
                finished.append(CellResult(cell, cid, tuple(done[i] for i in range(config["nets"]))))
            else:
                pending.append((cell, len(done)))
    finally:
        store.close()
    return SweepResult(config={**config, "cells": cells}, config_hash=config_hash, cells=tuple(finished),
                       pending=tuple(pending))


# -- the fixed-point cell -------------------------------------------------------------------------
_NETWORK_KEYS = ("activation", "weights", "sigma_w", "sigma_b", "depth", "width")
_NETWORK_OPTIONAL = ("alpha", "tied")


def fixed_point_cell(cell: dict, net_index: int, seed_seq: np.random.SeedSequence, *, starts: int = 1000,
                     **options) -> dict:
    """Q of one network (docs/theory/fixed-points.md): draw it, count its fixed points and attractors.

    ``cell`` holds the arguments of :func:`validation.sampling.sample_network`:
    activation, weights, sigma_w, sigma_b, depth, width, and optionally alpha and tied.
    One generator, ``numpy.random.default_rng(seed_seq)``, draws the network and then
    the starts of :func:`validation.fixedpoints.find_fixed_points` (``starts`` and
    ``options`` are passed to it). ``net_index`` is not used: ``seed_seq`` already
    depends on it. Returns ``FixedPointResult.to_dict()`` without its wall-clock
    ``timings``, so that two runs of the same network give identical records. BLAS runs
    on one thread here: the products are small (B x N by N x N), and with one process per
    core a second BLAS thread only contends (measured 2-3x slower at N = 30).
    """
    unknown = sorted(set(cell) - set(_NETWORK_KEYS) - set(_NETWORK_OPTIONAL))
    missing = [k for k in _NETWORK_KEYS if k not in cell]
    if unknown or missing:
        raise InvalidParameter("cell", cell, f"a fixed-point cell needs {list(_NETWORK_KEYS)} and may add "
                               f"{list(_NETWORK_OPTIONAL)}" + (f"; missing {missing}" if missing else "")
                               + (f"; unknown {unknown}" if unknown else ""))
    from threadpoolctl import threadpool_limits

    from .fixedpoints import find_fixed_points

    rng = np.random.default_rng(seed_seq)
    net = sample_network(cell["activation"], cell["weights"], cell["sigma_w"], cell["sigma_b"], cell["depth"],
                         cell["width"], alpha=cell.get("alpha"), tied=cell.get("tied", False), rng=rng)
    with threadpool_limits(limits=1, user_api="blas"):
        record = find_fixed_points(net, starts=starts, rng=rng, **options).to_dict()
    record.pop("timings", None)
    return record


def _carry_fixed_point_record(record: dict, source_config: dict, cell_kwargs: dict):
    """The version-7 record of a network from its version-5 or -6 record, or None.

    Versions 5 to 7 differ only in Phase 4, which draws from the generator last and runs
    only while the index sum after Phases 1-3 differs from 1: version 5 skipped it above
    512 lifted unknowns, version 7 traces the curves through the found points first
    (``lifted_branches``). A record in which Phase 4 did not run (``lifted_paths`` 0) and
    whose index sum is 1 (or whose activation has no Phase 4) is therefore what version 7
    computes, with ``lifted_branches`` 0 and the new option in its params. The other
    finder options must be the same."""
    from .fplifted import SMOOTH_BOUNDED

    if source_config.get("cell_fn_version") not in (5, 6):
        return None
    if {k: v for k, v in cell_kwargs.items() if k != "lifted_branches"} != source_config.get("cell_kwargs"):
        return None
    smooth = record["params"]["activation"] in SMOOTH_BOUNDED
    if record["lifted_paths"] != 0 or (smooth and record["index_sum"] != 1):
        return None
    return {**record, "lifted_branches": 0,
            "params": {**record["params"], "lifted_branches": cell_kwargs.get("lifted_branches", 0)}}


# Bump when fixed_point_cell or find_fixed_points change their records: older
# checkpoints are then refused as foreign instead of being mixed with new results
# (validation.carry_checkpoint moves over what the new version would reproduce).
fixed_point_cell.version = 7
fixed_point_cell.carry = _carry_fixed_point_record
