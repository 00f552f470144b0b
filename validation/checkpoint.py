"""The checkpoint directory of a sweep: a locked, checksummed store of finished networks.

:class:`_Checkpoint` holds the directory of one sweep config: it writes the manifest,
loads the networks finished by earlier runs, journals each new one and writes every
finished cell atomically, and refuses a directory it cannot trust.

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

:func:`archive_checkpoint` mirrors these files into a directory of gzip files with
reproducible bytes, small enough to commit beside the results they make, and
:func:`restore_checkpoint` unpacks such an archive into a fresh directory, so that a sweep
resumes on another machine or in a new clone.

A reader (:func:`validation.sweep.load_sweep`) takes no lock and may read while a sweep
writes: cell files appear whole by rename, and a journal is read up to its last complete line.
A checkpoint is never reused silently: a different config raises
:class:`ForeignCheckpoint`, an unreadable or modified file :class:`CorruptedCheckpoint`
(``overwrite=True`` discards the sweep's files and starts again).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import secrets
from pathlib import Path

from esd.exceptions import EsdError, InvalidParameter

from .cells import _builtin, _sha256, canonical_json

try:
    import fcntl
except ImportError:  # not POSIX: no lock, so a checkpoint must not be shared by concurrent runs
    fcntl = None

__all__ = ["CheckpointError", "ForeignCheckpoint", "CorruptedCheckpoint", "FORMAT", "archive_checkpoint",
           "restore_checkpoint"]

#: Version of the checkpoint layout; part of the config, so older checkpoints are foreign.
FORMAT = "esd-sweep/1"

_MANIFEST = "manifest.json"
_LOCK = ".lock"
_TMP_PREFIX = ".tmp-"


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
    _write_bytes_atomic(path, text.encode("utf-8"))


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    # Not tempfile.mkstemp: its files are private (0600); these follow the umask.
    tmp = path.parent / f"{_TMP_PREFIX}{secrets.token_hex(8)}-{path.name}"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
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

    def __init__(self, path, config: dict, config_hash: str, cells: list, *, overwrite: bool,
                 read_only: bool = False, lock: bool = True):
        """``read_only`` reads under a shared lock, which keeps a writer out meanwhile; with
        ``lock=False`` as well it takes no lock, to read a checkpoint a live sweep writes
        (its cell files appear whole, by rename, and a torn last journal line is skipped)."""
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InvalidParameter("checkpoint", os.fspath(path), "must be a directory (created if missing)")
        if read_only and not (self.path / _MANIFEST).is_file():
            raise CheckpointError(self.path, f"holds no {_MANIFEST}: it is not a sweep checkpoint")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_hash = config_hash
        self.nets = config["nets"]
        self.read_only = read_only
        self._journals = {}
        if not lock:
            if not read_only:
                raise ValueError("only a read-only checkpoint may be opened without its lock")
            self._lock = None
            self._check_manifest(config)
            return
        self._lock = open(self.path / _LOCK, "a")
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(self._lock, (fcntl.LOCK_SH if read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise CheckpointError(self.path, "is in use by another running sweep") from None
            if read_only:
                self._check_manifest(config)
                return
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
        if self._lock is not None:
            self._lock.close()  # releases the flock

    def _read_json(self, file: Path):
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptedCheckpoint(self.path, f"{file.name} cannot be read as JSON ({exc}); delete it, "
                                      "or rerun with overwrite=True (esd fixed-points --overwrite) to discard the checkpoint") from exc

    def _check_manifest(self, config: dict) -> list:
        """The cells of the manifest, once it is checked to be this config's."""
        file = self.path / _MANIFEST
        known = []
        if file.exists():
            m = self._read_json(file)
            if not (isinstance(m, dict) and isinstance(m.get("config"), dict)
                    and isinstance(m.get("cells"), list)):
                raise CorruptedCheckpoint(self.path, f"{_MANIFEST} is not a sweep manifest; use another "
                                          "directory, or overwrite=True (esd fixed-points --overwrite) to discard it")
            if _sha256(canonical_json(m["config"])) != m.get("config_hash"):
                raise CorruptedCheckpoint(self.path, f"{_MANIFEST} fails its checksum (config_hash): it was "
                                          "modified or damaged; overwrite=True discards the checkpoint")
            if m["config_hash"] != self.config_hash:
                theirs = m["config"]
                diff = "; ".join(f"{k} is {theirs.get(k)!r} there, {config.get(k)!r} here"
                                 for k in sorted(set(theirs) | set(config)) if theirs.get(k) != config.get(k))
                raise ForeignCheckpoint(self.path, f"belongs to another sweep ({diff}); use another "
                                        "directory, or overwrite=True (esd fixed-points --overwrite) to discard it")
            known = m["cells"]
        elif any(self.path.glob("cell-*")):
            raise CorruptedCheckpoint(self.path, f"holds cell files but no {_MANIFEST}")
        return known

    def _write_manifest(self, config: dict, cells: list) -> None:
        known = self._check_manifest(config)
        file = self.path / _MANIFEST
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
            if not self.read_only:
                # A journal left when the run died between writing the cell and removing it.
                self._journal_file(cid).unlink(missing_ok=True)
            return dict(enumerate(records))
        done = self._read_journal(cid)
        if self.read_only and len(done) < self.nets and file.exists():
            # a live writer finished the cell between the two reads (it writes the cell, then
            # drops the journal)
            return dict(enumerate(self._read_cell(file, cell, cid)))
        return done

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
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return {}
        complete, newline, torn = raw.rpartition(b"\n")
        if torn and not self.read_only:
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


# -- archives ------------------------------------------------------------------------------------
def _sweep_files(path: Path) -> list[Path]:
    return sorted(itertools.chain([path / _MANIFEST] if (path / _MANIFEST).exists() else [],
                                  path.glob("cell-*.json"), path.glob("cell-*.partial.jsonl")))


def archive_checkpoint(checkpoint, archive) -> int:
    """Mirror the sweep files of ``checkpoint`` into the directory ``archive``, gzipped.

    Every manifest, cell file and journal becomes ``archive/<name>.gz``, compressed with no
    timestamp, so the same file always gives the same bytes and an unchanged cell is not
    rewritten (a version-control system stores only the cells that changed). Files of the
    archive that the checkpoint no longer has (the journal of a cell since finished) are
    removed. Returns the number of files written. Run it while no sweep writes to the
    checkpoint: a journal line being written could be cut (it is dropped on resume).
    """
    src, dst = Path(checkpoint), Path(archive)
    if not (src / _MANIFEST).is_file():
        raise InvalidParameter("checkpoint", os.fspath(checkpoint), f"must be a sweep checkpoint directory "
                               f"(it has no {_MANIFEST})")
    dst.mkdir(parents=True, exist_ok=True)
    keep, written = set(), 0
    for file in _sweep_files(src):
        target = dst / f"{file.name}.gz"
        keep.add(target.name)
        data = gzip.compress(file.read_bytes(), compresslevel=9, mtime=0)
        if not target.exists() or target.read_bytes() != data:
            _write_bytes_atomic(target, data)
            written += 1
    for stale in dst.glob("*.gz"):
        if stale.name not in keep:
            stale.unlink()
    return written


def restore_checkpoint(archive, checkpoint) -> int:
    """Unpack an :func:`archive_checkpoint` archive into ``checkpoint`` if that directory
    holds no sweep yet (no manifest); returns the number of files restored (0 when the
    checkpoint already holds a sweep or the archive does not exist). The restored files are
    checked when a sweep opens them, as any checkpoint is."""
    src, dst = Path(archive), Path(checkpoint)
    if (dst / _MANIFEST).exists() or not (src / f"{_MANIFEST}.gz").is_file():
        return 0
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(src.glob("*.gz"), key=lambda f: f.name == f"{_MANIFEST}.gz")  # the manifest last
    for file in files:
        try:
            data = gzip.decompress(file.read_bytes())
        except (OSError, EOFError) as exc:
            raise CorruptedCheckpoint(src, f"{file.name} cannot be decompressed ({exc})") from exc
        _write_bytes_atomic(dst / file.name[:-3], data)
    return len(files)
