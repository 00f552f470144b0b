"""Tails of weight spectra: the heavy-tailed self-regularisation reading of trained layers.

Model. For a layer ``W`` of shape (n_out, n_in) the empirical spectral distribution (ESD) is
that of the correlation matrix ``X = W^T W / n_out``; its eigenvalues are the squared
singular values of W over n_out (computed by SVD, so they are accurate and nonnegative).
The tail of their density is fitted by a power law ``p(x) ~ x^(-alpha)`` on
``[x_min, inf)`` (or ``[x_min, x_max]`` when an ``xmax`` is given) by maximum likelihood,
with x_min the candidate that minimises the Kolmogorov–Smirnov distance between the tail and
its fit (Clauset, Shalizi & Newman 2009). The ``powerlaw`` package does the fit.

Reading of alpha (Martin & Mahoney; WeightWatcher): ``alpha < 2`` very heavy-tailed,
``2 <= alpha <= 6`` heavy-tailed, ``alpha > 6`` not heavy-tailed. A power law is only a claim
when it beats the alternative, so a tail that an exponential describes significantly better
(normalised log-likelihood ratio R < 0 with p < ``P_ALTERNATIVE``) is "not heavy-tailed"
whatever its alpha: a Marchenko–Pastur bulk with its sharp edge is the typical case, where
the KS-minimal fit lands anywhere in alpha ~ 4-15. An unusable fit is "not heavy-tailed" too.

Check value: for i.i.d. entries with ``P(|W_ij| > t) ~ t^-mu``, mu < 2, the top eigenvalues
of ``W^T W`` are squares of the largest entries, so their density falls like
``x^-(1 + mu/2)``: 1.5 for Cauchy entries, 1.75 for symmetric 1.5-stable ones.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from esd.exceptions import InvalidParameter

__all__ = ["PowerLawFit", "esd_of_weights", "fit_power_law", "layer_power_laws",
           "HEAVY_RANGE", "MIN_TAIL", "P_ALTERNATIVE", "ALPHA_RANGE"]

HEAVY_RANGE = (2.0, 6.0)    # WeightWatcher: below very heavy-tailed, above not heavy-tailed
MIN_TAIL = 10               # fewest eigenvalues a tail fit may rest on
P_ALTERNATIVE = 0.1         # significance at which the exponential alternative wins
ALPHA_RANGE = (1.0, 100.0)  # exponents powerlaw may return; its default [0, 3] hides alpha > 3
ZERO_FLOOR = 1e-12          # eigenvalues at or below this fraction of the largest are rank zeros


def esd_of_weights(W) -> np.ndarray:
    """Eigenvalues of ``W^T W / n_out`` for ``W`` of shape (n_out, n_in), ascending.

    There are min(n_out, n_in) of them (the nonzero spectrum of ``W^T W`` and ``W W^T`` is
    the same); zeros of a rank-deficient W are kept.
    """
    allowed = "must be a finite real 2-D array with both dimensions >= 2"
    try:
        w = np.asarray(W)
    except (TypeError, ValueError):
        raise InvalidParameter("W", W, allowed) from None
    numeric = w.dtype != np.bool_ and (np.issubdtype(w.dtype, np.floating)
                                       or np.issubdtype(w.dtype, np.integer))
    if not numeric or w.ndim != 2 or min(w.shape) < 2 or not np.all(np.isfinite(w)):
        raise InvalidParameter("W", w, allowed)
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    return np.sort(s * s / w.shape[0])


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted tail ``p(x) ~ x^-alpha`` for ``xmin <= x (<= xmax)``, see the module docstring.

    ``n`` counts the positive eigenvalues, ``n_tail`` those in the fitted range;
    ``loglikelihood_ratio_exponential`` is powerlaw's normalised ratio R (power law vs
    exponential, R > 0 favours the power law) and ``p_exponential`` its significance.
    """

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
        """Plain floats, ints and str; a non-finite float (an unusable fit) becomes None."""
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, (float, np.floating)):
                value = float(value) if math.isfinite(value) else None
            elif isinstance(value, (int, np.integer)):
                value = int(value)
            out[key] = value
        return out


def _regime(alpha: float, ratio: float, p: float, usable: bool) -> str:
    if not usable or not math.isfinite(alpha) or (ratio < 0 and p < P_ALTERNATIVE):
        return "not heavy-tailed"
    if alpha < HEAVY_RANGE[0]:
        return "very heavy-tailed"
    return "heavy-tailed" if alpha <= HEAVY_RANGE[1] else "not heavy-tailed"


def _positive_scalar(name, value, allowed):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise InvalidParameter(name, value, allowed)
    return float(value)


def fit_power_law(eigenvalues, *, xmin=None, xmax=None, min_tail: int = MIN_TAIL) -> PowerLawFit:
    """Power-law fit ``p(x) ~ x^-alpha`` of the tail of the positive ``eigenvalues``.

    Values at or below ``ZERO_FLOOR`` times the largest are dropped as rank-deficiency zeros,
    and values above ``xmax`` (when given) are left out of the fit, whose density is then
    normalised on ``[xmin, xmax]``. ``xmin=None`` chooses x_min by minimum KS distance among
    the eigenvalues that keep at least ``min_tail`` points in the tail; a number fixes it.
    Raises InvalidParameter when fewer than ``min_tail`` positive values remain to fit.
    """
    import powerlaw

    try:
        ev = np.asarray(eigenvalues)
    except (TypeError, ValueError):
        raise InvalidParameter("eigenvalues", eigenvalues, "must be a finite real 1-D array") from None
    numeric = ev.dtype != np.bool_ and (np.issubdtype(ev.dtype, np.floating)
                                        or np.issubdtype(ev.dtype, np.integer))
    if not numeric or ev.ndim != 1 or not np.all(np.isfinite(ev)):
        raise InvalidParameter("eigenvalues", ev, "must be a finite real 1-D array")
    if isinstance(min_tail, (bool, np.bool_)) or not isinstance(min_tail, (int, np.integer)) \
            or min_tail < 3:
        raise InvalidParameter("min_tail", min_tail, "must be an integer >= 3")
    min_tail = int(min_tail)
    xmin = _positive_scalar("xmin", xmin, "must be None or a finite number > 0")
    xmax = _positive_scalar("xmax", xmax, "must be None or a finite number > 0")
    if xmin is not None and xmax is not None and xmax <= xmin:
        raise InvalidParameter("xmax", xmax, f"must exceed xmin={xmin!r}")

    ev = np.sort(ev.astype(np.float64))
    ev = ev[ev > ZERO_FLOOR * max(ev[-1], 0.0)] if ev.size else ev
    n = int(ev.size)
    fitted = ev if xmax is None else ev[ev <= xmax]
    if fitted.size < min_tail:
        raise InvalidParameter("eigenvalues", f"{fitted.size} positive values"
                               + ("" if xmax is None else f" <= xmax={xmax!r}"),
                               f"need at least min_tail={min_tail} positive values")
    if xmin is not None and np.sum(fitted >= xmin) < min_tail:
        raise InvalidParameter("xmin", xmin, f"must leave at least min_tail={min_tail} "
                               "eigenvalues in the tail")
    # x_min = fitted[i] with i <= last keeps min_tail points. powerlaw scans the distinct
    # values in [lo, hi) except the largest of them, so hi = fitted[last + 2] makes
    # fitted[0..last] the candidates; with fewer than two (ties) it would return NaN, and
    # the smallest value is then the only choice.
    last = fitted.size - min_tail
    hi = fitted[last + 2]
    if xmin is None and np.unique(fitted[fitted < hi]).size >= 3:
        xmin_arg = (fitted[0], hi)
    else:
        xmin_arg = fitted[0] if xmin is None else xmin

    # powerlaw prints progress and warns for every candidate x_min; the CLI's stdout is JSON.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(fitted, xmin=xmin_arg, xmax=xmax, discrete=False, verbose=False,
                           parameter_ranges={"alpha": list(ALPHA_RANGE)})
        tail = fit.power_law
        ratio, p = fit.distribution_compare("power_law", "exponential", normalized_ratio=True)
    alpha, ratio, p = float(tail.alpha), float(ratio), float(p)
    # powerlaw flags a search where no candidate fits within ALPHA_RANGE, or an alpha at its edge
    usable = not getattr(fit, "noise_flag", False) and not tail.noise_flag
    return PowerLawFit(alpha=alpha, alpha_stderr=float(tail.standard_err), xmin=float(fit.xmin),
                       ks=float(tail.D), n_tail=int(np.sum(fitted >= fit.xmin)), n=n,
                       loglikelihood_ratio_exponential=ratio, p_exponential=p,
                       regime=_regime(alpha, ratio, p, usable))


def layer_power_laws(weights, **kw) -> list:
    """Per layer (numbered from 1): ``layer``, ``shape`` [n_out, n_in], the fields of
    :meth:`PowerLawFit.to_dict`, and the ESD's ``eigenvalues_max`` and ``eigenvalues_mean``.

    ``kw`` goes to :func:`fit_power_law`. A layer with too few positive eigenvalues to fit
    (e.g. a 2-unit bottleneck has 2) gets every fit field None, ``n_tail`` 0 and
    ``regime: "too small to fit"`` instead of an exception.
    """
    rows = []
    for l, w in enumerate(weights, start=1):
        ev = esd_of_weights(w)
        row = {"layer": l, "shape": [int(s) for s in np.shape(w)]}
        try:
            row.update(fit_power_law(ev, **kw).to_dict())
        except InvalidParameter as err:
            if err.name != "eigenvalues":
                raise
            row.update({key: None for key in PowerLawFit.__dataclass_fields__})
            row.update(n_tail=0, n=int(np.sum(ev > ZERO_FLOOR * ev[-1])), regime="too small to fit")
        row.update(eigenvalues_max=float(ev[-1]), eigenvalues_mean=float(ev.mean()))
        rows.append(row)
    return rows
