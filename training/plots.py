"""Figures of trained networks (no numerics here; matplotlib imported lazily).

``plot_restoration_rows`` draws damaged / restored / one-pass / clean rows on one axis
grid; ``plot_training`` the whole ``esd train`` report (loss, layer exponents and Q over
epochs, restoration); ``plot_analysis`` the ``esd analyze`` report (ESD of each layer
with its power-law tail, eigenvalues of J in the complex plane).
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_restoration_rows", "plot_training", "plot_analysis"]


def plot_restoration_rows(result, image_shape, axes, *, n=8, title=""):
    """Rows damaged / restored / one pass / clean of a ``RestorationResult`` on a (4, n) grid."""
    rows = (("damaged", result.damaged), ("restored", result.restored),
            ("one pass", result.one_pass), ("clean", result.clean))
    artists = []
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            if c < images.shape[0]:
                artists.append(ax.imshow(np.asarray(images[c]).reshape(image_shape), cmap="gray_r",
                                         vmin=0.0, vmax=1.0))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, fontsize=8)
    if title:
        # on the (sub)figure, not on the first axes: a long axes title widens its column
        axes[0][0].figure.suptitle(title, fontsize=8)
    return artists


def plot_training(out: dict, kept: dict, image_shape, path):
    """Loss, exponents, Q over epochs (top) and the restoration rows (bottom) to ``path``."""
    from matplotlib.figure import Figure
    n_damage = len(kept)
    # the damage grids sit side by side, each 4 rows x 8 images: their height is set by the
    # width one grid gets, not by how many grids there are
    grid_height = 13 / max(n_damage, 1) * 4 / 8 + 0.5 if n_damage else 0.0
    fig = Figure(figsize=(13, 4.2 + grid_height), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[4.2, max(grid_height, 1e-3)])
    ax_loss, ax_alpha, ax_q = top.subplots(1, 3)
    ax_loss.plot(np.arange(1, len(out["history"]) + 1), out["history"])
    ax_loss.set(xscale="log", yscale="log", xlabel="epoch", ylabel="training loss (MSE)")
    epochs = [row["epoch"] for row in out["epochs"]]
    shown = [max(e, 0.5) for e in epochs]  # epoch 0 on a log axis
    n_layers = len(out["epochs"][0]["layers"]) if out["epochs"] else 0
    for l in range(n_layers):
        alphas = [row["layers"][l]["alpha"] for row in out["epochs"]]
        ax_alpha.plot(shown, [np.nan if a is None else a for a in alphas], "o-", label=f"layer {l + 1}")
    ax_alpha.axhspan(2.0, 6.0, color="0.9", zorder=0, label="heavy-tailed range")
    ax_alpha.set(xscale="log", xlabel="epoch (0 = init)", ylabel=r"power-law $\alpha$ of ESD($W^TW$)")
    ax_alpha.legend(fontsize=7)
    if out["epochs"] and "fixed_points" in out["epochs"][0]:
        ax_q.plot(shown, [row["fixed_points"]["q_all"] for row in out["epochs"]], "s-", label="Q_all")
        ax_q.plot(shown, [row["fixed_points"]["q_stable"] for row in out["epochs"]], "o-",
                  label="Q_stable")
    ax_q.plot(shown, [row["attractors"]["attractor_fraction"] * out["epochs"][-1]["attractors"]["n_images"]
                      for row in out["epochs"]], "^--", label="training images that are attractors")
    ax_q.set(xscale="log", yscale="symlog", xlabel="epoch (0 = init)", ylabel="count")
    ax_q.set_ylim(bottom=0.0)
    ax_q.legend(fontsize=7)
    cfg = out["config"]
    top.suptitle(f"{cfg['activation']} {cfg['widths']}, init {cfg['init']} (sigma_w={cfg['sigma_w']:g}), "
                 f"{out['data'].get('train_size', '')} training images", fontsize=10)
    if n_damage:
        grids = bottom.subfigures(1, n_damage)
        grids = np.atleast_1d(grids)
        for sub, (key, res) in zip(grids, kept.items()):
            axes = sub.subplots(4, 8)
            plot_restoration_rows(res, image_shape, axes, title=f"{key}: recovery "
                                  f"{res.recovery(res.restored):.2f} (one pass {res.recovery(res.one_pass):.2f})")
    fig.savefig(path, dpi=110)
    return fig


def plot_analysis(network, inputs, out: dict, path):
    """ESD of each layer's ``W^T W / n_out`` with its fitted tail, and the eigenvalues of J."""
    from matplotlib.figure import Figure

    from validation.basins import jacobians

    from .spectra import esd_of_weights
    n_layers = network.depth
    fig = Figure(figsize=(4 * (n_layers + 1), 3.6), layout="constrained")
    axes = fig.subplots(1, n_layers + 1)
    for l, (ax, layer) in enumerate(zip(axes[:-1], out["layers"])):
        ev = esd_of_weights(np.asarray(network.W[l]))
        ev = ev[ev > ev.max() * 1e-12]
        bins = np.logspace(np.log10(ev.min()), np.log10(ev.max()), 30)
        ax.hist(ev, bins=bins, density=True, histtype="step", color="k")
        if layer.get("alpha") is not None:
            x = np.logspace(np.log10(layer["xmin"]), np.log10(ev.max()), 20)
            tail = np.mean(ev >= layer["xmin"])
            c = tail * (layer["alpha"] - 1.0) / layer["xmin"]
            ax.plot(x, c * (x / layer["xmin"]) ** (-layer["alpha"]), "r--",
                    label=fr"$\alpha$ = {layer['alpha']:.2f}")
            ax.legend(fontsize=7)
        ax.set(xscale="log", yscale="log", xlabel=r"eigenvalue of $W^TW/n$", title=f"layer {l + 1}")
    lam = np.linalg.eigvals(jacobians(network, inputs[: min(20, inputs.shape[0])])).ravel()
    ax = axes[-1]
    ax.scatter(lam.real, lam.imag, s=2, alpha=0.5)
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="0.5", lw=0.8)
    ax.set(aspect="equal", xlabel=r"Re $\lambda(J)$", ylabel=r"Im $\lambda(J)$", title="J at the inputs")
    fig.savefig(path, dpi=110)
    return fig
