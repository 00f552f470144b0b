"""Tails of weight spectra: the heavy-tailed self-regularisation reading of trained layers.

For a layer ``W`` of shape (n_out, n_in) the empirical spectral distribution is that of the
correlation matrix ``X = W^T W / n_out`` (its eigenvalues are the squared singular values
of W over n_out; computed by SVD, so they are accurate and nonnegative). Its tail is fitted
by a power law ``p(x) ~ x^(-alpha)`` on ``[x_min, inf)`` by maximum likelihood, with x_min
chosen by the minimum Kolmogorov–Smirnov distance between the tail and the fit (Clauset,
Shalizi, Newman 2009; the ``powerlaw`` package does the fit).

Reading of alpha (Martin & Mahoney, WeightWatcher): ``alpha < 2`` very heavy-tailed,
``2 <= alpha <= 6`` heavy-tailed, ``alpha > 6`` not heavy-tailed. A power law is only a
claim when it beats the alternative: a layer whose tail is better described by an
exponential (likelihood ratio R < 0 at significance p < ``P_ALTERNATIVE``; a
Marchenko–Pastur bulk with its sharp edge is the typical case, fitted alpha ~ 3 there) is
also "not heavy-tailed".

Check value: for i.i.d. entries with ``P(|W_ij| > t) ~ t^-mu``, mu < 2, the top
eigenvalues of ``W^T W`` are squares of the largest entries, so their density falls like
``x^-(1 + mu/2)``: 1.5 for Cauchy entries.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from esd.exceptions import InvalidParameter

__all__ = ["PowerLawFit", "esd_of_weights", "fit_power_law", "layer_power_laws",
           "HEAVY_RANGE", "MIN_TAIL", "P_ALTERNATIVE"]

HEAVY_RANGE = (2.0, 6.0)
MIN_TAIL = 10          # fewest eigenvalues a tail fit may use
P_ALTERNATIVE = 0.1    # significance at which the exponential alternative wins
ZERO_FLOOR = 1e-12     # eigenvalues below this fraction of the largest are rank zeros


def esd_of_weights(W) -> np.ndarray:
    """Eigenvalues of ``W^T W / n_out``, ascending (min(n_out, n_in) of them)."""
    w = np.asarray(W)
    if w.ndim != 2 or min(w.shape) < 2 or not (np.issubdtype(w.dtype, np.floating)
                                               or np.issubdtype(w.dtype, np.integer)) \
            or w.dtype == np.bool_ or not np.all(np.isfinite(w)):
        raise InvalidParameter("W", w, "must be a finite real 2-D array with both dimensions >= 2")
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    return np.sort(s * s / w.shape[0])


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted tail ``p(x) ~ x^-alpha`` for x >= xmin (see the module docstring)."""

    alpha: float
    alpha_stderr: float
    xmin: float
    ks: float
    n_tail: int
    n: int
    loglikelihood_ratio_exponential: float
    p_exponential: float
    regime: str

    def to_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                for k, v in asdict(self).items()}


def _regime(alpha, ratio, p):
    if ratio < 0 and p < P_ALTERNATIVE:
        return "not heavy-tailed"
    if alpha < HEAVY_RANGE[0]:
        return "very heavy-tailed"
    return "heavy-tailed" if alpha <= HEAVY_RANGE[1] else "not heavy-tailed"


def fit_power_law(eigenvalues, *, min_tail: int = MIN_TAIL) -> PowerLawFit:
    """Power-law fit of the tail of positive ``eigenvalues``, x_min by minimum KS distance,
    among candidates that keep at least ``min_tail`` points in the tail."""
    import powerlaw
    ev = np.asarray(eigenvalues)
    if ev.ndim != 1 or not np.issubdtype(ev.dtype, np.number) or np.iscomplexobj(ev) \
            or not np.all(np.isfinite(ev)):
        raise InvalidParameter("eigenvalues", ev, "must be a finite real 1-D array")
    if isinstance(min_tail, bool) or not isinstance(min_tail, int) or min_tail < 3:
        raise InvalidParameter("min_tail", min_tail, "must be an integer >= 3")
    ev = np.sort(ev.astype(np.float64))
    ev = ev[ev > ZERO_FLOOR * max(ev[-1], 0.0)] if ev.size else ev
    if ev.size < min_tail + 1:
        raise InvalidParameter("eigenvalues", f"{ev.size} positive values",
                               f"need at least min_tail + 1 = {min_tail + 1} positive values")
    xmin_range = (ev[0], ev[-min_tail])
    # powerlaw prints progress and warns on every candidate x_min; the CLI's stdout is JSON.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(ev, xmin=xmin_range, discrete=False, verbose=False)
        ratio, p = fit.distribution_compare("power_law", "exponential", normalized_ratio=True)
    alpha, ratio, p = float(fit.alpha), float(ratio), float(p)
    if not math.isfinite(ratio):
        ratio, p = 0.0, 1.0
    return PowerLawFit(alpha=alpha, alpha_stderr=float(fit.sigma), xmin=float(fit.xmin),
                       ks=float(fit.D), n_tail=int(np.sum(ev >= fit.xmin)), n=int(ev.size),
                       loglikelihood_ratio_exponential=ratio, p_exponential=p,
                       regime=_regime(alpha, ratio, p))


def layer_power_laws(weights, *, min_tail: int = MIN_TAIL) -> list:
    """Per layer: shape, the fit's fields and the ESD's mean and maximum. A layer with too
    few positive eigenvalues to fit (e.g. a 2-unit bottleneck) gets ``alpha: None`` and
    ``regime: "too small to fit"``."""
    out = []
    for l, w in enumerate(weights):
        ev = esd_of_weights(w)
        row = {"layer": l + 1, "shape": [int(s) for s in np.shape(w)],
               "eigenvalues_max": float(ev[-1]), "eigenvalues_mean": float(ev.mean())}
        if np.sum(ev > ZERO_FLOOR * ev[-1]) < min_tail + 1:
            row.update(alpha=None, alpha_stderr=None, xmin=None, ks=None, n_tail=0, n=int(ev.size),
                       loglikelihood_ratio_exponential=None, p_exponential=None,
                       regime="too small to fit")
        else:
            row.update(fit_power_law(ev, min_tail=min_tail).to_dict())
        out.append(row)
    return out
