"""The trained-network experiment: train, then read tails, fixed points and restoration.

:func:`analyze_run` turns a :class:`training.engine.TrainResult` into one JSON-ready
report: per saved epoch the layers' power-law exponents and the fixed points of the map
(Q_stable, Q_all, periodic/unresolved shares, whether the training images are
attractors); for the final map the Jacobian spectrum at the training images beside the
initial map's and esd's random-network theory for the initial law; and restoration of
damaged images (training images, and held-out ones when given) against the one-pass and
nearest-training-image baselines. :func:`parse_damages` reads ``"noise:0.2,pixels:0.3"``.
"""

from __future__ import annotations

import numpy as np

from esd.exceptions import InvalidParameter

from . import analyze
from .restore import DAMAGES, damage, restore

__all__ = ["DEFAULT_DAMAGES", "analyze_run", "parse_damages", "restoration_report"]

DEFAULT_DAMAGES = (("noise", 0.2), ("pixels", 0.3), ("block", 3))


def parse_damages(text: str) -> tuple:
    """``"noise:0.2,pixels:0.3,block:3"`` -> ``(("noise", 0.2), ("pixels", 0.3), ("block", 3))``."""
    out = []
    for item in filter(None, (t.strip() for t in str(text).split(","))):
        kind, _, level = item.partition(":")
        if kind not in DAMAGES or not level:
            raise InvalidParameter("damage", item, f"must be KIND:LEVEL with KIND in {list(DAMAGES)}")
        try:
            value = float(level)
        except ValueError as exc:
            raise InvalidParameter("damage", item, "LEVEL must be a number") from exc
        out.append((kind, int(value) if kind == "block" else value))
    if not out:
        raise InvalidParameter("damage", text, "give at least one KIND:LEVEL")
    return tuple(out)


def restoration_report(network, images, train_images, damages, *, image_shape, radius=0.1,
                       rng=0, keep=None):
    """Per damage kind: the restoration scores; ``keep`` collects the first rows for a figure."""
    out = {}
    gen = np.random.default_rng(rng)
    for kind, level in damages:
        hurt = damage(images, kind, level, image_shape=image_shape, rng=gen)
        res = restore(network, images, hurt, train_images=train_images, radius=radius)
        out[f"{kind}:{level:g}"] = {"kind": kind, "level": level, **res.to_dict()}
        if keep is not None:
            keep[f"{kind}:{level:g}"] = res
    return out


def analyze_run(result, train_x, *, test_x=None, image_shape=None, starts=300, epochs=None,
                damages=DEFAULT_DAMAGES, radius=0.1, seed=0, theory=True, progress=False,
                keep=None, homotopy_paths=0) -> dict:
    """The report of the module docstring. ``epochs``: which saved epochs to analyse
    (default all); ``starts``: fixed-point starts per epoch (0 skips the fixed points);
    ``homotopy_paths``: the finder's Phase-3 budget (default 0: Newton only);
    ``keep``: a dict that receives the restoration results of the final map (figures)."""
    cfg = result.config
    epochs = sorted(result.snapshots) if epochs is None else sorted(epochs)
    missing = [e for e in epochs if e not in result.snapshots]
    if missing:
        raise InvalidParameter("epochs", missing, f"only the saved epochs {sorted(result.snapshots)} "
                               "can be analysed")
    it = epochs
    if progress:
        from tqdm import tqdm
        it = tqdm(epochs, desc="analyse epochs", unit="epoch")
    per_epoch = []
    for e in it:
        net = result.snapshots[e]
        row = {"epoch": e, "layers": analyze.weight_report(net),
               "attractors": analyze.attractor_report(net, train_x, radius=radius)}
        if starts:
            row["fixed_points"] = analyze.fixed_point_report(
                net, starts=starts, rng=[e, seed], homotopy_paths=homotopy_paths)
        per_epoch.append(row)

    final = result.network
    report = {
        "epochs": per_epoch,
        "layers": analyze.weight_report(final),
        "attractors": analyze.attractor_report(final, train_x, radius=radius),
        "jacobian": {"trained": analyze.jacobian_report(final, train_x)},
    }
    if 0 in result.snapshots:
        report["jacobian"]["initial"] = analyze.jacobian_report(result.snapshots[0], train_x)
    square = all(w == cfg.widths[0] for w in cfg.widths)
    if theory and square:
        report["jacobian"]["theory"] = analyze.theory_report(
            cfg.activation, cfg.init, cfg.sigma_w, cfg.sigma_b, cfg.depth, alpha=cfg.alpha, seed=seed)
    elif theory:
        report["jacobian"]["theory"] = {"method": None, "reason": "esd's theory covers layers of "
                                        "equal width; this network has widths " + str(list(cfg.widths))}
    if starts:
        report["fixed_points"] = analyze.fixed_point_report(
            final, starts=starts, rng=[cfg.epochs, seed], homotopy_paths=homotopy_paths)
        report["q_stable"] = report["fixed_points"]["q_stable"]
        report["q_all"] = report["fixed_points"]["q_all"]
    if damages:
        report["restoration"] = {"train": restoration_report(
            final, train_x, train_x, damages, image_shape=image_shape, radius=radius, rng=[1, seed],
            keep=keep)}
        if test_x is not None:
            report["restoration"]["test"] = restoration_report(
                final, test_x, train_x, damages, image_shape=image_shape, radius=radius, rng=[2, seed])
    return report
