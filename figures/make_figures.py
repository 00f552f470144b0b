"""Regenerate every figure in figures/ from esd's public API (one command):

    python figures/make_figures.py

Each PNG has a JSON sidecar with the parameters that made it and the package version.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import esd
from esd.plots import plot_density, plot_radial_cdf

HERE = Path(__file__).resolve().parent


def _save(fig, name, params):
    fig.savefig(HERE / f"{name}.png", dpi=120)
    (HERE / f"{name}.json").write_text(json.dumps({"esd_version": esd.__version__, **params},
                                                  indent=1, sort_keys=True))


def densities_by_depth():
    """Density of log x for tanh networks at the edge of chaos and above, L = 1..1000."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    params = {"activation": "tanh", "sigma_b": 0.1, "weights": ["gaussian", "orthogonal"],
              "sigma_w": 1.5, "depths": [1, 10, 100, 1000], "grid": 600}
    for ax, weights in zip(axes, params["weights"]):
        for L in params["depths"]:
            sol = esd.JacobianESD(esd.NetworkSpec("tanh", weights=weights, sigma_w=1.5,
                                                  sigma_b=0.1, depth=L))
            lo = sol.quantile_log(1e-3, max_decades=5 * L + 20)
            t = np.linspace(lo, sol.log_support[1], 600)[:-1]
            # Plot against log10 x / L so that all depths share an axis.
            ax.plot(t / math.log(10) / L, sol.log_density(t) * L * math.log(10), label=f"L = {L}")
        ax.set_xlabel(r"$\log_{10}(x) / L$, $x$ eigenvalue of $JJ^T$")
        ax.set_ylabel("density (rescaled)")
        ax.set_title(f"tanh, {weights}, $\\sigma_w$ = 1.5, $\\sigma_b$ = 0.1")
        ax.legend()
    _save(fig, "density_by_depth", params)


def activations_panel():
    """J J^T density and radial law of J for every activation at L = 5, gaussian weights."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    params = {"depth": 5, "weights": "gaussian", "sigma_b": 0.1,
              "sigma_w": {"linear": 1.0, "relu": 1.414, "hard-tanh": 1.2, "tanh": 1.3, "erf": 1.3,
                          "sigmoid": 4.0}}
    for act, sw in params["sigma_w"].items():
        sol = esd.JacobianESD(esd.NetworkSpec(act, sigma_w=sw, sigma_b=0.1, depth=5))
        x = sol.default_grid(400, max_decades=12)
        plot_density(x, sol.density(x), ax=ax1, label=f"{act} ($\\sigma_w$={sw})", log_x=True)
        r = np.linspace(0, 1.1 * sol.spectral_radius, 200)
        plot_radial_cdf(r / sol.spectral_radius, sol.radial_cdf(r), ax=ax2, label=act)
    ax2.set_xlabel(r"$|\lambda| / $ spectral radius")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    _save(fig, "activations_L5", params)


def theory_over_simulation():
    """Theory density over the histogram of a simulated network, and the radial laws."""
    from esd.plots import plot_validation
    from validation.montecarlo import simulate
    params = {"activation": "tanh", "weights": "gaussian", "sigma_w": 1.5, "sigma_b": 0.1,
              "depth": 5, "width": 1000, "samples": 3, "seed": 2026}
    sol = esd.JacobianESD(esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=5))
    sim = simulate("tanh", "gaussian", 1.5, 0.1, 5, 1000, 3, seed=2026)
    fig = plot_validation(sol, sim.sv2, sim.eigs, HERE / "theory_over_simulation.png",
                          title="tanh, gaussian, sigma_w = 1.5, sigma_b = 0.1, L = 5, N = 1000")
    _save(fig, "theory_over_simulation", params)


if __name__ == "__main__":
    densities_by_depth()
    activations_panel()
    theory_over_simulation()
    print("wrote", sorted(p.name for p in HERE.glob("*.png")))
