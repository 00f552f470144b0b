"""Fixed points, periodic attractors and basins of one network map (docs/theory/fixed-points.md).

The map is the whole network, ``F(x) = x_L`` with ``h_l = x_{l-1} W_l^T + b_l``,
``x_l = phi(h_l)`` (row vectors, as in :mod:`validation.jacobians`), and its Jacobian is
``J(x) = D_L W_L ... D_1 W_1``, ``D_l = diag(phi'(h_l))``. Everything is NumPy on the host.
:func:`find_fixed_points` works in three phases and a fourth on request; ``rng`` draws the
Phase-1 starts first (uniform in the box, ``low + (high - low) U``, shape (starts, N)), then
the Phase-2 starts, then the Phase-3 path origins, then the Phase-4 offsets.

Phase 1, iteration (attractors and their basins). All starts are iterated at once,
``X <- F(X)`` on a (B, N) array (one GEMM per layer). A row stops when
``|F(x) - x|_inf <= NEWTON_SWITCH`` (a fixed-point candidate), when
``|x_k - x_{k-p}|_inf <= NEWTON_SWITCH`` for some 2 <= p <= ``period_max`` (checked every
``period_max`` iterations, smallest p first: a period-p candidate), when ``|x|_inf``
exceeds ``DIVERGED`` or x is not finite (unresolved), or after ``max_iter`` iterations
(unresolved). Candidates are then refined, one detected period p at a time: one greedy
representative per cluster (sup-norm radius ``CLUSTER_RADIUS``) goes to Newton on
``G_p(x) = F^p(x) - x`` with the exact Jacobian of ``F^p``, and every other candidate is
assigned to a refined orbit point ``o`` of period d | p by one chord step, accepted when
``|x + (I - J_d(o))^{-1} G_d(x) - o|_inf <= dedup_tol`` (the row's own Newton target is
that point); rows still unassigned are refined by Newton themselves. A row whose Newton
run does not reach ``tol`` within ``NEWTON_MAX_STEPS`` steps, or moves farther than
``REP_RADIUS``, is unresolved.

Phase 2, Newton (all fixed points, unstable ones included). Damped Newton on
``G(x) = F(x) - x``: step ``(I - J) dx = G``, backtracking line search on ``|G|_2``
(Armijo constant ``ARMIJO``, at most ``LINE_SEARCH_HALVINGS`` halvings, a row stalls
when none is accepted), iterates projected onto the activation's closed box when it has
one (every fixed point lies in it); and, from the same starts ``x0``, damped Newton on
``G_u(u) = u - h_L(phi(u))`` from ``u0 = h_L(x0)`` (the fixed points are ``x = phi(u)``,
one to one, same index), which stays well conditioned where saturated units make F flat
with steep transitions (:func:`validation.fpsearch._preactivation_newton`). Starts: a
quarter on segments between pairs of points found so far (saddles sit on basin
boundaries), a quarter near found points (gaussian, 5% of the box width), the rest
uniform in the start box. For a bounded activation the round is repeated, up to
``newton_rounds`` times, while the index sum differs from 1 or the last round found a
new point.

Phase 3, homotopy paths (bounded activations, only while the index sum differs from 1).
Newton from random starts reaches a strongly unstable point only from a tiny basin;
the path of zeros of ``H(x, t) = x - (1 - t) c - t F(x)`` from ``(c, 0)``, c uniform in the
activation's box, reaches t = 1 at a fixed point for almost every c, unstable or not, and
followed past t = 1 crosses it again at further fixed points
(:mod:`validation.fphomotopy`). Batches of ``HOMOTOPY_BATCH`` paths, ``homotopy_paths`` in
all, each at most ``homotopy_steps`` continuation steps, run while the index sum differs
from 1; every crossing is refined by Newton in x and in u.
Phase 4, lifted gain curves (on request: ``lifted_branches`` or ``lifted_paths`` > 0;
sigmoid, tanh, erf; only while the index sum still differs from 1). Fixed points with
rho(J) beyond ~1e8, common in deep saturated networks, cannot be represented in x at
double precision; the curves of :mod:`validation.fplifted` work with all layer outputs as
unknowns and reach them. First the curves through the points found so far are traced both
ways (branch tracing: a missed point of index -1 usually lies on the curve of a found one
of index +1, and the other way round), then curves from beta = 0 with random offsets are
followed. Their points are flagged ``lifted``. A traced curve takes seconds at N = 30,
L <= 16; a random path about a minute at L = 16 and three at L = 64 (its step factors a
matrix of the layer widths added up, in time linear in the depth above
``validation.fpgain.CYCLIC_MIN_DIM``), hence off by default.

Distinct points. Every orbit is polished by Newton as a single row before it is
registered, so its reported residual is the one that passed ``tol`` (or the rounding
floor: a Newton step below tol, residual at most ``ROUNDING_FLOOR``). Two fixed points
are the same when ``|x - y|_inf <= dedup_tol``; two periodic orbits when they have the
same minimal period and a point of one lies within ``dedup_tol`` of the other's first
point. The first found is kept, in the order of the phases.

Per fixed point: ``rho(J(x*))`` (stable iff < 1), the index ``sign det(I - J(x*))``
(``slogdet``; 0 when the smallest singular value of ``I - J`` is below
``DEGENERATE_SIGMA``), and ``|F(x*) - x*|_inf``. When F maps a box into its interior and
every fixed point is non-degenerate, the indices sum to 1 (docs/theory/fixed-points.md): a check that
the enumeration is complete. Newton from random starts finds strongly unstable points
(rho ~ 1e2 to 1e4) rarely; an index sum other than 1 flags such a miss.

Uniqueness certificate. ``Lip(F) <= prod_l max|phi'| ||W_l||_2``; below 1 F is a
contraction of R^N (Banach), so its fixed point is unique and globally attracting
(docs/theory/fixed-points.md: gaussian sigmoid with sigma_w < 2). Phase 2 is then skipped unless
``newton_starts`` is given explicitly.

Cost: Phase 1 holds (period_max, B, N) floats of history; a Newton step costs
``2 N^3 L`` per row for J (held in chunks of ``JACOBIAN_CHUNK`` entries) plus a batched
``solve``, so Phase 2 dominates whenever it runs.

The search itself is in :mod:`validation.fpsearch`, the map F and its Jacobian in
:mod:`validation.netmap`; this module checks the arguments, runs the three phases and
classifies what they found.
"""

from __future__ import annotations

import math
import time
from numbers import Real

import numpy as np

from esd.activations import ACTIVATIONS
from esd.exceptions import InvalidParameter

from .backend import to_numpy
from .fphomotopy import homotopy_fixed_points
from .fplifted import SMOOTH_BOUNDED, lifted_fixed_points
from .fpresult import FixedPointResult
from .fpsearch import (NEWTON_SWITCH, _greedy_reps, _iterate, _newton, _newton_start_points,
                       _preactivation_newton, _refine, _Registry)
from .netmap import _Map
from .networks import LayeredNetwork, Network, _check_int
from .sampling import _make_rng, _seed_record

__all__ = ["FixedPointResult", "find_fixed_points", "iterate_flops", "lipschitz_bound"]

DEFAULT_BOX = (-1.0, 1.0)    # start box of an activation without a bounded range
HOMOTOPY_BATCH = 16         # homotopy paths followed at once
MAX_SLOPE = {"linear": 1.0, "relu": 1.0, "hard-tanh": 1.0, "tanh": 1.0, "erf": 1.0,
             "sigmoid": 0.25}  # sup |phi'| of the built-in activations


# -- work and the uniqueness certificate ----------------------------------------------------
def iterate_flops(network, batch: int) -> float:
    """Floating-point operations of one batched evaluation of F: ``2 B sum_l n_l n_{l-1}``
    (the GEMMs; ``2 B N^2 L`` for a square network)."""
    return 2.0 * batch * sum(float(w.shape[0] * w.shape[1]) for w, _ in network.layers())


def lipschitz_bound(network) -> float:
    """``prod_l max|phi'| ||W_l||_2``, a bound on Lip(F) in the l2 norm (inf if unknown).

    ``max|phi'|`` is known for the built-in activations (sigmoid 1/4, the others 1); a
    user activation gives inf.
    """
    act = network.activation
    slope = MAX_SLOPE.get(act.name) if ACTIVATIONS.get(act.name) is act else None
    if slope is None:
        return math.inf
    if network.tied:
        norms = np.full(network.depth, np.linalg.norm(to_numpy(network.W[0]), ord=2))
    else:
        norms = np.array([np.linalg.norm(to_numpy(w), ord=2) for w, _ in network.layers()])
    return float(np.prod(slope * norms))


# -- validation ------------------------------------------------------------------------------
def _check_real(name, value, low, high, rule):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidParameter(name, value, rule)
    return float(value)


def _check_starts(extra, width):
    if extra is None:
        return np.empty((0, width))
    try:
        arr = np.asarray(extra)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("extra_starts", extra, f"must be a real array (B, {width})") from exc
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or np.issubdtype(arr.dtype, np.integer)):
        raise InvalidParameter("extra_starts", f"array of dtype {arr.dtype}", "must hold real numbers")
    arr = arr.astype(np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidParameter("extra_starts", f"array of shape {arr.shape}",
                               f"must have shape (B, N) or (N,) with N = {width}")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter("extra_starts", "array with non-finite entries", "must be finite")
    return arr


def _check_box(box, activation):
    if box is None:
        box = activation.box if activation.box is not None else DEFAULT_BOX
    try:
        lo, hi = (float(v) for v in box)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("box", box, "must be a pair (low, high) of finite numbers") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidParameter("box", box, "must be a pair (low, high) of finite numbers, low < high")
    return lo, hi


# -- public ------------------------------------------------------------------------------------
def find_fixed_points(network, *, starts=1000, extra_starts=None, newton_starts=None, rng=None,
                      tol=1e-12, max_iter=2000, dedup_tol=1e-6, period_max=16, box=None,
                      newton_rounds=6, homotopy_paths=64, homotopy_steps=8000,
                      lifted_paths=0, lifted_steps=15000, lifted_branches=0, lifted_exhaust=False,
                      progress=False) -> FixedPointResult:
    """Distinct fixed points of ``F(x) = x_L``, their stability and index, and basin shares.

    Parameters
    ----------
    network : Network or LayeredNetwork
        Any namespace; the search runs on a NumPy copy. Layers may differ in width
        (an autoencoder N -> k -> N); the map must be square.
    starts : int >= 0
        Phase-1 starts drawn uniformly in ``box``.
    extra_starts : array (B, N) or (N,), optional
        Further Phase-1 starts (counted in ``n_starts`` and the basin shares).
    newton_starts : int >= 0, optional
        Phase-2 Newton starts. Default (None): ``starts``, or 0 when the Lipschitz bound
        certifies a unique fixed point (module docstring); an explicit number always runs.
    rng : None, seed or numpy.random.Generator
        Draws the Phase-1 starts, then the Phase-2 starts, then the Phase-3 path origins, then the
        Phase-4 offsets.
    tol : float in [1e-15, 1e-6]
        Every reported point has ``|F^p(x) - x|_inf <= tol``, or, where rounding keeps the
        residual of a strongly unstable point above tol, a Newton step below tol with a
        residual of at most ``ROUNDING_FLOOR`` = 1e-8.
    max_iter : int >= 1
        Iterations of F per Phase-1 start before it counts as unresolved.
    dedup_tol : float > tol
        Sup-norm distance under which two fixed points (orbits) are the same.
    period_max : int >= 1
        Longest period detected (1: no periodic detection).
    box : (low, high), optional
        Start box ``[low, high]^N``; default the activation's box (sigmoid [0, 1],
        tanh/erf/hard-tanh [-1, 1]) or ``DEFAULT_BOX`` = [-1, 1] for unbounded ones
        (relu, linear), where a fixed point may lie outside the box and iterations may
        diverge (counted unresolved).
    newton_rounds : int >= 1
        Phase 2 is repeated with fresh starts (their segments and neighbourhoods now
        include the points found so far), at most this many rounds, while the activation
        is bounded and the index sum differs from 1 or the last round found a new point.
    homotopy_paths : int >= 0
        Phase-3 homotopy paths at most, for a bounded activation, followed in batches
        of ``HOMOTOPY_BATCH`` while the index sum differs from 1 (0: no Phase 3).
    homotopy_steps : int >= 1
        Continuation steps per path at most.
    lifted_paths : int >= 0
        Phase-4 gain-homotopy paths in lifted coordinates at most (sigmoid, tanh, erf),
        followed while the index sum still differs from 1 (all of them with lifted_exhaust) (default 0: no Phase 4; a path
        of 15,000 steps takes about a minute at N = 30, L = 16 and three at L = 64).
    lifted_steps : int >= 1
        Continuation steps per lifted path (per direction of a traced curve) at most.
    lifted_branches : int >= 0
        Phase-4 branch tracing (sigmoid, tanh, erf): the gain curves through this many
        found points at most are traced both ways before any ``lifted_paths`` is drawn
        (default 0). It finds the missed neighbours of found points, the usual cause of an
        index sum other than 1, in seconds where random paths spend minutes.
    lifted_exhaust : bool
        Phase 4 runs whatever the index sum after Phases 1-3 (unless the Lipschitz bound
        certifies a unique point) and spends its whole budget of traced points and paths
        instead of stopping once the index sum is 1. An index sum of 1 does not certify a
        complete count: a missed pair of points of index +1 and -1 leaves it unchanged. The
        points are a superset of those found without it (the same draws, continued); this
        is the audit of a count (validation.qaudit).
    progress : bool
        Show a tqdm bar (stderr).

    Returns
    -------
    FixedPointResult
    """
    if not isinstance(network, (Network, LayeredNetwork)):
        raise InvalidParameter("network", network, "must be a validation.Network or LayeredNetwork")
    width = network.width
    n_rand = _check_int("starts", starts, 0)
    extra = _check_starts(extra_starts, width)
    if n_rand + extra.shape[0] < 1:
        raise InvalidParameter("starts", starts, "starts plus the rows of extra_starts must be >= 1")
    if newton_starts is not None:
        _check_int("newton_starts", newton_starts, 0)
    tol = _check_real("tol", tol, 1e-15, NEWTON_SWITCH, f"must be a number in [1e-15, {NEWTON_SWITCH}]")
    if isinstance(dedup_tol, bool) or not isinstance(dedup_tol, Real) or not math.isfinite(dedup_tol) \
            or not dedup_tol > tol:
        raise InvalidParameter("dedup_tol", dedup_tol, f"must be a finite number > tol = {tol}")
    dedup_tol = float(dedup_tol)
    max_iter = _check_int("max_iter", max_iter, 1)
    period_max = _check_int("period_max", period_max, 1)
    newton_rounds = _check_int("newton_rounds", newton_rounds, 1)
    homotopy_paths = _check_int("homotopy_paths", homotopy_paths, 0)
    homotopy_steps = _check_int("homotopy_steps", homotopy_steps, 1)
    lifted_paths = _check_int("lifted_paths", lifted_paths, 0)
    lifted_steps = _check_int("lifted_steps", lifted_steps, 1)
    lifted_branches = _check_int("lifted_branches", lifted_branches, 0)
    box = _check_box(box, network.activation)
    for name, value in (("lifted_exhaust", lifted_exhaust), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameter(name, value, "must be True or False")
    gen = _make_rng(rng)
    act = network.activation
    clip = act.box if act.bounded and act.box is not None else None
    params = {**network.params, "activation": act.name, "tied": network.tied, "starts": n_rand,
              "extra_starts": int(extra.shape[0]), "newton_starts": newton_starts, "tol": tol,
              "max_iter": max_iter, "dedup_tol": dedup_tol, "period_max": period_max,
              "box": list(box), "newton_rounds": newton_rounds,
              "homotopy_paths": homotopy_paths, "homotopy_steps": homotopy_steps,
              "lifted_paths": lifted_paths, "lifted_steps": lifted_steps, "lifted_branches": lifted_branches,
              **{f"finder_{k}": v for k, v in _seed_record(gen).items()}}
    if lifted_exhaust:
        # recorded only when on, so that the records of earlier sweeps are reproduced as they were
        params["lifted_exhaust"] = True

    m = _Map(network)
    bound = lipschitz_bound(network)
    certified = bound < 1.0
    n_newton = (0 if certified else n_rand) if newton_starts is None else int(newton_starts)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=max_iter, desc=f"iterate N={width} L={network.depth}", unit="it")

    t0 = time.perf_counter()
    x0 = np.concatenate([box[0] + (box[1] - box[0]) * gen.random((n_rand, width)), extra])
    with np.errstate(over="ignore", invalid="ignore"):
        period, end, evals = _iterate(m, x0, max_iter, period_max, bar)
    t1 = time.perf_counter()

    registry = _Registry(m, dedup_tol, tol, clip)
    labels = np.full(x0.shape[0], -1)
    newton_steps = 0
    for p in np.unique(period[period > 0]):
        rows = np.flatnonzero(period == p)
        labels[rows], n = _refine(m, registry, end[rows], int(p), tol)
        newton_steps += n
    t2 = time.perf_counter()

    n_converged = rounds = 0
    if bar is not None:
        bar.set_description(f"newton N={width} L={network.depth}")
    while n_newton and rounds < newton_rounds:
        rounds += 1
        known = len(registry.of_period(1))
        found = np.concatenate(registry.orbits) if registry.orbits else np.empty((0, width))
        xs = _newton_start_points(gen, n_newton, box, found)
        with np.errstate(over="ignore", invalid="ignore"):
            xu, conv_u, n_u = _preactivation_newton(m, xs, tol)
            xs, _, conv, n = _newton(m, xs, 1, tol, clip)
        newton_steps += n + n_u
        n_converged += int(conv.sum() + conv_u.sum())
        xs = np.concatenate([xs[conv], xu[conv_u]])
        if xs.shape[0]:
            registry.add(xs[_greedy_reps(xs, dedup_tol), None, :], by_iteration=False)
        if clip is None or (registry.index_sum() == 1 and len(registry.of_period(1)) == known):
            break
    t3 = time.perf_counter()

    paths = crossings = path_steps = 0
    if bar is not None:
        bar.set_description(f"homotopy N={width} L={network.depth}")
    while clip is not None and paths < homotopy_paths and registry.index_sum() != 1:
        batch = min(HOMOTOPY_BATCH, homotopy_paths - paths)
        c = clip[0] + (clip[1] - clip[0]) * gen.random((batch, width))
        with np.errstate(over="ignore", invalid="ignore"):
            xs, n_cross, n_steps = homotopy_fixed_points(m, c, homotopy_steps, tol, clip)
        paths += batch
        crossings += n_cross
        path_steps += n_steps
        if xs.shape[0]:
            registry.add(xs[_greedy_reps(xs, dedup_tol), None, :], by_iteration=False)
        if bar is not None:
            bar.set_postfix(paths=paths, q_all=len(registry.of_period(1)), index_sum=registry.index_sum())
    if bar is not None:
        bar.close()
    t4 = time.perf_counter()

    n_starts = x0.shape[0]
    share = np.bincount(labels[labels >= 0], minlength=len(registry.orbits)) / n_starts
    fixed = registry.of_period(1)
    cycles = [k for k in range(len(registry.orbits)) if registry.period(k) >= 2]
    points = np.array([registry.orbits[k][0] for k in fixed]).reshape(len(fixed), width)
    rho = np.array([registry.rho[k] for k in fixed])
    index = np.array([registry.index[k] for k in fixed], dtype=int)
    residual = np.array([registry.residual[k] for k in fixed])
    basin = np.array([share[k] for k in fixed])
    by_iteration = np.array([registry.by_iteration[k] for k in fixed], dtype=bool)
    lifted = np.zeros(len(fixed), dtype=bool)
    phase4 = {"branches": 0, "paths": 0, "crossings": 0, "path_steps": 0}
    # An index sum of 1 does not certify the count (a missed +1/-1 pair leaves it unchanged),
    # so an exhaustive Phase 4 runs on every network whose uniqueness is not proven.
    triggered = (not certified) if lifted_exhaust else registry.index_sum() != 1
    if (lifted_paths or lifted_branches) and act.name in SMOOTH_BOUNDED and triggered:
        extra = lifted_fixed_points(network, points, paths=lifted_paths, steps=lifted_steps,
                                    branches=lifted_branches, tol=tol, dedup_tol=dedup_tol, rng=gen,
                                    stop_on_index=not lifted_exhaust,
                                    progress=progress)
        new = extra.new
        k = int(new.sum())
        points = np.concatenate([points, extra.points[new]])
        rho = np.concatenate([rho, extra.spectral_radius[new]])
        index = np.concatenate([index, extra.index[new]])
        residual = np.concatenate([residual, extra.x_residual[new]])
        basin = np.concatenate([basin, np.zeros(k)])
        by_iteration = np.concatenate([by_iteration, np.zeros(k, dtype=bool)])
        lifted = np.concatenate([lifted, np.ones(k, dtype=bool)])
        phase4 = {"branches": extra.branches, "paths": extra.paths, "crossings": extra.crossings,
                  "path_steps": extra.path_steps}
    t5 = time.perf_counter()
    stable = rho < 1.0
    return FixedPointResult(
        points=points, stable=stable, spectral_radius=rho, index=index, residual=residual,
        basin_share=basin, found_by_iteration=by_iteration, lifted=lifted,
        q_stable=int(stable.sum()), q_all=points.shape[0], index_sum=int(index.sum()),
        periods=[registry.period(k) for k in cycles],
        periodic_shares=[float(share[k]) for k in cycles],
        periodic_spectral_radius=[registry.rho[k] for k in cycles],
        orbits=[registry.orbits[k] for k in cycles],
        periodic_fraction=float(sum(share[k] for k in cycles)),
        unresolved_fraction=float(np.mean(labels < 0)),
        n_starts=n_starts, iterations=int(evals),
        newton_steps=int(newton_steps + registry.newton_steps), newton_starts=n_newton * rounds,
        newton_converged=n_converged, homotopy_paths=paths, homotopy_crossings=crossings,
        path_steps=path_steps, lifted_branches=phase4["branches"], lifted_paths=phase4["paths"],
        lifted_crossings=phase4["crossings"],
        lifted_path_steps=phase4["path_steps"], n_rejected=registry.rejected,
        lipschitz_bound=bound, certified_unique=certified, params=params,
        timings={"iterate": t1 - t0, "refine": t2 - t1, "newton": t3 - t2, "homotopy": t4 - t3,
                 "lifted": t5 - t4, "total": t5 - t0})
