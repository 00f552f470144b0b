"""Q(N, L) figures: measured curves with their intervals, and predictions against them
(no numerics here; matplotlib imported lazily)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_q_curves", "plot_q_prediction"]


def plot_q_curves(rows, path=None, *, title="", ax=None):
    """Q(N, L) against depth, one curve per width: mean Q_stable with its bootstrap
    interval (band), the median (dashed), and mean Q_all (dotted)."""
    fig = None
    if ax is None:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
    widths = sorted({r["width"] for r in rows})
    for k, n in enumerate(widths):
        sel = sorted((r for r in rows if r["width"] == n), key=lambda r: r["depth"])
        L = np.array([r["depth"] for r in sel])
        mean = np.array([r["q_stable"]["mean"] for r in sel])
        lo = np.array([r["q_stable"]["mean_ci"][0] for r in sel])
        hi = np.array([r["q_stable"]["mean_ci"][1] for r in sel])
        color = f"C{k}"
        ax.plot(L, mean, marker=".", color=color, label=f"N={n}: mean $Q_{{stable}}$")
        ax.fill_between(L, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(L, [r["q_stable"]["median"] for r in sel], ls="--", color=color, lw=0.8)
        ax.plot(L, [r["q_all"]["mean"] for r in sel], ls=":", color=color, lw=1.0,
                label=f"N={n}: mean $Q_{{all}}$")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("depth L")
    ax.set_ylabel("fixed points per network")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    if fig is not None and path:
        fig.savefig(path, dpi=150)
    return ax


def plot_q_prediction(predictions, measured, path=None, *, title=""):
    """Predicted Q_all (Kac-Rice, unstable count; for heavy tails also both from J at a
    fixed point) against depth on a log axis, with the measured mean Q_all and its
    interval when given."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    widths = sorted({p["width"] for p in predictions})
    for k, n in enumerate(widths):
        sel = sorted((p for p in predictions if p["width"] == n), key=lambda p: p["depth"])
        L = [p["depth"] for p in sel]
        color = f"C{k}"
        ax.plot(L, [p["kac_rice"]["q_all"] for p in sel], color=color, label=f"N={n}: Kac-Rice")
        ax.plot(L, [p["unstable_count"]["q_all"] for p in sel], color=color, ls="--",
                label=f"N={n}: 1 + N f_out")
        if all("kac_rice_fixed_point" in p for p in sel):
            ax.plot(L, [p["kac_rice_fixed_point"]["q_all"] for p in sel], color=color, ls="-.",
                    label=f"N={n}: Kac-Rice, J at a fixed point")
            ax.plot(L, [p["unstable_count_fixed_point"]["q_all"] for p in sel], color=color,
                    ls=":", label=f"N={n}: 1 + N f_out, J at a fixed point")
        if measured:
            m = sorted((r for r in measured if r["width"] == n), key=lambda r: r["depth"])
            if m:
                Lm = np.array([r["depth"] for r in m])
                mean = np.array([r["q_all"]["mean"] for r in m])
                err = np.abs(np.array([r["q_all"]["mean_ci"] for r in m]).T - mean)
                ax.errorbar(Lm, mean, yerr=err, fmt="o", color=color, ms=3,
                            label=f"N={n}: measured $Q_{{all}}$")
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"$Q_{all}$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    if path:
        fig.savefig(path, dpi=150)
    return fig
