"""Solve everything the command line reports for one network, timed without compilation."""

from __future__ import annotations

import time
from functools import cache

import numpy as np

from esd.light.jacobian import JacobianESD
from esd.spec import NetworkSpec

__all__ = ["solve", "warm_up"]


@cache
def warm_up() -> None:
    """Compile, or load from Numba's on-disk cache, every solver kernel, once per process.

    The kernels' argument types do not depend on the network, so two small networks (a
    smooth slope law with gaussian weights, an atomic one with orthogonal weights) reach
    every kernel; a first solve timed after this call excludes compilation.
    """
    for spec in (NetworkSpec("tanh", weights="gaussian", sigma_w=1.5, sigma_b=0.1, depth=2),
                 NetworkSpec("relu", weights="orthogonal", sigma_w=1.4, sigma_b=0.1, depth=3)):
        sol = JacobianESD(spec)
        for name in ("moments", "support", "fraction_outside_unit_circle", "inner_radius"):
            getattr(sol, name)
        sol.density(sol.default_grid(4))
        sol.stieltjes(np.array([1.0 + 1.0j]))


def solve(spec: NetworkSpec, grid: int | None = None) -> tuple[dict, "JacobianESD"]:
    """Solve everything the CLI reports for ``spec``; ``solve_seconds`` times the solve
    (after :func:`warm_up`, so never the compilation of the kernels).

    Returns the summary dict and the solver (for further queries without solving again).
    """
    warm_up()
    start = time.perf_counter()
    sol = JacobianESD(spec)
    out = {
        "q_star": sol.mean_field.to_dict()["q_star"],
        "chi": float(sol.mean_field.chi[0]) if spec.identical_layers else sol.mean_field.chi.tolist(),
        "moments": sol.moments.tolist(),
        "support": list(sol.support),
        "atom_at_zero": sol.atom_at_zero,
        "spectral_radius": sol.spectral_radius,
        "inner_radius": sol.inner_radius,
        "fraction_outside_unit_circle": sol.fraction_outside_unit_circle,
    }
    if grid is not None:
        x = sol.default_grid(grid)
        out["density"] = {"x": x.tolist(), "rho": sol.density(x).tolist()}
    out["solve_seconds"] = time.perf_counter() - start
    return out, sol
