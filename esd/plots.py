"""Figures from computed results (no numerics here; matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_density", "plot_radial_cdf", "plot_theory"]


def plot_density(x, rho, ax=None, *, label="theory", log_x=None, **kwargs):
    """Density rho(x) of the J J^T spectrum; log-x axis when the grid spans > 2 decades."""
    if ax is None:
        from matplotlib.figure import Figure
        ax = Figure(figsize=(5, 3.5)).add_subplot()
    x = np.asarray(x)
    rho = np.asarray(rho)
    if log_x is None:
        log_x = x.min() > 0 and x.max() / x.min() > 100
    if log_x:
        # On a log axis the mass is carried by x rho(x) (the density of log x).
        (line,) = ax.plot(x, x * rho, label=label, **kwargs)
        ax.set_xscale("log")
        ax.set_ylabel(r"$x\,\rho(x)$ (density of $\log x$)")
    else:
        (line,) = ax.plot(x, rho, label=label, **kwargs)
        ax.set_ylabel(r"$\rho(x)$")
    ax.set_xlabel(r"eigenvalue $x$ of $JJ^T$")
    return line


def plot_radial_cdf(r, F, ax=None, *, label="theory", **kwargs):
    """Radial CDF F(r) = P(|lambda| <= r) of the eigenvalues of J."""
    if ax is None:
        from matplotlib.figure import Figure
        ax = Figure(figsize=(5, 3.5)).add_subplot()
    (line,) = ax.plot(r, F, label=label, **kwargs)
    ax.axvline(1.0, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel(r"$|\lambda|$")
    ax.set_ylabel(r"$P(|\lambda| \leq r)$")
    return line


def plot_theory(result: dict, radial: tuple, path, title: str = ""):
    """Two panels (J J^T density; radial CDF of J) written to ``path``."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    plot_density(result["density"]["x"], result["density"]["rho"], ax=ax1)
    lo, hi = result["support"]
    ax1.set_title(f"$JJ^T$: support [{lo:.3g}, {hi:.3g}], atom {result['atom_at_zero']:.3g}")
    plot_radial_cdf(radial[0], radial[1], ax=ax2)
    ax2.set_title(f"eigenvalues of $J$: radius {result['spectral_radius']:.3g}, "
                  f"outside unit circle {result['fraction_outside_unit_circle']:.3g}")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return fig
