"""Carry the records of an older sweep into a new one, where the new cell function would
reproduce them.

A cell function changes (its ``version`` is bumped), and its older checkpoints become
foreign: a sweep of hours would then be rerun for the few networks the change touches. A
cell function with a ``carry`` attribute says which: ``cell_fn.carry(record, source_config,
cell_kwargs)`` returns the record the current ``cell_fn(**cell_kwargs)`` computes for the
same network (seeds are per network, :mod:`validation.cells`), or None where it cannot know.
:func:`carry_checkpoint` writes the carried records into the new sweep's checkpoint (journal
lines, or a whole cell file), and :func:`validation.run_sweep` then computes only the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from esd.exceptions import InvalidParameter

from .cells import _normalise, _sha256, canonical_json, cell_id
from .checkpoint import CorruptedCheckpoint, ForeignCheckpoint, _Checkpoint
from .sweep import _check_cells, _sweep_config

__all__ = ["carry_checkpoint"]


def carry_checkpoint(source, checkpoint, cell_fn, cells, *, nets: int, seed: int, **cell_kwargs) -> dict:
    """Seed ``checkpoint`` (the sweep ``run_sweep(cell_fn, cells, nets=, seed=, **cell_kwargs)``)
    with the records of the older sweep in ``source`` that ``cell_fn.carry`` accepts.

    ``source`` must be a checkpoint of the same cell function (any version), with the same
    ``nets`` and ``seed``; it is read, never changed. Networks already in ``checkpoint`` are
    kept. Returns ``{"carried": ..., "recompute": ..., "present": ...}`` network counts over
    ``cells``. Raises InvalidParameter when ``cell_fn`` has no ``carry``, ForeignCheckpoint
    when ``source`` is another sweep, CorruptedCheckpoint when it cannot be read.
    """
    carry = getattr(cell_fn, "carry", None)
    if not callable(carry):
        raise InvalidParameter("cell_fn", cell_fn, "has no carry(record, source_config, cell_kwargs) "
                               "attribute: it cannot say which older records it would reproduce")
    config, config_hash = _sweep_config(cell_fn, nets, seed, cell_kwargs)
    cells = _check_cells(cells)
    source = Path(source)
    try:
        manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
        old, old_hash = manifest["config"], manifest["config_hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptedCheckpoint(source, f"has no readable sweep manifest ({exc})") from exc
    if _sha256(canonical_json(old)) != old_hash:
        raise CorruptedCheckpoint(source, "manifest.json fails its checksum (config_hash)")
    same = ("format", "cell_fn", "nets", "seed")
    if any(old.get(k) != config[k] for k in same):
        diff = "; ".join(f"{k} is {old.get(k)!r} there, {config[k]!r} here" for k in same
                         if old.get(k) != config[k])
        raise ForeignCheckpoint(source, f"is not an older run of this sweep ({diff})")
    if old_hash == config_hash:
        raise InvalidParameter("source", str(source), "is this very sweep: resume it with run_sweep")
    counts = {"carried": 0, "recompute": 0, "present": 0}
    src = _Checkpoint(source, old, old_hash, [], overwrite=False, read_only=True)
    try:
        dst = _Checkpoint(checkpoint, config, config_hash, cells, overwrite=False)
        try:
            for cell in cells:
                cid = cell_id(cell)
                have = dst.load(cell, cid)
                counts["present"] += len(have)
                new = {}
                for i, record in sorted(src.load(cell, cid).items()):
                    if i in have:
                        continue
                    kept = carry(record, old, config["cell_kwargs"])
                    if kept is not None:
                        new[i] = _normalise(f"carried record of network {i} of the cell {cell!r}", kept)
                counts["carried"] += len(new)
                counts["recompute"] += nets - len(have) - len(new)
                if len(have) + len(new) == nets:
                    dst.finish(cell, cid, [{**have, **new}[i] for i in range(nets)])
                else:
                    for i, record in new.items():
                        dst.append(cid, i, record)
        finally:
            dst.close()
    finally:
        src.close()
    return counts
