"""Checkpoints of a training run: one folder, atomic files, exact resume.

Layout of ``DIR``:

* ``run.json`` — the run's configuration (everything that determines the weights except
  the number of epochs). A rerun with a different configuration is refused, so a folder
  never mixes two runs.
* ``state.npz`` — the latest complete state: epoch, parameters, the optimiser's state
  leaves and the loss history. Written after an epoch, at most every ``STATE_SECONDS``
  of wall time, at every snapshot epoch and at the end; a kill loses at most that much.
* ``epoch_EEEEE.npz`` — the weights at a chosen epoch (per-layer ``W0, b0, ...`` as in
  :mod:`training.modelio`); a redone epoch rewrites it with the same numbers.

Every file is written to a temporary name in the same folder and renamed into place, so
a reader sees either the old file or the new one, never a partial write.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from esd.exceptions import InvalidParameter

from .formats import write_atomic

__all__ = ["STATE_SECONDS", "check_run", "read_state", "snapshot_path", "write_state"]

STATE_SECONDS = 2.0


def snapshot_path(folder, epoch: int) -> str:
    return os.path.join(folder, f"epoch_{epoch:05d}.npz")


def check_run(folder, config: dict) -> bool:
    """Create ``folder`` for ``config`` or check that it holds the same run.

    Returns True when the folder already belonged to this run (a resume). A folder of
    another run, or one whose ``run.json`` is unreadable, is refused.
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "run.json")
    wanted = json.loads(json.dumps(config, sort_keys=True))
    if not os.path.exists(path):
        write_atomic(path, json.dumps(wanted, sort_keys=True, indent=1).encode())
        return False
    try:
        with open(path) as fh:
            found = json.load(fh)
    except (OSError, ValueError) as exc:
        raise InvalidParameter("checkpoint", folder, f"run.json is unreadable ({exc}); "
                               "use an empty folder") from exc
    if found != wanted:
        diff = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        raise InvalidParameter("checkpoint", folder, f"holds another run (differs in {diff}); "
                               "use an empty folder or the same settings")
    return True


def write_state(folder, epoch: int, params: list, opt_leaves: list, history: list) -> None:
    """The latest complete state (float arrays stored exactly, in their own dtype)."""
    arrays = {"epoch": np.array(epoch), "history": np.asarray(history, dtype=np.float64)}
    for l, (w, b) in enumerate(params):
        arrays[f"W{l}"], arrays[f"b{l}"] = np.asarray(w), np.asarray(b)
    for k, leaf in enumerate(opt_leaves):
        arrays[f"opt{k}"] = np.asarray(leaf)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(os.path.join(folder, "state.npz"), buf.getvalue())


def read_state(folder, depth: int):
    """``(epoch, params, opt_leaves, history)`` of the latest state, or None if there is none."""
    path = os.path.join(folder, "state.npz")
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            epoch = int(data["epoch"])
            params = [(data[f"W{l}"], data[f"b{l}"]) for l in range(depth)]
            n_opt = sum(1 for k in data.files if k.startswith("opt"))
            leaves = [data[f"opt{k}"] for k in range(n_opt)]
            history = [float(v) for v in data["history"]]
    except (OSError, KeyError, ValueError) as exc:
        raise InvalidParameter("checkpoint", folder, f"state.npz is corrupted ({exc}); "
                               "delete it to restart from the last snapshot") from exc
    return epoch, params, leaves, history
