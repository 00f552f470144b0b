"""Regenerate every figure in figures/ from esd's public API (one command):

    python figures/make_figures.py [--only theory|fixed-points|q-curves|kac-rice|audit|lifted|heavy|trained]
    python figures/make_figures.py --sweep cauchy-s3 [--workers 2]   # one Q sweep, no figure
    python figures/make_figures.py --only kac-rice --archived        # Q figures, computing no sweep

Each PNG has a JSON sidecar with the parameters that made it and the package version.
The fixed-point figures (figures/fixed_points/) run Q(N, L) sweeps checkpointed under
figures/fixed_points/checkpoints/, so a rerun reuses every finished cell; the finished
cells are archived (gzipped) in figures/fixed_points/sweeps/, which is committed, and a
fresh clone restores its checkpoints from there instead of recomputing them. With
``--archived`` the Q figures are drawn from the archives as they stand (finished cells
only; the others are listed as pending), so they can follow sweeps that run elsewhere.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

# The repository first: run as a script, this folder (which holds a validation/ output
# folder) would otherwise shadow the validation package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import esd  # noqa: E402
from esd.plots import plot_density, plot_radial_cdf  # noqa: E402

HERE = Path(__file__).resolve().parent


def _save(fig, name, params):
    fig.savefig(HERE / f"{name}.png", dpi=120)
    (HERE / f"{name}.json").write_text(json.dumps({"esd_version": esd.__version__, **params},
                                                  indent=1, sort_keys=True))


def densities_by_depth():
    """Density of log x for tanh networks at the edge of chaos and above, L = 1..1000."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    params = {"activation": "tanh", "sigma_b": 0.1, "weights": ["gaussian", "orthogonal"],
              "sigma_w": 1.5, "depths": [1, 10, 100, 1000], "grid": 600}
    for ax, weights in zip(axes, params["weights"]):
        for L in params["depths"]:
            sol = esd.JacobianESD(esd.NetworkSpec("tanh", weights=weights, sigma_w=1.5,
                                                  sigma_b=0.1, depth=L))
            lo = sol.quantile_log(1e-3, max_decades=5 * L + 20)
            t = np.linspace(lo, sol.log_support[1], 600)[:-1]
            # Plot against log10 x / L so that all depths share an axis.
            ax.plot(t / math.log(10) / L, sol.log_density(t) * L * math.log(10), label=f"L = {L}")
        ax.set_xlabel(r"$\log_{10}(x) / L$, $x$ eigenvalue of $JJ^T$")
        ax.set_ylabel("density (rescaled)")
        ax.set_title(f"tanh, {weights}, $\\sigma_w$ = 1.5, $\\sigma_b$ = 0.1")
        ax.legend()
    _save(fig, "density_by_depth", params)


def activations_panel():
    """J J^T density and radial law of J for every activation at L = 5, gaussian weights."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    params = {"depth": 5, "weights": "gaussian", "sigma_b": 0.1,
              "sigma_w": {"linear": 1.0, "relu": 1.414, "hard-tanh": 1.2, "tanh": 1.3, "erf": 1.3,
                          "sigmoid": 4.0}}
    for act, sw in params["sigma_w"].items():
        sol = esd.JacobianESD(esd.NetworkSpec(act, sigma_w=sw, sigma_b=0.1, depth=5))
        x = sol.default_grid(400, max_decades=12)
        plot_density(x, sol.density(x), ax=ax1, label=f"{act} ($\\sigma_w$={sw})", log_x=True)
        r = np.linspace(0, 1.1 * sol.spectral_radius, 200)
        plot_radial_cdf(r / sol.spectral_radius, sol.radial_cdf(r), ax=ax2, label=act)
    ax2.set_xlabel(r"$|\lambda| / $ spectral radius")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    _save(fig, "activations_L5", params)


def theory_over_simulation():
    """Theory density over the histogram of a simulated network, and the radial laws."""
    from esd.plots import plot_validation
    from validation.montecarlo import simulate
    params = {"activation": "tanh", "weights": "gaussian", "sigma_w": 1.5, "sigma_b": 0.1,
              "depth": 5, "width": 1000, "samples": 3, "seed": 2026}
    sol = esd.JacobianESD(esd.NetworkSpec("tanh", sigma_w=1.5, sigma_b=0.1, depth=5))
    sim = simulate("tanh", "gaussian", 1.5, 0.1, 5, 1000, 3, seed=2026)
    fig = plot_validation(sol, sim.sv2, sim.eigs, HERE / "theory_over_simulation.png",
                          title="tanh, gaussian, sigma_w = 1.5, sigma_b = 0.1, L = 5, N = 1000")
    _save(fig, "theory_over_simulation", params)


HEAVY = HERE / "heavy"
#: Radial law of the eigenvalues of J for cauchy tanh networks: cavity (typical input, and
#: J at a fixed point) against simulation (random stationary inputs, and the fixed points
#: found by Newton).
HEAVY_RADIAL = {"activation": "tanh", "sigma_w": 1.0, "sigma_b": 0.1, "width": 300,
                "networks": 40, "population": 2000, "repeats": 2, "eta": 1e-5, "seed": 2026}


def heavy_radial():
    """P(|lambda| <= r) for cauchy tanh networks at L = 1 and 3: where the eigenvalues of J
    sit at a typical input and at the network's own fixed points."""
    from esd.heavy.cavity import HeavyTailedJacobian
    from validation.basins import jacobian_eigenvalues
    from validation.fixedpoints import find_fixed_points
    from validation.montecarlo import simulate
    from validation.sampling import sample_network
    hp = HEAVY_RADIAL
    HEAVY.mkdir(exist_ok=True)
    radii = np.append(np.geomspace(0.02, 1.0, 18), [1.3, 2.0])
    unit = int(np.flatnonzero(radii == 1.0)[0])
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    record = {"radii": radii.tolist(), "depths": {}}
    for ax, depth in zip(fig.subplots(1, 2), (1, 3)):
        args = (hp["activation"], hp["sigma_w"], hp["sigma_b"], depth)
        kw = dict(population=hp["population"], repeats=hp["repeats"], rng=hp["seed"])
        typical = HeavyTailedJacobian(*args, **kw).radial_cdf(radii, eta=hp["eta"])
        at_fp = HeavyTailedJacobian(*args, closed=True, **kw).radial_cdf(radii, eta=hp["eta"])
        sim = simulate(*args[:1], "cauchy", *args[1:], hp["width"], hp["networks"],
                       seed=hp["seed"], alpha=1.0)
        fp_eigs = []
        for k in range(hp["networks"]):
            rng = np.random.default_rng([hp["seed"], depth, k])
            net = sample_network(*args[:1], "cauchy", *args[1:], hp["width"], alpha=1.0, rng=rng)
            res = find_fixed_points(net, starts=16, newton_starts=16, rng=rng, homotopy_paths=0)
            fp_eigs += [np.abs(e) for e in jacobian_eigenvalues(net, res)]
        emp = lambda a: np.array([(a <= r).mean() for r in radii])   # noqa: E731
        a_sim = np.abs(sim.eigs).ravel()
        a_fp = np.concatenate(fp_eigs) if fp_eigs else np.array([np.nan])
        ax.plot(radii, typical.mean, "C0-", label="cavity, typical input")
        ax.plot(radii, at_fp.mean, "C3-", label="cavity, J at a fixed point (closed)")
        ax.plot(radii, emp(a_sim), "C0o", ms=3, label=f"simulation, random inputs ({hp['networks']} nets)")
        ax.plot(radii, emp(a_fp), "C3s", ms=3, label=f"simulation, {len(fp_eigs)} fixed points")
        ax.axvline(1.0, color="0.6", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(r"$r$")
        ax.set_ylabel(r"$P(|\lambda(J)| \leq r)$")
        ax.set_title(f"tanh, cauchy sigma_w = 1, sigma_b = 0.1, L = {depth}, N = {hp['width']}", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        record["depths"][str(depth)] = {
            "cavity_typical": typical.mean.tolist(), "cavity_fixed_point": at_fp.mean.tolist(),
            "simulation_typical": emp(a_sim).tolist(), "simulation_fixed_points": emp(a_fp).tolist(),
            "fixed_points": len(fp_eigs),
            "fraction_outside": {"cavity_typical": 1 - float(typical.mean[unit]),
                                 "simulation_typical": float((a_sim > 1).mean()),
                                 "cavity_fixed_point": 1 - float(at_fp.mean[unit]),
                                 "simulation_fixed_points": float((a_fp > 1).mean())}}
    fig.savefig(HEAVY / "radial_law.png", dpi=120)
    (HEAVY / "radial_law.json").write_text(json.dumps(
        {"esd_version": esd.__version__, **hp, **record}, indent=1, sort_keys=True))


FP = HERE / "fixed_points"
#: The Q(N0, L) sweeps of the figure: sigmoid networks, gaussian vs cauchy weights. For
#: cauchy, ``s`` is the paper-style unnormalised scale, W_ij = s x Cauchy: sigma_w = s N.
Q_SWEEPS = [
    {"weights": "gaussian", "sigma_w": 1.5, "sigma_b": 0.5},
    {"weights": "gaussian", "sigma_w": 6.0, "sigma_b": 0.5},
    {"weights": "cauchy", "s": 1.0, "sigma_b": 0.5},
    {"weights": "cauchy", "s": 3.0, "sigma_b": 0.5},
]
Q_WIDTHS = (10, 30)
Q_DEPTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
Q_NETS, Q_STARTS, Q_NEWTON, Q_SEED = 60, 300, 200, 2026
#: Committed archives of the sweeps' checkpoints (validation.archive_checkpoint) and the
#: Kac-Rice cache: the results of hours of computing, kept with the figures they make.
ARCHIVE = FP / "sweeps"
KR_CACHE = ARCHIVE / "kac_rice_cells.json"
#: Phase 4 per network (run only while the index sum differs from 1): the gain curves
#: through this many found points at most, then this many random lifted paths.
Q_BRANCHES = 16
Q_LIFTED = 4
#: The audit of the counts (validation.qaudit): the first AUDIT_NETS networks (a uniform
#: subsample) of each cell of width AUDIT_WIDTH at AUDIT_DEPTHS are counted again with Phase 4
#: run on every network and to its whole budget (lifted_exhaust).
AUDIT_NETS, AUDIT_WIDTH, AUDIT_DEPTHS = 12, 30, (4, 8, 12, 16, 24, 32)
#: Seconds between archives of a running sweep: a sweep killed without warning (a machine
#: taken back) loses at most this much work in a new clone, not everything since it began.
ARCHIVE_EVERY = 600.0
#: Set by --archived: q_sweep reads the committed archives and computes nothing.
FROM_ARCHIVE = False


def _q_cells(law):
    cells = []
    for width in Q_WIDTHS:
        sigma_w = law["s"] * width if "s" in law else law["sigma_w"]
        for depth in Q_DEPTHS:
            cells.append({"activation": "sigmoid", "weights": law["weights"], "sigma_w": sigma_w,
                          "sigma_b": law["sigma_b"], "width": width, "depth": depth})
    return cells


def q_sweep_name(law, audit=False):
    """The name of a law's sweep: its checkpoint and archive directory, e.g. cauchy-s3
    (cauchy-s3-audit for its audit)."""
    scale = f"s{law['s']:g}" if "s" in law else f"sw{law['sigma_w']:g}"
    return f"{law['weights']}-{scale}" + ("-audit" if audit else "")


def _q_sweep_setup(law, audit):
    """(name, cells, nets, finder options) of a law's sweep or of its audit."""
    kwargs = {"starts": Q_STARTS, "newton_starts": Q_NEWTON, "lifted_paths": Q_LIFTED,
              "lifted_branches": Q_BRANCHES}
    cells, nets = _q_cells(law), Q_NETS
    if audit:
        kwargs["lifted_exhaust"] = True
        cells = [c for c in cells if c["width"] == AUDIT_WIDTH and c["depth"] in AUDIT_DEPTHS]
        nets = AUDIT_NETS
    return q_sweep_name(law, audit), cells, nets, kwargs


def _archived_sweep(law, audit):
    """What the committed archive holds of a sweep (validation.load_sweep): finished cells,
    and the others in ``pending``; every cell pending when there is no archive yet."""
    import tempfile

    from validation import SweepResult, load_sweep, restore_checkpoint
    from validation.sweep import fixed_point_cell
    name, cells, nets, kwargs = _q_sweep_setup(law, audit)
    with tempfile.TemporaryDirectory() as tmp:
        if restore_checkpoint(ARCHIVE / name, Path(tmp) / name):
            return load_sweep(fixed_point_cell, cells, nets=nets, seed=Q_SEED, checkpoint=Path(tmp) / name,
                              **kwargs)
    return SweepResult(config={"nets": nets, "seed": Q_SEED, "cells": cells}, config_hash="", cells=(),
                       pending=tuple((c, 0) for c in cells))


def pending_cells(res):
    """The unfinished cells of an archived sweep, e.g. ['N=30 L=6 (12 of 60)']."""
    return [f"N={c['width']} L={c['depth']} ({k} of {res.config['nets']})" for c, k in res.pending]


def q_sweep(law, workers=None, audit=False):
    """The checkpointed sweep of one law of ``Q_SWEEPS`` (resumes where it stopped), or
    with ``audit`` its audit (``AUDIT_NETS``; the same networks and finder, lifted_exhaust);
    with ``FROM_ARCHIVE`` only what its archive holds (``_archived_sweep``).

    Its finished networks are also archived in ``ARCHIVE`` (committed), and a checkout
    without the (ignored) checkpoint directory restores it from there, so a sweep of many
    hours is never rerun for a figure, and one cut short resumes in a new clone. A
    checkpoint of an older ``fixed_point_cell.version`` is moved aside and what the new
    version would reproduce is carried over (validation.carry_checkpoint). While it runs,
    the archive is refreshed every ``ARCHIVE_EVERY`` seconds."""
    import time

    from validation import ForeignCheckpoint, archive_checkpoint, carry_checkpoint, restore_checkpoint
    from validation.sweep import fixed_point_cell, run_sweep
    if FROM_ARCHIVE:
        return _archived_sweep(law, audit)
    name, cells, nets, kwargs = _q_sweep_setup(law, audit)
    checkpoint = FP / "checkpoints" / name
    restore_checkpoint(ARCHIVE / name, checkpoint)

    archived = time.monotonic()

    def archive_now_and_then(cell, net_index, record):
        nonlocal archived
        if time.monotonic() - archived >= ARCHIVE_EVERY:
            archive_checkpoint(checkpoint, ARCHIVE / name)
            archived = time.monotonic()

    def sweep():
        return run_sweep(fixed_point_cell, cells, nets=nets, seed=Q_SEED, checkpoint=checkpoint,
                         workers=workers, on_record=archive_now_and_then, **kwargs)
    try:
        try:
            return sweep()
        except ForeignCheckpoint:
            older = checkpoint.with_name(f"{name}-older")
            shutil.rmtree(older, ignore_errors=True)
            checkpoint.rename(older)
            counts = carry_checkpoint(older, checkpoint, fixed_point_cell, cells, nets=nets,
                                      seed=Q_SEED, **kwargs)
            print(f"{name}: carried {counts['carried']} networks from the older sweep, "
                  f"{counts['recompute']} to recompute", file=sys.stderr)
            return sweep()
    finally:
        if (checkpoint / "manifest.json").exists():
            archive_checkpoint(checkpoint, ARCHIVE / name)


def q_rows(res):
    """The measured rows (esd.cli.q.q_row) of a sweep result, one per finished (width, depth)
    cell. Each consumer reads its own laws' sweeps, so the Cauchy comparisons do not wait on
    the Gaussian sweeps."""
    from esd.cli.q import q_row
    return [q_row(c.cell["width"], c.cell["depth"], st) for c, st in zip(res.cells, res.statistics)]


def q_curves():
    """Q(N0, L) of sigmoid networks for gaussian vs cauchy weights at two widths."""
    from esd.plots import plot_q_curves
    FP.mkdir(exist_ok=True)
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    results = []
    for ax, law in zip(axes, Q_SWEEPS):
        res = q_sweep(law)
        rows, pending = q_rows(res), pending_cells(res)
        label = (f"s = {law['s']:g} (sigma_w = s N)" if "s" in law else f"sigma_w = {law['sigma_w']:g}")
        title = f"sigmoid, {law['weights']}, {label}, sigma_b = {law['sigma_b']:g}"
        if pending:
            title += f"\n{len(pending)} cells still running, left out"
        if rows:
            plot_q_curves(rows, ax=ax, title=title)
        else:
            ax.set_title(title, fontsize=9)
            ax.text(0.5, 0.5, "no cell finished yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        results.append({"law": law, "rows": rows, "pending": pending})
    fig.savefig(FP / "q_curves.png", dpi=120)
    (FP / "q_curves.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "nets": Q_NETS, "starts": Q_STARTS,
         "newton_starts": Q_NEWTON, "lifted_paths": Q_LIFTED, "seed": Q_SEED, "results": results},
        indent=1, sort_keys=True))


def q_completeness():
    """Per Cauchy cell of Q_SWEEPS: how often the finder's index sum is 1, and what the
    networks where it is not have in common (the sign of the
    miss, networks with no point at all, points found only in lifted coordinates)."""
    rows, pending = [], []
    for law in (law for law in Q_SWEEPS if law["weights"] == "cauchy"):
        res = q_sweep(law)
        pending += [f"s={law['s']:g} {p}" for p in pending_cells(res)]
        for c in res.cells:
            recs = list(c.records)
            off = [r for r in recs if r["index_sum"] != 1]
            width, depth = c.cell["width"], c.cell["depth"]
            rows.append({"s": law["s"], "width": width, "depth": depth, "networks": len(recs),
                         "index_sum_ok": 1.0 - len(off) / len(recs), "off": len(off),
                         "off_above_1": sum(r["index_sum"] > 1 for r in off),
                         "off_below_1": sum(r["index_sum"] < 1 for r in off),
                         "no_point": sum(r["q_all"] == 0 for r in recs),
                         "with_lifted_points": sum(any(r["lifted"]) for r in recs),
                         "mean_homotopy_paths": float(np.mean([r["homotopy_paths"] for r in recs])),
                         "mean_q_all": float(np.mean([r["q_all"] for r in recs]))})
    (FP / "q_completeness.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "lifted_paths": Q_LIFTED,
         "rows": rows, "pending": pending}, indent=1, sort_keys=True))
    lines = ["| s | N | L | index sum 1 | off (>1, <1) | no point | with lifted points "
             "| homotopy paths | mean Q_all |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['s']:g} | {r['width']} | {r['depth']} "
                     f"| {r['index_sum_ok']:.2f} | {r['off']} ({r['off_above_1']}, {r['off_below_1']}) "
                     f"| {r['no_point']} | {r['with_lifted_points']} | {r['mean_homotopy_paths']:.1f} "
                     f"| {r['mean_q_all']:.2f} |")
    (FP / "q_completeness.md").write_text("\n".join(lines + _pending_lines(pending)) + "\n")


def _pending_lines(pending):
    return ["", "Still running, left out: " + ", ".join(pending) + "."] if pending else []


def audited_cells(law, sweep):
    """The audit of a Cauchy law's sweep (a SweepResult): {(width, depth): validation.audit_cell
    output} for every audited cell finished on both sides, and the unfinished ones."""
    from validation import audit_cell
    records = {(c.cell["width"], c.cell["depth"]): c.records for c in sweep.cells}
    audit = q_sweep(law, audit=True)
    out, pending = {}, [f"s={law['s']:g} {p}" for p in pending_cells(audit)]
    for c in audit.cells:
        key = (c.cell["width"], c.cell["depth"])
        if key in records:
            out[key] = audit_cell(records[key], c.records)
        else:
            pending.append(f"s={law['s']:g} N={key[0]} L={key[1]} (its sweep cell)")
    return out, pending


def _bands_meet(est, audited):
    """Both 2-standard-error bands meet: the audited estimate has a standard error, not a CI."""
    return bool(abs(est["value"] - audited["value"]) <= 2 * (est["stderr"] + audited["stderr"]))


def q_audit():
    """The audit of the Cauchy counts (validation.qaudit): per audited cell, the sweep's mean
    Q_all and Q_stable next to the double-sampling estimate of the exhaustive count, and the
    Kac-Rice estimate (from its cache, where computed)."""
    cache = json.loads(KR_CACHE.read_text()) if KR_CACHE.exists() else {}
    rows, pending = [], []
    for law in (law for law in Q_SWEEPS if law["weights"] == "cauchy"):
        audited, more = audited_cells(law, q_sweep(law))
        pending += more
        for (width, depth), out in audited.items():
            kr = cache.get(_kac_rice_key(law, width, depth), {})
            row = {"s": law["s"], "width": width, "depth": depth, **out, "kac_rice_ess": kr.get("ess")}
            for key in ("q_all", "q_stable"):
                est = row[f"kac_rice_{key}"] = kr.get(f"expected_{key}")
                row[f"kac_rice_{key}_within"] = None if est is None else _bands_meet(est, out[key])
            rows.append(row)
    judged = [r[f"kac_rice_{k}_within"] for r in rows for k in ("q_all", "q_stable")
              if r[f"kac_rice_{k}_within"] is not None]
    (FP / "q_audit.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "audit_nets": AUDIT_NETS, "rows": rows, "pending": pending,
         "kac_rice_within_share": float(np.mean(judged)) if judged else None}, indent=1, sort_keys=True))
    lines = ["| s | N | L | sweep Q_all | audited Q_all | raised (max) | sweep Q_stable | audited Q_stable "
             "| audit index sum 1 | Kac-Rice E[Q_all] | Kac-Rice E[Q_stable] | ESS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def pm(x, within=None):
        return "—" if x is None else f"{x['value']:.2f} ± {x['stderr']:.2f}" + {None: "", True: " ✓", False: " ✗"}[within]
    for r in rows:
        a, st = r["q_all"], r["q_stable"]
        lines.append(f"| {r['s']:g} | {r['width']} | {r['depth']} | {pm(a['sweep'])} | **{pm(a)}** "
                     f"| {a['raised']}/{a['m']} ({a['max_raise']:.0f}) | {pm(st['sweep'])} | {pm(st)} "
                     f"| {r['index_sum_one']:.2f} | {pm(r['kac_rice_q_all'], r['kac_rice_q_all_within'])} "
                     f"| {pm(r['kac_rice_q_stable'], r['kac_rice_q_stable_within'])} "
                     f"| {'—' if r['kac_rice_ess'] is None else format(r['kac_rice_ess'], '.0f')} |")
    if judged:
        lines.append(f"\nKac-Rice within the audited estimate (2-SE bands meet, ✓): {sum(judged)} of {len(judged)}.")
    (FP / "q_audit.md").write_text("\n".join(lines + _pending_lines(pending)) + "\n")
    laws = sorted({r["s"] for r in rows})
    fig = Figure(figsize=(5.5 * len(laws), 4), layout="constrained")
    for ax, s_val in zip(np.atleast_1d(fig.subplots(1, len(laws))), laws):
        sel = [r for r in rows if r["s"] == s_val]
        L = np.array([r["depth"] for r in sel], dtype=float)
        for key, shift, label in (("sweep", 0.96, "sweep (index sum 1 stop)"), (None, 1.04, "audited (exhaustive)")):
            est = [r["q_all"][key] if key else r["q_all"] for r in sel]
            ax.errorbar(L * shift, [e["value"] for e in est], yerr=[2 * e["stderr"] for e in est], fmt="o",
                        ms=4, capsize=2, label=f"Q_all, {label} (2 SE)")
        kr = [(d, r["kac_rice_q_all"]) for d, r in zip(L, sel) if r["kac_rice_q_all"]]
        if kr:
            ax.errorbar([d for d, _ in kr], [k["value"] for _, k in kr], yerr=[2 * k["stderr"] for _, k in kr],
                        fmt="s", mfc="none", ms=4, capsize=2, alpha=0.6, label="Kac-Rice E[Q_all] (2 SE)")
        ax.set(xscale="log", xlabel="depth L", ylabel="mean Q_all",
               title=f"sigmoid, cauchy s = {s_val:g}, N = {AUDIT_WIDTH}: audit of {AUDIT_NETS} networks per cell")
        ax.set_xticks(L, [f"{d:g}" for d in L], minor=False)
        ax.set_xticks([], minor=True)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.savefig(FP / "q_audit.png", dpi=120)


#: The heavy-tailed predictors against the measured Cauchy s = 1, N0 = 30 curve.
HEAVY_PREDICTION = {"activation": "sigmoid", "weights": "cauchy", "s": 1.0, "sigma_b": 0.5,
                    "width": 30, "depths": (1, 2, 4, 8, 16), "input_scales": (0.5, 1.0, 2.0),
                    "population": 500, "repeats": 2, "seed": 11}


def q_prediction_heavy():
    """Kac-Rice and unstable-count predictions from the cavity solver (over input scales,
    and for J at a fixed point) against the measured Q_all of the Cauchy s = 1 sweep."""
    from esd.cli.q import compare_predictions
    from esd.plots import plot_q_prediction
    from esd.qtheory.predict import heavy_counts, heavy_rates
    hp = HEAVY_PREDICTION
    width = hp["width"]
    sigma_w = hp["s"] * width
    law = next(law for law in Q_SWEEPS if law["weights"] == hp["weights"] and law.get("s") == hp["s"])
    measured = [r for r in q_rows(q_sweep(law)) if r["width"] == width and r["depth"] in hp["depths"]]
    seeds = np.random.SeedSequence(hp["seed"]).spawn(len(hp["depths"]))
    rows = []
    for depth, seed in zip(hp["depths"], seeds):
        rates = heavy_rates(hp["activation"], sigma_w, hp["sigma_b"], depth,
                            input_scales=hp["input_scales"], population=hp["population"],
                            repeats=hp["repeats"], rng=np.random.default_rng(seed),
                            progress=lambda msg: print("[cavity]", msg, flush=True))
        rows.append(heavy_counts(rates, width))
    title = (f"{hp['activation']}, cauchy s = {hp['s']:g} (sigma_w = {sigma_w:g}), "
             f"sigma_b = {hp['sigma_b']:g}, N = {width}")
    fig = plot_q_prediction(rows, measured, title=title)
    fig.savefig(FP / "cauchy_s1_prediction.png", dpi=120)
    (FP / "cauchy_s1_prediction.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "params": {**hp, "sigma_w": sigma_w},
         "predictions": rows, "comparison": compare_predictions(rows, measured)},
        indent=1, sort_keys=True))


#: Kac-Rice Monte Carlo over the Cauchy cells of Q_SWEEPS (importance samples per cell).
KR_SAMPLES, KR_SEED = 20000, 7
#: Effective sample size below which an estimate's standard error is not trusted; it is
#: not trusted either where the weights' Pareto tail shape is >= PARETO_K_RELIABLE.
KR_MIN_ESS = 100


def _kac_rice_key(law, width, depth):
    """The cache key of a Cauchy cell's Kac-Rice estimate. Everything that sets the estimate
    is in it, so a changed estimator or setting is recomputed rather than read back."""
    from validation.kacrice import MIXING_CANDIDATES, PROPOSAL_SCALES
    return (f"s{law['s']:g}-b{law['sigma_b']:g}-N{width}-L{depth}-S{KR_SAMPLES}"
            f"-seed{KR_SEED}-K{MIXING_CANDIDATES}-P{PROPOSAL_SCALES}-pareto-stable")


def kac_rice_table():
    """Kac-Rice E[Q_all], E[Q_stable] at finite N (validation.kac_rice, no search) against
    the measured Q of the Cauchy sweeps of Q_SWEEPS; each cell cached in a JSON file."""
    from esd.cli.q import band_meets
    from validation import kac_rice
    from validation.tails import PARETO_K_RELIABLE
    cache = json.loads(KR_CACHE.read_text()) if KR_CACHE.exists() else {}
    rows, pending = [], []
    for law in (law for law in Q_SWEEPS if law["weights"] == "cauchy"):
        res = q_sweep(law)
        pending += [f"s={law['s']:g} {p}" for p in pending_cells(res)]
        audited, _ = audited_cells(law, res)
        for m in q_rows(res):
            sigma_w = law["s"] * m["width"]
            key = _kac_rice_key(law, m["width"], m["depth"])
            if key not in cache:
                seed = np.random.SeedSequence([KR_SEED, m["width"], m["depth"], int(10 * law["s"])])
                est = kac_rice("sigmoid", sigma_w, law["sigma_b"], m["depth"], m["width"],
                               samples=KR_SAMPLES, weights="cauchy",
                               seed=np.random.default_rng(seed), progress=True)
                cache[key] = est.to_dict()
                KR_CACHE.parent.mkdir(parents=True, exist_ok=True)
                tmp = KR_CACHE.with_suffix(".tmp")
                tmp.write_text(json.dumps(cache, sort_keys=True))
                tmp.replace(KR_CACHE)
                print(f"[kac-rice] {key}: E[Q_all] {est.expected_q_all['value']:.3f} +- "
                      f"{est.expected_q_all['stderr']:.3f}, ESS {est.ess:.0f}, k {est.pareto_k:.2f}", flush=True)
            kr = cache[key]
            qa, qs = kr["expected_q_all"], kr["expected_q_stable"]
            rows.append({"s": law["s"], "sigma_b": law["sigma_b"], "width": m["width"],
                         "depth": m["depth"], "sigma_w": sigma_w,
                         "measured_q_all": m["q_all"]["mean"], "measured_q_all_ci": m["q_all"]["mean_ci"],
                         "measured_q_stable": m["q_stable"]["mean"],
                         "measured_q_stable_ci": m["q_stable"]["mean_ci"],
                         "index_sum_ok": m["index_sum_ok"],
                         "kac_rice_q_all": qa, "kac_rice_q_stable": qs,
                         "kac_rice_index": kr["index_mean"], "ess": kr["ess"],
                         "pareto_k": kr["pareto_k"], "ess_stable": kr["ess_stable"],
                         "pareto_k_stable": kr["pareto_k_stable"],
                         # each estimate is judged by the tail of its own weights
                         "q_all_reliable": kr["ess"] >= KR_MIN_ESS and kr["pareto_k"] < PARETO_K_RELIABLE,
                         "q_stable_reliable": (kr["ess_stable"] >= KR_MIN_ESS
                                               and kr["pareto_k_stable"] < PARETO_K_RELIABLE),
                         "q_all_within": band_meets(qa, m["q_all"]["mean_ci"]),
                         "q_stable_within": band_meets(qs, m["q_stable"]["mean_ci"])})
            # Where the cell is audited, its best measurement is the audited estimate (the
            # sweep's count is a lower bound, several times short at N0 = 30 and L >= 8).
            out = audited.get((m["width"], m["depth"]))
            for key, est in (("q_all", qa), ("q_stable", qs)):
                rows[-1][f"audited_{key}"] = None if out is None else {k: out[key][k] for k in ("value", "stderr")}
                rows[-1][f"{key}_within_best"] = (rows[-1][f"{key}_within"] if out is None
                                                  else _bands_meet(est, out[key]))
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for i, s_val in enumerate(sorted({r["s"] for r in rows})):
        for j, width in enumerate(sorted({r["width"] for r in rows})):
            ax = axes[i][j]
            sel = [r for r in rows if r["s"] == s_val and r["width"] == width]
            L = np.array([r["depth"] for r in sel])
            tops = []
            for key, color, label in (("q_all", "C0", "Q_all"), ("q_stable", "C1", "Q_stable")):
                mean = np.array([r[f"measured_{key}"] for r in sel])
                ci = np.array([r[f"measured_{key}_ci"] for r in sel])
                ax.errorbar(L, mean, yerr=[mean - ci[:, 0], ci[:, 1] - mean], fmt="o", color=color,
                            ms=4, capsize=2, label=f"measured {label} (95% CI)")
                v = np.array([r[f"kac_rice_{key}"]["value"] for r in sel])
                se = np.array([r[f"kac_rice_{key}"]["stderr"] for r in sel])
                ok = np.array([r[f"{key}_reliable"] for r in sel])
                ax.plot(L, v, "-", color=color, lw=1, alpha=0.6)
                ax.errorbar(L[ok], v[ok], yerr=2 * se[ok], fmt="s", color=color, ms=4, capsize=2,
                            label=f"Kac-Rice E[{label}] (2 SE)")
                if np.any(~ok):
                    ax.errorbar(L[~ok], v[~ok], yerr=2 * se[~ok], fmt="s", color=color, ms=4,
                                mfc="none", capsize=2, alpha=0.6,
                                label=f"Kac-Rice E[{label}], unreliable (ESS < {KR_MIN_ESS} "
                                      f"or Pareto k >= {PARETO_K_RELIABLE})")
                tops.append(np.max(np.append(ci[:, 1], (v + 2 * se)[ok])))
                aud = [(d, r["audited_q_all"]) for d, r in zip(L, sel) if r["audited_q_all"]] if key == "q_all" else []
                if aud:
                    ax.errorbar([1.08 * d for d, _ in aud], [a["value"] for _, a in aud],
                                yerr=[2 * a["stderr"] for _, a in aud], fmt="D", color="C2", ms=4,
                                capsize=2, label=f"audited {label} ({AUDIT_NETS} networks, 2 SE)")
                    tops.append(max(a["value"] + 2 * a["stderr"] for _, a in aud))
            ax.set_xscale("log")
            ax.set_xticks(L, [f"{d:g}" for d in L], minor=False, fontsize=7)
            ax.set_xticks([], minor=True)
            # unreliable estimates may run off the top: the axis follows the trusted values
            ax.set_ylim(0, 1.25 * max(tops))
            ax.set_xlabel("depth L")
            ax.set_title(f"sigmoid, cauchy s = {s_val:g} (sigma_w = {s_val * width:g}), "
                         f"sigma_b = {sel[0]['sigma_b']:g}, N = {width}", fontsize=9)
            if j == 1:
                ax.legend(fontsize=7)
    fig.savefig(FP / "cauchy_kac_rice.png", dpi=120)
    # The comparison is informative where both sides can be trusted: the estimate is
    # reliable (ESS and tail shape of its own weights), and the finder's index sum is 1 in
    # >= 95% of the networks (else the measured Q_all is a lower bound).
    for r in rows:
        r["complete_enumeration"] = r["index_sum_ok"] >= 0.95
    share = {}
    for name in ("all", "reliable_estimate", "both_reliable"):
        share[name] = {}
        for key in ("q_all", "q_stable"):
            g = [r for r in rows if name == "all" or (r[f"{key}_reliable"] and (
                name == "reliable_estimate" or r["complete_enumeration"]))]
            share[name][key] = {"cells": len(g), **{
                f: float(np.mean([r[f"{key}_{f}"] for r in g])) if g else None for f in ("within", "within_best")}}
    (FP / "cauchy_kac_rice.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "samples": KR_SAMPLES, "seed": KR_SEED,
         "min_ess": KR_MIN_ESS, "pareto_k_reliable": PARETO_K_RELIABLE,
         "share_within_error_bars": share, "rows": rows, "pending": pending}, indent=1, sort_keys=True))
    lines = ["| s | N | L | measured Q_all (CI) | audited Q_all | Kac-Rice E[Q_all] | measured Q_stable (CI) "
             "| Kac-Rice E[Q_stable] | index ok | ESS | Pareto k | k of E[Q_stable] |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        qa, qs = r["kac_rice_q_all"], r["kac_rice_q_stable"]
        ca, cs = r["measured_q_all_ci"], r["measured_q_stable_ci"]
        aud = r["audited_q_all"]
        aud = "—" if aud is None else (f"{aud['value']:.2f} ± {aud['stderr']:.2f}"
                                       f"{' ✓' if r['q_all_within_best'] else ' ✗'}")
        lines.append(f"| {r['s']:g} | {r['width']} | {r['depth']} | {r['measured_q_all']:.2f} "
                     f"[{ca[0]:.2f}, {ca[1]:.2f}] | {aud} | {qa['value']:.2f} ± {qa['stderr']:.2f}"
                     f"{'' if r['q_all_within'] else ' (out)'} | {r['measured_q_stable']:.2f} "
                     f"[{cs[0]:.2f}, {cs[1]:.2f}] | {qs['value']:.2f} ± {qs['stderr']:.2f}"
                     f"{'' if r['q_stable_within'] else ' (out)'} | {r['index_sum_ok']:.2f} "
                     f"| {r['ess']:.0f} | {r['pareto_k']:.2f}{'' if r['q_all_reliable'] else ' (unreliable)'} "
                     f"| {r['pareto_k_stable']:.2f}{'' if r['q_stable_reliable'] else ' (unreliable)'} |")
    lines.append("\n(out): the Kac-Rice 2-SE band misses the measured CI. Audited: the double-sampling "
                 f"estimate of the exhaustive count from {AUDIT_NETS} recounted networks; ✓/✗: the Kac-Rice "
                 "and audited 2-SE bands meet or not.\n")
    for name, sh in share.items():
        parts = [f"{label} {sh[key]['within']:.0%} of {sh[key]['cells']} cells ({sh[key]['within_best']:.0%} "
                 "judged against the audited estimate where one exists)"
                 for key, label in (("q_all", "Q_all"), ("q_stable", "Q_stable")) if sh[key]["cells"]]
        if parts:
            lines.append(f"within error bars ({name}): " + "; ".join(parts))
    (FP / "cauchy_kac_rice.md").write_text("\n".join(lines + _pending_lines(pending)) + "\n")


def basin_map():
    """Basins of attraction of an N = 2 cauchy sigmoid network, and the eigenvalues of J at
    the fixed points of an N = 60 cauchy tanh network against the unit circle."""
    from validation.basins import basin_labels, jacobian_eigenvalues
    from validation.fixedpoints import find_fixed_points
    from validation.sampling import sample_network
    FP.mkdir(exist_ok=True)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    params = {"basins": {"activation": "tanh", "weights": "cauchy", "sigma_w": 4.0,
                         "sigma_b": 0.1, "depth": 1, "width": 2, "grid": 300},
              "spectra": {"activation": "tanh", "weights": "cauchy", "sigma_w": 1.0,
                          "sigma_b": 0.1, "depth": 3, "width": 60}}
    # A two-unit network with several attractors: the first seed with four stable points.
    for seed in range(200):
        net = sample_network("tanh", "cauchy", 4.0, 0.1, 1, 2, rng=seed)
        res = find_fixed_points(net, starts=400, rng=seed)
        if res.q_stable >= 4:
            break
    params["basins"]["seed"] = seed
    g = np.linspace(-1.0, 1.0, params["basins"]["grid"])
    starts = np.array([(u, v) for v in g for u in g])
    labels = basin_labels(net, res, starts).reshape(g.size, g.size)
    ax1.imshow(labels, origin="lower", extent=(-1, 1, -1, 1), cmap="tab10", vmin=-1, vmax=9,
               interpolation="nearest")
    pts = res.points
    ax1.scatter(pts[res.stable, 0], pts[res.stable, 1], c="k", marker="o", s=25, label="stable")
    ax1.scatter(pts[~res.stable, 0], pts[~res.stable, 1], c="w", edgecolors="k", marker="X", s=40,
                label="unstable")
    ax1.set_title(f"basins, N = 2, L = 1, tanh, cauchy sigma_w = 4 (seed {seed}): {res.q_stable} stable "
                  f"and {res.q_all - res.q_stable} unstable fixed points", fontsize=8)
    ax1.legend(fontsize=7, loc="lower right")
    net = sample_network("tanh", "cauchy", 1.0, 0.1, 3, 60, rng=7)
    res = find_fixed_points(net, starts=500, rng=7)
    t = np.linspace(0, 2 * np.pi, 400)
    ax2.plot(np.cos(t), np.sin(t), color="0.5", lw=0.8)
    for k, e in enumerate(jacobian_eigenvalues(net, res)):
        kind = "stable" if res.stable[k] else "unstable"
        ax2.scatter(e.real, e.imag, s=6, alpha=0.7,
                    label=f"x*{k + 1} ({kind}, rho = {res.spectral_radius[k]:.2f})")
    ax2.set_aspect("equal")
    lim = max(1.5, min(4.0, float(np.max(res.spectral_radius)) * 1.05))
    ax2.set_xlim(-lim, lim)
    ax2.set_ylim(-lim, lim)
    ax2.set_title(f"eigenvalues of J at the {res.q_all} fixed points, N = 60, L = 3, tanh, cauchy",
                  fontsize=8)
    ax2.legend(fontsize=6, loc="upper right")
    params["spectra"]["q_all"] = res.q_all
    fig.savefig(FP / "basins_and_spectra.png", dpi=120)
    (FP / "basins_and_spectra.json").write_text(json.dumps(
        {"esd_version": esd.__version__, **params}, indent=1, sort_keys=True))


#: Networks (sigmoid, Cauchy s = 3, sigma_b = 0.5) whose fixed points the lifted paths find:
#: (generator seed, N, L, paths, steps). The first two come from the completeness benchmark,
#: where the finder in x reports no fixed point.
LIFTED_NETS = [([11, 3, 30, 16, 9], 30, 16, 1, 15000), ([11, 3, 30, 16, 1], 30, 16, 1, 30000),
               ([5, 20, 12, 1], 20, 12, 3, 15000)]


def lifted_precision():
    """rho(J) against |F(x) - x| of the fixed points that lifted gain paths find: beyond
    rho ~ 1e8 rounding x keeps the residual in x near eps rho, above any test in x."""
    from validation import lifted_fixed_points
    from validation.fpsearch import ROUNDING_FLOOR
    from validation.sampling import sample_network
    FP.mkdir(exist_ok=True)
    fig = Figure(figsize=(6.5, 4.6), layout="constrained")
    ax = fig.subplots()
    rows = []
    for (seed, width, depth, paths, steps), marker in zip(LIFTED_NETS, "osD"):
        net = sample_network("sigmoid", "cauchy", 3.0 * width, 0.5, depth, width,
                             rng=np.random.default_rng(seed))
        r = lifted_fixed_points(net, paths=paths, steps=steps, stop_on_index=False, rng=0)
        rows.append({"seed": seed, "width": width, "depth": depth, "paths": r.paths,
                     "path_steps": r.path_steps, "crossings": r.crossings, "q_all": r.q_all,
                     "index_sum": r.index_sum, "index": r.index.tolist(),
                     "spectral_radius": r.spectral_radius.tolist(),
                     "x_residual": r.x_residual.tolist(), "lifted_residual": r.lifted_residual.tolist()})
        ax.scatter(r.spectral_radius, np.maximum(r.x_residual, 1e-17), marker=marker, s=28,
                   label=f"N = {width}, L = {depth}: {r.q_all} points, index sum {r.index_sum}")
    rho = np.geomspace(1e2, 1e17, 50)
    eps = np.finfo(float).eps
    ax.plot(rho, eps * rho, "k--", lw=1, label="eps rho (rounding of x)")
    ax.axhline(ROUNDING_FLOOR, color="C3", lw=1, label="largest residual accepted in x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rho(J) at the fixed point")
    ax.set_ylabel("|F(x) - x| at x = x_L of the lifted solution")
    ax.set_title("sigmoid, cauchy s = 3: fixed points found in lifted coordinates\n"
                 "(lifted residual <= 1e-12 for all)", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(FP / "lifted_precision.png", dpi=120)
    (FP / "lifted_precision.json").write_text(json.dumps(
        {"esd_version": esd.__version__, "networks": rows}, indent=1, sort_keys=True))


def trained_networks():
    """Digits: layer exponents, fixed points and restoration over training, per initial law.

    Two regimes: memory (50 images, square 64-64-64, the ``esd train`` defaults) and
    generalisation (1000 images, 64-256-256-64, so the middle layer has 256 eigenvalues).
    """
    from training.data import load_dataset, split
    from training.engine import TrainConfig, train
    from training.experiment import analyze_run
    from training.plots import plot_training
    out_dir = HERE / "trained"
    out_dir.mkdir(exist_ok=True)
    data = load_dataset("digits")
    inits = (("gaussian", None), ("orthogonal", None), ("cauchy", 1.0), ("stable", 1.5))
    regimes = {"memory": dict(size=50, widths=(64, 64, 64), epochs=2000, batch=10, starts=200),
               "generalisation": dict(size=1000, widths=(64, 256, 256, 64), epochs=500, batch=50,
                                      starts=100)}
    summary = {}
    for regime, r in regimes.items():
        tr, te = split(data, test_fraction=1.0 - r["size"] / data.x.shape[0], rng=0)
        for law, alpha in inits:
            cfg = TrainConfig(widths=r["widths"], activation="sigmoid", init=law, alpha=alpha,
                              sigma_w=1.0, sigma_b=0.1, epochs=r["epochs"], batch_size=r["batch"],
                              learning_rate=3e-3, noise=0.2, seed=0)
            res = train(cfg, tr, test=te.x[:200],
                        data_params={**tr.params, "train_size": int(tr.x.shape[0])})
            keep = {}
            rep = analyze_run(res, tr.x[:200], test_x=te.x[:200], image_shape=(8, 8),
                              starts=r["starts"], seed=0, keep=keep)
            out = {**res.to_dict(), **rep}
            name = f"{regime}_{law}"
            plot_training(out, keep, (8, 8), out_dir / f"{name}.png")
            (out_dir / f"{name}.json").write_text(json.dumps(out, indent=1, sort_keys=True, default=float))
            summary[name] = out
            print(name, "done", flush=True)
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 2)
    for col, regime in enumerate(regimes):
        for law, _ in inits:
            rows = summary[f"{regime}_{law}"]["epochs"]
            ep = [max(row["epoch"], 0.5) for row in rows]
            alpha = [np.nanmean([np.nan if a["alpha"] is None else a["alpha"] for a in row["layers"]])
                     for row in rows]
            axes[0][col].plot(ep, alpha, "o-", label=law)
            axes[1][col].plot(ep, [row["fixed_points"]["q_all"] for row in rows], "s-", label=law)
        axes[0][col].axhspan(2, 6, color="0.9", zorder=0)
        axes[0][col].set(xscale="log", ylabel=r"mean layer $\alpha$", title=regime)
        axes[1][col].set(xscale="log", yscale="symlog", xlabel="epoch (0 = init)", ylabel="Q_all")
        axes[0][col].legend(fontsize=8)
    fig.savefig(out_dir / "summary.png", dpi=120)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="Regenerate the figures in figures/.")
    parser.add_argument("--only", choices=["theory", "fixed-points", "q-curves", "kac-rice", "audit", "q-prediction",
                                           "lifted", "heavy", "trained"],
                        default=None)
    parser.add_argument("--sweep", choices=[q_sweep_name(law) for law in Q_SWEEPS], default=None,
                        help="run (or resume) one Q(N, L) sweep and archive it; no figure is drawn")
    parser.add_argument("--audit", action="store_true",
                        help="with --sweep: run (or resume) that sweep's audit (AUDIT_NETS networks per "
                             "audited cell, lifted_exhaust) instead")
    parser.add_argument("--archived", action="store_true",
                        help="draw the Q figures from the committed sweep archives as they stand, computing "
                             "no sweep: unfinished cells are left out and listed as pending")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for --sweep (default: the CPUs available)")
    args = parser.parse_args()
    if args.audit and args.sweep is None:
        parser.error("--audit needs --sweep NAME")
    if args.archived and args.sweep is not None:
        parser.error("--archived draws figures; --sweep runs one: use one of them")
    FROM_ARCHIVE = args.archived
    if args.sweep is not None:
        if args.only is not None:
            parser.error("--sweep runs one sweep alone: drop --only")
        law = next(law for law in Q_SWEEPS if q_sweep_name(law) == args.sweep)
        res = q_sweep(law, workers=args.workers, audit=args.audit)
        name = q_sweep_name(law, args.audit)
        print(f"{name}: {len(res.cells)} cells done, {res.computed} networks computed now; archived in "
              f"{(ARCHIVE / name).relative_to(HERE)}")
        sys.exit(0)
    only = args.only
    if only in (None, "theory"):
        densities_by_depth()
        activations_panel()
        theory_over_simulation()
    if only in (None, "heavy"):
        heavy_radial()
    if only in (None, "fixed-points"):
        basin_map()
        q_curves()
        q_prediction_heavy()
        kac_rice_table()
        q_completeness()
    if only == "q-curves":
        q_curves()
    if only == "kac-rice":
        kac_rice_table()
        q_completeness()
    if only == "audit":
        q_audit()
    if only == "q-prediction":
        q_prediction_heavy()
    if only in (None, "fixed-points", "lifted"):
        lifted_precision()
    if only in (None, "trained"):
        trained_networks()
    print("wrote", sorted(str(p.relative_to(HERE)) for p in HERE.rglob("*.png")))
