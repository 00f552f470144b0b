"""The audit of a fixed-point count (validation.qaudit): the double-sampling estimator."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esd.exceptions import InvalidParameter
from validation import AuditMismatch, audit_cell, audited_mean, run_sweep
from validation.sweep import fixed_point_cell


def test_audited_mean_by_hand():
    """n = 4 counts, the first m = 3 audited (raises 0, 2, 1): mean 2.5 + 1 = 3.5; the variance
    is Var(c)/n + Var(d)/m + 2 Cov(c, d)/n with ddof 1."""
    c, e = [1, 3, 1, 5], [1, 5, 2]
    r = audited_mean(c, e)
    var_c, var_d = np.var(c, ddof=1), np.var([0, 2, 1], ddof=1)
    cov = np.cov([1, 3, 1], [0, 2, 1])[0, 1]
    assert r["value"] == pytest.approx(3.5) and r["sweep"]["value"] == pytest.approx(2.5)
    assert r["correction"]["value"] == pytest.approx(1.0)
    assert r["stderr"] == pytest.approx(np.sqrt(var_c / 4 + var_d / 3 + 2 * cov / 4))
    assert (r["n"], r["m"], r["raised"], r["max_raise"]) == (4, 3, 2, 2.0)


def test_audited_mean_is_unbiased_and_its_stderr_calibrated():
    """Networks whose sweep count misses points more often the more points they have (the
    sweeps' pattern): over 4000 repetitions the estimate averages to E[e], not E[c], and the
    mean reported variance matches the variance of the estimates within 5% (dropping the
    covariance term would be 15% low, and the heavy tail makes the mean standard error itself
    a few percent low). The sweep's mean alone is off by the mean miss (1.2 here), more than 30
    of its standard errors."""
    rng = np.random.default_rng(3)
    n, m, reps = 60, 12, 4000
    est, se, plain = np.empty(reps), np.empty(reps), np.empty(reps)
    for k in range(reps):
        e = 1 + 2 * rng.poisson(rng.exponential(1.5, n))  # 1 + pairs of points, E[e] = 4
        c = e - 2 * rng.binomial((e - 1) // 2, 0.4)  # each pair missed with probability 0.4
        r = audited_mean(c, e[:m])
        est[k], se[k], plain[k] = r["value"], r["stderr"], r["sweep"]["value"]
    truth = 4.0
    assert abs(est.mean() - truth) < 4 * est.std() / np.sqrt(reps)
    assert np.mean(se ** 2) == pytest.approx(est.var(), rel=0.05)
    assert truth - plain.mean() > 30 * plain.std() / np.sqrt(reps)


def test_audited_mean_errors():
    with pytest.raises(InvalidParameter, match="audited"):
        audited_mean([1, 2, 3], [1])
    with pytest.raises(InvalidParameter, match="audited"):
        audited_mean([1, 2], [1, 2, 3])
    with pytest.raises(InvalidParameter, match="counts"):
        audited_mean([1, -2, 3], [1, 2])
    with pytest.raises(InvalidParameter, match="counts"):
        audited_mean([], [1, 2])
    with pytest.raises(InvalidParameter, match="audited"):
        audited_mean([1, 2, 3], [1, float("nan")])
    with pytest.raises(AuditMismatch, match="network 1"):
        audited_mean([1, 3, 3], [1, 1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=2, max_size=30), st.data())
def test_audited_mean_properties(c, data):
    """The estimate is at least the sweep's mean, by the mean raise exactly; with nothing
    raised it is the sweep's mean and the correction has no spread."""
    m = data.draw(st.integers(2, len(c)))
    raise_ = data.draw(st.lists(st.integers(0, 20), min_size=m, max_size=m))
    r = audited_mean(c, [a + b for a, b in zip(c, raise_)])
    assert r["value"] == pytest.approx(np.mean(c) + np.mean(raise_))
    assert r["stderr"] >= 0 and np.isfinite(r["stderr"])
    r0 = audited_mean(c, c[:m])
    assert r0["value"] == pytest.approx(np.mean(c)) and r0["correction"]["stderr"] == 0.0


def test_audit_cell_pairs_the_sweeps_networks():
    """A weak sweep (Phase 4 only while the index sum is off) and its audit (the first 3
    networks, lifted_exhaust) on one Cauchy cell: the audit recounts the same networks, never
    lower. A record from another network or without lifted_exhaust is refused."""
    cell = {"activation": "sigmoid", "weights": "cauchy", "sigma_w": 30.0, "sigma_b": 0.5, "depth": 4,
            "width": 8}
    kw = dict(starts=30, newton_starts=10, newton_rounds=1, homotopy_paths=0, lifted_branches=4,
              lifted_paths=1, lifted_steps=1500)
    sweep = run_sweep(fixed_point_cell, [cell], nets=6, seed=11, **kw).cells[0].records
    audit = run_sweep(fixed_point_cell, [cell], nets=3, seed=11, lifted_exhaust=True, **kw).cells[0].records
    out = audit_cell(sweep, audit)
    assert out["q_all"]["m"] == 3 and out["q_all"]["n"] == 6
    assert out["q_all"]["value"] >= out["q_all"]["sweep"]["value"]
    assert out["q_stable"]["value"] >= out["q_stable"]["sweep"]["value"]
    assert 0.0 <= out["index_sum_one"] <= 1.0
    with pytest.raises(AuditMismatch, match="seed"):
        audit_cell(sweep, audit[1:])
    with pytest.raises(AuditMismatch, match="lifted_exhaust"):
        audit_cell(sweep, sweep[:3])
    with pytest.raises(InvalidParameter, match="audit"):
        audit_cell(sweep[:2], audit)
