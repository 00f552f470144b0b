"""Statistics of the number of fixed points Q over weight draws (docs/theory/fixed-points.md).

Q(N, L) is a heavy-tailed random variable over networks, so it is reported as a
distribution, never as one number: mean, median, 10% and 90% quantiles, extremes, and
confidence intervals.

Conventions:

* quantiles are NumPy's default (linear interpolation between order statistics,
  Hyndman–Fan type 7);
* confidence intervals for the mean and the median are **percentile bootstrap**
  intervals: ``n_boot`` resamples with replacement, the interval is the
  ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the resampled statistic;
* a proportion (P(Q_stable > 1), the fraction of networks passing the index check) gets
  the **Wilson score** interval, which stays inside [0, 1] and is not degenerate at
  0 or n successes, unlike the normal approximation;
* ``rng`` follows SPEC 7 (``numpy.random.default_rng``): pass a seed for a reproducible
  interval; ``None`` draws fresh entropy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np
from scipy.special import ndtri

from esd.exceptions import InvalidParameter

__all__ = ["summarize", "wilson_interval", "q_statistics", "RECORD_KEYS"]

#: Keys every per-network record must hold (the summary of ``find_fixed_points``).
RECORD_KEYS = ("q_stable", "q_all", "index_sum", "periodic_fraction", "unresolved_fraction")

# Resamples drawn per block: bounds the (block, n) index array to a few tens of MB for
# any number of networks.
_BOOT_BLOCK_ELEMENTS = 4_000_000


def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, Real) or not 0.0 < level < 1.0:
        raise InvalidParameter("level", level, "must be a confidence level in the open interval (0, 1)")
    return float(level)


def _make_rng(rng) -> np.random.Generator:
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("rng", rng, "must be None, a seed (int, sequence of ints, "
                               "SeedSequence) or a numpy.random.Generator") from exc


def summarize(values, *, rng=None, n_boot: int = 2000, level: float = 0.9) -> dict:
    """Location, spread and bootstrap confidence intervals of a sample.

    Parameters
    ----------
    values : sequence of finite real numbers, at least one
    rng : None, seed or numpy.random.Generator
        Drives the bootstrap resampling only.
    n_boot : int
        Bootstrap resamples (>= 1).
    level : float
        Confidence level of both intervals, in (0, 1).

    Returns
    -------
    dict
        ``n``, ``mean``, ``median``, ``q10``, ``q90``, ``min``, ``max`` (floats),
        ``mean_ci`` and ``median_ci`` ([low, high], percentile bootstrap), ``level``,
        ``n_boot``. With one value both intervals collapse to that value.

    Examples
    --------
    >>> s = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9], rng=0)
    >>> s["median"], s["q10"], s["q90"]
    (5.0, 1.8, 8.2)
    """
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("values", values, "must be a sequence of real numbers") from exc
    if x.ndim != 1 or x.size == 0:
        raise InvalidParameter("values", values, "must be a non-empty one-dimensional sequence")
    if not np.all(np.isfinite(x)):
        raise InvalidParameter("values", values, f"must be finite ({int(np.sum(~np.isfinite(x)))} "
                               "NaN or infinite entries)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, Integral) or n_boot < 1:
        raise InvalidParameter("n_boot", n_boot, "must be an integer >= 1")
    level = _check_level(level)
    gen = _make_rng(rng)

    n = x.size
    boot_mean = np.empty(n_boot)
    boot_median = np.empty(n_boot)
    block = max(1, _BOOT_BLOCK_ELEMENTS // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        resampled = x[gen.integers(0, n, size=(stop - start, n))]
        boot_mean[start:stop] = resampled.mean(axis=1)
        boot_median[start:stop] = np.median(resampled, axis=1)
    tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    q10, median, q90 = np.quantile(x, [0.1, 0.5, 0.9])
    return {
        "n": int(n),
        "mean": float(x.mean()),
        "median": float(median),
        "q10": float(q10),
        "q90": float(q90),
        "min": float(x.min()),
        "max": float(x.max()),
        "mean_ci": [float(v) for v in np.quantile(boot_mean, tails)],
        "median_ci": [float(v) for v in np.quantile(boot_median, tails)],
        "level": level,
        "n_boot": int(n_boot),
    }


def wilson_interval(k: int, n: int, level: float = 0.9) -> list[float]:
    """Wilson score interval for a proportion k/n at confidence ``level``.

    ``center = (p + z^2/2n) / (1 + z^2/n)``,
    ``half = z / (1 + z^2/n) * sqrt(p (1 - p) / n + z^2 / 4n^2)``, with p = k/n and z the
    ``(1 + level)/2`` normal quantile (Wilson 1927).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(0, 10, level=0.95)]
    [0.0, 0.2775]
    """
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 0:
            raise InvalidParameter(name, v, "must be an integer >= 0")
    if n == 0 or k > n:
        raise InvalidParameter("k", k, f"must satisfy 0 <= k <= n with n >= 1 (n={n})")
    level = _check_level(level)
    z = float(ndtri((1.0 + level) / 2.0))
    p = k / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    # At k = 0 (k = n) the lower (upper) bound is exactly 0 (1); center -/+ half only
    # reaches it up to rounding.
    return [0.0 if k == 0 else center - half, 1.0 if k == n else center + half]


def _proportion(k: int, n: int, level: float) -> dict:
    return {"value": k / n, "k": k, "n": n, "ci": wilson_interval(k, n, level), "method": "wilson"}


def _column(records, key, *, high=None) -> list[float]:
    out = []
    for i, rec in enumerate(records):
        v = rec[key]
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v) or v < 0 \
                or (high is not None and v > high):
            rule = "a finite number >= 0" + ("" if high is None else f" and <= {high}")
            raise InvalidParameter(f"records[{i}][{key!r}]", v, f"must be {rule}")
        out.append(float(v))
    return out


def q_statistics(records, rng=None, *, level: float = 0.9, n_boot: int = 2000) -> dict:
    """Statistics of Q over networks from their per-network summaries.

    Parameters
    ----------
    records : sequence of dict
        One summary per network (``FixedPointResult.to_dict()``), each holding at least
        :data:`RECORD_KEYS`: ``q_stable`` and ``q_all`` (counts >= 0), ``index_sum``
        (an integer, or None when the index could not be evaluated), and
        ``periodic_fraction`` / ``unresolved_fraction`` (fractions of starts, in [0, 1]).
    rng : None, seed or numpy.random.Generator
        Drives every bootstrap, in the order of the keys below.
    level, n_boot : as in :func:`summarize`.

    Returns
    -------
    dict
        ``q_stable``, ``q_all``: :func:`summarize` of each count;
        ``p_multi``: P(Q_stable > 1) as {value, k, n, ci, method="wilson"};
        ``periodic_fraction``, ``unresolved_fraction``: the mean over networks of the
        fraction of starts ending on a periodic attractor / on no attractor, as
        {value, ci, method="bootstrap"};
        ``index_sum_ok``: the fraction of networks whose index sum is exactly 1 (the
        check of docs/theory/fixed-points.md; None counts as failed), as for ``p_multi``;
        ``n_networks``.
    """
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
        raise InvalidParameter("records", records, "must be a list of per-network summary dicts")
    if len(records) == 0:
        raise InvalidParameter("records", records, "must hold at least one network")
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InvalidParameter(f"records[{i}]", rec, "must be a dict (FixedPointResult.to_dict())")
        missing = [k for k in RECORD_KEYS if k not in rec]
        if missing:
            raise InvalidParameter(f"records[{i}]", sorted(rec), f"lacks the keys {missing}")
        index_sum = rec["index_sum"]
        if index_sum is not None and (isinstance(index_sum, bool) or not isinstance(index_sum, Integral)):
            raise InvalidParameter(f"records[{i}]['index_sum']", index_sum, "must be an integer or None")
    level = _check_level(level)
    gen = _make_rng(rng)
    n = len(records)

    q_stable = _column(records, "q_stable")
    q_all = _column(records, "q_all")
    out = {
        "q_stable": summarize(q_stable, rng=gen, n_boot=n_boot, level=level),
        "q_all": summarize(q_all, rng=gen, n_boot=n_boot, level=level),
        "p_multi": _proportion(sum(q > 1 for q in q_stable), n, level),
    }
    for key in ("periodic_fraction", "unresolved_fraction"):
        s = summarize(_column(records, key, high=1), rng=gen, n_boot=n_boot, level=level)
        out[key] = {"value": s["mean"], "ci": s["mean_ci"], "method": "bootstrap"}
    out["index_sum_ok"] = _proportion(sum(rec["index_sum"] == 1 for rec in records), n, level)
    out["n_networks"] = n
    return out
