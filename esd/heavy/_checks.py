"""Argument checks of the cavity solver: one-line errors naming the parameter and its range."""

import math
from numbers import Integral, Real

from esd.exceptions import InvalidParameter


def _real(name, value, *, low=None, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidParameter(name, value, "must be a finite real number")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise InvalidParameter(name, value, f"must be {'>' if low_open else '>='} {low}")
    if high is not None and v > high:
        raise InvalidParameter(name, value, f"must be <= {high}")
    return v


def _int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidParameter(name, value, f"must be an integer >= {low}")
    return int(value)
