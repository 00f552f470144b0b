"""Heavy-tailed cavity solver (esd.heavy.cavity): validation, reproducibility, simulation agreement.

Default tests are light (a few seconds each on 2 cores); comparisons needing several widths
or depths are marked ``slow``.
"""

import math

import numpy as np
import pytest

from esd import InvalidParameter
from esd.heavy.cavity import HeavyTailedJacobian, singular_value_density
from esd.heavy.cavity_result import CavityResult, _log_linear_integral

TOP_TAIL_L3 = 0.10   # measured: cavity 0.853 +- 0.004 vs simulation 0.791 (P = 1000, grid = 17)
SMALL = dict(population=1500, sweeps=20, burn_in=20, repeats=2, n_explicit=16, grid=9)


# -- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(activation="relu"), "activation"),
    (dict(activation="nope"), "activation"),
    (dict(sigma_w=0.0), "sigma_w"),
    (dict(sigma_b=-1.0), "sigma_b"),
    (dict(depth=0), "depth"),
    (dict(alpha=2.0), "alpha"),
    (dict(population=3), "population"),
    (dict(repeats=0), "repeats"),
    (dict(grid=1), "grid"),
    (dict(decoupled="yes"), "decoupled"),
    (dict(rng="seed"), "rng"),
    (dict(input_scale=0.0), "input_scale"),
    (dict(closed="yes"), "closed"),
    (dict(closed=True, input_scale=1.0), "input_scale"),
])
def test_invalid_parameters(kwargs, name):
    args = dict(activation="tanh", sigma_w=1.0, sigma_b=0.1, depth=1)
    args.update(kwargs)
    with pytest.raises(InvalidParameter) as info:
        HeavyTailedJacobian(args.pop("activation"), args.pop("sigma_w"), args.pop("sigma_b"),
                            args.pop("depth"), **args)
    assert info.value.name == name


def test_invalid_points():
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, **SMALL)
    with pytest.raises(InvalidParameter):
        h.singular_value_density([-1.0])
    with pytest.raises(InvalidParameter):
        h.radial_cdf([0.0])
    with pytest.raises(InvalidParameter):
        h.log_singular_value_quantiles((0.5, 1.0))


# -- reproducibility and bookkeeping ----------------------------------------------------------
def test_seeded_runs_are_reproducible_and_dict_carries_params():
    a = singular_value_density("tanh", 1.0, 0.1, [0.5], rng=7, **SMALL)
    b = singular_value_density("tanh", 1.0, 0.1, [0.5], rng=7, **SMALL)
    assert isinstance(a, CavityResult)
    np.testing.assert_array_equal(a.mean, b.mean)
    d = a.to_dict()
    assert d["params"]["sigma_w"] == 1.0 and d["params"]["population"] == 1500
    assert d["quantity"] == "singular_value_density" and "esd_version" in d
    assert np.all(np.isfinite(a.stderr)) and a.convergence < 0.2


# -- one layer: docs/theory/heavy-tailed.md check values ----------------------------------------
def test_one_layer_tanh_check_values():
    """docs/theory/heavy-tailed.md (simulation N = 500): rho_s(0.3) = 0.82, rho_s(1) = 0.288,
    rho_s(2) = 0.055; population dynamics there: 0.83 / 0.266 / 0.052. Allow the stated
    population-dynamics deviation (t_min bulk approximation, ~8%) plus 4 standard errors."""
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, population=3000, sweeps=20, burn_in=15,
                            repeats=2, n_explicit=24, rng=11)
    res = h.singular_value_density([0.3, 1.0, 2.0])
    sim = np.array([0.82, 0.288, 0.055])
    tol = 0.10 * sim + 4.0 * res.stderr
    assert np.all(np.abs(res.mean - sim) <= tol), (res.mean, res.stderr)


@pytest.mark.slow
def test_one_layer_sigmoid_check_values():
    """docs/theory/heavy-tailed.md sigmoid sigma_w = 4, sigma_b = 0.5: simulation 0.750 / 0.164 / 0.0107 at
    s = 0.3 / 1 / 3; the decoupled-slope values 0.559 / 0.168 / 0.0248 are excluded."""
    h = HeavyTailedJacobian("sigmoid", 4.0, 0.5, 1, population=6000, sweeps=30, burn_in=20,
                            repeats=2, n_explicit=32, rng=12)
    res = h.singular_value_density([0.3, 1.0, 3.0])
    sim = np.array([0.750, 0.164, 0.0107])
    assert np.all(np.abs(res.mean - sim) <= 0.08 * sim + 4.0 * res.stderr), (res.mean, res.stderr)


def test_one_layer_agrees_with_simulation():
    """Cheap simulation agreement (default suite): density of singular values of a tanh
    cauchy layer in two bins, N = 200, 6 networks, vs the cavity density averaged over the
    bin (three points)."""
    from validation.montecarlo import simulate
    sim = simulate("tanh", "cauchy", 1.0, 0.1, 1, 200, 6, seed=3)
    s = np.sqrt(np.maximum(sim.sv2.ravel(), 0.0))
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, population=2000, sweeps=20, burn_in=15,
                            repeats=2, n_explicit=20, rng=5)
    bins = ((0.2, 0.45), (0.7, 1.4))
    dens = h.singular_value_density(np.concatenate([np.linspace(lo, hi, 3) for lo, hi in bins]))
    for b, (lo, hi) in enumerate(bins):
        frac = np.mean((s > lo) & (s <= hi))
        err = math.sqrt(frac * (1 - frac) / s.size) * 2.0        # eigenvalue correlations: x2
        rho = dens.mean[3 * b: 3 * b + 3]
        theory = (hi - lo) * (rho[0] + 2 * rho[1] + rho[2]) / 4.0
        assert abs(theory - frac) <= 4.0 * err + 0.08 * frac, (lo, hi, theory, frac, err)


# -- eigenvalues --------------------------------------------------------------------------
def test_radial_cdf_is_monotone_and_bounded():
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, **SMALL, rng=3)
    res = h.radial_cdf([0.05, 0.3, 1.0, 3.0])
    assert np.all((res.mean > -0.01) & (res.mean < 1.01))
    assert np.all(np.diff(res.mean) > -3.0 * (res.stderr[1:] + res.stderr[:-1]))
    assert res.mean[-1] > 0.99


def test_decoupled_is_worse_than_coupled_for_eigenvalues():
    """Regression guard (docs/theory/heavy-tailed.md: decoupling D from W moved the fraction of eigenvalues
    outside the unit circle from ~0.003 to ~0.1 for tanh). One layer: simulation gives a
    fraction of order 1e-3; the coupled cavity must be close to it, the decoupled one far."""
    kw = dict(population=1500, sweeps=15, burn_in=15, repeats=2, n_explicit=16, grid=5)
    coupled = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=4, **kw).fraction_outside_unit_circle()
    free = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=4, decoupled=True,
                               **kw).fraction_outside_unit_circle()
    assert coupled.mean[0] < 0.01
    assert free.mean[0] > 0.05


# -- J at a fixed point (closed network), input scales, log growth ---------------------------
def test_closed_network_is_for_eigenvalues_only():
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, closed=True, **SMALL)
    with pytest.raises(InvalidParameter, match="closed"):
        h.singular_value_density([0.5])
    assert h.params["closed"] is True and h.params["input_scale"] == h.params["gamma_star"]


def test_fixed_point_jacobian_has_more_mass_outside():
    """tanh L = 1: at a fixed point a unit's slope and the value it feeds back come from the
    same pre-activation; unsaturated units (slope ~ 1) feed x ~ 0, so the large weights
    leaving them do not saturate the next units. Measured (P = 2000, eta = 1e-5):
    F(0.8) = 0.937 closed vs 0.977 open; simulation 0.930 at fixed points (N = 300, 60
    networks, 122 points) vs 0.977 at random inputs (N = 300..3000)."""
    kw = dict(population=1000, sweeps=15, burn_in=15, repeats=2, n_explicit=16, grid=9)
    open_ = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=5, **kw).radial_cdf([0.8])
    closed = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=5, closed=True, **kw).radial_cdf([0.8])
    assert open_.mean[0] > 0.96
    assert 0.90 < closed.mean[0] < 0.955


def test_input_scale_moves_the_eigenvalue_law():
    """Inputs nearer 0 (gamma_0 < gamma*) leave large weights unsaturated: more mass outside."""
    kw = dict(population=800, sweeps=12, burn_in=12, repeats=2, n_explicit=16, grid=5)
    gs = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, **kw).gamma_star
    low = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, input_scale=0.5 * gs, rng=2, **kw)
    at = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=2, **kw)
    assert low.params["input_scale"] == pytest.approx(0.5 * gs)
    assert (low.fraction_outside_unit_circle().mean[0]
            > at.fraction_outside_unit_circle().mean[0] + 0.005)


def test_log_linear_integral_is_exact_for_exponential_tails():
    t = np.array([0.0, 0.1, 0.3, 0.7, 1.0])
    body, tail = _log_linear_integral(t, 0.2 * np.exp(-3.0 * t))
    assert body == pytest.approx(0.2 * (1.0 - math.exp(-3.0)) / 3.0, rel=1e-12)
    assert tail == pytest.approx(0.2 * math.exp(-3.0) / 3.0, rel=1e-12)
    assert _log_linear_integral(t, np.zeros(5)) == (0.0, 0.0)


def test_log_growth_scales_with_depth_for_identical_layers():
    """K = L int log max(1, |mu|) dmu_C: the closed network's layers are identical, so K / L
    does not depend on L; f_out = 1 - F_C(1) neither (docs/theory/q-predictors.md note)."""
    kw = dict(population=800, sweeps=12, burn_in=12, repeats=2, n_explicit=16, grid=5, closed=True)
    one = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=6, **kw).log_growth()
    two = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, rng=6, **kw).log_growth()
    assert one.mean[0] > 0 and one.extra["tail_share"] < 0.05
    assert two.mean[0] / 2 == pytest.approx(one.mean[0], rel=0.35)
    assert two.mean[1] == pytest.approx(one.mean[1], rel=0.35)
    with pytest.raises(InvalidParameter, match="r_grid"):
        HeavyTailedJacobian("tanh", 1.0, 0.1, 1, **SMALL).log_growth(r_grid=(1.5, 2.0, 3.0))


@pytest.mark.slow
def test_closed_network_against_fixed_points_in_simulation():
    """The radial law of J at fixed points found by Newton (N = 300) against the closed
    cavity network, and away from the open one."""
    from validation.basins import jacobian_eigenvalues
    from validation.fixedpoints import find_fixed_points
    from validation.sampling import sample_network
    radii = [0.3, 0.5, 0.8]
    absl = []
    for k in range(30):
        rng = np.random.default_rng([7, 300, 1, k])
        net = sample_network("tanh", "cauchy", 1.0, 0.1, 1, 300, alpha=1.0, rng=rng)
        res = find_fixed_points(net, starts=16, newton_starts=16, rng=rng, homotopy_paths=0)
        absl += [np.abs(e) for e in jacobian_eigenvalues(net, res)]
    a = np.concatenate(absl)
    sim = np.array([(a <= r).mean() for r in radii])
    kw = dict(population=2000, repeats=2)
    closed = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, closed=True, rng=1, **kw).radial_cdf(radii, eta=1e-5)
    open_ = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=1, **kw).radial_cdf(radii, eta=1e-5)
    assert np.max(np.abs(closed.mean - sim)) < 0.025
    assert np.max(np.abs(open_.mean - sim)) > 0.03


@pytest.mark.slow
def test_fraction_outside_against_simulation_tanh_depth4():
    """docs/theory/heavy-tailed.md: tanh L = 4, N = 600: 0.003..0.005 (decoupled/rotated: 0.125 / 0.013)."""
    from validation.montecarlo import simulate
    sim = simulate("tanh", "cauchy", 1.0, 0.1, 4, 400, 4, seed=8)
    frac_sim = float(np.mean(np.abs(sim.eigs) > 1.0))
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 4, population=2000, sweeps=20, burn_in=20,
                            repeats=2, n_explicit=16, grid=17, rng=9)
    cav = h.fraction_outside_unit_circle().mean[0]
    free = HeavyTailedJacobian("tanh", 1.0, 0.1, 4, population=2000, sweeps=20, burn_in=20,
                               repeats=2, n_explicit=16, grid=17, rng=9,
                               decoupled=True).fraction_outside_unit_circle().mean[0]
    assert abs(cav - frac_sim) < abs(free - frac_sim)
    assert cav < 0.02


# -- singular-value tail and quantiles ------------------------------------------------------
def test_no_flat_floor_above_the_spectrum_and_threads_do_not_change_results():
    """The density of log10 s, ln(10) s rho_s(s), must decay above the spectrum: the old
    estimator Im E R had a floor ln(10) eta_rel / pi = 0.037 per decade at eta_rel = 0.05."""
    kw = dict(population=1000, sweeps=8, burn_in=10, warm_burn_in=3, repeats=2, n_explicit=16)
    a = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=1, threads=1, **kw)
    b = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=1, threads=2, **kw)
    s = np.array([1e3, 1e2, 1.0])
    ra, rb = a.singular_value_density(s, eta_rel=0.05), b.singular_value_density(s, eta_rel=0.05)
    np.testing.assert_array_equal(ra.mean, rb.mean)
    per_decade = math.log(10.0) * s * ra.mean
    assert per_decade[0] < 2e-3 and per_decade[1] < 5e-3 and per_decade[2] > 0.3, per_decade


# Simulation (validation.montecarlo, cauchy, pooled over networks), log10 s quantiles
# 0.5/0.75/0.9/0.99 at N = 300 / 600 / 1000 (60 / 24 / 12 networks), bootstrap SE <= 0.03:
#   tanh L=1: -0.460 -0.104 0.159 0.658 / -0.473 -0.110 0.150 0.661 / -0.462 -0.104 0.150 0.654
#   tanh L=3: -1.576 -0.652 -0.061 0.794 / -1.565 -0.640 -0.047 0.784 / -1.571 -0.636 -0.045 0.795
# No width trend beyond the SE: the tolerance is the cavity's own systematic error (population
# size, t_min bulk, output grid), stated per test, plus 4 cavity SE.
def test_one_layer_tanh_quantiles_against_simulation():
    """Measured: -0.468 / -0.106 / 0.156 / 0.659 (+- 0.003) at the defaults."""
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=2)
    res = h.log_singular_value_quantiles()
    sim = np.array([-0.465, -0.106, 0.153, 0.658])
    tol = 0.02 + 4.0 * res.stderr
    assert np.all(np.abs(res.mean - sim) <= tol), (res.mean, res.stderr)
    assert res.params["order"] >= 8 and res.extra["pilot"]["span"] < 2.0


def test_step_filter_is_the_smoothed_counting_function():
    """-(2/M) sum_j Re(omega_j/(t - omega_j)) over the upper-half-plane roots of t^M = -1
    (the resolvent form h = w/(s_k^2 - w) at w = s^2 omega_j) equals 1/(1 + t^M)."""
    from esd.heavy.cavity_sv import filter_points
    for order in (2, 4, 10):
        w = filter_points([1.0], order)[0] ** 2
        for t in (1e-3, 0.5, 0.99, 1.0, 1.7, 40.0):
            h = w / (t - w)
            assert abs(-(2.0 / order) * h.real.sum() - 1.0 / (1.0 + t ** order)) < 1e-12


def test_cdf_inversion_and_filter_order():
    """logit-PCHIP inversion on a coarse grid: exact for a logistic CDF (logit F linear),
    within 0.005 for a gaussian one at step 0.5 (sd 0.5 decades); the order rule."""
    from scipy.special import ndtr, ndtri

    from esd.heavy.cavity_sv import _invert_cdf, auto_order
    probs = np.array([0.5, 0.75, 0.9, 0.99])
    u = np.arange(-3.0, 3.01, 0.5)
    logistic = 1.0 / (1.0 + np.exp(-(u - 0.3) / 0.4))
    np.testing.assert_allclose(_invert_cdf(u, logistic, probs),
                               0.3 + 0.4 * np.log(probs / (1 - probs)), atol=1e-9)
    got = _invert_cdf(u, ndtr((u + 0.2) / 0.5), probs)
    assert np.max(np.abs(got - (-0.2 + 0.5 * ndtri(probs)))) < 0.005, got
    assert np.isnan(_invert_cdf(u, 0.6 + 0.0 * u + 0.3 * (u > 0), [0.5, 0.95])).all()
    assert [auto_order(x) for x in (10.0, 2.9, 1.1, 0.5, 0.01)] == [4, 4, 10, 22, 32]


def test_filter_cdf_against_simulation_like_for_like():
    """F_M(s) = mean 1/(1 + (s_k/s)^8) over simulated singular values (N = 300, 10 networks,
    seed 4: 0.2715 / 0.6121 / 0.8198 / 0.9780); the cavity gave 0.2723 / 0.6114 / 0.8154 /
    0.9743. No interpolation is involved: this checks the filter and the population."""
    from validation.montecarlo import simulate
    s = np.array([0.1, 0.5, 1.0, 3.0])
    sim = simulate("tanh", "cauchy", 1.0, 0.1, 1, 300, 10, seed=4, alpha=1.0)
    sk = np.sqrt(np.maximum(sim.sv2, 0.0)).ravel()
    ref = np.array([np.mean(1.0 / (1.0 + (sk / x) ** 8)) for x in s])
    res = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, rng=3).singular_value_cdf(s, order=4)
    assert np.all(np.diff(res.mean) > 0) and np.all((res.mean > 0) & (res.mean < 1))
    assert np.all(np.abs(res.mean - ref) <= 0.02 + 4.0 * res.stderr), (res.mean, ref)
    wrong = HeavyTailedJacobian("tanh", 2.0, 0.1, 1, rng=3).singular_value_cdf(s, order=4)
    assert np.max(np.abs(wrong.mean - ref)) > 0.1


def test_pilot_widens_the_range_and_quantiles_match_their_cdf():
    """sigma_w = 0.01, L = 2: s ~ 1e-4, below the pilot's first window [-4, 2]; the pilot must
    widen it, and F_M at the returned quantiles must give back the probabilities."""
    h = HeavyTailedJacobian("tanh", 0.01, 0.1, 2, population=300, sweeps=4, rng=1)
    probs = (0.5, 0.9)
    q = h.log_singular_value_quantiles(probs)
    assert q.extra["pilot"]["log10_s"][0] < -4.0 and np.all(np.isfinite(q.mean))
    f = np.interp(q.mean, q.extra["log10_s"], q.extra["cdf"])
    assert np.all(np.abs(f - probs) < 0.03), f


@pytest.mark.parametrize("kwargs, name", [(dict(order=3), "order"), (dict(order=0), "order"),
                                          (dict(step=0.0), "step"),
                                          (dict(log10_range=(1.0, -1.0)), "log10_range"),
                                          (dict(probs=(0.5, float("nan"))), "probs")])
def test_quantile_arguments_are_checked(kwargs, name):
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, **SMALL)
    with pytest.raises(InvalidParameter) as info:
        h.log_singular_value_quantiles(**kwargs)
    assert info.value.name == name


# -- depth ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_depth3_tanh_quantiles_against_theory_simulation():
    """Simulation table above (mean over the three widths). The 0.99 quantile carries the
    output-grid error of the deeper layers (module docstring): tolerance TOP_TAIL_L3."""
    h = HeavyTailedJacobian("tanh", 1.0, 0.1, 3, rng=2)
    res = h.log_singular_value_quantiles()
    sim = np.array([-1.571, -0.643, -0.051, 0.791])
    tol = np.array([0.08, 0.05, 0.05, TOP_TAIL_L3]) + 4.0 * res.stderr
    assert np.all(np.abs(res.mean - sim) <= tol), (res.mean, res.stderr)


def test_alpha_to_two_approaches_the_gaussian_theory():
    # S -> N(0, 2) as alpha -> 2: the cavity quantiles of a one-layer tanh network must approach
    # the free-probability theory with sigma_w, sigma_b scaled by sqrt(2). Measured gaps at
    # alpha = 1.97 (population 1000): 0.005 / 0.005 / 0.004 / 0.002 for 0.5 / 0.75 / 0.9 / 0.99
    # (the pilot's narrow spread sets a sharp filter, order 22, and a fine grid, step 0.09).
    import math

    import esd
    sol = esd.JacobianESD(esd.NetworkSpec("tanh", sigma_w=math.sqrt(2.0), sigma_b=0.1 * math.sqrt(2.0),
                                          depth=1))
    probs = (0.5, 0.75, 0.9, 0.99)
    ref = np.array([sol.quantile_log(p) / (2 * math.log(10)) for p in probs])
    near = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, alpha=1.97,
                               rng=5).log_singular_value_quantiles(probs)
    far = HeavyTailedJacobian("tanh", 1.0, 0.1, 1, alpha=1.5,
                              rng=5).log_singular_value_quantiles(probs)
    gap_near = np.abs(near.mean - ref)
    assert np.all(gap_near < 0.02 + 4 * near.stderr), (near.mean, ref)
    assert np.max(np.abs(far.mean - ref)) > 2 * np.max(gap_near)


# -- one population serving several points ------------------------------------------------------
def test_points_solved_together_agree_with_points_solved_apart():
    """A chunk of singular-value points (or a set of radii) shares one population's weights
    and slopes; each point's chain is still the single-point one, so the values agree
    within their standard errors, and the progress callback sees every point once."""
    seen = []
    kw = dict(population=800, sweeps=12, burn_in=15, warm_burn_in=6, repeats=2, threads=1, rng=3)
    s = [2.0, 1.0, 0.5, 0.25]
    apart = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, chunk=1, **kw).singular_value_density(s)
    together = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, chunk=4, progress=seen.append,
                                   **kw).singular_value_density(s)
    tol = 4.0 * np.hypot(apart.stderr, together.stderr) + 0.05 * apart.mean
    assert np.all(np.abs(apart.mean - together.mean) <= tol), (apart.mean, together.mean)
    assert sum(seen) == 2 * len(s)
    rho = np.array([0.3, 1.0])
    one = HeavyTailedJacobian("tanh", 1.0, 0.1, 2, **kw)
    both = one.radial_cdf(rho)
    single = np.array([one.radial_cdf([r]).mean[0] for r in rho])
    assert np.all(np.abs(both.mean - single) <= 4.0 * both.stderr + 0.01), (both.mean, single)
    assert both.select([1]).x.tolist() == [1.0]
