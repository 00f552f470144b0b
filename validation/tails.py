"""How heavy the tail of a set of importance weights is: the Pareto shape k of PSIS.

An importance-sampling mean has a finite variance only where the weights' tail decays
faster than ``w^(-2)``. The generalised Pareto law ``P(w > t) ~ t^(-1/k)`` fitted to the
largest weights measures it (Vehtari, Simpson, Gelman, Yao & Gabry, "Pareto smoothed
importance sampling", JMLR 2024):

* ``k < 0.5``: finite variance, the standard error can be read as usual;
* ``0.5 <= k < 0.7``: infinite variance, but the mean still settles at practical sample
  sizes; the standard error is optimistic;
* ``k >= 0.7``: the mean is not reliable at this sample size, whatever the ESS says.

The fit is the Zhang & Stephens (Technometrics 51, 2009) profile-likelihood estimator with
the weak prior towards k = 0.5 that PSIS uses, on the ``min(S/5, 3 sqrt(S))`` largest of S
weights. Unlike the ESS, it is a property of the tail and does not grow with S.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

__all__ = ["PARETO_K_RELIABLE", "pareto_k"]

#: Above this shape the estimate is not reliable (PSIS's threshold).
PARETO_K_RELIABLE = 0.7


def _gpd_shape(excess: np.ndarray) -> float:
    """Zhang-Stephens posterior-mean shape of a generalised Pareto fit to sorted positive
    exceedances, shrunk towards 0.5 by PSIS's prior of weight 10."""
    n = excess.size
    m = 30 + int(math.sqrt(n))
    theta = 1.0 - np.sqrt(m / (np.arange(1, m + 1) - 0.5))
    theta /= 3.0 * excess[int(n / 4 + 0.5) - 1]
    theta += 1.0 / excess[-1]
    shape = np.mean(np.log1p(-theta[:, None] * excess[None]), axis=1)
    profile = n * (np.log(-theta / shape) - shape - 1.0)
    # 1 / sum_j exp(profile_j - profile_i), in logs: the differences can exceed 700
    weight = np.exp(-logsumexp(profile[None] - profile[:, None], axis=1))
    theta_hat = np.sum(theta * weight) / np.sum(weight)
    k = float(np.mean(np.log1p(-theta_hat * excess)))
    return (n * k + 10 * 0.5) / (n + 10)


def pareto_k(log_weights) -> float:
    """Shape k of the generalised Pareto tail of ``exp(log_weights)`` (module docstring).

    Parameters
    ----------
    log_weights : 1-D array of finite reals or -inf (zero weights), at least 20 of them
        with at least 5 distinct positive values in the tail.

    Returns
    -------
    float
        k; NaN when the tail is degenerate (all tail weights equal, or too few samples).
    """
    lw = np.asarray(log_weights, dtype=float).ravel()
    if lw.size < 20 or np.any(np.isnan(lw)) or np.any(lw == np.inf):
        return math.nan
    tail = int(min(0.2 * lw.size, 3.0 * math.sqrt(lw.size)))
    top = np.sort(lw)[-(tail + 1):]
    if not np.isfinite(top[0]):
        top = top[np.isfinite(top)]
        if top.size < 6:
            return math.nan
    w = np.exp(top - top[-1])
    excess = w[1:] - w[0]
    if np.count_nonzero(excess > 0) < 5:
        return math.nan
    return _gpd_shape(excess[excess > 0])
