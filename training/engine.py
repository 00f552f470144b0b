"""Train fully connected maps ``F: R^N -> R^N`` to reconstruct their inputs (JAX + optax).

The network is ``h_l = W_l x_{l-1} + b_l``, ``x_l = phi(h_l)``, l = 1..L, with layer widths
``[n_0, ..., n_L]`` and ``n_L = n_0 = N`` (square layers, or an autoencoder with a
bottleneck such as ``[64, 16, 64]``). The loss is the reconstruction error
``mean_(batch, pixels) (F(x~) - x)^2`` where ``x~ = x`` or, with ``noise > 0``, the
denoising input ``x + noise * Z`` (Z standard normal, drawn per epoch). Adam on
minibatches; the samples left over after the last full batch are dropped in that epoch
(they differ from epoch to epoch).

Initialisation from any esd weight law with esd's normalisation by the fan-in
(:func:`validation.sampling.sample_layered`). Randomness is a function of ``(seed,
purpose, epoch)`` through ``numpy.random.SeedSequence(seed, spawn_key=...)``: key (0,)
draws the initial weights, (1, e) the order and the noise of epoch e. An epoch therefore
does not depend on whether the run was resumed, and a resumed run gives bit-for-bit the
weights of an uninterrupted one (on the same machine and JAX build).

Training runs in float32 (JAX's default, on the CPU or on a GPU JAX finds); the weights
handed to the analysis are the same numbers as float64.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from numbers import Integral, Real

import numpy as np

from esd.activations import ACTIVATIONS
from esd.exceptions import InvalidParameter

from validation.networks import LayeredNetwork, check_widths
from validation.sampling import LAWS, sample_layered
from validation.xp_activations import phi

from . import checkpoint as ckpt

__all__ = ["TrainConfig", "TrainResult", "train", "default_save_epochs", "training_flops"]


def default_save_epochs(epochs: int) -> tuple:
    """0, 1, 2, 5, 10, 20, 50, ... below ``epochs``, and ``epochs`` itself."""
    out = {0, epochs}
    scale = 1
    while scale < epochs:
        out.update(m * scale for m in (1, 2, 5) if m * scale < epochs)
        scale *= 10
    return tuple(sorted(out))


def _positive(name, value, *, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or (value < 0 if allow_zero else value <= 0):
        raise InvalidParameter(name, value, "must be a finite number " + (">= 0" if allow_zero else "> 0"))
    return float(value)


def _integer(name, value, low):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise InvalidParameter(name, value, f"must be an integer >= {low}")
    return int(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (see the module docstring)."""

    widths: tuple
    activation: str = "sigmoid"
    init: str = "gaussian"
    sigma_w: float = 1.0
    sigma_b: float = 0.1
    alpha: float | None = None
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    noise: float = 0.0
    seed: int = 0
    save_epochs: tuple = field(default=None)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "widths", tuple(check_widths(self.widths)))
        if not isinstance(self.activation, str) or self.activation.lower() not in ACTIVATIONS:
            raise InvalidParameter("activation", self.activation,
                                   f"training needs a built-in activation: one of {sorted(ACTIVATIONS)}")
        set_(self, "activation", self.activation.lower())
        if not isinstance(self.init, str) or self.init.lower() not in LAWS:
            raise InvalidParameter("init", self.init, f"must be one of {list(LAWS)}")
        set_(self, "init", self.init.lower())
        set_(self, "sigma_w", _positive("sigma_w", self.sigma_w))
        set_(self, "sigma_b", _positive("sigma_b", self.sigma_b, allow_zero=True))
        if self.init == "stable" and self.alpha is None:
            raise InvalidParameter("alpha", None, "init='stable' needs alpha in (0, 2)")
        set_(self, "epochs", _integer("epochs", self.epochs, 1))
        set_(self, "batch_size", _integer("batch_size", self.batch_size, 1))
        set_(self, "learning_rate", _positive("learning_rate", self.learning_rate))
        set_(self, "noise", _positive("noise", self.noise, allow_zero=True))
        set_(self, "seed", _integer("seed", self.seed, 0))
        save = default_save_epochs(self.epochs) if self.save_epochs is None else self.save_epochs
        try:
            save = tuple(sorted({int(e) for e in save}))
        except (TypeError, ValueError) as exc:
            raise InvalidParameter("save_epochs", self.save_epochs, "must be a list of epochs") from exc
        if save and not 0 <= save[0] <= save[-1] <= self.epochs:
            raise InvalidParameter("save_epochs", self.save_epochs, f"epochs must lie in [0, {self.epochs}]")
        set_(self, "save_epochs", save)
        # Checked by the weight law itself (alpha's range, alpha only for stable laws).
        sample_layered(self.activation, self.init, 1.0, 0.0, [2, 2], alpha=self.alpha, rng=0)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def run_key(self) -> dict:
        """The part that fixes the weights epoch by epoch (a run may be extended in epochs)."""
        out = asdict(self)
        out["widths"] = list(self.widths)
        del out["epochs"], out["save_epochs"]
        return out


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A finished run: the trained map, its history and its snapshots.

    ``network`` is the map after the last epoch (float64 copies of the float32 weights);
    ``history`` the mean minibatch loss of every epoch (index e - 1 for epoch e);
    ``snapshots`` maps each saved epoch (0 = the initialisation) to its network;
    ``train_loss``/``test_loss`` the loss of the final map on the whole sets (clean
    inputs); ``timings``: ``compile`` s, ``train`` s of the optimisation steps alone,
    ``samples_per_second`` over those steps, ``total`` s; ``resumed_from`` the epoch of
    the state a resumed run started from (0 for a fresh run).
    """

    config: TrainConfig
    network: LayeredNetwork
    history: list
    snapshots: dict
    train_loss: float
    test_loss: float | None
    timings: dict
    resumed_from: int
    data: dict

    def to_dict(self) -> dict:
        from esd import __version__
        return {"config": {**asdict(self.config), "widths": list(self.config.widths),
                           "save_epochs": list(self.config.save_epochs)},
                "data": self.data, "history": list(self.history), "train_loss": self.train_loss,
                "test_loss": self.test_loss, "timings": dict(self.timings),
                "resumed_from": self.resumed_from, "snapshot_epochs": sorted(self.snapshots),
                "esd_version": __version__}


def training_flops(widths, samples: int) -> float:
    """GEMM work of training on ``samples`` samples: ``6 sum_l n_l n_{l-1}`` per sample
    (the forward product and the two of the backward pass)."""
    return 6.0 * samples * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def _rng(seed, *key):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _network(config, params, epoch) -> LayeredNetwork:
    act = ACTIVATIONS[config.activation]
    return LayeredNetwork(W=tuple(np.asarray(w, dtype=np.float64) for w, _ in params),
                          b=tuple(np.asarray(b, dtype=np.float64) for _, b in params),
                          activation=act, params={**config.run_key(), "law": "trained",
                                                  "epoch": int(epoch)})


def _check_data(name, x, n0):
    if x is None:
        return None
    x = np.asarray(getattr(x, "x", x))
    if x.ndim != 2 or x.shape[1] != n0 or x.shape[0] < 1 or not np.all(np.isfinite(x)):
        raise InvalidParameter(name, f"array of shape {x.shape}",
                               f"must be a finite (n, {n0}) array: the first width is N = {n0}")
    return x.astype(np.float32)


def _compiled_epoch(config, n_batches, n0):
    import jax
    import jax.numpy as jnp
    import optax

    act = ACTIVATIONS[config.activation]
    opt = optax.adam(config.learning_rate)

    def forward(params, x):
        for w, b in params:
            x = phi(act, x @ w.T + b, jnp)
        return x

    def loss(params, xin, xt):
        return jnp.mean((forward(params, xin) - xt) ** 2)

    def step(carry, batch):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params, *batch)
        updates, state = opt.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), value

    def epoch(params, state, xin, xt):
        (params, state), values = jax.lax.scan(step, (params, state), (xin, xt))
        return params, state, values

    return opt, jax.jit(epoch), jax.jit(loss)


def train(config: TrainConfig, data, *, test=None, checkpoint=None, progress=False,
          data_params=None) -> TrainResult:
    """Train ``config``'s network on ``data`` (a (n, N) array or a ``training.data.Dataset``).

    ``test``: held-out inputs for the final test loss. ``checkpoint``: a folder; the run
    resumes from its latest state and refuses a folder of another run
    (:mod:`training.checkpoint`). ``progress``: a tqdm bar over epochs on stderr.
    """
    import jax
    import jax.numpy as jnp

    if not isinstance(config, TrainConfig):
        raise InvalidParameter("config", config, "must be a training.TrainConfig")
    n0 = config.widths[0]
    x = _check_data("data", data, n0)
    x_test = _check_data("test", test, n0)
    if config.batch_size > x.shape[0]:
        raise InvalidParameter("batch_size", config.batch_size,
                               f"must be <= the number of training samples ({x.shape[0]})")
    if data_params is None:
        data_params = dict(getattr(data, "params", {}) or {"n": int(x.shape[0]), "N": n0})
    t_start = time.perf_counter()
    init = sample_layered(config.activation, config.init, config.sigma_w, config.sigma_b,
                          list(config.widths), alpha=config.alpha, rng=_rng(config.seed, 0))
    params = [(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32)) for w, b in init.layers()]
    n_batches = x.shape[0] // config.batch_size
    opt, epoch_fn, loss_fn = _compiled_epoch(config, n_batches, n0)
    state = opt.init(params)
    history, first, snapshots = [], 1, {}

    folder = checkpoint
    if folder is not None:
        ckpt.check_run(folder, {**config.run_key(), "data": data_params})
        saved = ckpt.read_state(folder, config.depth)
        if saved is not None:
            epoch0, p, leaves, history = saved
            if epoch0 > config.epochs:
                raise InvalidParameter("epochs", config.epochs, f"the checkpoint is already at "
                                       f"epoch {epoch0}; ask for at least that many")
            params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in p]
            state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(state),
                                                 [jnp.asarray(v) for v in leaves])
            first = epoch0 + 1
        for e in config.save_epochs:
            if e < first and _snapshot_exists(folder, e):
                snapshots[e] = _read_snapshot(folder, e, config)
    if first == 1 and 0 in config.save_epochs:
        snapshots[0] = _network(config, params, 0)
        _save_snapshot(folder, 0, snapshots[0])

    xb_shape = (n_batches, config.batch_size, n0)
    t0 = time.perf_counter()
    compiled = epoch_fn.lower(params, state, jnp.zeros(xb_shape, jnp.float32),
                              jnp.zeros(xb_shape, jnp.float32)).compile()
    t_compile = time.perf_counter() - t0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=config.epochs, initial=first - 1, desc="train", unit="epoch")
    t_steps, last_write = 0.0, time.perf_counter()
    for e in range(first, config.epochs + 1):
        gen = _rng(config.seed, 1, e)
        order = gen.permutation(x.shape[0])[: n_batches * config.batch_size]
        xt = x[order].reshape(xb_shape)
        xin = xt if config.noise == 0 else \
            (xt + config.noise * gen.standard_normal(xb_shape)).astype(np.float32)
        t0 = time.perf_counter()
        params, state, values = compiled(params, state, jnp.asarray(xin), jnp.asarray(xt))
        values = np.asarray(values)  # waits for the epoch to finish
        t_steps += time.perf_counter() - t0
        history.append(float(values.mean()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]:.4g}")
        if e in config.save_epochs:
            snapshots[e] = _network(config, params, e)
            _save_snapshot(folder, e, snapshots[e])
        now = time.perf_counter()
        if folder is not None and (e in config.save_epochs or e == config.epochs
                                   or now - last_write >= ckpt.STATE_SECONDS):
            ckpt.write_state(folder, e, [(np.asarray(w), np.asarray(b)) for w, b in params],
                             [np.asarray(v) for v in jax.tree_util.tree_leaves(state)], history)
            last_write = now
    if bar is not None:
        bar.close()
    trained = config.epochs - first + 1
    network = _network(config, params, config.epochs)
    return TrainResult(
        config=config, network=network, history=history, snapshots=snapshots,
        train_loss=float(loss_fn(params, jnp.asarray(x), jnp.asarray(x))),
        test_loss=None if x_test is None else float(loss_fn(params, jnp.asarray(x_test),
                                                            jnp.asarray(x_test))),
        timings={"compile": t_compile, "train": t_steps,
                 "samples_per_second": (trained * n_batches * config.batch_size / t_steps
                                        if t_steps > 0 else None),
                 "total": time.perf_counter() - t_start},
        resumed_from=first - 1, data=data_params)


def _save_snapshot(folder, epoch, network):
    if folder is None:
        return
    from .modelio import save_layers
    save_layers(ckpt.snapshot_path(folder, epoch), list(network.W), list(network.b),
                activation=network.activation.name)


def _snapshot_exists(folder, epoch):
    import os
    return os.path.exists(ckpt.snapshot_path(folder, epoch))


def _read_snapshot(folder, epoch, config):
    from .modelio import load_layers
    weights, biases, _ = load_layers(ckpt.snapshot_path(folder, epoch))
    return LayeredNetwork(W=tuple(weights), b=tuple(biases), activation=ACTIVATIONS[config.activation],
                          params={**config.run_key(), "law": "trained", "epoch": int(epoch)})
