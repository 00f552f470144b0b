"""``esd theory``, ``demo``, ``simulate`` and ``validate``: the spectrum of a network's
Jacobian from the theory (light-tailed free probability, or the heavy-tailed cavity solver),
from sampled networks, and the two compared."""

from __future__ import annotations

from esd.cli.options import (SIM_WEIGHT_CHOICES, add_cavity_options, add_network_options,
                             add_output_options, add_simulation_options, int_at_least, title)
from esd.cli.output import emit, key_table
from esd.exceptions import InvalidParameter

THEORY_KEYS = ("q_star", "chi", "moments", "support", "atom_at_zero", "spectral_radius",
               "inner_radius", "fraction_outside_unit_circle", "solve_seconds")
SIMULATE_KEYS = ("moments", "spectral_radius", "fraction_outside_unit_circle", "n_samples",
                 "log10_singular_value_quantiles", "simulate_seconds")
VALIDATE_KEYS = ("ks", "w1", "w1_log", "moment_rel_err", "radial_ks", "radial_ks_conditional",
                 "fraction_outside_unit_circle", "pass")


def _simulate(args):
    from validation import simulate
    if args.weights == "stable" and args.alpha is None:
        raise InvalidParameter("alpha", None, "--weights stable needs --alpha in (0, 2)")
    alpha = 1.0 if args.weights == "cauchy" else getattr(args, "alpha", None)
    sim = simulate(args.activation, args.weights, args.sigma_w, args.sigma_b, args.depth,
                   args.width, args.samples, seed=args.seed, backend=args.backend, alpha=alpha,
                   tied=args.tied, weights_file=args.weights_file, progress=not args.json)
    if args.save:
        sim.save(args.save)
    return sim


def cmd_simulate(args):
    import time
    start = time.perf_counter()
    sim = _simulate(args)
    out = {"params": sim.params, **sim.summary(), "simulate_seconds": time.perf_counter() - start}
    if args.plot:
        from esd.plots import plot_simulation
        plot_simulation(sim.sv2, sim.eigs, args.plot, title=title(args) + f", N={args.width}")
    return emit(out, args, key_table(SIMULATE_KEYS, 32))


def cmd_validate(args):
    from validation import compare

    from esd.light.jacobian import JacobianESD
    if args.weights in ("cauchy", "stable"):
        return _validate_heavy(args)
    sol = JacobianESD(_spec(args))
    sim = _simulate(args)
    m = compare(sol, sim.sv2, sim.eigs, args.width, slopes=sim.slopes)
    out = {"params": sim.params, **{key: m[key] for key in (
        "ks", "w1", "w1_log", "moment_rel_err", "radial_ks", "radial_ks_conditional",
        "fraction_outside_unit_circle", "spectral_radius", "checks", "tolerances", "pass")}}
    if args.plot:
        from esd.plots import plot_validation
        plot_validation(sol, sim.sv2, sim.eigs, args.plot,
                        title=title(args) + f", N={args.width}, {sim.n_samples} nets")
    return emit(out, args, key_table(VALIDATE_KEYS))


def _render_heavy_validation(out):
    tol = out["tolerances"]
    for key, q in out["log10_singular_value_quantiles"].items():
        print(f"{'log10 s quantile ' + key:>30}: theory {q['theory']:.3f}, simulation "
              f"{q['simulation']:.3f} (tolerance {tol[key]:.3f})")
    for r, c in out.get("radial_cdf", {}).items():
        print(f"{'P(|lambda| <= ' + r + ')':>30}: theory {c['theory']:.4f}, simulation "
              f"{c['simulation']:.4f} (tolerance {tol['radial_cdf_' + r]:.4f})")
    f = out["fraction_outside_unit_circle"]
    print(f"{'fraction_outside_unit_circle':>30}: theory {f['theory']:.5f}, simulation "
          f"{f['simulation']:.5f} (tolerance {tol['fraction_outside']:.5f})")
    print(f"{'pass':>30}: {out['pass']}")


def _validate_heavy(args):
    """Cavity theory against simulation for cauchy/stable weights (quantiles of log10 s)."""
    from validation import compare_heavy

    from esd.cli.heavy import heavy_theory
    theory = heavy_theory(args, eigenvalues=False)
    sim = _simulate(args)
    m = compare_heavy(theory["log10_singular_value_quantiles"],
                      theory["log10_singular_value_quantiles_stderr"],
                      theory["fraction_outside_unit_circle"], sim.sv2, sim.eigs,
                      radial=theory["radial_cdf"],
                      fraction_outside_stderr=theory["fraction_outside_unit_circle_stderr"])
    out = {"params": sim.params, "theory": theory, **m}
    if args.plot:
        from esd.plots import plot_simulation
        plot_simulation(sim.sv2, sim.eigs, args.plot,
                        title=title(args) + f", N={args.width}, {sim.n_samples} nets")
    return emit(out, args, _render_heavy_validation)


def _spec(args):
    from esd.spec import NetworkSpec
    return NetworkSpec(activation=args.activation, weights=args.weights, sigma_w=args.sigma_w,
                       sigma_b=args.sigma_b, depth=args.depth)


def _theory(args):
    from esd.light.solve import solve
    spec = _spec(args)
    out, sol = solve(spec, grid=args.grid)
    return {"spec": spec.to_dict(), **out}, sol


def _render_theory(out):
    key_table(THEORY_KEYS)(out)
    if "density" in out:
        print(f"{'density':>30}: {len(out['density']['x'])} grid points")


def _plot_theory(out, sol, args):
    import numpy as np

    from esd.plots import plot_theory
    if "density" not in out:
        x = sol.default_grid(400)
        out = dict(out, density={"x": x.tolist(), "rho": sol.density(x).tolist()})
    r = np.linspace(0.0, 1.05 * sol.spectral_radius, 200)
    plot_theory(out, (r, sol.radial_cdf(r)), args.plot, title=title(args))


def cmd_theory(args):
    if args.weights in ("cauchy", "stable"):
        from esd.cli.heavy import heavy_theory, render_heavy
        out = heavy_theory(args)
        if args.plot:
            from esd.plots import plot_heavy_quantiles
            plot_heavy_quantiles(out, args.plot, title=title(args))
        return emit(out, args, render_heavy)
    out, sol = _theory(args)
    if args.plot:
        _plot_theory(out, sol, args)
    return emit(out, args, _render_theory)


def cmd_demo(args):
    args.plot = args.plot or "esd_demo.png"
    if args.grid is None:
        args.grid = 400
    out, sol = _theory(args)
    _plot_theory(out, sol, args)
    return emit(out, args, _render_theory)


def add_parsers(sub) -> None:
    p = sub.add_parser("theory", help="solve the Jacobian spectrum of a network",
                       description="Gaussian/orthogonal weights: free-probability theory of the "
                                   "input-output Jacobian J: moments, support, atom and density "
                                   "of J J^T; radial law, spectral radius and fraction outside "
                                   "the unit circle of J. Cauchy/stable weights: the cavity "
                                   "method solved by population dynamics (quantiles of log10 "
                                   "singular values, fraction outside the unit circle, 0.999 "
                                   "quantile of |lambda|), each with its statistical error.")
    add_network_options(p, weights=SIM_WEIGHT_CHOICES)
    p.add_argument("--grid", type=int_at_least("grid", 2), default=None, metavar="K",
                   help="also report the density on K points spanning the support (K >= 2)")
    add_cavity_options(p)
    add_output_options(p)
    p.set_defaults(func=cmd_theory)
    d = sub.add_parser("demo", help="solve an example spectrum and write a plot",
                       description="Solve a deep tanh network's Jacobian spectrum and plot it "
                                   "(default esd_demo.png).")
    add_network_options(d)
    d.set_defaults(activation="tanh", sigma_w=1.5, sigma_b=0.1, depth=10)
    d.add_argument("--grid", type=int_at_least("grid", 2), default=None, metavar="K",
                   help="density grid points (default 400)")
    add_output_options(d)
    d.set_defaults(func=cmd_demo)
    sim = sub.add_parser("simulate", help="sample networks and compute their Jacobian spectra",
                         description="Monte Carlo: eigenvalues of J J^T and of J for random "
                                     "networks of width N at stationary inputs.")
    add_network_options(sim, weights=SIM_WEIGHT_CHOICES)
    add_simulation_options(sim)
    add_output_options(sim)
    sim.set_defaults(func=cmd_simulate)
    val = sub.add_parser("validate", help="compare theory and simulation",
                         description="Solve the theory, simulate, and report KS / W1 distances, "
                                     "moment errors, the radial-law distance and a verdict "
                                     "(tolerances c/N calibrated over widths).")
    add_network_options(val, weights=SIM_WEIGHT_CHOICES)
    add_simulation_options(val)
    add_cavity_options(val, seed=False)
    add_output_options(val)
    val.set_defaults(func=cmd_validate)
