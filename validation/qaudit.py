"""The audit of a fixed-point count: a double-sampling estimate of the mean of Q.

A sweep counts the fixed points of n networks with a search that can miss some. Its index
check does not certify a count: a missed pair of points of index +1 and -1 leaves the index
sum at 1. An audit counts a uniform random subsample of m of the *same* networks again with
the exhaustive search (``find_fixed_points(..., lifted_exhaust=True)``), which makes the same
draws and continues, so it reports a superset of the points: the audited count e_i >= c_i.

The mean of e over networks is then estimated by the difference estimator of double sampling
(Cochran, *Sampling Techniques*, 3rd ed., section 12.7)::

    mu_hat = mean_n(c) + mean_m(d),        d_i = e_i - c_i >= 0,

unbiased for E[e] because the subsample is uniform. Its variance, with c over the n networks
and d over the m audited ones (the m are among the n)::

    Var(mu_hat) = Var(c)/n + Var(d)/m + 2 Cov(c, d)/n,

estimated with the sample variance of c over all n networks and the sample variance of d and
covariance of (c, d) over the m audited ones. The standard error is the square root. E[e] is
itself a lower bound on E[Q]: the exhaustive search also has a budget.

Network seeds depend only on (sweep seed, cell, network index), so the first m networks of
a cell are a uniform subsample of its n: an audit is a sweep of the same cells with
``nets = m`` and ``lifted_exhaust=True``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from esd.exceptions import EsdError, InvalidParameter

__all__ = ["AuditMismatch", "audited_mean", "audit_cell"]


class AuditMismatch(EsdError):
    """An audited record is not the exhaustive recount of the sweep's network."""


def _counts(name, values) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)) \
            or np.any(a < 0):
        raise InvalidParameter(name, values, "must be a non-empty 1-d sequence of counts >= 0")
    return a.astype(float)


def audited_mean(counts, audited) -> dict:
    """The double-sampling estimate of the mean of the audited count (module docstring).

    Parameters
    ----------
    counts : sequence of n counts >= 0
        The sweep's count c_i of every network of the cell.
    audited : sequence of m counts, 2 <= m <= n
        The exhaustive recounts e_i of networks 0..m-1 (a uniform subsample). Each must be
        at least the sweep's count: the exhaustive search reports a superset.

    Returns
    -------
    dict
        ``value`` and ``stderr`` of E[e]; ``sweep`` (the mean of c, with its ``stderr``);
        ``correction`` (the mean of d, with its ``stderr``); ``n``, ``m``; ``raised``, the
        number of audited networks whose count went up; ``max_raise``.
    """
    c = _counts("counts", counts)
    e = _counts("audited", audited)
    n, m = c.size, e.size
    if not 2 <= m <= n:
        raise InvalidParameter("audited", audited, f"must hold 2 to n = {n} recounts (the first networks)")
    d = e - c[:m]
    if np.any(d < 0):
        i = int(np.flatnonzero(d < 0)[0])
        raise AuditMismatch(f"network {i}: the audit counts {e[i]:g} < the sweep's {c[i]:g}; the exhaustive "
                            "search reports a superset, so the records are not of the same network or search")
    var_c = float(np.var(c, ddof=1)) if n > 1 else 0.0
    var_d = float(np.var(d, ddof=1))
    cov = float(np.cov(c[:m], d, ddof=1)[0, 1])
    var = max(var_c / n + var_d / m + 2.0 * cov / n, 0.0)
    return {"value": float(c.mean() + d.mean()), "stderr": math.sqrt(var),
            "sweep": {"value": float(c.mean()), "stderr": math.sqrt(var_c / n)},
            "correction": {"value": float(d.mean()), "stderr": math.sqrt(var_d / m)},
            "n": n, "m": m, "raised": int(np.sum(d > 0)), "max_raise": float(d.max())}


def _seed_key(record: dict, i: int, which: str):
    params = record.get("params") if isinstance(record, dict) else None
    if not isinstance(params, dict) or "seed_spawn_key" not in params:
        raise InvalidParameter(which, i, "records must be FixedPointResult.to_dict() records with params")
    return params.get("seed_entropy"), tuple(params["seed_spawn_key"])


def audit_cell(records: Sequence[dict], audit: Sequence[dict]) -> dict:
    """``audited_mean`` of Q_all and Q_stable for one cell, from the sweep's and the audit's records.

    ``audit[i]`` must be the exhaustive recount of ``records[i]``: the same network seed, and
    ``lifted_exhaust`` in its params (AuditMismatch otherwise). Returns
    ``{"q_all": ..., "q_stable": ..., "index_sum_one": share of audited networks whose
    exhaustive count has index sum 1}``.
    """
    if len(audit) > len(records):
        raise InvalidParameter("audit", len(audit), f"must hold at most the sweep's {len(records)} records")
    for i, (r, a) in enumerate(zip(records, audit)):
        if _seed_key(r, i, "records") != _seed_key(a, i, "audit"):
            raise AuditMismatch(f"network {i}: the audit's network seed differs from the sweep's")
        if a["params"].get("lifted_exhaust") is not True:
            raise AuditMismatch(f"network {i}: the audit record was not made with lifted_exhaust=True")
    return {key: audited_mean([r[key] for r in records], [a[key] for a in audit]) for key in ("q_all", "q_stable")} \
        | {"index_sum_one": float(np.mean([a["index_sum"] == 1 for a in audit]))}
