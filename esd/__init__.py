"""esd: spectra and fixed points of deep random neural networks."""

from .activations import Activation, custom_activation, get_activation
from .cavity import CavityResult, HeavyTailedJacobian
from .exceptions import BackendUnavailable, ConvergenceError, EsdError, InvalidParameter
from .jacobian import JacobianESD
from .lyapunov import LogSpectrumMoments, log_spectrum_moments
from .meanfield import MeanField, mean_field, q_star
from .qpredict import QPrediction, predict_q, predict_q_heavy
from .spec import NetworkSpec

__version__ = "0.1.0"

__all__ = [
    "Activation", "custom_activation", "get_activation",
    "BackendUnavailable", "ConvergenceError", "EsdError", "InvalidParameter",
    "JacobianESD", "MeanField", "mean_field", "q_star", "NetworkSpec", "__version__",
    "CavityResult", "HeavyTailedJacobian", "LogSpectrumMoments", "log_spectrum_moments",
    "QPrediction", "predict_q", "predict_q_heavy",
]
