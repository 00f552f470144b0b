"""The text tables of ``esd fixed-points`` and ``esd predict-q`` (without ``--json``).

Each renderer prints the JSON object its command emits (:func:`esd.cli.output.emit`), so the
text and the JSON never disagree.
"""

from __future__ import annotations


def render_fixed_points(out):
    print(f"{'N':>5} {'L':>4} {'Q_stable mean':>14} {'median':>7} {'Q_all mean':>11} "
          f"{'P(Q>1)':>7} {'periodic':>9} {'unresolved':>10} {'index ok':>9}")
    for r in out["results"]:
        print(f"{r['width']:>5} {r['depth']:>4} {r['q_stable']['mean']:>14.3f} "
              f"{r['q_stable']['median']:>7.1f} {r['q_all']['mean']:>11.3f} {r['p_multi']:>7.3f} "
              f"{r['periodic_fraction']:>9.4f} {r['unresolved_fraction']:>10.4f} "
              f"{r['index_sum_ok']:>9.3f}")
    for c in out.get("pending", []):
        print(f"{c['width']:>5} {c['depth']:>4}  running: {c['networks_finished']} of "
              f"{out['params']['nets']} networks")
    print(f"{len(out['results'])} cells in {out['seconds']:.1f} s")


def render_kac_rice(out):
    print(f"{'N':>5} {'L':>4} {'E[Q_all]':>16} {'E[Q_stable]':>16} {'mean index':>16} {'ESS':>8} "
          f"{'Pareto k':>9} {'k stable':>9}")
    for r in out["predictions"]:
        cell = [f"{r[k]['value']:.3f} +- {r[k]['stderr']:.3f}"
                for k in ("expected_q_all", "expected_q_stable", "index_mean")]
        flags = [name for name, ok in (("E[Q_all]", r["reliable"]), ("E[Q_stable]", r["reliable_stable"]))
                 if not ok]
        flag = f"  (unreliable, heavy-tailed weights: {', '.join(flags)})" if flags else ""
        print(f"{r['width']:>5} {r['depth']:>4} {cell[0]:>16} {cell[1]:>16} {cell[2]:>16} "
              f"{r['ess']:>8.0f} {r['pareto_k']:>9.2f} {r['pareto_k_stable']:>9.2f}{flag}")
    for c in out.get("comparison", []):
        print(f"N={c['width']} L={c['depth']}: measured Q_all {c['measured_q_all']:.3f} "
              f"{c['measured_ci']}; Kac-Rice {c['expected_q_all']:.3f} +- {c['stderr']:.3f}: "
              f"{'within' if c['within_error_bars'] else 'outside'} the error bars; Q_stable "
              f"{c['measured_q_stable']:.3f} {c['measured_q_stable_ci']} against "
              f"{c['expected_q_stable']:.3f} +- {c['stderr_stable']:.3f}: "
              f"{'within' if c['q_stable_within_error_bars'] else 'outside'}")


def render_predictions(out):
    print(f"{'N':>5} {'L':>4} {'Kac-Rice rate':>14} {'Q_all (KR)':>11} {'1 + N f_out':>12} "
          f"{'Lip bound':>10} {'Q = 1 certain':>14}")
    for r in out["predictions"]:
        print(f"{r['width']:>5} {r['depth']:>4} {r['kac_rice']['rate']:>14.5f} "
              f"{r['kac_rice']['q_all']:>11.3g} {r['unstable_count']['q_all']:>12.3g} "
              f"{_fmt(r['contraction']['lipschitz_bound']):>10} "
              f"{str(r['contraction']['q_is_one']):>14}")
        if "kac_rice_mc" in r:
            e = r["kac_rice_mc"]
            print(f"{'':>11}finite-N Kac-Rice: E[Q_all] {e['expected_q_all']['value']:.3f} +- "
                  f"{e['expected_q_all']['stderr']:.3f}, E[Q_stable] "
                  f"{e['expected_q_stable']['value']:.3f} +- {e['expected_q_stable']['stderr']:.3f}, "
                  f"ESS {e['ess']:.0f}, Pareto k {e['pareto_k']:.2f}"
                  f"{'' if e['reliable'] else ' (unreliable)'}, k of E[Q_stable] "
                  f"{e['pareto_k_stable']:.2f}{'' if e['reliable_stable'] else ' (unreliable)'}")
        if "kac_rice_fixed_point" in r:
            print(f"{'':>11}J at a fixed point: Kac-Rice rate "
                  f"{r['kac_rice_fixed_point']['rate']:.5f}, Q_all (KR) "
                  f"{r['kac_rice_fixed_point']['q_all']:.3g}, 1 + N f_out "
                  f"{r['unstable_count_fixed_point']['q_all']:.3g}")
    for c in out.get("comparison", []):
        print(f"N={c['width']} L={c['depth']}: measured Q_all {c['measured_q_all']:.3f} "
              f"{c['measured_ci']}; within error bars: "
              + (", ".join(k for k, v in c["within_error_bars"].items() if v) or "none"))


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"
