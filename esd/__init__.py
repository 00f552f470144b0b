"""esd: spectra and fixed points of deep random neural networks."""

from .activations import Activation, custom_activation, get_activation
from .exceptions import BackendUnavailable, ConvergenceError, EsdError, InvalidParameter
from .jacobian import JacobianESD
from .meanfield import MeanField, mean_field, q_star
from .spec import NetworkSpec

__version__ = "0.1.0"

__all__ = [
    "Activation", "custom_activation", "get_activation",
    "BackendUnavailable", "ConvergenceError", "EsdError", "InvalidParameter",
    "JacobianESD", "MeanField", "mean_field", "q_star", "NetworkSpec", "__version__",
]
