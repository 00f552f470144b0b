"""Slow, obviously-right mpmath reference for the light-tailed Jacobian ESD equations.

Independent of the ``esd`` package: nothing here imports it.  Everything is evaluated with
mpmath at ``dps`` decimal digits (default 30) and is meant as an oracle for tests.

Equations (docs/theory/light-tailed.md and docs/theory/check-values.md; Pennington's sign convention
``G(z) = int rho(t) / (z - t) dt``, ``Im G < 0`` for ``Im z > 0``):

* mean field: ``V(q) = E[phi(sqrt(q) Z)^2]``, ``q_1 = sigma_w1^2 * input_variance + sigma_b1^2``,
  ``q_l = sigma_wl^2 V(q_{l-1}) + sigma_bl^2``; ``q*`` the stable fixed point reached from
  ``q = 1``; squared slope ``d = phi'(sqrt(q) Z)^2``, ``mu_k = E[d^k]``, ``chi = sigma_w^2 mu_1``.
* slope-law transform ``M_d(w) = E[d / (w - d)]``.
* with ``m = M_{JJ^T}(z) = z G(z) - 1`` and one ``w_l`` per layer::

      gaussian:   z = (1 + m)       m^(L-1) prod_l sigma_wl^2 w_l
      orthogonal: z = (1 + m)^(1-L) m^(L-1) prod_l sigma_wl^2 w_l
      m = M_{d_l}(w_l)   for every layer l

  physical branch: ``Im m <= 0`` and ``Im w_l >= 0`` when ``Im z >= 0``;
  ``G = (1 + m) / z``, ``rho(x) = -Im m(x + i0) / (pi x)``.

Gaussian expectations are computed with :func:`mpmath.quad` in the standard-normal variable
``Z``, with the real line split at points on two scales: the activation's own scale
(``c / sqrt(q)``, where the integrand varies for large ``q``) and the Gaussian's scale.  For
``M_d(w)`` the path also steps around the nearest complex singularity ``d(h) = w`` (a small
triangle above it, by Cauchy's theorem, or a graded mesh), so near-real and real ``w``
(boundary values ``w + i0``) stay accurate.  Accuracy, measured against tanh-sinh at 45 digits
on other split points: ~1e-30 relative (worst seen 1.4e-28, erf at q = 1e3) for
``q`` in ``[1e-3, 1e3]``; see the self-tests in ``test_reference_mpmath.py``.

Solutions are polished with :func:`mpmath.findroot` from a given start (normally the package's
double-precision answer) and then VERIFIED: residual below 1e-25 and physical-branch signs,
or :class:`ReferenceSolveError`.
"""

from __future__ import annotations

import functools

import mpmath as mp

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_DPS",
    "ConstantSlopeLaw",
    "GaussianSlopeLaw",
    "ReferenceSolveError",
    "mp_asymptotic_start",
    "mp_chi",
    "mp_dM_slope",
    "mp_density",
    "mp_dphi",
    "mp_gauss_expect",
    "mp_layer_q",
    "mp_length_map",
    "mp_M_slope",
    "mp_m2_formula",
    "mp_phi",
    "mp_q_star",
    "mp_residual",
    "mp_slope",
    "mp_slope_law",
    "mp_slope_moment",
    "mp_solve",
    "mp_solve_continuation",
    "mp_solve_laws",
    "mp_stieltjes",
]

ACTIVATIONS = ("tanh", "sigmoid", "erf")
DEFAULT_DPS = 30
# Integration range in the standard-normal variable: beyond |Z| = 16 the Gaussian weight is
# below 1e-56, far under any tolerance used here, for every bounded integrand.
_ZMAX = 16
# Split points on the Gaussian scale, and multipliers of 1/sqrt(q) on the activation scale.
_GAUSS_POINTS = (1, 2, 4, 8)
_ACT_SCALES = ("0.25", "0.5", "1", "2", "4", "8")
# Gauss-Legendre is about twice as fast as tanh-sinh here (all integrands are analytic on each
# piece of the path); the self-tests cross-check the two.
QUAD_METHODS = ("gauss-legendre", "tanh-sinh")
_QUAD_METHOD = "gauss-legendre"
# Memoised (d, weight) node values per slope law are dropped beyond this many entries.
_NODE_CACHE_MAX = 60000


class ReferenceSolveError(RuntimeError):
    """The mpmath reference could not produce a verified solution (residual or branch)."""


def _check_name(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} unknown; choose one of {ACTIVATIONS}")


# ----------------------------------------------------------------------------- activations


def mp_phi(name):
    """Activation ``phi`` as an mpmath function of one argument."""
    _check_name(name)
    if name == "tanh":
        return lambda h: mp.tanh(h)
    if name == "sigmoid":
        return lambda h: 1 / (1 + mp.exp(-h))
    return lambda h: mp.erf(mp.sqrt(mp.pi) * h / 2)


def mp_dphi(name):
    """Derivative ``phi'`` as an mpmath function of one argument."""
    _check_name(name)
    if name == "tanh":
        return lambda h: mp.sech(h) ** 2
    if name == "sigmoid":

        def dsig(h):
            s = 1 / (1 + mp.exp(-h))
            return s * (1 - s)

        return dsig
    return lambda h: mp.exp(-mp.pi * h * h / 4)


def mp_slope(name):
    """Squared slope ``d(h) = phi'(h)^2``."""
    dphi = mp_dphi(name)
    return lambda h: dphi(h) ** 2


def _slope_preimage(name, w):
    """A complex ``h`` with ``d(h) = w`` (the one nearest the real axis), or None.

    Only used to place quadrature split points; the result is checked by substitution.
    """
    w = mp.mpmathify(w)
    if w == 0:
        return None
    try:
        if name == "tanh":  # sech(h)^4 = w
            h = mp.acosh(1 / mp.root(w, 4))
        elif name == "sigmoid":  # (1 / (4 cosh^2(h/2)))^2 = w
            h = 2 * mp.acosh(1 / (2 * mp.root(w, 4)))
        else:  # exp(-pi h^2 / 2) = w
            h = mp.sqrt(-2 * mp.log(w) / mp.pi)
    except (ValueError, ZeroDivisionError):  # pragma: no cover - defensive
        return None
    d = mp_slope(name)(h)
    if abs(d - w) > mp.mpf(10) ** (-10) * abs(w):
        return None
    return h


# ----------------------------------------------------------------------------- quadrature


def _positive_points(q, extra=()):
    """Sorted split points in ``(0, _ZMAX]`` for the standard-normal variable, plus 0."""
    sq = mp.sqrt(q)
    pts = {mp.mpf(0), mp.mpf(_ZMAX)}
    pts.update(mp.mpf(p) for p in _GAUSS_POINTS)
    pts.update(mp.mpf(c) / sq for c in _ACT_SCALES)
    pts.update(mp.mpf(p) for p in extra)
    return sorted(p for p in pts if 0 <= p <= _ZMAX)


def _quad(f, points, *, err_tol=None, method=None):
    """:func:`mpmath.quad` with a RELATIVE accuracy target.

    mpmath stops refining when its error estimate is below the working epsilon in absolute
    terms, so a small integral (e.g. ``E[d^4] ~ 1e-7`` for the sigmoid) would only get
    ``eps / |value|`` relative accuracy.  When ``|value| < 1e-2`` the integral is redone with the
    integrand scaled by ``1/|value|``.  Returns ``(value, error_estimate)``; raises
    :class:`ReferenceSolveError` when the relative error estimate exceeds ``err_tol``.
    """
    method = method or _QUAD_METHOD
    value, err = mp.quad(f, points, error=True, method=method)
    if 0 < abs(value) < mp.mpf("1e-2"):
        scale = 1 / abs(value)
        value, err = mp.quad(lambda z: scale * f(z), points, error=True, method=method)
        value, err = value / scale, err / scale
    if err_tol is not None and err > err_tol * abs(value):
        raise ReferenceSolveError(
            f"mpmath.quad error estimate {mp.nstr(err, 3)} above {mp.nstr(err_tol, 3)} "
            f"relative (value {mp.nstr(value, 10)})"
        )
    return value, err


def mp_gauss_expect(f, q, *, dps=DEFAULT_DPS, even=False, extra_points=(), tails=True,
                    error=False, method=None):
    """``E[f(sqrt(q) Z)]``, ``Z ~ N(0, 1)``, by :func:`mpmath.quad` at ``dps`` digits.

    The line is folded onto ``[0, inf)`` (``f(h) + f(-h)``, or ``2 f(h)`` when ``even=True``,
    valid for ``f(-h) = f(h)``) and split at ``0``, ``{1, 2, 4, 8, 16}`` (Gaussian scale),
    ``c / sqrt(q)``, ``c in {1/4, 1/2, 1, 2, 4, 8}`` (activation scale) and ``extra_points``;
    ``tails=True`` adds ``[16, inf)`` (needed only for integrands that are not bounded).

    Accuracy (measured against tanh-sinh at 45 digits with other split points, for
    tanh/sigmoid/erf and ``phi^2, d, d^4, h^2 d``, ``q`` in ``[1e-3, 1e3]``): relative error
    <= 3e-30 for tanh and sigmoid, <= 2e-28 for erf (erf^2 at q = 1e3: Gauss-Legendre's error
    estimate is optimistic on the piece where ``1 - erf^2 ~ 1e-23`` dies out).
    With ``error=True`` returns ``(value, quad_error_estimate)``.  ``method`` is an
    :func:`mpmath.quad` method (default Gauss-Legendre; ``"tanh-sinh"`` for cross-checks).
    """
    with mp.workdps(dps):
        q = mp.mpf(q)
        if q <= 0:
            raise ValueError(f"q must be > 0, got {q}")
        sq = mp.sqrt(q)
        pos = _positive_points(q, extra_points)
        if tails:
            pos = pos + [mp.inf]
        norm = 1 / mp.sqrt(2 * mp.pi)

        def integrand(z):
            return f(sq * z) * mp.exp(-z * z / 2) * norm

        if even:
            def folded(z):
                return 2 * integrand(z)
        else:  # Z is symmetric: E f(sqrt(q) Z) = int_0^inf (f(sqrt(q) z) + f(-sqrt(q) z)) dN
            def folded(z):
                return integrand(z) + integrand(-z)
        value, err = _quad(folded, pos, method=method)
        if error:
            return +value, err
        return +value


def mp_length_map(name, q, *, dps=DEFAULT_DPS):
    """``V(q) = E[phi(sqrt(q) Z)^2]``."""
    phi = mp_phi(name)
    even = name != "sigmoid"
    return mp_gauss_expect(lambda h: phi(h) ** 2, q, dps=dps, even=even, tails=False)


@functools.lru_cache(maxsize=None)
def _slope_moment_cached(name, q, k, dps):
    d = mp_slope(name)
    return mp_gauss_expect(lambda h: d(h) ** k, q, dps=dps, even=True, tails=False)


def mp_slope_moment(name, q, k, *, dps=DEFAULT_DPS):
    """``mu_k(q) = E[d^k]``, ``d = phi'(sqrt(q) Z)^2``."""
    _check_name(name)
    with mp.workdps(dps):
        return _slope_moment_cached(name, mp.mpf(q), int(k), dps)


def mp_chi(name, sigma_w, q, *, dps=DEFAULT_DPS):
    """``chi = sigma_w^2 mu_1(q)``."""
    with mp.workdps(dps):
        return mp.mpf(sigma_w) ** 2 * mp_slope_moment(name, q, 1, dps=dps)


# ----------------------------------------------------------------------------- mean field


@functools.lru_cache(maxsize=None)
def _q_star_cached(name, sigma_w, sigma_b, dps):
    with mp.workdps(dps):
        sw2 = mp.mpf(sigma_w) ** 2
        sb2 = mp.mpf(sigma_b) ** 2

    def lmap(q, d=dps):
        return sw2 * mp_length_map(name, q, dps=d) + sb2

    # 1) iterate from q = 1 at low precision until the steps are small: this is the fixed
    #    point the network actually reaches (the map is increasing, so iterates are monotone).
    with mp.workdps(15):
        q_prev, q_cur = mp.mpf(1), lmap(mp.mpf(1), 15)
        for _ in range(2000):
            if abs(q_cur - q_prev) < mp.mpf("1e-2") * q_cur:
                break
            q_prev, q_cur = q_cur, lmap(q_cur, 15)
        else:
            raise ReferenceSolveError(f"length map iteration did not settle ({name}, {sigma_w}, "
                                      f"{sigma_b}): last q {q_cur}")
    # 2) polish with findroot (secant from the last two iterates)
    with mp.workdps(dps):
        qs = mp.findroot(lambda q: lmap(q) - q, (mp.mpf(q_prev), mp.mpf(q_cur)),
                         solver="secant", tol=mp.mpf(10) ** (-(dps - 2)), verify=False)
        resid = abs(lmap(qs) - qs)
        if resid > mp.mpf(10) ** (-(dps - 4)) * qs:
            raise ReferenceSolveError(f"q* residual {resid}")
        # the root must lie ahead of the iterates (the map is increasing, so the iterates
        # approach the fixed point they converge to monotonically) ...
        step = q_cur - q_prev
        if step != 0 and (qs - q_cur) * step < 0:
            raise ReferenceSolveError("findroot left the basin of the iterated fixed point")
        # ... and be stable: slope of the map below 1 (central difference)
        eps = qs * mp.mpf("1e-8")
        slope = (lmap(qs + eps) - lmap(qs - eps)) / (2 * eps)
        if not 0 <= slope < 1:
            raise ReferenceSolveError(f"fixed point q*={qs} is not stable (map slope {slope})")
        return +qs


def mp_q_star(name, sigma_w, sigma_b, *, dps=DEFAULT_DPS):
    """Stable fixed point of ``q -> sigma_w^2 V(q) + sigma_b^2`` reached by iteration from 1."""
    _check_name(name)
    with mp.workdps(dps):
        return _q_star_cached(name, mp.mpf(sigma_w), mp.mpf(sigma_b), dps)


def _as_list(value, depth, label):
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            raise ValueError(f"{label} has length {len(value)}, expected {depth}")
        return list(value)
    return [value] * depth


@functools.lru_cache(maxsize=None)
def _layer_q_cached(name, sigma_ws, sigma_bs, input_variance, dps):
    with mp.workdps(dps):
        out = []
        sw2 = [mp.mpf(s) ** 2 for s in sigma_ws]
        sb2 = [mp.mpf(s) ** 2 for s in sigma_bs]
        q = sw2[0] * mp.mpf(input_variance) + sb2[0]
        out.append(q)
        for l in range(1, len(sigma_ws)):
            q = sw2[l] * mp_length_map(name, q, dps=dps) + sb2[l]
            out.append(q)
        return tuple(out)


def mp_layer_q(name, sigma_ws, sigma_bs, input_variance, *, dps=DEFAULT_DPS):
    """List ``[q_1, ..., q_L]``.

    ``sigma_ws`` is a sequence (its length is the depth); ``sigma_bs`` a sequence of the same
    length or a scalar.  ``input_variance=None`` puts every layer at its own ``q*``.
    """
    _check_name(name)
    depth = len(sigma_ws)
    sigma_bs = _as_list(sigma_bs, depth, "sigma_bs")
    if input_variance is None:
        return [mp_q_star(name, sw, sb, dps=dps) for sw, sb in zip(sigma_ws, sigma_bs)]
    with mp.workdps(dps):
        key = (tuple(mp.mpf(s) for s in sigma_ws), tuple(mp.mpf(s) for s in sigma_bs))
        return list(_layer_q_cached(name, key[0], key[1], mp.mpf(input_variance), dps))


# ----------------------------------------------------------------------------- slope laws


class GaussianSlopeLaw:
    """Law of ``d = phi'(sqrt(q) Z)^2``: ``M(w) = E[d/(w-d)]`` and ``M'(w) = -E[d/(w-d)^2]``.

    The values ``d(h)`` and the Gaussian weights at the quadrature nodes are memoised (the
    nodes repeat from call to call on the same path), which makes repeated transforms cheaper.
    """

    def __init__(self, name, q, dps=DEFAULT_DPS):
        _check_name(name)
        self.name = name
        self.dps = dps
        with mp.workdps(dps):
            self.q = mp.mpf(q)
            self._sq = mp.sqrt(self.q)
        self._slope = mp_slope(name)
        self._nodes = {}

    def __repr__(self):
        return f"GaussianSlopeLaw({self.name!r}, q={mp.nstr(self.q, 12)}, dps={self.dps})"

    def moment(self, k):
        return mp_slope_moment(self.name, self.q, k, dps=self.dps)

    def _node(self, z):
        key = (z, mp.mp.prec)
        val = self._nodes.get(key)
        if val is None:
            if len(self._nodes) > _NODE_CACHE_MAX:
                self._nodes.clear()
            val = (self._slope(self._sq * z), 2 * mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi))
            self._nodes[key] = val
        return val

    def _path(self, w, deform=True):
        """Integration path in ``z`` (the standard-normal variable, folded onto ``[0, 16]``).

        ``g(d(sqrt(q) z))`` is singular where ``d(sqrt(q) z) = w``.  With ``z_c`` the root with
        ``Re z_c >= 0`` (for ``Im w >= 0`` it lies just below the real axis, since ``d``
        decreases on ``z > 0``):

        * ``deform=True`` and ``z_c`` close to the axis: the segment ``[z0 - r, z0 + r]``
          (``z0 = Re z_c``) is replaced by the triangle ``z0 - r -> z0 + i r -> z0 + r`` above
          the pole (Cauchy; the integrand is analytic in between, because the other roots and
          poles of ``d`` lie >= pi/2 away in ``h`` -- for erf ~2/h away, so ``r <= 1/h``
          there).  This gives the boundary value ``M(w + i0)`` for real ``w``, and for
          ``Im w`` slightly negative the analytic continuation of ``M`` from the upper
          half-plane (what Newton needs when the solution ``w`` sits on the real axis, as for
          orthogonal weights with L = 1 at real z).
        * otherwise, if the pole is within 1/2 of the axis in ``h`` or in ``z``, the real line is
          split at ``z0`` and ``z0 +- |Im z_c| 3^k`` (graded mesh).
        """
        extra = []
        bump = None
        h = _slope_preimage(self.name, w)
        if h is not None:
            h0, eps_h = mp.re(h), mp.im(h)
            if h0 < 0:
                h0, eps_h = -h0, -eps_h
            r_h = min(mp.mpf("0.5"), h0 / 2)
            if self.name == "erf":
                r_h = min(r_h, 1 / max(h0, 1))
            if h0 > 0:
                # snap to a coarse grid (r to a power of 2, z0 to a multiple of r/16): Newton
                # iterates a hair apart then share one path, and the memoised nodes are reused
                r_h = mp.mpf(2) ** mp.floor(mp.log(r_h, 2))
                h0s = mp.nint(h0 / (r_h / 16)) * (r_h / 16)
            else:
                h0s = h0
            z0, r = h0s / self._sq, r_h / self._sq
            if deform and h0 > 0 and abs(eps_h) < r_h / 2 and z0 + r < _ZMAX:
                bump = (z0 - r, mp.mpc(z0, r), z0 + r)
            elif min(abs(eps_h), abs(eps_h) / self._sq) < mp.mpf("0.5"):
                # pole within ~1/2 of the axis in h, or in z (large q: the static mesh is
                # coarse there, e.g. [1, 2])
                width = abs(eps_h) / self._sq
                width = mp.mpf(2) ** mp.floor(mp.log(width, 2)) if width > 0 else width
                z0 = h0 / self._sq
                extra.append(z0)
                off = max(width, mp.mpf(10) ** (-(mp.mp.dps // 2)))
                while off < 2:
                    extra.extend([z0 - off, z0 + off])
                    off *= 3
        pts = _positive_points(self.q, extra)
        if bump is not None:
            lo, _apex, hi = bump
            pts = sorted([p for p in pts if not lo <= p <= hi] + [lo, hi])
            i = pts.index(lo)
            pts.insert(i + 1, bump[1])
        return pts

    def _expect(self, g, w, dps, deform=True, method=None):
        with mp.workdps(dps):
            w = mp.mpmathify(w)

            def integrand(z):
                d, weight = self._node(z)
                return g(d, w) * weight

            path = self._path(w, deform)
            value, _err = _quad(integrand, path, err_tol=mp.mpf(10) ** (-(dps - 5)),
                                method=method)
            return +value

    def M(self, w, dps=None, deform=True, method=None):
        """``M(w) = E[d/(w-d)]``; for real ``w`` the boundary value ``M(w + i0)``."""
        return self._expect(lambda d, w: d / (w - d), w, dps or self.dps, deform, method)

    def dM(self, w, dps=None, deform=True, method=None):
        """``M'(w) = -E[d/(w-d)^2]``; for real ``w`` the boundary value at ``w + i0``."""
        return self._expect(lambda d, w: -d / (w - d) ** 2, w, dps or self.dps, deform, method)


class ConstantSlopeLaw:
    """Degenerate slope law ``d == c``: ``M(w) = c / (w - c)`` (linear network for c = 1)."""

    def __init__(self, c=1):
        self.c = mp.mpf(c)

    def __repr__(self):
        return f"ConstantSlopeLaw({mp.nstr(self.c, 12)})"

    def moment(self, k):
        return self.c**k

    def M(self, w, dps=None):
        return self.c / (w - self.c)

    def dM(self, w, dps=None):
        return -self.c / (w - self.c) ** 2


@functools.lru_cache(maxsize=None)
def _slope_law_cached(name, q, dps):
    return GaussianSlopeLaw(name, q, dps)


def mp_slope_law(name, q, *, dps=DEFAULT_DPS):
    """Cached :class:`GaussianSlopeLaw` for ``(name, q, dps)``."""
    with mp.workdps(dps):
        return _slope_law_cached(name, mp.mpf(q), dps)


def mp_M_slope(name, q, w, *, dps=DEFAULT_DPS):
    """``M_d(w) = E[d / (w - d)]``, ``d = phi'(sqrt(q) Z)^2``, complex ``w``."""
    return mp_slope_law(name, q, dps=dps).M(w)


def mp_dM_slope(name, q, w, *, dps=DEFAULT_DPS):
    """``d/dw M_d(w) = -E[d / (w - d)^2]``."""
    return mp_slope_law(name, q, dps=dps).dM(w)


# ----------------------------------------------------------------------------- the system


def _check_weights(weights):
    if weights not in ("gaussian", "orthogonal"):
        raise ValueError(f"weights {weights!r} unknown; choose 'gaussian' or 'orthogonal'")


def _group_layers(sigma_ws, laws):
    """Group identical (sigma_w, law) layers: list of [sigma_w^2, law, multiplicity, first]."""
    groups = []
    index = {}
    layer_group = []
    for l, (sw, law) in enumerate(zip(sigma_ws, laws)):
        key = (mp.mpf(sw), id(law))
        if key not in index:
            index[key] = len(groups)
            groups.append([mp.mpf(sw) ** 2, law, 0, l])
        groups[index[key]][2] += 1
        layer_group.append(index[key])
    return groups, layer_group


def _equations(weights, groups, depth, z):
    """The grouped system in relative (scale-free) form, and Newton's pieces in log variables.

    unknowns ``(m, w_1, ..., w_G)``; with ``P = (1+m)^a m^(L-1) prod_g (s_g w_g)^(n_g) / z``,
    ``a = 1`` (gaussian) or ``1 - L`` (orthogonal):

    * residual (what is verified): ``r_0 = P - 1``, ``r_g = M_g(w_g) / m - 1``;
    * Newton runs in ``y = (log m, log w_g)`` on ``(log P, r_g)``: ``log P`` is linear in
      ``log w_g`` (a plain ``w^L`` has a Newton basin ~1/L wide: deep nets need this), and the
      principal ``log P`` is unambiguous near the root, where ``P ~ 1``.
    """
    a = 1 if weights == "gaussian" else 1 - depth

    def product(m, ws):
        p = (1 + m) ** a * m ** (depth - 1)
        for (s2, _law, n, _first), w in zip(groups, ws):
            p *= (s2 * w) ** n
        return p / z

    def F_log(*y):
        """``[log P, r_1, ..., r_G]`` at ``m = exp(y_0)``, ``w_g = exp(y_g)``."""
        m, ws = mp.exp(y[0]), [mp.exp(v) for v in y[1:]]
        out = [mp.log(product(m, ws))]
        for (_s2, law, _n, _first), w in zip(groups, ws):
            out.append(law.M(w) / m - 1)
        return out

    def residual_from_log(f_log):
        """Max modulus of ``(r_0, r_1, ...)`` from ``F_log``'s values (``r_0 = e^{log P} - 1``)."""
        return max([abs(mp.expm1(f_log[0]))] + [abs(v) for v in f_log[1:]])

    def J_log(*y, dps=None):
        m, ws = mp.exp(y[0]), [mp.exp(v) for v in y[1:]]
        n_unknowns = 1 + len(groups)
        jac = mp.zeros(n_unknowns, n_unknowns)
        jac[0, 0] = a * m / (1 + m) + (depth - 1)
        for g, ((_s2, law, n, _first), w) in enumerate(zip(groups, ws), start=1):
            jac[0, g] = n
            jac[g, 0] = -1  # -M_g(w)/m with M_g(w) = m at the root (Newton-exact there)
            jac[g, g] = w * law.dM(w, dps) / m
        return jac

    def F(m, *ws):
        """``[r_0, r_1, ..., r_G]`` at ``(m, w_g)``."""
        out = [product(m, ws) - 1]
        for (_s2, law, _n, _first), w in zip(groups, ws):
            out.append(law.M(w) / m - 1)
        return out

    return F, F_log, J_log, residual_from_log


def _branch_ok(z, m, ws, tol):
    """Physical-branch signs: Im m <= 0, Im w >= 0 (and Im G <= 0) for Im z >= 0."""
    sign = 1 if mp.im(z) >= 0 else -1
    if sign * mp.im(m) > tol * max(1, abs(m)):
        return False, f"Im m = {mp.nstr(mp.im(m), 5)} has the wrong sign"
    for w in ws:
        if sign * mp.im(w) < -tol * max(1, abs(w)):
            return False, f"Im w = {mp.nstr(mp.im(w), 5)} has the wrong sign"
    G = (1 + m) / z
    if sign * mp.im(G) > tol * max(1, abs(G)):
        return False, f"Im G = {mp.nstr(mp.im(G), 5)} has the wrong sign"
    return True, ""


def mp_solve_laws(weights, sigma_ws, laws, z, m_start, w_starts, *, dps=DEFAULT_DPS,
                  jac_dps=20, residual_tol="1e-25", branch_tol="1e-20", maxsteps=12,
                  check_branch=True):
    """Solve the Jacobian system for general slope laws (one per layer).

    ``laws[l]`` has ``M(w)`` and ``dM(w)``; layers with the same ``sigma_w`` and the *same law
    object* are grouped, so the unknowns are ``m`` and one ``w`` per group.  ``w_starts`` is
    either one start per layer or one per group.  Uses :func:`mpmath.findroot` (multidimensional
    Newton in ``log m, log w``, see :func:`_equations`; the Jacobian is evaluated at ``jac_dps``
    digits and re-used while the iterate moves less than 1e-6, i.e. a chord method near the
    root), then verifies the residual of the original equations.

    Returns ``(m, ws, residual)`` with ``ws`` one ``mpc`` per LAYER.  Raises
    :class:`ReferenceSolveError` when the residual (max over the relative equations) is not
    below ``residual_tol`` or the branch signs fail.
    """
    _check_weights(weights)
    depth = len(sigma_ws)
    if len(laws) != depth:
        raise ValueError("need one slope law per layer")
    with mp.workdps(dps):
        z = mp.mpmathify(z)
        if z == 0:
            raise ValueError("z = 0 is not allowed")
        groups, layer_group = _group_layers(sigma_ws, laws)
        if len(w_starts) == depth:
            w0 = [mp.mpmathify(w_starts[g[3]]) for g in groups]
        elif len(w_starts) == len(groups):
            w0 = [mp.mpmathify(w) for w in w_starts]
        else:
            raise ValueError(f"w_starts has length {len(w_starts)}; expected {depth} (one per "
                             f"layer) or {len(groups)} (one per distinct layer)")
        x0 = [mp.mpc(m_start)] + [mp.mpc(w) for w in w0]
        if any(v == 0 for v in x0):
            raise ValueError("starts must be nonzero")
        _F, F_log, J_log, residual_from_log = _equations(weights, groups, depth, z)

        cache = {}

        def F_memo(*y):
            key = tuple(y)
            if key not in cache:
                with mp.workdps(dps):
                    cache[key] = [+v for v in F_log(*[+yi for yi in y])]
            return cache[key]

        jac_state = {}

        def J_chord(*y):
            y_j = jac_state.get("y")
            if y_j is not None and max(abs(a - b) for a, b in zip(y, y_j)) < mp.mpf("1e-6"):
                return jac_state["J"]
            with mp.workdps(jac_dps):
                jac = J_log(*[+yi for yi in y], dps=jac_dps)
            jac_state["y"], jac_state["J"] = list(y), jac
            return jac

        y0 = [mp.log(v) for v in x0]
        tol = mp.mpf(10) ** (-(dps - 3))
        try:
            sol = mp.findroot(F_memo, y0, J=J_chord, tol=tol, maxsteps=maxsteps, verify=False,
                              multidimensional=True, norm=lambda v: mp.norm(v, mp.inf))
        except ZeroDivisionError as exc:  # pragma: no cover - singular Jacobian
            raise ReferenceSolveError(f"findroot failed at z={z}: {exc}") from exc
        y = [sol[i] for i in range(len(y0))]
        # the residual of the ORIGINAL equations at the returned (m, w): from findroot's last
        # evaluation (memoised), r_0 = exp(log P) - 1
        residual = residual_from_log(F_memo(*y))
        x = [mp.exp(v) for v in y]
        if not residual < mp.mpf(residual_tol):
            raise ReferenceSolveError(
                f"residual {mp.nstr(residual, 3)} >= {residual_tol} at z={mp.nstr(z, 12)} "
                f"(start m={m_start})")
        m, ws_g = x[0], x[1:]
        if check_branch:
            ok, why = _branch_ok(z, m, ws_g, mp.mpf(branch_tol))
            if not ok:
                raise ReferenceSolveError(f"non-physical branch at z={mp.nstr(z, 12)}: {why}")
        ws = [ws_g[g] for g in layer_group]
        return m, ws, residual


def _laws_for(name, qs, dps):
    return [mp_slope_law(name, q, dps=dps) for q in qs]


def mp_solve(name, weights, sigma_ws, qs, z, m_start, w_starts, *, dps=DEFAULT_DPS,
             return_residual=False, **kwargs):
    """Solve for ``(m, [w_1..w_L])`` at ``z`` from the start ``(m_start, w_starts)``.

    ``sigma_ws`` and ``qs`` are per-layer sequences (identical layers repeated; identical
    ``(sigma_w, q)`` pairs are grouped, so depth 100 costs as much as depth 1).  Real ``z``
    is solved on the real axis: the start selects the ``z + i0`` branch and the signs are
    checked.  Returns ``(m, ws)`` (``ws`` per layer), or ``(m, ws, residual)``.
    """
    _check_name(name)
    if len(sigma_ws) != len(qs):
        raise ValueError("sigma_ws and qs must have the same length (the depth)")
    laws = _laws_for(name, qs, dps)
    m, ws, residual = mp_solve_laws(weights, sigma_ws, laws, z, m_start, w_starts, dps=dps,
                                    **kwargs)
    return (m, ws, residual) if return_residual else (m, ws)


def mp_residual(name, weights, sigma_ws, qs, z, m, ws, *, dps=DEFAULT_DPS):
    """Max modulus of the relative residuals at ``(m, ws)`` (``ws`` per layer)."""
    _check_weights(weights)
    with mp.workdps(dps):
        laws = _laws_for(name, qs, dps)
        groups, _ = _group_layers(sigma_ws, laws)
        F, _F_log, _J_log, _res = _equations(weights, groups, len(sigma_ws), mp.mpmathify(z))
        wg = [mp.mpmathify(ws[g[3]]) for g in groups]
        return max(abs(r) for r in F(mp.mpmathify(m), *wg))


def mp_stieltjes(z, m, *, dps=DEFAULT_DPS):
    """``G(z) = (1 + m) / z``."""
    with mp.workdps(dps):
        return (1 + mp.mpmathify(m)) / mp.mpmathify(z)


def mp_density(name, weights, sigma_ws, qs, x, m_start, w_starts, *, dps=DEFAULT_DPS):
    """``rho(x) = -Im m(x + i0) / (pi x)`` at real ``x``, solved from the given start."""
    with mp.workdps(dps):
        x = mp.mpf(x)
        m, _ws = mp_solve(name, weights, sigma_ws, qs, x, m_start, w_starts, dps=dps)
        return -mp.im(m) / (mp.pi * x)


def mp_m2_formula(weights, sigma_ws, laws, *, dps=DEFAULT_DPS):
    """``(m_1, m_2)`` of J J^T from docs/theory/check-values.md: ``m_1 = prod chi_l``; gaussian
    ``m_2 = m_1^2 (1 + sum mu2/mu1^2)``, orthogonal ``m_2 = m_1^2 (1 + sum (mu2/mu1^2 - 1))``."""
    _check_weights(weights)
    with mp.workdps(dps):
        m1 = mp.mpf(1)
        acc = mp.mpf(0)
        for sw, law in zip(sigma_ws, laws):
            mu1, mu2 = law.moment(1), law.moment(2)
            m1 *= mp.mpf(sw) ** 2 * mu1
            acc += mu2 / mu1**2 - (1 if weights == "orthogonal" else 0)
        return +m1, m1**2 * (1 + acc)


# ----------------------------------------------------------------------------- continuation


def mp_asymptotic_start(weights, sigma_ws, laws, z):
    """``m ~ m1/z + m2/z^2`` and ``w ~ mu1/m + mu2/mu1`` (from ``M(w) ~ mu1/w + mu2/w^2``);
    a start for large ``|z|``."""
    with mp.workdps(DEFAULT_DPS):
        z = mp.mpmathify(z)
        m1, m2 = mp_m2_formula(weights, sigma_ws, laws)
        m = m1 / z + m2 / z**2
        ws = [law.moment(1) / m + law.moment(2) / law.moment(1) for law in laws]
        return m, ws


def mp_solve_continuation(weights, sigma_ws, laws, z, *, dps=DEFAULT_DPS, path_dps=18,
                          y_start=None, factor="0.4", y_stop="1e-3", z_scale=None):
    """Physical-branch solution at ``z`` with no outside start (slow; for self-tests).

    Starts far up the imaginary direction, ``x + i*Y``, with ``Y = 50 L scale`` large compared
    with the spectrum (``scale = max(|x|, m2/m1)``; ``m ~ m1/z + m2/z^2`` there), and lowers
    ``Y`` geometrically (``factor``) to ``max(Im z, y_stop * |x|)``, solving with warm starts at
    ``path_dps`` digits (warm starts extrapolated linearly in log variables), then solves at ``z``
    itself at ``dps``.  The branch signs are checked at every step.  Returns ``(m, ws)``.
    """
    with mp.workdps(dps):
        z = mp.mpmathify(z)
        x, y_target = mp.re(z), mp.im(z)
        if y_target < 0:
            raise ValueError("use Im z >= 0 (conjugate symmetry gives the rest)")
        m1, m2 = mp_m2_formula(weights, sigma_ws, laws)
        scale = z_scale if z_scale is not None else max(abs(x), m2 / m1)
        # the asymptotic start needs |z| >> the spectrum, whose top grows ~ L m2/m1 with depth
        y = mp.mpf(y_start) if y_start is not None else 50 * len(sigma_ws) * scale
        y_floor = max(y_target, (abs(x) if x != 0 else scale) * mp.mpf(y_stop))
        fac = mp.mpf(factor)
        zc = mp.mpc(x, y)
        m, ws = mp_asymptotic_start(weights, sigma_ws, laws, zc)
        history = []  # (log z, [log m, log w_1, ...]) of the last solved points

        def predict(z_new):
            """Warm start at z_new: linear extrapolation of (log m, log w) in log z from the
            last two points (first step: the large-|z| scaling m ~ 1/z, w ~ z)."""
            lz = mp.log(z_new)
            if len(history) == 1:
                (lz1, v1), = history
                v = [v1[0] - (lz - lz1)] + [vi + (lz - lz1) for vi in v1[1:]]
            else:
                (lz0, v0), (lz1, v1) = history[-2:]
                t = (lz - lz1) / (lz1 - lz0)
                v = [b + t * (b - a) for a, b in zip(v0, v1)]
            return mp.exp(v[0]), [mp.exp(vi) for vi in v[1:]]

        while True:
            m, ws, _res = mp_solve_laws(weights, sigma_ws, laws, zc, m, ws, dps=path_dps,
                                        jac_dps=path_dps, residual_tol="1e-12", maxsteps=40)
            history.append((mp.log(zc), [mp.log(m)] + [mp.log(w) for w in ws]))
            if y <= y_floor:
                break
            y = max(y * fac, y_floor)
            zc = mp.mpc(x, y)
            m, ws = predict(zc)
        m, ws, _res = mp_solve_laws(weights, sigma_ws, laws, z, m, ws, dps=dps, maxsteps=40)
        return m, ws
