"""Monte-Carlo spectra: many independent networks of width N, one stationary input each.

The glue between sampling, Jacobians and the CLI: draws ``samples`` networks from child
seeds of one root seed (``SeedSequence(seed).spawn``, so sample k is the same network
whatever the backend or the number of samples), computes the eigenvalues of J J^T and of J
on the chosen backend, and returns them on the host with the parameters that made them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .backend import namespace, to_numpy
from .jacobians import QR_BLOCK_COND, jacobian_spectra
from .networks import load_network
from .sampling import sample_network, stationary_inputs

__all__ = ["Simulation", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """Eigenvalues from ``n_samples`` networks: ``sv2`` (n, N) of J J^T, ``eigs`` (n, N) of J,
    and ``slopes`` (n, L, N), the slopes phi'(h_l) each Jacobian was taken at."""

    sv2: np.ndarray
    eigs: np.ndarray
    params: dict = field(default_factory=dict)
    slopes: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return int(self.sv2.shape[0])

    def summary(self) -> dict:
        s = self.sv2.ravel()
        a = np.abs(self.eigs.ravel())
        return {
            "moments": [float(np.mean(s ** k)) for k in range(1, 5)],
            "spectral_radius": float(a.max()),
            "fraction_outside_unit_circle": float(np.mean(a > 1.0)),
            "n_samples": self.n_samples,
            "log10_singular_value_quantiles": {
                str(p): float(np.quantile(0.5 * np.log10(np.maximum(s, 1e-300)), p))
                for p in (0.5, 0.75, 0.9, 0.99)},
        }

    def save(self, path) -> None:
        import json
        extra = {} if self.slopes is None else {"slopes": self.slopes}
        np.savez_compressed(path, sv2=self.sv2, eigs=self.eigs,
                            params=np.array(json.dumps(self.params)), **extra)


def simulate(activation, weights, sigma_w, sigma_b, depth, width, samples, *, seed=None,
             backend="numpy", alpha=None, tied=False, weights_file=None, progress=False,
             burn_in=8) -> Simulation:
    """Sample ``samples`` networks and return the spectra of their input-output Jacobians."""
    from esd.activations import get_activation
    xp = namespace(backend)
    act = get_activation(activation)
    if weights in ("gaussian", "orthogonal"):
        from esd.light.meanfield import q_star
        sw0 = float(np.ravel(sigma_w)[0])
        sb0 = float(np.ravel(sigma_b)[0])
        q_input = q_star(act, sw0, sb0)
        # Scale-free activations (linear, relu) at or beyond criticality have no finite q*;
        # their slopes do not depend on q, so unit variance serves.
        q_input = q_input if np.isfinite(q_input) and q_input > 0 else 1.0
        v_input = act.length_map(q_input)
    root = np.random.SeedSequence(seed)
    children = root.spawn(samples)
    sv2, eigs, slopes, rtols = [], [], [], []
    iterator = range(samples)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc=f"spectra N={width} L={depth}", unit="net")
    for k in iterator:
        rng = np.random.default_rng(children[k])
        if weights_file is not None:
            net = load_network(weights_file, act, xp=xp)
        else:
            net = sample_network(act, weights, sigma_w, sigma_b, depth, width, alpha=alpha,
                                 tied=tied, rng=rng, xp=xp)
        if weights in ("gaussian", "orthogonal") and weights_file is None:
            # Inputs whose pre-activations already have the stationary law N(0, q*)
            # (docs/theory/validation.md); burn-in converges slowly when chi is near 1.
            z = rng.standard_normal((1, width))
            x0 = np.asarray(act.phi(np.sqrt(q_input) * z), dtype=float)
            # Exact second moment |x0|^2/N = V(q*): removes the O(1/sqrt N) jitter of the
            # first layer's variance, which alone shifts a thin spectrum (near-isometric
            # orthogonal networks) by more than its width.
            x0 *= math.sqrt(v_input / max(np.mean(x0 * x0), 1e-300))
            x0 = xp.asarray(x0)
        else:
            x0 = stationary_inputs(net, 1, burn_in=burn_in, rng=rng)
        spec = jacobian_spectra(net, x0)
        rtols.append(spec["sv_rtol"])
        sv2.append(to_numpy(spec["sv2"], xp)[0])
        eigs.append(to_numpy(spec["eigs"], xp)[0])
        slopes.append(to_numpy(spec["slopes"], xp)[:, 0, :])
    params = {"activation": act.name, "weights": weights, "sigma_w": sigma_w,
              "sigma_b": sigma_b, "depth": depth, "width": width, "samples": samples,
              "inputs": "phi(sqrt(q*) z), scaled to |x0|^2/N = V(q*)"
              if weights in ("gaussian", "orthogonal") and weights_file is None
              else f"burn-in through {burn_in} layers of the network",
              "alpha": alpha, "tied": tied, "backend": backend, "burn_in": burn_in,
              "weights_file": None if weights_file is None else str(weights_file),
              "seed_entropy": str(root.entropy),
              # the worst relative-error bound of the singular values over the samples
              # (None: every J was formed plainly, its spread within QR_SPREAD)
              "qr_block_cond": QR_BLOCK_COND,
              "sv_rtol": max((r for r in rtols if r is not None), default=None)}
    return Simulation(sv2=np.stack(sv2), eigs=np.stack(eigs), params=params,
                      slopes=np.stack(slopes))
