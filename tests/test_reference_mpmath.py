"""High-precision checks: the mpmath reference (tests/reference.py) and the package against it.

Two parts:

* ``test_ref_*`` -- self-tests of the reference itself; they never import ``esd``
  (run them alone with ``pytest tests/test_reference_mpmath.py -k "not package"``);
* ``test_package_*`` -- the ``esd`` package compared with the reference.  ``esd`` is imported
  inside each test, so a missing or incomplete API FAILS these tests (no skips).

Sign convention (Pennington): ``G(z) = int rho(t)/(z - t) dt``, ``Im G < 0`` for ``Im z > 0``;
``m = zG - 1``; ``rho(x) = -Im m(x + i0) / (pi x)``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import pathlib
import sys

import mpmath as mp
import numpy as np
import pytest


def _load_reference():
    """Import tests/reference.py by path (works whether or not tests/ is a package)."""
    name = "esd_tests_mpmath_reference"
    if name in sys.modules:
        return sys.modules[name]
    path = pathlib.Path(__file__).with_name("reference.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
DPS = ref.DEFAULT_DPS


def _rel(a, b):
    """|a - b| / |b| at working precision (mpmath numbers or Python/numpy scalars)."""
    with mp.workdps(DPS):
        a, b = mp.mpmathify(a), mp.mpmathify(b)
        return abs(a - b) / abs(b)


# =================================================================================================
# Self-tests of the reference (no package)
# =================================================================================================

Q_GRID = ["1e-3", "0.05", "1", "30", "1e3"]


@pytest.mark.parametrize("q", Q_GRID)
def test_ref_erf_slope_moments_closed_form(q):
    """erf (normalised): mu_k = (1 + k pi q)^(-1/2) (docs/theory/light-tailed.md)."""
    with mp.workdps(DPS):
        q = mp.mpf(q)
        for k in (1, 2, 3, 4):
            exact = (1 + k * mp.pi * q) ** mp.mpf("-0.5")
            assert _rel(ref.mp_slope_moment("erf", q, k), exact) < 1e-20, (q, k)


@pytest.mark.parametrize("q", Q_GRID)
def test_ref_erf_length_map_closed_form(q):
    """erf: E[phi(sqrt(q) Z)^2] = (2/pi) arcsin(pi q / (2 + pi q))."""
    with mp.workdps(DPS):
        q = mp.mpf(q)
        exact = 2 / mp.pi * mp.asin(mp.pi * q / (2 + mp.pi * q))
        assert _rel(ref.mp_length_map("erf", q), exact) < 1e-20


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
@pytest.mark.parametrize("q", Q_GRID)
def test_ref_gauss_expect_two_precisions_two_splittings(name, q):
    """mp_gauss_expect: dps 30 vs dps 45 (tanh-sinh, extra split points) agree to ~1e-25."""
    phi, d = ref.mp_phi(name), ref.mp_slope(name)
    funcs = {"phi^2": lambda h: phi(h) ** 2, "d^3": lambda h: d(h) ** 3,
             "h^2 d": lambda h: h * h * d(h)}
    with mp.workdps(DPS):
        for label, f in funcs.items():
            a, err = ref.mp_gauss_expect(f, q, error=True)
            b = ref.mp_gauss_expect(f, q, dps=45, method="tanh-sinh",
                                    extra_points=("0.3", "0.7", "3", "5.5"))
            assert _rel(a, b) < 1e-25, (label, a, b)
            assert err < 1e-25 * abs(a), (label, err)


def test_ref_gauss_expect_normalisation_and_second_moment():
    """E[1] = 1 and E[h^2] = q, to ~30 digits, for q across six decades."""
    with mp.workdps(DPS):
        for q in Q_GRID:
            assert _rel(ref.mp_gauss_expect(lambda h: 1, q), 1) < 1e-27
            assert _rel(ref.mp_gauss_expect(lambda h: h * h, q), mp.mpf(q)) < 1e-27


SLOPE_W = [("0.4", "0.1"), ("0.4", "1e-9"), ("0.01", "1e-4"), ("0.98", "1e-5"),
           ("1.02", "1e-5"), ("-0.3", "0.01"), ("1e-6", "1e-7"), ("2", "3")]


@pytest.mark.parametrize("name,q", [("tanh", "1e-3"), ("tanh", "1e3"), ("sigmoid", "6"),
                                    ("erf", "3")])
def test_ref_slope_transform_contour_vs_real_line(name, q):
    """M_d(w): deformed contour (Gauss-Legendre, dps 30) vs graded real-line mesh (tanh-sinh,
    dps 40); ``w`` in units of max d, down to Im w = 1e-9 (the near-pole regime)."""
    law = ref.GaussianSlopeLaw(name, q, dps=DPS)
    hi = ref.GaussianSlopeLaw(name, q, dps=40)
    dmax = mp.mpf(1) / 16 if name == "sigmoid" else mp.mpf(1)
    with mp.workdps(DPS):
        for re_w, im_w in SLOPE_W:
            w = dmax * mp.mpc(re_w, im_w)
            a = law.M(w)
            with mp.workdps(40):
                b = hi.M(w, deform=False, method="tanh-sinh")
            assert _rel(a, b) < 1e-26, (w, a, b)
        for re_w, im_w in SLOPE_W[:2]:
            w = dmax * mp.mpc(re_w, im_w)
            da = law.dM(w)
            with mp.workdps(40):
                db = hi.dM(w, deform=False, method="tanh-sinh")
            assert _rel(da, db) < 1e-24, (w, da, db)


def test_ref_slope_transform_boundary_value_and_asymptotics():
    """Real w inside the support gives M(w + i0) (limit from above); large |w|: M ~ mu1/w."""
    law = ref.mp_slope_law("tanh", "0.8", dps=DPS)
    with mp.workdps(DPS):
        w = mp.mpf("0.4")
        on_axis = law.M(w)
        above = law.M(w + mp.mpc(0, "1e-20"))
        assert mp.im(on_axis) < -0.1
        assert abs(on_axis - above) < 1e-18
        big = mp.mpc("3e7", "2e7")
        mu1, mu2 = law.moment(1), law.moment(2)
        assert _rel(law.M(big), mu1 / big + mu2 / big**2) < 1e-13


@pytest.mark.parametrize("name,sigma_w,sigma_b", [("tanh", 1.0, 0.05), ("sigmoid", 8.0, 0.5),
                                                  ("erf", 2.0, 0.3)])
def test_ref_q_star_fixed_point(name, sigma_w, sigma_b):
    """q* solves q = sigma_w^2 V(q) + sigma_b^2 to ~30 digits and is stable."""
    qs_outside = ref.mp_q_star(name, sigma_w, sigma_b)  # called at mpmath's default 15 digits
    with mp.workdps(DPS):
        qs = ref.mp_q_star(name, sigma_w, sigma_b)
        assert qs == qs_outside  # the result does not depend on the caller's precision
        image = mp.mpf(sigma_w) ** 2 * ref.mp_length_map(name, qs) + mp.mpf(sigma_b) ** 2
        assert _rel(image, qs) < 1e-26
        if name == "erf":  # closed-form length map: independent root
            exact = mp.findroot(
                lambda q: mp.mpf(sigma_w) ** 2 * 2 / mp.pi * mp.asin(mp.pi * q / (2 + mp.pi * q))
                + mp.mpf(sigma_b) ** 2 - q, qs)
            assert _rel(qs, exact) < 1e-25
        # iterating from q = 1 approaches this q* monotonically
        q, dist = 1.0, abs(1.0 - float(qs))
        for _ in range(30):
            q = sigma_w**2 * float(ref.mp_length_map(name, q, dps=15)) + sigma_b**2
            assert abs(q - float(qs)) <= dist
            dist = abs(q - float(qs))
        assert dist < 0.02 * abs(1.0 - float(qs))


def test_ref_layer_q_recursion():
    with mp.workdps(DPS):
        # inputs are binary floats, as the package receives them
        qs = ref.mp_layer_q("tanh", [1.2, 0.8, 2.0], [0.1, 0.2, 0.3], 0.3)
        assert _rel(qs[0], mp.mpf(1.2) ** 2 * mp.mpf(0.3) + mp.mpf(0.1) ** 2) < 1e-28
        v = ref.mp_length_map("tanh", qs[1])
        assert _rel(qs[2], 4 * v + mp.mpf(0.3) ** 2) < 1e-28
        # input_variance=None: every layer at its own q*
        q_star = ref.mp_q_star("tanh", 1.5, 0.05)
        assert ref.mp_layer_q("tanh", [1.5, 1.5], 0.05, None) == [q_star] * 2


# ---------------------------------------------------------------- constant slope law (linear net)

def _mp_branch_root(roots):
    """The root with Im <= 0: the physical G for Im z > 0 (the roots' Im have opposite signs)."""
    good = [g for g in roots if mp.im(g) <= 0]
    assert len(good) == 1
    return good[0]


MP_POINTS = [(1, 1), (3, "0.5"), (-2, "0.1"), (5, 2), ("0.5", "0.01"), (2, 0), ("3.5", 0), (8, 0)]


@pytest.mark.parametrize("x,y", MP_POINTS)
def test_ref_marchenko_pastur_square(x, y):
    """d == 1, gaussian, L = 1, sigma_w = 1: G(z) = (z - sqrt(z^2 - 4z)) / (2z), physical root,
    reached by continuation from large Im z (no outside start)."""
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        z = mp.mpc(x, y)
        m, ws = ref.mp_solve_continuation("gaussian", [1], [law], z)
        G = ref.mp_stieltjes(z, m)
        s = mp.sqrt(z * z - 4 * z)
        roots = [(z - s) / (2 * z), (z + s) / (2 * z)]
        if mp.im(z) == 0 and not 0 < mp.re(z) < 4:  # outside the support: real, the root ~ 1/z
            exact = min(roots, key=lambda g: abs(g - 1 / z))
        else:
            exact = _mp_branch_root(roots)
        assert abs(G - exact) < 1e-25 * abs(exact), (z, G, exact)
        assert _rel(ws[0], (1 + m) / m) < 1e-25  # w = M_d^{-1}(m) = 1 + 1/m


def test_ref_marchenko_pastur_from_perturbed_start_and_density():
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        x = mp.mpf("1.3")
        G = (x - mp.sqrt(x * x - 4 * x)) / (2 * x)
        G = G if mp.im(G) <= 0 else 1 - G
        m = x * G - 1
        m2, ws, res = ref.mp_solve_laws("gaussian", [1], [law], x, m * (1 + 1e-6),
                                        [(1 + m) / m * (1 - 1e-6)])
        assert res < 1e-25 and _rel(m2, m) < 1e-25
        rho = -mp.im(m2) / (mp.pi * x)
        assert _rel(rho, mp.sqrt(x * (4 - x)) / (2 * mp.pi * x)) < 1e-25


def test_ref_fuss_catalan_edge_L2():
    """d == 1, gaussian, L = 2: right edge 27/4 = 6.75 (density 0 just above, > 0 just below)."""
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        m_in, _ = ref.mp_solve_continuation("gaussian", [1, 1], [law, law], mp.mpf("6.7"))
        m_out, _ = ref.mp_solve_continuation("gaussian", [1, 1], [law, law], mp.mpf("6.8"))
        rho_in = -mp.im(m_in) / (mp.pi * mp.mpf("6.7"))
        rho_out = -mp.im(m_out) / (mp.pi * mp.mpf("6.8"))
        assert rho_in > 1e-3
        assert abs(rho_out) < 1e-25
        # (1 + m)^3 = z m on this branch
        for z, m in ((mp.mpf("6.7"), m_in), (mp.mpf("6.8"), m_out)):
            assert abs((1 + m) ** 3 - z * m) < 1e-25


@pytest.mark.parametrize("depth", [10, 100])
def test_ref_fuss_catalan_edge_deep(depth):
    """d == 1, gaussian: right edge (L+1)^(L+1) / L^L; density > 0 at 0.999 edge, 0 at 1.001."""
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        edge = mp.mpf(depth + 1) ** (depth + 1) / mp.mpf(depth) ** depth
        rho = {}
        for f in ("0.999", "1.001"):
            x = edge * mp.mpf(f)
            m, _ = ref.mp_solve_continuation("gaussian", [1] * depth, [law] * depth, x,
                                             y_stop="1e-9", factor="0.5")
            rho[f] = -mp.im(m) / (mp.pi * x)
        assert rho["0.999"] > 1e-8
        assert abs(rho["1.001"]) < 1e-25


@pytest.mark.parametrize("depth", [1, 3, 100])
def test_ref_orthogonal_constant_law_is_a_point_mass(depth):
    """d == 1, orthogonal, sigma_w = 1: J J^T = I, so m = 1/(z - 1) for every depth."""
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        for z in (mp.mpc(2, 1), mp.mpc("0.3", "0.2"), mp.mpc(-1, "0.5")):
            exact = 1 / (z - 1)
            m, ws, res = ref.mp_solve_laws("orthogonal", [1] * depth, [law] * depth, z,
                                           exact * (1 + 1e-4), [(1 + exact) / exact * (1 + 1e-4)])
            assert res < 1e-25 and _rel(m, exact) < 1e-25


def test_ref_branch_and_residual_checks_raise():
    law = ref.ConstantSlopeLaw(1)
    with mp.workdps(DPS):
        z = mp.mpc(1, 1)
        s = mp.sqrt(z * z - 4 * z)
        roots = [(z - s) / (2 * z), (z + s) / (2 * z)]
        bad_G = [g for g in roots if mp.im(g) > 0][0]
        bad_m = z * bad_G - 1
        with pytest.raises(ref.ReferenceSolveError, match="branch"):
            ref.mp_solve_laws("gaussian", [1], [law], z, bad_m, [(1 + bad_m) / bad_m])
        with pytest.raises(ref.ReferenceSolveError, match="residual"):
            ref.mp_solve_laws("gaussian", [1], [law], z, mp.mpc("0.5", "-0.5"), [3], maxsteps=1)


# ---------------------------------------------------------------- real slope laws

def test_ref_tanh_solution_residual_and_restart():
    """tanh, L = 3 gaussian: continuation answer has residual < 1e-25, a perturbed restart
    returns to it, and grouping 3 identical layers equals solving them as 3 distinct layers."""
    name, sw, sb, depth = "tanh", 1.5, 0.05, 3
    with mp.workdps(DPS):
        q = ref.mp_q_star(name, sw, sb)
        law = ref.mp_slope_law(name, q)
        m1, _m2 = ref.mp_m2_formula("gaussian", [sw] * depth, [law] * depth)
        for z in (mp.mpc(m1, m1 / 10), m1 / 2):
            m, ws = ref.mp_solve_continuation("gaussian", [sw] * depth, [law] * depth, z)
            res = ref.mp_residual(name, "gaussian", [sw] * depth, [q] * depth, z, m, ws)
            assert res < 1e-25
            m2, ws2, res2 = ref.mp_solve(name, "gaussian", [sw] * depth, [q] * depth, z,
                                         m * (1 + 1e-8), [w * (1 - 1e-8) for w in ws],
                                         return_residual=True)
            assert res2 < 1e-25 and _rel(m2, m) < 1e-24
            # three separate (equal) law objects -> three unknowns w_l, same answer
            laws = [ref.GaussianSlopeLaw(name, q) for _ in range(depth)]
            m3, ws3, _ = ref.mp_solve_laws("gaussian", [sw] * depth, laws, z, m, ws)
            assert _rel(m3, m) < 1e-24
            assert all(_rel(a, b) < 1e-24 for a, b in zip(ws3, ws))
            if mp.im(z) == 0:
                assert -mp.im(m) / (mp.pi * z) > 0.01  # inside the bulk


def test_ref_deep_tail_by_continuation():
    """tanh, gaussian, L = 100 far below the bulk (x = m1 * 1e-20): the continuation (Newton in
    log variables) reaches it, the residual is < 1e-25, and the density is positive: half of
    the spectrum lies below ~1e-30 m1 here (mass near 0 decays only like x^(1/(L+1)))."""
    name, sw, sb, depth = "tanh", 0.9, 0.05, 100
    with mp.workdps(DPS):
        q = ref.mp_q_star(name, sw, sb)
        law = ref.mp_slope_law(name, q)
        m1, _m2 = ref.mp_m2_formula("gaussian", [sw] * depth, [law] * depth)
        x = m1 * mp.mpf("1e-20")
        m, ws = ref.mp_solve_continuation("gaussian", [sw] * depth, [law] * depth, x)
        assert ref.mp_residual(name, "gaussian", [sw] * depth, [q] * depth, x, m, ws) < 1e-25
        assert -mp.im(m) / mp.pi > 1e-3  # x rho(x): mass per unit log x
        assert -1 < mp.re(m) < -0.2  # m(x) ~ -P(eigenvalue > x) below the bulk


MOMENT_CASES = [
    ("tanh", "gaussian", [1.5], None),
    ("tanh", "orthogonal", [1.5] * 3, None),
    ("sigmoid", "gaussian", [4.0] * 10, None),
    ("sigmoid", "orthogonal", [4.0] * 2, None),
    ("tanh", "gaussian", [1.0] * 100, None),
    ("tanh", "gaussian", [0.9, 1.3, 2.0], 0.3),
    ("tanh", "orthogonal", [0.9, 1.3, 2.0], 0.3),
]


@pytest.mark.parametrize("name,weights,sigma_ws,input_variance", MOMENT_CASES)
def test_ref_moments_at_large_z(name, weights, sigma_ws, input_variance):
    """z (z m - m1) -> m2 as |z| -> inf: checks exponents of (1 + m) and m, and the grouping,
    against docs/theory/check-values.md (m1 = prod chi_l; m2 for gaussian / orthogonal weights)."""
    sb = 0.05 if name == "tanh" else 0.5
    depth = len(sigma_ws)
    with mp.workdps(DPS):
        qs = ref.mp_layer_q(name, sigma_ws, [sb] * depth, input_variance)
        laws = [ref.mp_slope_law(name, q) for q in qs]
        m1, m2 = ref.mp_m2_formula(weights, sigma_ws, laws)
        chis = [ref.mp_chi(name, sw, q) for sw, q in zip(sigma_ws, qs)]
        assert _rel(m1, mp.fprod(chis)) < 1e-28
        for phase in (mp.mpf("0.3"), mp.mpf("1.2"), mp.mpf("2.9")):
            z = m2 / m1 * mp.mpf("1e10") * mp.expj(phase)  # far above the top edge ~ L m2/m1
            m0, w0 = ref.mp_asymptotic_start(weights, sigma_ws, laws, z)
            m, _ws = ref.mp_solve(name, weights, sigma_ws, qs, z, m0, w0)
            assert _rel(z * m, m1) < 1e-6
            assert _rel(z * (z * m - m1), m2) < 1e-6


# =================================================================================================
# Package vs reference: import esd INSIDE each test, so a missing API fails (never skips)
# =================================================================================================

REL_TOL = 1e-9  # m, G and rho
MF_TOL = 1e-12  # q*, q_l, chi_l, mu_k

# (activation, sigma_w, sigma_b): chi < 1, ~ 1, > 1 for each activation
CONFIGS = {
    "tanh-0.9": ("tanh", 0.9, 0.05),  # chi = 0.79
    "tanh-1.0": ("tanh", 1.0, 0.05),  # chi = 0.93
    "tanh-1.5": ("tanh", 1.5, 0.05),  # chi = 1.14
    "tanh-3.0": ("tanh", 3.0, 0.05),  # chi = 1.86
    "sigmoid-2": ("sigmoid", 2.0, 0.5),  # chi = 0.16
    "sigmoid-4": ("sigmoid", 4.0, 0.5),  # chi = 0.39
    "sigmoid-8": ("sigmoid", 8.0, 0.5),  # chi = 0.79
    "sigmoid-16": ("sigmoid", 16.0, 0.5),  # chi = 1.55
}
DEPTHS = (1, 3, 10, 100)
# layer-dependent cases (input_variance = 0.3, per-layer sigma_w)
LAYERED = {
    "tanh-layered": ("tanh", (0.9, 1.2, 1.5, 1.0, 2.0), 0.05),
    "sigmoid-layered": ("sigmoid", (2.0, 4.0, 8.0, 4.0, 16.0), 0.5),
}


def _case_params():
    """All (config, weights, depth) cases.  By default one depth per (config, weights), cycling
    through DEPTHS so every depth meets every chi regime and both weight laws; the rest of the
    cross product is marked slow (run with ``-m slow``), to keep this file near 60 s."""
    params = []
    for i, key in enumerate(CONFIGS):
        for j, weights in enumerate(("gaussian", "orthogonal")):
            default_depth = DEPTHS[(i + 2 * j) % len(DEPTHS)]
            for depth in DEPTHS:
                case_id = f"{key}-{weights}-L{depth}"
                marks = () if depth == default_depth else (pytest.mark.slow,)
                params.append(pytest.param(case_id, id=case_id, marks=marks))
    for key in LAYERED:
        for weights in ("gaussian", "orthogonal"):
            case_id = f"{key}-{weights}-L5"
            params.append(pytest.param(case_id, id=case_id))
    return params


CASE_PARAMS = _case_params()


@functools.lru_cache(maxsize=None)
def _case(case_id):
    """Parameters of a case: (activation, weights, sigma_ws tuple, sigma_b, input_variance)."""
    parts = case_id.split("-")
    key, weights, depth = "-".join(parts[:-2]), parts[-2], int(parts[-1][1:])
    if key in LAYERED:
        name, sigma_ws, sb = LAYERED[key]
        return name, weights, tuple(sigma_ws), sb, 0.3
    name, sw, sb = CONFIGS[key]
    return name, weights, (sw,) * depth, sb, None


@functools.lru_cache(maxsize=None)
def _package(case_id):
    import esd

    name, weights, sigma_ws, sb, input_variance = _case(case_id)
    depth = len(sigma_ws)
    if input_variance is None:
        spec = esd.NetworkSpec(activation=name, weights=weights, sigma_w=sigma_ws[0],
                               sigma_b=sb, depth=depth)
    else:
        spec = esd.NetworkSpec(activation=name, weights=weights, sigma_w=sigma_ws, sigma_b=sb,
                               depth=depth, input_variance=input_variance)
    return esd.JacobianESD(spec)


@functools.lru_cache(maxsize=None)
def _reference_mean_field(case_id):
    name, _weights, sigma_ws, sb, input_variance = _case(case_id)
    with mp.workdps(DPS):
        qs = ref.mp_layer_q(name, sigma_ws, sb, input_variance)
        mu = [[ref.mp_slope_moment(name, q, k) for k in (1, 2, 3, 4)] for q in qs]
        chi = [mp.mpf(sw) ** 2 * row[0] for sw, row in zip(sigma_ws, mu)]
        q_star = ref.mp_q_star(name, sigma_ws[0], sb) if input_variance is None else None
        return q_star, qs, chi, mu


def _log_mass(sol, x):
    """Spectral mass per unit log x, x rho(x), from the package (0 where rho <= 0)."""
    try:
        rho = np.asarray(sol.density(x), dtype=float)
    except Exception as exc:  # a failure, with the grid that triggered it
        raise AssertionError(f"package density raised {exc!r} on x in [{x[0]:.3e}, {x[-1]:.3e}]"
                             ) from exc
    assert rho.shape == x.shape and np.all(np.isfinite(rho)), "package density not finite"
    return np.where(rho > 0, x * rho, 0.0)


def _bracket_support(case_id, sol, m1):
    """Log grid (relative to m1) that holds the package's spectrum: widened while the mass per
    log x at an end exceeds 1e-6 of its maximum (down to x ~ 1e-280: for deep gaussian nets the
    mass near 0 decays only like x^(1/(L+1))), then zoomed onto the support."""
    lo, hi = -8.0, 3.0
    for _attempt in range(40):
        x = m1 * np.logspace(lo, hi, 200)
        f = _log_mass(sol, x)
        fmax = f.max()
        grow_lo = (fmax <= 0 or f[0] > 1e-6 * fmax) and x[0] > 1e-270
        grow_hi = fmax <= 0 or f[-1] > 1e-6 * fmax
        if not (grow_lo or grow_hi):
            break
        lo = max(lo - 12.0, math.log10(1e-280 / m1)) if grow_lo else lo
        hi = hi + 3.0 if grow_hi else hi
    else:
        raise AssertionError(f"{case_id}: could not bracket the package's density on a log grid")
    assert fmax > 0, f"{case_id}: package density is zero everywhere"
    idx = np.nonzero(f > 1e-9 * fmax)[0]
    a, b = x[max(idx[0] - 1, 0)], x[min(idx[-1] + 1, len(x) - 1)]
    x = np.geomspace(a, b, 600)
    return x, _log_mass(sol, x)


@functools.lru_cache(maxsize=None)
def _points(case_id):
    """Evaluation points chosen from the package's own density: 3 real x in the bulk (near the
    log-mass quantiles 0.2, 0.5, 0.8, where x rho(x) >= 1e-2 of its maximum, and the density is
    positive 1e-3 (relative) either side) and 3 complex z (near the bulk, above it, beyond its
    right end).  Returns (complex_z, real_x) as tuples of Python numbers."""
    sol = _package(case_id)
    _q_star, _qs, chi, _mu = _reference_mean_field(case_id)
    m1 = float(mp.fprod(chi))
    x, f = _bracket_support(case_id, sol, m1)
    u = np.log(x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(u))])
    # eligible grid points: x rho >= 1e-2 of its maximum, two grid steps inside the positive
    # stretch of the grid that contains them, and one step plus 2e-3 (relative) inside it: a
    # true edge lies within one step beyond a stretch's last positive point
    log_margin = math.log(x[1] / x[0]) + math.log(1 + 2e-3)
    pos = f > 0
    eligible = []
    for j in np.nonzero(f >= 1e-2 * f.max())[0]:
        s0 = j
        while s0 > 0 and pos[s0 - 1]:
            s0 -= 1
        s1 = j
        while s1 < len(x) - 1 and pos[s1 + 1]:
            s1 += 1
        if (j - s0 >= 2 and s1 - j >= 2 and math.log(x[j] / x[s0]) >= log_margin
                and math.log(x[s1] / x[j]) >= log_margin):
            eligible.append(j)
    assert eligible, f"{case_id}: no grid point well inside the package's bulk"
    eligible = np.array(eligible)
    real_x = []
    for p in (0.2, 0.5, 0.8):
        i = int(np.searchsorted(cdf, p * cdf[-1]))
        j = eligible[np.argmin(np.abs(eligible - i))]
        real_x.append(float(x[j]))
    probe = np.array([v * s for v in real_x for s in (1 - 1e-3, 1 + 1e-3)])
    assert np.all(np.asarray(sol.density(probe)) > 0), (case_id, real_x)
    x_top = float(x[np.nonzero(f > 1e-6 * f.max())[0][-1]])
    x20, x50, x80 = real_x
    complex_z = (complex(x50, 0.05 * x50), complex(0.3 * x20, 0.8 * x80),
                 complex(4.0 * x_top, 0.5 * x_top))
    return complex_z, tuple(real_x)


def _check_point(case_id, z, m_pkg, w_pkg, *, check_density):
    name, weights, sigma_ws, _sb, _iv = _case(case_id)
    _q_star, qs, _chi, _mu = _reference_mean_field(case_id)
    with mp.workdps(DPS):
        m_ref, w_ref = ref.mp_solve(name, weights, list(sigma_ws), list(qs), z, complex(m_pkg),
                                    [complex(w) for w in w_pkg])
        err_m = _rel(m_pkg, m_ref)
        assert err_m < REL_TOL, (f"{case_id} z={z}: m pkg {m_pkg} ref {mp.nstr(m_ref, 17)} "
                                 f"(rel err {mp.nstr(err_m, 3)})")
        err_w = max(_rel(a, b) for a, b in zip(w_pkg, w_ref))
        assert err_w < 10 * REL_TOL, f"{case_id} z={z}: subordination w rel err {err_w}"
        if check_density:
            rho_ref = -mp.im(m_ref) / (mp.pi * mp.mpf(z.real))
            return m_ref, rho_ref
        return m_ref, None


def _check_stieltjes(case_id, z, G_pkg, m_ref):
    """G = (1+m)/z: its absolute error is m's over |z|, so relative to max(|G|, |m/z|)."""
    with mp.workdps(DPS):
        z = mp.mpmathify(z)
        G_ref = (1 + m_ref) / z
        scale = max(abs(G_ref), abs(m_ref) / abs(z))
        err = abs(mp.mpmathify(complex(G_pkg)) - G_ref) / scale
        assert err < REL_TOL, (f"{case_id} z={z}: G pkg {G_pkg} ref {mp.nstr(G_ref, 17)} "
                               f"(rel err {mp.nstr(err, 3)})")


def test_package_api_exists():
    import esd

    for attr in ("NetworkSpec", "JacobianESD"):
        assert hasattr(esd, attr), f"esd.{attr} is missing"
    sol = esd.JacobianESD(esd.NetworkSpec(activation="tanh", weights="gaussian", sigma_w=1.5,
                                          sigma_b=0.1, depth=10))
    for attr in ("m_transform", "subordination", "stieltjes", "density", "mean_field"):
        assert hasattr(sol, attr), f"JacobianESD.{attr} is missing"
    z = np.array([1.0 + 1.0j, 2.0 + 0.5j])
    assert np.asarray(sol.m_transform(z)).shape == (2,)
    assert np.asarray(sol.subordination(z)).shape == (2, 10)
    assert np.asarray(sol.mean_field.mu).shape == (10, 4)


@pytest.mark.parametrize("case_id", CASE_PARAMS)
def test_package_mean_field(case_id):
    """q*, q_l, chi_l and mu_1..mu_4 per layer to 1e-12 relative."""
    sol = _package(case_id)
    q_star, qs, chi, mu = _reference_mean_field(case_id)
    mf = sol.mean_field
    depth = len(qs)
    if q_star is not None:
        assert _rel(float(mf.q_star), q_star) < MF_TOL, (mf.q_star, q_star)
    q_pkg = np.asarray(mf.q, dtype=float)
    chi_pkg = np.asarray(mf.chi, dtype=float)
    mu_pkg = np.asarray(mf.mu, dtype=float)
    assert q_pkg.shape == (depth,) and chi_pkg.shape == (depth,) and mu_pkg.shape == (depth, 4)
    for l in range(depth):
        assert _rel(q_pkg[l], qs[l]) < MF_TOL, ("q", l, q_pkg[l], qs[l])
        assert _rel(chi_pkg[l], chi[l]) < MF_TOL, ("chi", l, chi_pkg[l], chi[l])
        for k in range(4):
            assert _rel(mu_pkg[l, k], mu[l][k]) < MF_TOL, ("mu", l, k + 1, mu_pkg[l, k], mu[l][k])


@pytest.mark.parametrize("case_id", CASE_PARAMS)
def test_package_m_and_stieltjes_complex_z(case_id):
    """m, w_l and G at three complex z (in the bulk, above it, beyond its top) to 1e-9."""
    sol = _package(case_id)
    complex_z, _real_x = _points(case_id)
    z = np.array(complex_z, dtype=complex)
    m_pkg = np.asarray(sol.m_transform(z))
    w_pkg = np.asarray(sol.subordination(z))
    G_pkg = np.asarray(sol.stieltjes(z))
    for i, zi in enumerate(complex_z):
        m_ref, _ = _check_point(case_id, zi, m_pkg[i], w_pkg[i], check_density=False)
        _check_stieltjes(case_id, zi, G_pkg[i], m_ref)


@pytest.mark.parametrize("case_id", CASE_PARAMS)
def test_package_density_real_x(case_id):
    """m(x + i0), w_l, G and rho at three real x well inside the bulk, to 1e-9."""
    sol = _package(case_id)
    _complex_z, real_x = _points(case_id)
    x = np.array(real_x, dtype=float)
    m_pkg = np.asarray(sol.m_transform(x))  # real z means z + i0
    w_pkg = np.asarray(sol.subordination(x))
    G_pkg = np.asarray(sol.stieltjes(x))
    rho_pkg = np.asarray(sol.density(x), dtype=float)
    for i, xi in enumerate(real_x):
        m_ref, rho_ref = _check_point(case_id, complex(xi, 0.0), m_pkg[i], w_pkg[i],
                                      check_density=True)
        _check_stieltjes(case_id, xi, G_pkg[i], m_ref)
        assert rho_ref > 0, (case_id, xi)
        err = _rel(rho_pkg[i], rho_ref)
        assert err < REL_TOL, (f"{case_id} x={xi}: rho pkg {rho_pkg[i]} ref "
                               f"{mp.nstr(rho_ref, 17)} (rel err {mp.nstr(err, 3)})")
