"""Sweeps over grids of cells: deterministic seeds, checkpoints, local or Dask execution.

A **cell** is a dict of parameters (e.g. ``{"activation": "tanh", "weights": "cauchy",
"sigma_w": 1.0, "sigma_b": 0.1, "depth": 4, "width": 16}``); a sweep runs ``nets``
independent draws (networks) per cell through a **cell function**::

    cell_fn(cell: dict, net_index: int, seed_seq: numpy.random.SeedSequence, **cell_kwargs) -> dict

a top-level (picklable) function returning one JSON-serialisable record per network.
:func:`fixed_point_cell` is the one for Q (THEORY.md §2); :mod:`validation.qstats`
summarises its records per cell.

Seeds (NumPy's parallel-streams recipe, STYLE.md §7): network ``i`` of a cell gets
``SeedSequence(entropy=seed, spawn_key=(0, h0, h1, h2, h3, i))`` where h0..h3 are the
first 128 bits of the SHA-256 of the cell's canonical JSON (:func:`canonical_json`). A
network's stream therefore depends only on the sweep seed, the cell's content and the
index: not on the grid, the order of execution, the worker, or the backend; for a
deterministic cell function a serial run, a process pool and a Dask cluster give
identical records. Bootstrap intervals of a
cell use spawn key ``(1, h0, h1, h2, h3)``.

Checkpoint directory (all JSON, UTF-8):

* ``manifest.json``: ``config`` (format, cell function ``module:qualname`` and its
  ``version`` attribute, ``cell_kwargs``, ``nets``, ``seed``, esd version),
  ``config_hash`` (SHA-256 of the canonical JSON of ``config``) and ``cells``, every cell
  ever run against it. The config fixes what a cell's records are, the grid does not: a
  checkpoint may be resumed with more (or fewer) cells, and finished cells are reused.
* ``cell-<id>.json`` per finished cell (id: 16 hex digits of the SHA-256 of the cell):
  the cell, its records in network order, the config hash and a ``checksum`` (SHA-256
  of the canonical JSON of everything else). Written to a temporary file in the same
  directory, fsynced, then renamed over the target (``os.replace``): a reader sees the
  whole file or none.
* ``cell-<id>.partial.jsonl`` while a cell is in progress: one line per finished
  network, each with its own checksum, so a run killed inside a long cell resumes there.
  A last line cut by a crash is dropped; any other damaged line is an error.

A checkpoint is never reused silently: a different config raises
:class:`ForeignCheckpoint`, an unreadable or modified file :class:`CorruptedCheckpoint`
(``overwrite=True`` discards the sweep's files and starts again).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import secrets
import struct
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from tqdm import tqdm

from esd.exceptions import BackendUnavailable, EsdError, InvalidParameter

from .qstats import q_statistics
from .sampling import sample_network

try:
    import fcntl
except ImportError:  # not POSIX: no lock, so a checkpoint must not be shared by concurrent runs
    fcntl = None

__all__ = ["CheckpointError", "ForeignCheckpoint", "CorruptedCheckpoint", "CellResult", "SweepResult",
           "run_sweep", "fixed_point_cell", "network_seed", "cell_id", "canonical_json",
           "parse_range", "make_grid", "FORMAT"]

#: Version of the checkpoint layout; part of the config, so older checkpoints are foreign.
FORMAT = "esd-sweep/1"

_MANIFEST = "manifest.json"
_LOCK = ".lock"
_TMP_PREFIX = ".tmp-"
# First element of the spawn key: which stream of a cell (see the module docstring).
_NETWORK_STREAM, _STATISTICS_STREAM = 0, 1


class CheckpointError(EsdError):
    """A checkpoint directory cannot be used for this sweep; the message says why."""

    def __init__(self, path, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"checkpoint {self.path}: {problem}")


class ForeignCheckpoint(CheckpointError):
    """The checkpoint was written by a sweep with another configuration."""


class CorruptedCheckpoint(CheckpointError):
    """A checkpoint file cannot be parsed or fails its checksum."""


# -- canonical forms, ids and seeds --------------------------------------------------------
def _builtin(obj):
    """NumPy scalars and arrays as Python objects, for ``json.dumps(default=...)``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def canonical_json(obj) -> str:
    """The one JSON text of ``obj`` that ids, hashes and checksums are taken over.

    Keys sorted, no whitespace, ASCII only; NumPy scalars become Python numbers; floats are
    written by ``repr`` and so read back bit for bit (NaN and infinities as Python's json
    module spells them).
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_builtin)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _normalise(name: str, obj):
    """``obj`` as it reads back from JSON (tuples as lists, NumPy scalars as numbers), so
    that what is computed, stored and loaded compares equal."""
    try:
        return json.loads(canonical_json(obj))
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(name, obj, f"must be JSON-serialisable: numbers, strings, booleans, None, "
                               f"lists and dicts with string keys ({exc})") from exc


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidParameter(name, value, f"must be an integer >= {low}")
    return int(value)


def _cell_words(cell) -> tuple[int, ...]:
    return struct.unpack("<4I", hashlib.sha256(canonical_json(cell).encode("ascii")).digest()[:16])


def cell_id(cell: Mapping) -> str:
    """16 hex digits of the SHA-256 of the cell's canonical JSON: its file name and key."""
    return _sha256(canonical_json(cell))[:16]


def network_seed(seed: int, cell: Mapping, net_index: int) -> np.random.SeedSequence:
    """The seed of network ``net_index`` of ``cell`` in a sweep seeded with ``seed``.

    Replays one network outside a sweep:
    ``fixed_point_cell(cell, 17, network_seed(seed, cell, 17))``.
    """
    seed = _check_int("seed", seed, 0)
    net_index = _check_int("net_index", net_index, 0)
    return np.random.SeedSequence(entropy=seed, spawn_key=(_NETWORK_STREAM, *_cell_words(cell), net_index))


def _statistics_seed(seed: int, cell) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=seed, spawn_key=(_STATISTICS_STREAM, *_cell_words(cell)))


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
    """

    config: dict
    config_hash: str
    cells: tuple
    computed: int = field(default=0, compare=False)

    @cached_property
    def statistics(self) -> list[dict]:
        """:func:`validation.qstats.q_statistics` of each cell, bootstrap seeded from the
        sweep seed and the cell (see the module docstring), so it is reproducible."""
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
        return {"config": self.config, "config_hash": self.config_hash, "cells": cells}


# -- checkpoint directory ------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    # Makes a rename durable; POSIX only (a directory cannot be opened on Windows).
    if os.name == "posix":
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    # Not tempfile.mkstemp: its files are private (0600); these follow the umask.
    tmp = path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}-{path.name}"
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class _Checkpoint:
    """A locked checkpoint directory for one config (see the module docstring)."""

    def __init__(self, path, config: dict, config_hash: str, cells: list, *, overwrite: bool):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InvalidParameter("checkpoint", os.fspath(path), "must be a directory (created if missing)")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_hash = config_hash
        self.nets = config["nets"]
        self._journals = {}
        self._lock = open(self.path / _LOCK, "a")
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise CheckpointError(self.path, "is in use by another running sweep") from None
            if overwrite:
                for f in itertools.chain([self.path / _MANIFEST], self.path.glob("cell-*")):
                    f.unlink(missing_ok=True)
            # Left by a writer killed before its os.replace; the lock says no writer is live.
            for f in self.path.glob(_TMP_PREFIX + "*"):
                f.unlink()
            self._write_manifest(config, cells)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for f in self._journals.values():
            f.close()
        self._journals.clear()
        self._lock.close()  # releases the flock

    def _read_json(self, file: Path):
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptedCheckpoint(self.path, f"{file.name} cannot be read as JSON ({exc}); delete it, "
                                      "or rerun with overwrite=True to discard the checkpoint") from exc

    def _write_manifest(self, config: dict, cells: list) -> None:
        file = self.path / _MANIFEST
        known = []
        if file.exists():
            m = self._read_json(file)
            if not (isinstance(m, dict) and isinstance(m.get("config"), dict)
                    and isinstance(m.get("cells"), list)):
                raise CorruptedCheckpoint(self.path, f"{_MANIFEST} is not a sweep manifest; use another "
                                          "directory, or overwrite=True to discard it")
            if _sha256(canonical_json(m["config"])) != m.get("config_hash"):
                raise CorruptedCheckpoint(self.path, f"{_MANIFEST} fails its checksum (config_hash): it was "
                                          "modified or damaged; overwrite=True discards the checkpoint")
            if m["config_hash"] != self.config_hash:
                theirs = m["config"]
                diff = "; ".join(f"{k} is {theirs.get(k)!r} there, {config.get(k)!r} here"
                                 for k in sorted(set(theirs) | set(config)) if theirs.get(k) != config.get(k))
                raise ForeignCheckpoint(self.path, f"belongs to another sweep ({diff}); use another "
                                        "directory, or overwrite=True to discard it")
            known = m["cells"]
        elif any(self.path.glob("cell-*")):
            raise CorruptedCheckpoint(self.path, f"holds cell files but no {_MANIFEST}")
        seen = {canonical_json(c) for c in known}
        union = known + [c for c in cells if canonical_json(c) not in seen]
        _write_atomic(file, json.dumps({"config": config, "config_hash": self.config_hash, "cells": union},
                                       indent=1, sort_keys=True, default=_builtin) + "\n")

    def _cell_file(self, cid: str) -> Path:
        return self.path / f"cell-{cid}.json"

    def _journal_file(self, cid: str) -> Path:
        return self.path / f"cell-{cid}.partial.jsonl"

    def _line_checksum(self, cid: str, net, record) -> str:
        return _sha256(canonical_json({"cell_id": cid, "config_hash": self.config_hash,
                                       "net": net, "record": record}))

    def load(self, cell: dict, cid: str) -> dict[int, dict]:
        """The finished networks of a cell, {index: record}."""
        file = self._cell_file(cid)
        if file.exists():
            records = self._read_cell(file, cell, cid)
            # A journal left when the run died between writing the cell and removing it.
            self._journal_file(cid).unlink(missing_ok=True)
            return dict(enumerate(records))
        return self._read_journal(cid)

    def _read_cell(self, file: Path, cell: dict, cid: str) -> list:
        data = self._read_json(file)
        if not isinstance(data, dict) or set(data) != {"cell", "cell_id", "config_hash", "records", "checksum"}:
            raise CorruptedCheckpoint(self.path, f"{file.name} is not a sweep cell file")
        payload = {k: v for k, v in data.items() if k != "checksum"}
        if _sha256(canonical_json(payload)) != data["checksum"]:
            raise CorruptedCheckpoint(self.path, f"{file.name} fails its checksum: it was modified or damaged; "
                                      "delete it to recompute the cell, or rerun with overwrite=True")
        if data["config_hash"] != self.config_hash:
            raise ForeignCheckpoint(self.path, f"{file.name} was written by another sweep "
                                    f"(config hash {data['config_hash']}, this sweep {self.config_hash})")
        if data["cell_id"] != cid or canonical_json(data["cell"]) != canonical_json(cell):
            raise CorruptedCheckpoint(self.path, f"{file.name} holds the cell {data['cell']!r}, not {cell!r}")
        records = data["records"]
        if not isinstance(records, list) or len(records) != self.nets:
            raise CorruptedCheckpoint(self.path, f"{file.name} does not hold {self.nets} records")
        return records

    def _read_journal(self, cid: str) -> dict[int, dict]:
        file = self._journal_file(cid)
        if not file.exists():
            return {}
        raw = file.read_bytes()
        complete, newline, torn = raw.rpartition(b"\n")
        if torn:
            # Every line is written with its newline in one write: a last line without one
            # was cut by a crash and holds no finished network. Drop it before appending.
            with open(file, "r+b") as f:
                f.truncate(len(complete) + len(newline))
        done = {}
        for n, line in enumerate(complete.split(b"\n") if newline else [], start=1):
            where = f"{file.name} line {n}"
            try:
                entry = json.loads(line)
            except ValueError as exc:
                raise CorruptedCheckpoint(self.path, f"{where} cannot be read as JSON ({exc}); delete the "
                                          "file to recompute the cell") from exc
            if not isinstance(entry, dict) or set(entry) != {"net", "record", "checksum"}:
                raise CorruptedCheckpoint(self.path, f"{where} is not a sweep journal entry")
            net = entry["net"]
            if self._line_checksum(cid, net, entry["record"]) != entry["checksum"]:
                raise CorruptedCheckpoint(self.path, f"{where} fails its checksum (modified, damaged or "
                                          "written by another sweep); delete the file to recompute the cell")
            if isinstance(net, bool) or not isinstance(net, int) or not 0 <= net < self.nets or net in done:
                raise CorruptedCheckpoint(self.path, f"{where} has a repeated or invalid network index {net!r}")
            done[net] = entry["record"]
        return done

    def append(self, cid: str, net: int, record: dict) -> None:
        """Journal one finished network of a cell that still lacks others (the last one
        goes straight to :meth:`finish`, so a journal never holds a whole cell)."""
        f = self._journals.get(cid)
        if f is None:
            f = self._journals[cid] = open(self._journal_file(cid), "a", encoding="utf-8")
        f.write(canonical_json({"net": net, "record": record,
                                "checksum": self._line_checksum(cid, net, record)}) + "\n")
        # flush hands the line to the kernel, where it survives the death of this process;
        # no fsync per line (too slow for short networks): a power cut can lose or damage
        # the journal of the cell in progress, never a finished cell file.
        f.flush()

    def finish(self, cell: dict, cid: str, records: list) -> None:
        """Write the cell file atomically, then drop its journal."""
        payload = {"cell": cell, "cell_id": cid, "config_hash": self.config_hash, "records": records}
        _write_atomic(self._cell_file(cid), canonical_json({**payload, "checksum": _sha256(canonical_json(payload))})
                      + "\n")
        f = self._journals.pop(cid, None)
        if f is not None:
            f.close()
        self._journal_file(cid).unlink(missing_ok=True)


# -- execution backends ----------------------------------------------------------------------
def _cpu_count() -> int:
    # The CPUs this process may use (cgroups, taskset), not those of the machine.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailable("dask.distributed is not installed: pip install esd[distributed]") from exc
    return distributed


class _Serial:
    """Runs each task at submission, in this process."""

    window = 1

    def submit(self, fn, *args) -> Future:
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except Exception as exc:  # delivered by fut.result(), as from a pool
            fut.set_exception(exc)
        return fut

    def wait_first(self, futures):
        return futures

    def cancel(self, futures):
        pass

    def close(self):
        pass


class _Pool:
    """concurrent.futures.ProcessPoolExecutor over ``workers`` processes."""

    def __init__(self, workers: int):
        # forkserver where there is one, never fork: a forked worker would inherit the
        # checkpoint lock (and keep it while it outlives a killed sweep) and the threads
        # of this process (tqdm's monitor, a Dask client) in whatever state they are.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        # Two tasks per worker keep every worker busy while the parent writes results.
        self.window = 2 * workers

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    def wait_first(self, futures):
        return wait_futures(futures, return_when=FIRST_COMPLETED).done

    def cancel(self, futures):
        for f in futures:
            f.cancel()

    def close(self):
        self.executor.shutdown(wait=True, cancel_futures=True)


class _Dask:
    """A dask.distributed Client; closes the client and cluster it was given to own."""

    def __init__(self, distributed, client, owned=()):
        self.distributed = distributed
        self.client = client
        self.owned = owned
        self.window = 2 * max(1, sum(client.nthreads().values()))

    def submit(self, fn, *args):
        # pure=False: every network is its own task even if two calls looked alike.
        return self.client.submit(fn, *args, pure=False)

    def wait_first(self, futures):
        return self.distributed.wait(futures, return_when="FIRST_COMPLETED").done

    def cancel(self, futures):
        if futures:
            self.client.cancel(futures)

    def close(self):
        for obj in self.owned:
            obj.close()


def _check_scheduler(scheduler, workers):
    """Validate ``scheduler`` and ``workers`` before anything starts."""
    if workers is not None:
        workers = _check_int("workers", workers, 1)
    if scheduler is None or scheduler == "local":
        return scheduler, workers
    if isinstance(scheduler, str):
        if "://" not in scheduler:
            raise InvalidParameter("scheduler", scheduler, "must be None (local processes), 'local' (a local "
                                   "Dask cluster), a Dask scheduler address such as 'tcp://host:8786', "
                                   "or a distributed.Client")
    elif not isinstance(scheduler, _import_distributed().Client):
        raise InvalidParameter("scheduler", scheduler, "must be None, 'local', a Dask scheduler address "
                               "or a distributed.Client")
    if workers is not None:
        raise InvalidParameter("workers", workers, "is set by the Dask cluster itself; leave it None with "
                               "a scheduler address or a Client")
    return scheduler, workers


def _open_backend(scheduler, workers):
    if scheduler is None:
        n = workers or _cpu_count()
        return _Serial() if n == 1 else _Pool(n)
    distributed = _import_distributed()
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=workers or _cpu_count(), threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        client = distributed.Client(cluster)
        return _Dask(distributed, client, owned=(client, cluster))
    if isinstance(scheduler, str):
        try:
            client = distributed.Client(scheduler)
        except OSError as exc:
            raise BackendUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        return _Dask(distributed, client, owned=(client,))
    return _Dask(distributed, scheduler)


def _run_network(cell_fn, cell, seed, net_index, cell_kwargs):
    """One network of one cell, where a worker runs it. The seed is rebuilt here from
    (seed, cell, index), so it does not depend on which worker runs it, or when."""
    # Copies: a cell function that mutates its arguments must not change the parent's
    # (a serial run shares the objects).
    return cell_fn(copy.deepcopy(cell), net_index, network_seed(seed, cell, net_index),
                   **copy.deepcopy(cell_kwargs))


def _completed(backend, cell_fn, seed, cell_kwargs, tasks):
    """(task, record) for each task (cell, cell id, network index), in order of completion,
    with at most ``backend.window`` tasks in flight. A failing task is raised after the
    records finished alongside it are yielded, with a note naming the network."""
    pending = iter(tasks)
    inflight = {}
    try:
        while True:
            for task in itertools.islice(pending, backend.window - len(inflight)):
                cell, _, net = task
                inflight[backend.submit(_run_network, cell_fn, cell, seed, net, cell_kwargs)] = task
            if not inflight:
                return
            failed = None
            for fut in backend.wait_first(list(inflight)):
                task = inflight.pop(fut)
                try:
                    record = fut.result()
                except Exception as exc:
                    failed = failed or (task, exc)
                    continue
                yield task, record
            if failed is not None:
                (cell, _, net), exc = failed
                exc.add_note(f"while computing network {net} of the sweep cell {cell!r} (seed {seed})")
                raise exc
    finally:
        backend.cancel(list(inflight))


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


def run_sweep(cell_fn, cells, *, nets: int, seed: int, checkpoint=None, scheduler=None, workers=None,
              progress: bool = True, overwrite: bool = False, **cell_kwargs) -> SweepResult:
    """Run ``nets`` networks of every cell through ``cell_fn``; resume from ``checkpoint``.

    Parameters
    ----------
    cell_fn : top-level function ``(cell, net_index, seed_seq, **cell_kwargs) -> dict``
        Its ``version`` attribute, if any, enters the config: bump it when its results
        change, so that older checkpoints are refused.
    cells : sequence of dict
        Distinct, JSON-serialisable cells (:func:`make_grid`).
    nets : int
        Networks per cell (>= 1).
    seed : int
        Root entropy (>= 0) of every stream (module docstring); required, so that every
        sweep can be replayed and resumed.
    checkpoint : path, optional
        Directory of results (module docstring); finished networks found there are
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
    from esd import __version__

    name = _cell_fn_name(cell_fn)
    cells = _check_cells(cells)
    nets = _check_int("nets", nets, 1)
    seed = _check_int("seed", seed, 0)
    scheduler, workers = _check_scheduler(scheduler, workers)
    config = {
        "format": FORMAT,
        "cell_fn": name,
        "cell_fn_version": _normalise("cell_fn.version", getattr(cell_fn, "version", None)),
        "cell_kwargs": _normalise("cell_kwargs", cell_kwargs),
        "nets": nets,
        "seed": seed,
        "esd_version": __version__,
    }
    config_hash = _sha256(canonical_json(config))
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


# -- the fixed-point cell -------------------------------------------------------------------------
_NETWORK_KEYS = ("activation", "weights", "sigma_w", "sigma_b", "depth", "width")
_NETWORK_OPTIONAL = ("alpha", "tied")


def fixed_point_cell(cell: dict, net_index: int, seed_seq: np.random.SeedSequence, *, starts: int = 1000,
                     **options) -> dict:
    """Q of one network (THEORY.md §2): draw it, count its fixed points and attractors.

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


# Bump when fixed_point_cell or find_fixed_points change their records: older
# checkpoints are then refused as foreign instead of being mixed with new results.
fixed_point_cell.version = 2


# -- grids ---------------------------------------------------------------------------------------
_RANGE_FORMS = ("must be 'start:stop' (inclusive), 'start:stop:step', a comma-separated list 'a,b,c' "
                "or one number")
_INT_LITERAL = re.compile(r"[+-]?\d+")
_MAX_RANGE = 1_000_000


def _decimal(name: str, text: str, token: str) -> Decimal:
    try:
        value = Decimal(token.strip())
    except InvalidOperation:
        raise InvalidParameter(name, text, f"{token.strip()!r} is not a number; {_RANGE_FORMS}") from None
    if not value.is_finite():
        raise InvalidParameter(name, text, f"{token.strip()!r} is not a finite number")
    return value


def parse_range(text: str, *, name: str = "range") -> list:
    """Values of a command-line range; ``name`` (the option) is named in errors.

    ``"1:64"`` -> 1, 2, ..., 64 (stop included); ``"1:64:4"`` -> 1, 5, ..., 61;
    ``"64:1:-1"`` counts down; ``"1,2,5"`` -> [1, 2, 5]; ``"3"`` -> [3]. Integers when
    every number is written as one, floats otherwise, computed in decimal so that
    ``"0.1:0.3:0.1"`` is exactly [0.1, 0.2, 0.3].

    >>> parse_range("1:9:4"), parse_range("0.5:1.5:0.5"), parse_range("8,16,32")
    ([1, 5, 9], [0.5, 1.0, 1.5], [8, 16, 32])
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameter(name, text, _RANGE_FORMS)
    if "," in text:
        if ":" in text:
            raise InvalidParameter(name, text, f"mixes ',' and ':'; {_RANGE_FORMS}")
        tokens = text.split(",")
        values = [_decimal(name, text, t) for t in tokens]
        if len(set(values)) != len(values):
            raise InvalidParameter(name, text, "repeats a value")
    else:
        tokens = text.split(":")
        if len(tokens) > 3:
            raise InvalidParameter(name, text, _RANGE_FORMS)
        numbers = [_decimal(name, text, t) for t in tokens]
        if len(numbers) == 1:
            values = numbers
        else:
            start, stop = numbers[0], numbers[1]
            step = numbers[2] if len(numbers) == 3 else Decimal(1)
            if step == 0:
                raise InvalidParameter(name, text, "the step must not be 0")
            span = (stop - start) / step
            if span < 0:
                raise InvalidParameter(name, text, f"is empty: a step of {step} never reaches {stop} from "
                                       f"{start} (count down with a negative step, e.g. '64:1:-1')")
            if span >= _MAX_RANGE:
                raise InvalidParameter(name, text, f"would give more than {_MAX_RANGE} values")
            values = [start + k * step for k in range(int(span) + 1)]
    if all(_INT_LITERAL.fullmatch(t.strip()) for t in tokens):
        return [int(v) for v in values]
    return [float(v) for v in values]


def make_grid(**axes) -> list[dict]:
    """The cartesian product of the axes, as cells; the last axis varies fastest.

    Each axis is a sequence of values or one value (a string, number, bool or None);
    a per-layer ``sigma_w`` is one value, so wrap it: ``sigma_w=[[1.0, 2.0]]``.

    >>> make_grid(width=[8, 16], depth=parse_range("1:2"), weights="cauchy")  # doctest: +NORMALIZE_WHITESPACE
    [{'width': 8, 'depth': 1, 'weights': 'cauchy'}, {'width': 8, 'depth': 2, 'weights': 'cauchy'},
     {'width': 16, 'depth': 1, 'weights': 'cauchy'}, {'width': 16, 'depth': 2, 'weights': 'cauchy'}]
    """
    if not axes:
        raise InvalidParameter("axes", axes, "give at least one axis, e.g. make_grid(width=[8, 16])")
    columns = []
    for name, given in axes.items():
        if given is None or isinstance(given, (str, bytes, Real)):
            values = [given]
        elif isinstance(given, Mapping):
            raise InvalidParameter(name, given, "must be a value or a sequence of values, not a dict")
        else:
            try:
                values = list(given)
            except TypeError:
                raise InvalidParameter(name, given, "must be a value or a sequence of values") from None
        if not values:
            raise InvalidParameter(name, given, "an axis needs at least one value")
        keys = [canonical_json(_normalise(name, v)) for v in values]
        if len(set(keys)) != len(keys):
            raise InvalidParameter(name, given, "repeats a value")
        columns.append(values)
    return [dict(zip(axes, combo)) for combo in itertools.product(*columns)]
