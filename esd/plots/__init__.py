"""Figures from computed results: spectra and Q(N, L) curves (matplotlib imported lazily)."""

from esd.plots.q import plot_q_curves, plot_q_prediction
from esd.plots.spectra import (plot_density, plot_heavy_quantiles, plot_radial_cdf, plot_simulation,
                               plot_theory, plot_validation)

__all__ = ["plot_density", "plot_radial_cdf", "plot_theory", "plot_simulation", "plot_validation",
           "plot_heavy_quantiles", "plot_q_curves", "plot_q_prediction"]
