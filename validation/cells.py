"""Sweep cells: their canonical JSON, ids and network seeds, and grids of cells.

A cell is known by the canonical JSON of its parameters (:func:`canonical_json`): its id
(:func:`cell_id`, the name of its checkpoint file) and the random stream of each of its
networks (:func:`network_seed`) are functions of that text alone; :func:`parse_range`
and :func:`make_grid` build the list of cells a sweep runs over.

Seeds (NumPy's parallel-streams recipe): network ``i`` of a cell gets
``SeedSequence(entropy=seed, spawn_key=(0, h0, h1, h2, h3, i))`` where h0..h3 are the
first 128 bits of the SHA-256 of the cell's canonical JSON (:func:`canonical_json`). A
network's stream therefore depends only on the sweep seed, the cell's content and the
index: not on the grid, the order of execution, the worker, or the backend; for a
deterministic cell function a serial run, a process pool and a Dask cluster give
identical records. Bootstrap intervals of a
cell use spawn key ``(1, h0, h1, h2, h3)``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import struct
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from numbers import Integral, Real

import numpy as np

from esd.exceptions import InvalidParameter

__all__ = ["canonical_json", "cell_id", "network_seed", "parse_range", "make_grid"]

# First element of the spawn key: which stream of a cell (see the module docstring).
_NETWORK_STREAM, _STATISTICS_STREAM = 0, 1


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

    Examples
    --------
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

    Examples
    --------
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
