"""esd: spectra and fixed points of deep random neural networks.

The theory lives in :mod:`esd.light` (gaussian and orthogonal weights), :mod:`esd.heavy`
(stable and Cauchy weights) and :mod:`esd.qtheory` (the number of fixed points); figures in
:mod:`esd.plots`; the command line in :mod:`esd.cli`, the only part that uses the
simulation packages ``validation`` and ``training``.
"""

__version__ = "0.1.0"

from .activations import Activation, custom_activation, get_activation
from .exceptions import BackendUnavailable, ConvergenceError, EsdError, InvalidParameter
from .heavy import CavityResult, HeavyTailedJacobian, LogSpectrumMoments, log_spectrum_moments
from .light import JacobianESD, MeanField, mean_field, q_star
from .qtheory import QPrediction, predict_q, predict_q_heavy
from .spec import NetworkSpec

__all__ = [
    "Activation", "custom_activation", "get_activation",
    "BackendUnavailable", "ConvergenceError", "EsdError", "InvalidParameter",
    "JacobianESD", "MeanField", "mean_field", "q_star", "NetworkSpec", "__version__",
    "CavityResult", "HeavyTailedJacobian", "LogSpectrumMoments", "log_spectrum_moments",
    "QPrediction", "predict_q", "predict_q_heavy",
]
