"""Every exception esd raises, each named for what went wrong."""

from __future__ import annotations

__all__ = [
    "EsdError",
    "InvalidParameter",
    "ConvergenceError",
    "BackendUnavailable",
]


class EsdError(Exception):
    """Base class of esd's own errors."""


class InvalidParameter(EsdError, ValueError):
    """A parameter is outside its allowed range; the message names both."""

    def __init__(self, name: str, value, allowed: str):
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {name}={_short(value)}: {allowed}")


def _short(value) -> str:
    """repr of a value, arrays summarised (shape and the offending range) to one line."""
    shape = getattr(value, "shape", None)
    if shape is not None and getattr(value, "size", 0) > 6:
        try:
            import numpy as np
            v = np.asarray(value)
            return f"<array shape {v.shape}, min {np.nanmin(v)!r}, max {np.nanmax(v)!r}>"
        except (TypeError, ValueError):
            return f"<array shape {shape}>"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


class ConvergenceError(EsdError, RuntimeError):
    """A solver did not reach its tolerance, or reached the wrong branch."""

    def __init__(self, what: str, point, residual: float, iterations: int, reason: str = ""):
        self.what = what
        self.point = point
        self.residual = residual
        self.iterations = iterations
        msg = (f"{what} did not converge at {point!r}: residual {residual:.3e} "
               f"after {iterations} iterations")
        if reason:
            msg += f" ({reason})"
        super().__init__(msg)


class BackendUnavailable(EsdError, ImportError):
    """An optional array backend (e.g. CuPy) cannot be imported."""
