"""Validation of the evaluation points passed to the solver's public methods."""

import numpy as np

from esd.exceptions import InvalidParameter


def as_points(name, z, dtype):
    """``z`` as a finite array of ``dtype``; a one-line error naming ``name`` otherwise."""
    arr = np.asarray(z)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise InvalidParameter(name, z, "must be numeric")
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter(name, z, "must be finite (no NaN or inf)")
    return arr
