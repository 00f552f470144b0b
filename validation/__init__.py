"""Monte-Carlo validation of esd: random networks, Jacobians and their spectra.

Written once against the array API (NumPy, CuPy or array-api-strict through
:mod:`validation.backend`, the only module that imports CuPy); every random number is
drawn on the host, so one seed gives the same network on every backend.
"""

from .backend import BACKENDS, asarray, eigvals, get_namespace, is_cupy, is_numpy, namespace, to_numpy
from .carry import carry_checkpoint
from .cells import make_grid, parse_range
from .checkpoint import (CheckpointError, CorruptedCheckpoint, ForeignCheckpoint, archive_checkpoint,
                         restore_checkpoint)
from .compare import compare, compare_heavy
from .fixedpoints import FixedPointResult, find_fixed_points
from .fplifted import LiftedFixedPoints, lifted_fixed_points
from .jacobians import forward, jacobian, jacobian_spectra
from .kacrice import KacRiceEstimate, kac_rice
from .montecarlo import Simulation, simulate
from .networks import LayeredNetwork, Network, load_network
from .qaudit import AuditMismatch, audit_cell, audited_mean
from .qstats import q_statistics
from .sampling import LAWS, sample_layered, sample_network, stationary_inputs
from .sweep import SweepResult, fixed_point_cell, load_sweep, run_sweep

__all__ = [
    "CheckpointError", "CorruptedCheckpoint", "ForeignCheckpoint", "archive_checkpoint", "restore_checkpoint",
    "BACKENDS", "asarray", "eigvals", "get_namespace", "is_cupy", "is_numpy", "namespace", "to_numpy",
    "forward", "jacobian", "jacobian_spectra",
    "LAWS", "LayeredNetwork", "Network", "load_network", "sample_layered", "sample_network",
    "stationary_inputs", "compare", "compare_heavy", "FixedPointResult", "find_fixed_points",
    "LiftedFixedPoints", "lifted_fixed_points",
    "KacRiceEstimate", "kac_rice", "Simulation", "simulate", "q_statistics",
    "AuditMismatch", "audit_cell", "audited_mean",
    "SweepResult", "carry_checkpoint", "fixed_point_cell", "load_sweep", "make_grid", "parse_range", "run_sweep",
]
