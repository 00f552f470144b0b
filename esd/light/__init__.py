"""Light-tailed theory (gaussian or orthogonal weights): the mean field, the moment and
S-transform series, and the free-probability solver for the spectrum of the Jacobian."""

from esd.light.jacobian import JacobianESD
from esd.light.meanfield import MeanField, conditioned_mean_field, layer_variances, mean_field, q_star

__all__ = ["JacobianESD", "MeanField", "conditioned_mean_field", "layer_variances", "mean_field",
           "q_star"]
