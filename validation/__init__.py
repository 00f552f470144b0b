"""Monte-Carlo validation of esd: random networks, Jacobians and their spectra.

Written once against the array API (NumPy, CuPy or array-api-strict through
:mod:`validation.backend`, the only module that imports CuPy); every random number is
drawn on the host, so one seed gives the same network on every backend.
"""

from .backend import BACKENDS, asarray, eigvals, get_namespace, is_cupy, is_numpy, namespace, to_numpy
from .jacobians import forward, jacobian, jacobian_spectra
from .sampling import (LAWS, LayeredNetwork, Network, load_network, sample_layered, sample_network,
                       stationary_inputs)

__all__ = [
    "BACKENDS", "asarray", "eigvals", "get_namespace", "is_cupy", "is_numpy", "namespace", "to_numpy",
    "forward", "jacobian", "jacobian_spectra",
    "LAWS", "LayeredNetwork", "Network", "load_network", "sample_layered", "sample_network",
    "stationary_inputs",
]
