"""Spectrum figures: densities over histograms, radial laws, eigenvalues in the complex plane
(no numerics here; matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_density", "plot_radial_cdf", "plot_theory", "plot_simulation", "plot_validation",
           "plot_heavy_quantiles"]


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


def plot_simulation(sv2, eigs, path, title: str = ""):
    """Histogram of log10 singular values and eigenvalues of J in the complex plane."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    s = np.asarray(sv2).ravel()
    ax1.hist(0.5 * np.log10(s[s > 0]), bins=80, density=True, color="0.7")
    ax1.set_xlabel(r"$\log_{10}$ singular value of $J$")
    e = np.asarray(eigs).ravel()
    ax2.scatter(e.real, e.imag, s=1, alpha=0.4)
    t = np.linspace(0, 2 * np.pi, 400)
    ax2.plot(np.cos(t), np.sin(t), color="k", lw=0.8)
    ax2.set_aspect("equal")
    ax2.set_xlabel(r"Re $\lambda$")
    ax2.set_ylabel(r"Im $\lambda$")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return fig


def plot_validation(sol, sv2, eigs, path, title: str = ""):
    """Theory over simulation: density of log10 x against the histogram; radial CDFs."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    s = np.asarray(sv2).ravel()
    pos = s[s > 1e-13 * s.max()]
    ax1.hist(np.log10(pos), bins=80, density=True, color="0.75", label="simulation")
    lo = max(np.log(pos.min()), sol.log_support[1] - 80.0)
    # (the histogram starts at the float64 resolution floor, 1e-13 of the largest value)
    t = np.linspace(lo, sol.log_support[1], 600)[:-1]
    # Density of log10 x, normalised like the histogram: over the histogram's range only.
    cut = float(pos.min())
    mass = 1.0 - sol.atom_at_top[1] - float(sol.cdf(np.array([cut]))[0])
    scale = np.log(10.0) / max(1e-300, mass)
    ax1.plot(t / np.log(10.0), sol.log_density(t) * scale, color="C3", label="theory")
    ax1.set_xlabel(r"$\log_{10} x$, $x$ eigenvalue of $JJ^T$")
    ax1.legend()
    r = np.sort(np.abs(np.asarray(eigs).ravel()))
    ax2.step(r, np.arange(1, r.size + 1) / r.size, where="post", color="0.5", label="simulation")
    grid = np.linspace(0, 1.05 * max(r.max(), sol.spectral_radius), 300)
    plot_radial_cdf(grid, sol.radial_cdf(grid), ax=ax2, color="C3")
    ax2.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120)
    return fig


def plot_heavy_quantiles(out, path=None, *, title=""):
    """Quantiles of log10 singular values (with error bars) of a heavy-tailed network and, when
    ``out`` has it, the radial CDF of the eigenvalues of J, with the fraction outside the unit
    circle, from ``esd theory --weights cauchy``."""
    from matplotlib.figure import Figure
    radial = out.get("radial_cdf")
    fig = Figure(figsize=(9.5 if radial else 5, 3.5), layout="constrained")
    axes = fig.subplots(1, 2 if radial else 1, squeeze=False).ravel()
    ax = axes[0]
    q = out["log10_singular_value_quantiles"]
    se = out["log10_singular_value_quantiles_stderr"]
    probs = [float(p) for p in q]
    ax.errorbar([q[p] for p in q], probs, xerr=[se[p] for p in q], fmt="o", capsize=3)
    ax.set_xlabel(r"$\log_{10} s$ (singular values of $J$)")
    ax.set_ylabel("CDF")
    ax.set_title(title, fontsize=8)
    if radial:
        ax2 = axes[1]
        ax2.errorbar(radial["radii"], radial["cdf"], yerr=radial["stderr"], fmt="s-", capsize=3,
                     ms=4)
        ax2.axvline(1.0, color="0.6", lw=0.8)
        ax2.set_xscale("log")
        ax2.set_xlabel(r"$r$")
        ax2.set_ylabel(r"$P(|\lambda(J)| \leq r)$")
    axes[-1].set_title(("" if radial is None else title + "\n")
                       + "fraction of eigenvalues outside the unit circle: "
                       f"{out['fraction_outside_unit_circle']:.4f} ± "
                       f"{out['fraction_outside_unit_circle_stderr']:.4f}", fontsize=8)
    if path:
        fig.savefig(path, dpi=120)
    return fig
