"""The result of :func:`validation.fixedpoints.find_fixed_points`: points, their
classification, periodic orbits, basin shares and the work done."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["FixedPointResult"]


@dataclass(frozen=True, eq=False)
class FixedPointResult:
    """Distinct fixed points and periodic attractors of F, with basin shares.

    Per fixed point (K rows, registration order: Phase 1 first): ``points`` (K, N);
    ``spectral_radius`` rho(J(x*)); ``stable`` (rho < 1); ``index`` sign det(I - J(x*)),
    0 if degenerate; ``residual`` |F(x*) - x*|_inf (<= tol, or at most ``ROUNDING_FLOOR``
    for a point at its rounding floor: :func:`validation.fpsearch._damped_newton`);
    ``basin_share`` the fraction of Phase-1 starts whose iteration ended there (0 for an
    unstable point, except in the measure-zero case that an iteration landed on it);
    ``found_by_iteration``; ``lifted``, True for a point added by Phase 4 in lifted
    coordinates: its residual in x may be far above tol (rounding keeps it near eps rho,
    up to 1e-1 at rho ~ 1e15), while its residual there is at most tol.
    ``q_stable``, ``q_all`` and ``index_sum`` summarise them.

    Per periodic orbit reached by iteration (minimal period >= 2, at most ``period_max``):
    ``periods``, ``periodic_shares``, ``periodic_spectral_radius`` (rho of the Jacobian of
    F^p at the orbit) and ``orbits`` ((p, N) arrays, x, F(x), ..., F^(p-1)(x)).
    ``sum(basin_share) + periodic_fraction + unresolved_fraction == 1``.

    Work: ``n_starts`` Phase-1 starts; ``iterations`` evaluations of F per row in Phase 1
    (a batched sweep of B rows counts B; ``iterate_flops(network, iterations)`` is its
    GEMM work); ``newton_steps`` per-row Newton steps of both phases; ``newton_starts``
    Phase-2 starts over all rounds (each runs Newton in x and in u),
    ``newton_converged`` the runs of both kinds reaching tol; ``homotopy_paths`` Phase-3
    paths followed, ``homotopy_crossings`` their crossings of t = 1, ``path_steps`` their
    continuation steps; ``lifted_branches`` Phase-4 traced curves, ``lifted_paths``,
    ``lifted_crossings``, ``lifted_path_steps`` the same for Phase 4 (the last two over
    traced curves and paths);
    ``n_rejected`` orbits that Newton, as a single row, brought neither to tol nor to a
    rounding floor; ``lipschitz_bound`` and
    ``certified_unique`` (bound < 1); ``params`` the network's and the finder's inputs;
    ``timings`` wall seconds per phase.
    """

    points: np.ndarray
    stable: np.ndarray
    spectral_radius: np.ndarray
    index: np.ndarray
    residual: np.ndarray
    basin_share: np.ndarray
    found_by_iteration: np.ndarray
    lifted: np.ndarray
    q_stable: int
    q_all: int
    index_sum: int
    periods: list
    periodic_shares: list
    periodic_spectral_radius: list
    orbits: list
    periodic_fraction: float
    unresolved_fraction: float
    n_starts: int
    iterations: int
    newton_steps: int
    newton_starts: int
    newton_converged: int
    homotopy_paths: int
    homotopy_crossings: int
    path_steps: int
    lifted_branches: int
    lifted_paths: int
    lifted_crossings: int
    lifted_path_steps: int
    n_rejected: int
    lipschitz_bound: float
    certified_unique: bool
    params: dict
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable summary: counts, fractions, per-point numbers, params."""
        from esd import __version__
        return {
            "q_stable": self.q_stable, "q_all": self.q_all, "index_sum": self.index_sum,
            "n_degenerate": int(np.sum(self.index == 0)),
            "spectral_radius": [float(v) for v in self.spectral_radius],
            "stable": [bool(v) for v in self.stable],
            "index": [int(v) for v in self.index],
            "basin_share": [float(v) for v in self.basin_share],
            "max_residual": float(self.residual.max()) if self.residual.size else None,
            "periods": list(self.periods),
            "periodic_shares": list(self.periodic_shares),
            "periodic_spectral_radius": list(self.periodic_spectral_radius),
            "periodic_fraction": self.periodic_fraction,
            "unresolved_fraction": self.unresolved_fraction,
            "n_starts": self.n_starts, "iterations": self.iterations,
            "newton_steps": self.newton_steps, "newton_starts": self.newton_starts,
            "newton_converged": self.newton_converged, "homotopy_paths": self.homotopy_paths,
            "homotopy_crossings": self.homotopy_crossings, "path_steps": self.path_steps,
            "lifted": [bool(v) for v in self.lifted], "lifted_branches": self.lifted_branches,
            "lifted_paths": self.lifted_paths,
            "lifted_crossings": self.lifted_crossings, "lifted_path_steps": self.lifted_path_steps,
            "n_rejected": self.n_rejected,
            "lipschitz_bound": self.lipschitz_bound if math.isfinite(self.lipschitz_bound) else None,
            "certified_unique": self.certified_unique,
            "timings": dict(self.timings), "params": dict(self.params), "esd_version": __version__,
        }
