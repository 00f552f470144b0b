"""``esd train`` and ``esd analyze``: train real networks; diagnose trained ones.

``train`` fits a network to reconstruct images (:mod:`training.engine`, JAX + optax, the
``train`` extra) and then reads its layers' tails, fixed points over the saved epochs and
restoration of damaged images (:func:`training.experiment.analyze_run`). ``analyze``
reads a user's model (``.npz`` or ``.safetensors``, :mod:`training.modelio`) and reports
the layers' power-law exponents, the Jacobian spectrum at given inputs and the fixed
points. Both print one JSON object with ``--json`` and draw a figure with ``--plot``.
"""

from __future__ import annotations

import time

from esd.cli.options import add_network_options, add_output_options, finite_float, int_at_least
from esd.cli.output import emit
from esd.exceptions import BackendUnavailable, InvalidParameter

TRAIN_WEIGHTS = ["gaussian", "orthogonal", "cauchy", "stable"]
HOMOTOPY_HELP = ("homotopy paths of the fixed-point search while the index sum differs from 1 "
                 "(default 0: Newton only; a trained map with dozens of fixed points can spend "
                 "minutes on 64)")


def _require_jax():
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable("esd train needs JAX and optax: pip install 'esd[train]'") from exc


def _int_list(name):
    def parse(text):
        try:
            return [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            import argparse
            raise argparse.ArgumentTypeError(f"--{name} must be integers separated by commas, got {text!r}")
    return parse


def _name_list(text):
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        import argparse
        raise argparse.ArgumentTypeError(f"--layer-order must be prefixes separated by commas, got {text!r}")
    return names


def _data(args):
    from training.data import load_dataset, split
    data = load_dataset(args.data)
    if args.train_size > data.x.shape[0] - 1:
        raise InvalidParameter("train-size", args.train_size,
                               f"must be below the number of images ({data.x.shape[0]})")
    train, test = split(data, test_fraction=1.0 - args.train_size / data.x.shape[0], rng=args.seed)
    return data, train, test


def _widths(args, n):
    if args.widths:
        widths = list(args.widths)
        if widths[0] != n or widths[-1] != n:
            raise InvalidParameter("widths", widths, f"must start and end with the image size N = {n}")
        return widths
    return [n] * (args.depth + 1)


def cmd_train(args):
    _require_jax()
    from training.engine import TrainConfig, train
    from training.experiment import analyze_run, parse_damages
    start = time.perf_counter()
    data, tr, te = _data(args)
    n = data.x.shape[1]
    cfg = TrainConfig(widths=tuple(_widths(args, n)), activation=args.activation, init=args.weights,
                      sigma_w=args.sigma_w, sigma_b=args.sigma_b,
                      alpha=1.0 if args.weights == "cauchy" else args.alpha, epochs=args.epochs,
                      batch_size=min(args.batch_size, tr.x.shape[0]), learning_rate=args.lr,
                      noise=args.noise, seed=args.seed, save_epochs=args.save_epochs)
    test_x = te.x[: args.test_size]
    result = train(cfg, tr, test=test_x, checkpoint=args.checkpoint, progress=not args.json,
                   data_params={**data.params, "train_size": int(tr.x.shape[0])})
    if args.save_model:
        from training.modelio import save_layers
        save_layers(args.save_model, list(result.network.W), list(result.network.b),
                    activation=cfg.activation)
    keep = {}
    report = analyze_run(result, tr.x, test_x=test_x, image_shape=data.image_shape,
                         starts=args.starts, damages=parse_damages(args.damage) if args.damage else (),
                         radius=args.radius, seed=args.seed, progress=not args.json, keep=keep,
                         homotopy_paths=args.homotopy_paths)
    out = {**result.to_dict(), **report, "seconds": time.perf_counter() - start}
    if args.plot:
        from training.plots import plot_training
        plot_training(out, keep, data.image_shape, args.plot)
    return emit(out, args, _render_train)


def _alpha_text(layer):
    return "  -  " if layer["alpha"] is None else f"{layer['alpha']:5.2f}"


def _render_train(out):
    print(f"trained {out['config']['widths']} {out['config']['activation']}, init "
          f"{out['config']['init']}: train loss {out['train_loss']:.5f}, test loss "
          f"{out['test_loss']:.5f}, {out['timings']['samples_per_second']:.0f} samples/s")
    print(f"{'epoch':>6}  {'alpha per layer':<24} {'Q_stable':>8} {'Q_all':>6} {'attractors':>10}")
    for row in out["epochs"]:
        fp = row.get("fixed_points", {})
        alphas = " ".join(_alpha_text(layer) for layer in row["layers"])
        print(f"{row['epoch']:>6}  {alphas:<24} {fp.get('q_stable', '-'):>8} {fp.get('q_all', '-'):>6} "
              f"{row['attractors']['attractor_fraction']:>10.3f}")
    for split_name, rows in out.get("restoration", {}).items():
        for key, r in rows.items():
            b = r["recovery_rate_baselines"]
            print(f"restore {split_name:<5} {key:<11} recovery {r['recovery_rate']:.3f} (one pass "
                  f"{b['one_pass']:.3f}, nearest {b['nearest_training']:.3f}); PSNR "
                  f"{r['psnr']['before']:.1f} -> {r['psnr']['after']:.1f} dB (one pass "
                  f"{r['psnr']['baselines']['one_pass']:.1f})")
    print(f"{out['seconds']:.1f} s")


def _inputs(args, network, rng):
    import numpy as np
    if args.inputs == "uniform":
        lo, hi = network.activation.box or (-1.0, 1.0)
        return lo + (hi - lo) * rng.random((args.n_inputs, network.width)), None
    from training.data import load_dataset
    data = load_dataset(args.inputs)
    if data.x.shape[1] != network.width:
        raise InvalidParameter("inputs", args.inputs, f"holds images of {data.x.shape[1]} pixels; "
                               f"the network maps R^{network.width}")
    return np.asarray(data.x[: args.n_inputs]), data


def cmd_analyze(args):
    import numpy as np

    from training import analyze
    from training.modelio import load_layers
    from validation import LayeredNetwork

    from esd.activations import get_activation
    start = time.perf_counter()
    weights, biases, meta = load_layers(args.weights_file, layer_order=args.layer_order)
    activation = args.activation or meta.get("activation") or "sigmoid"
    net = LayeredNetwork(W=tuple(weights), b=tuple(biases), activation=get_activation(activation),
                         params={"law": "file", "path": args.weights_file})
    rng = np.random.default_rng(args.seed)
    x, data = _inputs(args, net, rng)
    out = {"params": {"weights_file": args.weights_file, "activation": activation,
                      "inputs": args.inputs, "n_inputs": int(x.shape[0]), "seed": args.seed,
                      "starts": args.starts, "widths": net.widths,
                      **{k: meta[k] for k in ("format", "layer_order") if k in meta}},
           "layers": analyze.weight_report(net), "jacobian": analyze.jacobian_report(net, x)}
    if args.starts:
        fp = analyze.fixed_point_report(net, starts=args.starts, rng=rng,
                                        homotopy_paths=args.homotopy_paths)
        out.update(fixed_points=fp, q_stable=fp["q_stable"], q_all=fp["q_all"])
    if data is not None:
        out["attractors"] = analyze.attractor_report(net, x, radius=args.radius)
    out["seconds"] = time.perf_counter() - start
    if args.plot:
        from training.plots import plot_analysis
        plot_analysis(net, x, out, args.plot)
    return emit(out, args, _render_analysis)


def _render_analysis(out):
    p = out["params"]
    print(f"{p['weights_file']}: widths {p['widths']}, activation {p['activation']}")
    for layer in out["layers"]:
        print(f"  layer {layer['layer']}: shape {layer['shape']}, alpha {_alpha_text(layer)}, "
              f"ks {layer.get('ks')}, {layer['regime']}")
    j = out["jacobian"]
    print(f"  J at {j['n_inputs']} inputs: log10 s quantiles {j['log10_singular_value_quantiles']}, "
          f"median spectral radius {j['spectral_radius']['median']:.3f}")
    if "fixed_points" in out:
        print(f"  fixed points: Q_stable {out['q_stable']}, Q_all {out['q_all']}, periodic "
              f"{out['fixed_points']['periodic_fraction']:.3f}, unresolved "
              f"{out['fixed_points']['unresolved_fraction']:.3f}")


def add_parsers(sub) -> None:
    """Register ``train`` and ``analyze`` on the ``esd`` parser's subparsers."""
    tr = sub.add_parser(
        "train", help="train a network to reconstruct images, then analyse it",
        description="Train F: R^N -> R^N (square layers of --depth, or --widths with a bottleneck) "
                    "on images (default: scikit-learn's 8x8 digits) with Adam; report per saved "
                    "epoch the layers' power-law exponents and the fixed points (Q_stable, Q_all, "
                    "whether training images are attractors), the Jacobian spectrum against esd's "
                    "theory for the initial law, and restoration of damaged images. Needs the "
                    "'train' extra (JAX + optax).")
    add_network_options(tr, weights=TRAIN_WEIGHTS)
    tr.set_defaults(activation="sigmoid", sigma_w=1.0, sigma_b=0.1, depth=2)
    g = tr.add_argument_group("data and training")
    g.add_argument("--data", default="digits", metavar="digits|PATH",
                   help="'digits' (scikit-learn's bundled 8x8 digits) or a .npy/.npz array of images")
    g.add_argument("--train-size", type=int_at_least("train-size", 1), default=50,
                   help="training images (default 50: the memory regime where images become "
                        "attractors); the rest are held out")
    g.add_argument("--test-size", type=int_at_least("test-size", 1), default=200,
                   help="held-out images for the test loss and restoration (default 200)")
    g.add_argument("--widths", type=_int_list("widths"), default=None, metavar="N,n1,...,N",
                   help="layer widths, e.g. 64,16,64 for an autoencoder (default: --depth square layers)")
    g.add_argument("--epochs", type=int_at_least("epochs", 1), default=2000)
    g.add_argument("--batch-size", type=int_at_least("batch-size", 1), default=10)
    g.add_argument("--lr", type=finite_float("lr", 0.0, True), default=3e-3, help="Adam step (default 3e-3)")
    g.add_argument("--noise", type=finite_float("noise", 0.0), default=0.2,
                   help="denoising: train on x + noise * Z towards x (default 0.2; 0: plain)")
    g.add_argument("--seed", type=int_at_least("seed", 0), default=0)
    g.add_argument("--save-epochs", type=_int_list("save-epochs"), default=None, metavar="E1,E2,...",
                   help="epochs whose weights are saved and analysed (default 0,1,2,5,10,...,epochs)")
    g.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="write snapshots and the latest state to DIR; a rerun resumes from it")
    g.add_argument("--save-model", metavar="PATH", default=None,
                   help="write the trained weights to PATH (.npz or .safetensors)")
    a = tr.add_argument_group("analysis")
    a.add_argument("--starts", type=int_at_least("starts", 0), default=300,
                   help="fixed-point starts per analysed epoch (default 300; 0 skips)")
    a.add_argument("--homotopy-paths", type=int_at_least("homotopy-paths", 0), default=0,
                   help=HOMOTOPY_HELP)
    a.add_argument("--damage", default="noise:0.2,pixels:0.3,block:3", metavar="KIND:LEVEL,...",
                   help="restoration tests: noise:SIGMA, pixels:FRACTION, block:SIDE ('' skips)")
    a.add_argument("--radius", type=finite_float("radius", 0.0, True), default=0.1,
                   help="recovered when rms(restored - clean) <= radius (default 0.1)")
    add_output_options(tr)
    tr.set_defaults(func=cmd_train)

    an = sub.add_parser(
        "analyze", help="diagnose a trained model: layer tails, Jacobian spectrum, fixed points",
        description="Read a model from .npz (W (L,N,N) + b (L,N), or W0, b0, ...) or .safetensors "
                    "(PyTorch-style *.weight/*.bias keys of fully connected layers, F: R^N -> R^N) "
                    "and report each layer's power-law exponent of the ESD of W^T W, the Jacobian "
                    "spectrum at the inputs, and the fixed points.")
    an.add_argument("--weights-file", required=True, metavar="PATH", help="the model (.npz or .safetensors)")
    an.add_argument("--layer-order", type=_name_list, default=None, metavar="P1,P2,...",
                    help="the PyTorch-style layer prefixes in forward order (e.g. encoder.0,decoder.0); "
                         "needed only when their names do not tell it")
    an.add_argument("--activation", choices=["linear", "relu", "hard-tanh", "tanh", "erf", "sigmoid"],
                    default=None, help="activation (default: the one stored in the file, else sigmoid)")
    an.add_argument("--inputs", default="uniform", metavar="uniform|digits|PATH",
                    help="where J is evaluated: uniform in the activation's box (default), "
                         "'digits', or a .npy/.npz array of inputs")
    an.add_argument("--n-inputs", type=int_at_least("n-inputs", 1), default=100)
    an.add_argument("--starts", type=int_at_least("starts", 0), default=500,
                    help="fixed-point starts (default 500; 0 skips)")
    an.add_argument("--homotopy-paths", type=int_at_least("homotopy-paths", 0), default=0,
                    help=HOMOTOPY_HELP)
    an.add_argument("--radius", type=finite_float("radius", 0.0, True), default=0.1)
    an.add_argument("--seed", type=int_at_least("seed", 0), default=0)
    add_output_options(an)
    an.set_defaults(func=cmd_analyze)
