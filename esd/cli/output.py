"""How every subcommand answers: one JSON object on stdout with ``--json``, else a text
summary; figures go to ``--plot PATH`` and the text says where."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Callable

import numpy as np


def _json_default(value):
    """numpy scalars and arrays, and paths, as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def to_json(out: dict) -> str:
    return json.dumps(out, sort_keys=True, default=_json_default)


def key_table(keys, width: int = 30) -> Callable[[dict], None]:
    """A text renderer printing ``key: value`` for those of ``keys`` present in the output."""
    def render(out):
        for key in keys:
            if key in out:
                print(f"{key:>{width}}: {out[key]}")
    return render


def emit(out: dict, args, render: Callable[[dict], None]) -> int:
    """Print ``out`` as one JSON object (``--json``) or through ``render``; exit status 0."""
    if getattr(args, "json", False):
        print(to_json(out))
        return 0
    render(out)
    plot = getattr(args, "plot", None)
    if plot:
        print(f"{'plot':>30}: {plot}")
    return 0
