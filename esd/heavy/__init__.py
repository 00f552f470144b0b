"""Heavy-tailed theory (stable / Cauchy weights): stable laws and their scale map, the
one-layer Lévy matrix, the cavity (population-dynamics) solver for depth, and the exact
log-moments of the spectrum."""

from esd.heavy.cavity import HeavyTailedJacobian
from esd.heavy.cavity_result import CavityResult
from esd.heavy.lyapunov import LogSpectrumMoments, log_spectrum_moments
from esd.heavy.scale_map import gamma_star, layer_scales
from esd.heavy.stable import stable_pdf

__all__ = ["CavityResult", "HeavyTailedJacobian", "LogSpectrumMoments", "log_spectrum_moments",
           "gamma_star", "layer_scales", "stable_pdf"]
