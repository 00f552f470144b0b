"""Expected numbers of fixed points at finite N by the Kac-Rice formula, without a search.

Network: ``h_l = W_l x_{l-1} + b_l``, ``x_l = phi(h_l)``, ``F(x_0) = x_L``, gaussian
``W_ij ~ N(0, sigma_w^2 / N)``, ``b_i ~ N(0, sigma_b^2)``, phi strictly increasing
(tanh, sigmoid, erf, linear). The fixed points are the zeros of ``G(x) = F(x) - x``, so

    E #FP = int dx E[ delta(F(x) - x) |det(I - J(x))| ].

**Change of variables.** Write ``x = phi(u)``. As a function of h_L the delta has the one
root h_L = u, with ``delta(phi(h_L) - phi(u)) = delta(h_L - u) / prod_i phi'(u_i)``, which
cancels ``dx = prod_i phi'(u_i) du``:

    E #FP = int du E[ delta(W_L x_{L-1} + b_L - u) |det(I - J)| ],

with the forward pass started at ``x_0 = phi(u)`` and ``D_L = diag(phi'(u))`` in
``J = D_L W_L ... D_1 W_1``.

**The last layer integrated out.** Given x_{L-1}, row i of (W_L, b_L) is gaussian with
covariance ``diag(sigma_w^2/N, ..., sigma_b^2)``, so ``(W_L x_{L-1} + b_L)_i`` are independent
``N(0, v)``, ``v = sigma_w^2 |x_{L-1}|^2 / N + sigma_b^2``, and

    E #FP = int du E_{<L}[ prod_i N(u_i; 0, v) E[ |det(I - J)| | W_L x_{L-1} + b_L = u ] ].

The conditional law of a row z = (w_i, b_i) given ``a . z = u_i`` (a = (x_{L-1}, 1)) is
``z' + Sigma a (u_i - a . z') / v`` with z' drawn from the prior: exact, no rejection.

**Importance sampling.** The integrand is an isotropic gaussian in u of variance v(u),
and v ranges over ``[sigma_b^2, sigma_w^2 max phi^2 + sigma_b^2]`` whatever the network. So
u is drawn from a scale mixture: ``N(0, s_k I)`` with ``PROPOSAL_SCALES`` variances s_k
geometric over that range, plus the stationary ``q*``, in equal shares; the weight
``prod_i N(u_i; 0, v) / q(u)`` is then bounded by about the number of components, where a
single ``N(0, q*)`` left the small-v region (a fixed point near x = 0: u ~ b) and the
saturated one unsampled (measured, tanh sigma_w 2, sigma_b 0.3, N = 10, L = 1: ESS 2 of
20,000 and a mean index of -6 +- 7 with N(0, q*) alone; ESS 4,400 and 1.01 +- 0.03 with
the mixture). Everything else comes from the prior.
From the same samples:

* ``|det(I - J)|``               -> E[Q_all];
* ``sign det(I - J)``            -> the mean index, which must be 1: F maps the bounded
  box into itself, and the indices of its fixed points add up to 1 (a built-in check of
  the density, the conditioning and the Jacobian factor);
* ``|det(I - J)| 1{rho(J) < 1}`` -> E[Q_stable].

Each comes with its standard error, the effective sample size ``(sum w)^2 / sum w^2``
of the weights ``w = prod N(u; 0, v) / q(u) |det(I - J)|`` and the Pareto shape k of
their tail (:mod:`validation.tails`): at k >= 0.7 the standard error is not to be trusted,
however large the ESS. E[Q_stable] has its own ESS and k, those of ``w 1{rho(J) < 1}``:
at a stable point every eigenvalue of J lies in the unit disc, so ``|det(I - J)| <= 2^N``
and its weights stay light-tailed where the unstable points (``|det|`` up to 1e15) make
those of E[Q_all] unusable (measured, Cauchy s = 1, N = 30, L = 16, eight seeds of 20,000
samples: E[Q_all] from 4.2 to 30.3, k 1.25-1.50; E[Q_stable] 0.89-0.95, spread 0.022
against a reported standard error of 0.019).

**Stable weights** (``W_ij = sigma_w N^(-1/alpha) S``, ``b_i = sigma_b S``, S standard
symmetric alpha-stable, Cauchy at alpha = 1). S is a gaussian scale mixture,
``S = sqrt(A) G`` with ``G ~ N(0, 2)`` and A positive (alpha/2)-stable (Laplace transform
``exp(-s^(alpha/2))``, drawn by Kanter's formula). Drawing the last layer's mixing
variables A from the prior makes its rows gaussian again, with covariance
``diag(2 sigma_w^2 N^(-2/alpha) A_i1, ..., 2 sigma_b^2 A_ib)``: the same exact conditioning
applies row by row, with ``v_i = sum_j 2 sigma_w^2 N^(-2/alpha) A_ij x_j^2 + 2 sigma_b^2 A_ib``.
Averaged over A, ``N(u_i; 0, v_i)`` is the stable density of ``(W_L x + b_L)_i``. u is then
drawn from a scale mixture of i.i.d. Student-t(alpha) coordinates (tails ``|u|^(-1-alpha)``,
those of the target) with scales geometric over the range of the stable scale
``gamma = (sigma_w^alpha mean|x|^alpha + sigma_b^alpha)^(1/alpha)``, plus gamma*. The
earlier layers are drawn from the prior.

sigma_b = 0 is refused: an odd activation then has the fixed point x = 0 in every network
(a point mass the density cannot carry, v = 0 at u = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from esd.activations import get_activation
from esd.exceptions import InvalidParameter
from esd.heavy.scale_map import gamma_star
from esd.light.meanfield import q_star

from .sampling import standard_stable
from .tails import PARETO_K_RELIABLE, pareto_k

__all__ = ["KacRiceEstimate", "kac_rice"]

#: Activations with phi' > 0 everywhere (the change of variables x = phi(u) needs it).
INCREASING = ("tanh", "sigmoid", "erf", "linear")
#: Geometric variances of the proposal's scale mixture (module docstring), besides q*.
PROPOSAL_SCALES = 8
#: Candidate mixing vectors of the last layer per row (stable weights), of which one is
#: resampled by its density (:meth:`_Law.row_variances`).
MIXING_CANDIDATES = 16
#: Weight laws the estimator integrates (gaussian exactly; stable through its scale mixture).
LAWS = ("gaussian", "cauchy", "stable")


@dataclass(frozen=True)
class KacRiceEstimate:
    """E[Q_all], E[Q_stable] and the mean index, each {value, stderr}; ``ess`` the
    effective sample size of the |det| weights and ``pareto_k`` the shape of their tail
    (reliable below ``validation.tails.PARETO_K_RELIABLE``); ``ess_stable`` and
    ``pareto_k_stable`` the same for the weights of E[Q_stable] (|det| 1{rho(J) < 1});
    ``params`` what made them."""

    expected_q_all: dict
    expected_q_stable: dict
    index_mean: dict
    ess: float
    samples: int
    pareto_k: float = math.nan
    params: dict = field(default_factory=dict)
    ess_stable: float = math.nan
    pareto_k_stable: float = math.nan

    @property
    def reliable(self) -> bool:
        """The weights' tail is light enough for the standard errors of E[Q_all] (and of
        the mean index) to hold."""
        return bool(self.pareto_k < PARETO_K_RELIABLE)

    @property
    def reliable_stable(self) -> bool:
        """The same for E[Q_stable], from the tail of its own weights."""
        return bool(self.pareto_k_stable < PARETO_K_RELIABLE)

    def to_dict(self) -> dict:
        return {"expected_q_all": dict(self.expected_q_all),
                "expected_q_stable": dict(self.expected_q_stable),
                "index_mean": dict(self.index_mean), "ess": self.ess, "samples": self.samples,
                "pareto_k": self.pareto_k, "reliable": self.reliable,
                "ess_stable": self.ess_stable, "pareto_k_stable": self.pareto_k_stable,
                "reliable_stable": self.reliable_stable, "params": dict(self.params)}


def _log_normal(u, var):
    return -0.5 * (u * u / var + np.log(2.0 * math.pi * var))


def conditioned_last_layer(rng, x, u, law):
    """(log density of W_L x + b_L at u, W_L, b_L drawn given W_L x + b_L = u), batched:
    x, u of shape (B, N). The rows of (W_L, b_L) are gaussian given the entry variances
    ``law.row_variances`` returns (with the log density, exact or unbiased)."""
    batch, n = x.shape
    log_p, s2, t2 = law.row_variances(rng, x, u)
    s2 = np.broadcast_to(np.asarray(s2, dtype=float), (batch, n, n))
    t2 = np.broadcast_to(np.asarray(t2, dtype=float), (batch, n))
    sx = s2 * x[:, None, :]                                           # Sigma a, weight part
    v = np.einsum("bij,bj->bi", sx, x) + t2                            # (B, N)
    w = rng.standard_normal((batch, n, n)) * np.sqrt(s2)
    b = rng.standard_normal((batch, n)) * np.sqrt(t2)
    resid = (u - (np.einsum("bij,bj->bi", w, x) + b)) / v                # (B, N)
    return log_p, w + resid[:, :, None] * sx, b + resid * t2


def _resample(rng, log_w):
    """Sampling-importance-resampling over the K candidates (axis 0) of every row: the log of
    their mean weight and the index of one drawn with probability proportional to its
    weight. Unbiased: the mean weight times a function of the resampled candidate has the
    expectation of one weighted candidate, with about 1/K its variance."""
    top = log_w.max(axis=0)
    w = np.exp(log_w - top)
    total = w.sum(axis=0)
    pick = (np.cumsum(w, axis=0) < rng.random(total.shape) * total).sum(axis=0)
    return top + np.log(total / w.shape[0]), np.minimum(pick, w.shape[0] - 1)


def _pick(values, index):
    """values[index[b, i], b, i, ...] for candidate arrays of shape (K, B, N, ...)."""
    shape = index.shape + (1,) * (values.ndim - 3)
    return np.take_along_axis(values, index.reshape((1,) + shape), axis=0)[0]


def positive_stable(rng, beta, shape):
    """Positive beta-stable samples with Laplace transform ``exp(-s^beta)``, 0 < beta < 1
    (Kanter 1975): ``A = sin(beta U) / sin(U)^(1/beta) (sin((1 - beta) U) / E)^((1-beta)/beta)``,
    U uniform on (0, pi), E ~ Exp(1)."""
    v = math.pi * rng.random(shape)
    e = np.maximum(rng.standard_exponential(shape), np.finfo(float).tiny)
    return (np.sin(beta * v) / np.sin(v) ** (1.0 / beta)
            * (np.sin((1.0 - beta) * v) / e) ** ((1.0 - beta) / beta))


@dataclass(frozen=True)
class _Law:
    """A weight law as the estimator uses it: draws of the earlier layers and, for the last
    layer, its entries' variances given its mixing variables with the density of u."""

    name: str
    alpha: float
    sigma_w: float
    sigma_b: float

    def layer(self, rng, batch, n):
        if self.name == "gaussian":
            return (rng.standard_normal((batch, n, n)) * (self.sigma_w / math.sqrt(n)),
                    rng.standard_normal((batch, n)) * self.sigma_b)
        a = self.alpha
        return (standard_stable(rng, a, (batch, n, n)) * (self.sigma_w * n ** (-1.0 / a)),
                standard_stable(rng, a, (batch, n)) * self.sigma_b)

    def row_variances(self, rng, x, u):
        """(log prod_i p(u_i), entry variances s2 (B, N, N) or scalar, bias variances t2).

        gaussian: exact, ``v = sigma_w^2 |x|^2 / N + sigma_b^2``. stable: per row, K =
        ``MIXING_CANDIDATES`` candidate mixing vectors resampled by their density; they
        are drawn from the prior, and for Cauchy from a defensive mixture that lets one
        term explain u_i (:func:`_cauchy_candidates`), which keeps rows with |u_i| far in
        the tail from starving the prior draws.
        """
        batch, n = x.shape
        if self.name == "gaussian":
            v = self.sigma_w ** 2 * np.sum(x * x, axis=-1) / n + self.sigma_b ** 2
            return np.sum(_log_normal(u, v[:, None]), axis=-1), self.sigma_w ** 2 / n, self.sigma_b ** 2
        a, k = self.alpha, MIXING_CANDIDATES
        cw, cb = 2.0 * self.sigma_w ** 2 * n ** (-2.0 / a), 2.0 * self.sigma_b ** 2
        coef = np.concatenate([np.repeat((cw * x * x)[:, None, :], n, axis=1),
                               np.full((batch, n, 1), cb)], axis=-1)    # (B, N rows, N + 1)
        if a == 1.0:
            mix, log_ratio = _cauchy_candidates(rng, coef, u, k)
        else:
            mix, log_ratio = positive_stable(rng, a / 2.0, (k,) + coef.shape), 0.0
        v = np.sum(mix * coef, axis=-1)                                  # (K, B, N)
        log_p, pick = _resample(rng, _log_normal(u[None], v) - log_ratio)
        chosen = _pick(mix, pick)                                        # (B, N, N + 1)
        return np.sum(log_p, axis=-1), cw * chosen[..., :n], cb * chosen[..., n]


def _cauchy_candidates(rng, coef, u, k):
    """K mixing vectors per row for Cauchy weights, with log(proposal / prior).

    The mixing variables are Lévy, prior density ``p(A) = A^(-3/2) e^(-1/(4A)) / (2 sqrt pi)``
    (so that sqrt(A) N(0, 2) is standard Cauchy). If term j alone carried the row's variance,
    ``v = c_j A_j``, the posterior of A_j given u would be inverse-gamma(1, beta_j),
    ``beta_j = 1/4 + u^2 / (2 c_j)``. Each candidate draws every A from the prior (share
    1/2) or, with share 1/2 split over the terms by ``sqrt(c_j)``, one A_j from that
    inverse gamma and the others from the prior; its weight divides by the mixture's density
    relative to the prior, ``1/2 + sum_j pi_j q_j(A_j) / p(A_j)``, with
    ``q_j / p = 2 sqrt(pi) beta_j A_j^(-1/2) exp(-u^2 / (2 c_j A_j))``.
    """
    shape = (k,) + coef.shape                                            # (K, B, N, N + 1)
    mix = positive_stable(rng, 0.5, shape)
    root = np.sqrt(coef)
    share = 0.5 * root / np.sum(root, axis=-1, keepdims=True)             # (B, N, N + 1)
    live = coef > 0.0                                  # a unit with x_j = 0 carries no variance
    safe = np.where(live, coef, 1.0)
    u2 = (u * u)[:, :, None]
    log_beta = np.logaddexp(math.log(0.25), np.log(np.maximum(u2, 1e-300)) - np.log(2.0 * safe))
    pick = (np.cumsum(share, axis=-1)[None] < rng.random(shape[:-1])[..., None]).sum(axis=-1)
    onehot = np.arange(coef.shape[-1]) == pick[..., None]                # none: all from the prior
    draw = np.exp(np.minimum(log_beta[None] - np.log(rng.standard_exponential(shape[:-1] + (1,))
                                                   + 1e-300), 700.0))
    mix = np.where(onehot & live[None], draw, mix)
    log_ratio = np.where(live[None], 0.5 * math.log(4.0 * math.pi) + log_beta[None]
                         - 0.5 * np.log(mix) - u2[None] / (2.0 * safe[None] * mix), -np.inf)
    # log(1/2 + sum_j share_j e^(log_ratio_j)), without overflow
    terms = np.concatenate([np.full(log_ratio.shape[:-1] + (1,), math.log(0.5)),
                            np.log(np.maximum(share[None], 1e-300)) + log_ratio], axis=-1)
    top = np.max(terms, axis=-1)
    return mix, top + np.log(np.sum(np.exp(terms - top[..., None]), axis=-1))


def proposal_variances(act, sigma_w, sigma_b, q0):
    """The variances of the scale mixture u is drawn from: geometric over the range of v,
    ``[sigma_b^2, sigma_w^2 max phi^2 + sigma_b^2]`` (up to 4 q* for linear, whose phi is unbounded),
    and q*."""
    top = sigma_w ** 2 + sigma_b ** 2 if act.name != "linear" else 4.0 * q0
    return np.append(np.geomspace(sigma_b ** 2, top, PROPOSAL_SCALES), q0)


def proposal_scales(act, sigma_w, sigma_b, alpha, g0):
    """Stable weights: the scales of the Student-t(alpha) mixture u is drawn from, geometric
    over the range of gamma, ``[sigma_b, (sigma_w^alpha max|phi|^alpha + sigma_b^alpha)^(1/alpha)]``,
    and gamma*. max|phi| = 1 for the bounded activations stable weights allow."""
    top = (sigma_w ** alpha + sigma_b ** alpha) ** (1.0 / alpha)
    return np.append(np.geomspace(sigma_b, top, PROPOSAL_SCALES), g0)


def _log_t(u, scale, nu):
    z = u / scale
    return (math.lgamma(0.5 * (nu + 1.0)) - math.lgamma(0.5 * nu) - 0.5 * math.log(nu * math.pi)
            - np.log(scale) - 0.5 * (nu + 1.0) * np.log1p(z * z / nu))


def _draw_u(rng, scales, size, n, nu=None):
    """u from the equal-share mixture over ``scales`` (variances of N(0, s I), or with
    ``nu`` scales of i.i.d. Student-t(nu) coordinates), and log q(u)."""
    comp = rng.integers(0, scales.size, size=size)
    if nu is None:
        u = rng.standard_normal((size, n)) * np.sqrt(scales[comp])[:, None]
        log_k = np.stack([np.sum(_log_normal(u, s), axis=-1) for s in scales])
    else:
        u = rng.standard_t(nu, (size, n)) * scales[comp][:, None]
        log_k = np.stack([np.sum(_log_t(u, s, nu), axis=-1) for s in scales])
    top = log_k.max(axis=0)
    return u, top + np.log(np.mean(np.exp(log_k - top), axis=0))


def _batch(rng, act, law, depth, n, size, scales, nu, last_layer):
    """Per sample: log weight without |det|, log|det(I - J)|, sign det(I - J), rho(J) < 1."""
    u, log_q = _draw_u(rng, scales, size, n, nu)
    x = np.asarray(act.phi(u), dtype=float)
    jac = None                                   # J of the layers so far (None: identity)
    for _ in range(depth - 1):
        w, b = law.layer(rng, size, n)
        h = np.einsum("bij,bj->bi", w, x) + b
        jac = np.asarray(act.dphi(h), dtype=float)[:, :, None] * (w if jac is None else w @ jac)
        x = np.asarray(act.phi(h), dtype=float)
    log_p, w_last, _ = last_layer(rng, x, u, law)
    jac = np.asarray(act.dphi(u), dtype=float)[:, :, None] * (w_last if jac is None else w_last @ jac)
    sign, logdet = np.linalg.slogdet(np.eye(n) - jac)
    stable = np.max(np.abs(np.linalg.eigvals(jac)), axis=-1) < 1.0
    return log_p - log_q, logdet, sign, stable


def _ess(w):
    return float(np.sum(w) ** 2 / max(np.sum(w * w), 1e-300))


def _mean_se(values):
    return {"value": float(np.mean(values)),
            "stderr": float(np.std(values, ddof=1) / math.sqrt(values.size))}


def kac_rice(activation, sigma_w, sigma_b, depth, width, samples=20000, *, weights="gaussian",
             alpha=None, batch=2000, seed=None, progress=False,
             _last_layer=conditioned_last_layer) -> KacRiceEstimate:
    """Kac-Rice estimates of E[Q_all], E[Q_stable] and the mean index (module docstring).

    Parameters
    ----------
    activation : one of ``INCREASING`` (not linear with stable weights); sigma_w > 0;
        sigma_b > 0; depth, width >= 1
    samples : importance samples (networks with their point u), in batches of ``batch``
    weights : "gaussian", "cauchy" or "stable" (then ``alpha`` in (0, 2))
    seed : None, int or numpy Generator
    progress : a tqdm bar over the batches on stderr
    """
    act = get_activation(activation)
    if act.name not in INCREASING:
        raise InvalidParameter("activation", act.name, f"must be one of {list(INCREASING)}: the "
                               "Kac-Rice change of variables x = phi(u) needs phi' > 0 everywhere")
    if weights not in LAWS:
        raise InvalidParameter("weights", weights, f"must be one of {list(LAWS)}")
    if weights == "cauchy":
        alpha = 1.0 if alpha is None else alpha
        if alpha != 1.0:
            raise InvalidParameter("alpha", alpha, "must be 1 (or None) for cauchy weights")
    elif weights == "stable":
        if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < alpha < 2.0:
            raise InvalidParameter("alpha", alpha, "must be a number in (0, 2) for stable weights")
    elif alpha is not None:
        raise InvalidParameter("alpha", alpha, "applies to cauchy or stable weights only")
    if weights != "gaussian" and act.name == "linear":
        raise InvalidParameter("activation", "linear", "must be bounded with stable weights "
                               "(the scale of a linear network's layers is infinite)")
    for name, value, low in (("sigma_w", sigma_w, 0.0), ("sigma_b", sigma_b, 0.0)):
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
                or value <= low:
            extra = (" (with sigma_b = 0 an odd activation has the fixed point x = 0 in every "
                     "network, a point mass the Kac-Rice density cannot carry)" if name == "sigma_b" else "")
            raise InvalidParameter(name, value, f"must be a finite number > 0{extra}")
    for name, value, low in (("depth", depth, 1), ("width", width, 1), ("samples", samples, 2),
                             ("batch", batch, 1)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
            raise InvalidParameter(name, value, f"must be an integer >= {low}")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter("seed", seed, "must be None, an integer or a numpy Generator") from exc
    sigma_w, sigma_b = float(sigma_w), float(sigma_b)
    law = _Law(weights, 2.0 if alpha is None else float(alpha), sigma_w, sigma_b)
    if weights == "gaussian":
        q0 = q_star(act, sigma_w, sigma_b)
        if not (math.isfinite(q0) and q0 > 0):
            raise InvalidParameter("sigma_w", sigma_w, "gives no finite stationary variance q*")
        scales, nu, stationary = proposal_variances(act, sigma_w, sigma_b, q0), None, {"q_star": q0}
    else:
        g0 = gamma_star(act, sigma_w, sigma_b, law.alpha)
        scales, nu = proposal_scales(act, sigma_w, sigma_b, law.alpha, g0), law.alpha
        stationary = {"gamma_star": g0}
    sizes = [batch] * (samples // batch) + ([samples % batch] if samples % batch else [])
    if progress:
        from tqdm.auto import tqdm
        sizes = tqdm(sizes, desc=f"Kac-Rice N={width} L={depth}", unit="batch", leave=False)
    parts = [_batch(rng, act, law, int(depth), int(width), size, scales, nu, _last_layer)
             for size in sizes]
    log_w0, logdet, sign, stable = (np.concatenate(p) for p in zip(*parts))
    log_w = log_w0 + logdet
    w_abs = np.exp(log_w)
    w_stable = w_abs * stable
    params = {"activation": act.name, "weights": weights, "alpha": alpha, "sigma_w": sigma_w,
              "sigma_b": sigma_b, "depth": int(depth), "width": int(width),
              "samples": int(samples), **stationary,
              ("proposal_variances" if nu is None else "proposal_scales"): scales.tolist(),
              "seed_entropy": str(getattr(getattr(rng.bit_generator, "seed_seq", None), "entropy", None))}
    return KacRiceEstimate(_mean_se(w_abs), _mean_se(w_stable), _mean_se(sign * w_abs),
                           _ess(w_abs), int(samples), pareto_k(log_w), params,
                           ess_stable=_ess(w_stable),
                           pareto_k_stable=pareto_k(np.where(stable, log_w, -np.inf)))
