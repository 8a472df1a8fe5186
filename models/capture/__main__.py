"""`python -m models.capture train | export | eval | compare | bench | adapt | sheet | measure-jitter | probe`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from models.capture.runtime import DEFAULT_NAME, WEIGHTS_DIR

from models.model_files import ModelFileError
from models.paths import capture_cache_dir as cache_dir
from models.paths import project_root, shared_dir

ROOT = project_root()
DEFAULT_REAL = shared_dir() / "media" / "real"


def _real(paths, none: bool):
    if none:
        return []
    if paths:
        return paths
    return [DEFAULT_REAL] if DEFAULT_REAL.is_dir() else []


def _train(a) -> None:
    import dataclasses

    from models import distributed
    from models.capture.mirror import CodeMirror
    from models.capture.train import data as D
    from models.capture.train import real as R
    from models.capture.train.export import export
    from models.capture.train.losses import loss_weights
    from models.capture.train.mesh_loss import face_metric
    from models.capture.train.targets import datasets_key
    from models.capture.train.train import PRESETS, load_init, run_dir_for, split, train
    from models.semantic.runtime import semantic_digests

    config = PRESETS[a.preset]
    init = load_init(a.init) if a.init else None
    network = _network_settings(a, init)
    weights = loss_weights(a.loss_weight or [])
    _render_data(a)  # after the checks that need no data: a bad argument never waits for a render
    overrides = {k: v for k, v in {"minutes": a.minutes, "steps": a.steps, "threads": a.threads, "batch": a.batch,
                                   "lr": a.lr, "mirror": a.mirror, "augment": a.augment, **network}.items()
                 if v is not None}
    config = dataclasses.replace(config, **overrides)
    cache = cache_dir()
    data = D.load_synthetic_sets(a.data, cache, a.semantic_dir)
    real = R.load_real(_real(a.real, a.no_real), cache, config.real_max_frames) if _real(a.real, a.no_real) else None
    run_dir = Path(a.run_dir) if a.run_dir else run_dir_for(
        config, datasets_key(a.data), semantic_digests(a.semantic_dir)["expression"],
        [] if real is None else real.files, cache, weights=weights, init_digest=init.sha256 if init else None)
    print(f"training on {len(data)} synthetic samples and {0 if real is None else len(real)} real frames; "
          f"run {run_dir}")
    train_rows = split(len(data), config.val_fraction)[0]
    face = face_metric(a.semantic_dir, data.z_exp[train_rows])
    code_mirror, residual = CodeMirror.fit(data.z_exp[train_rows], data.z_exp_mirror[train_rows])
    run_dir = train(data, real, config, run_dir, cache, fresh=a.fresh, face=face, weights=weights,
                    init_state=init.state if init else None,
                    extra={"code_mirror": code_mirror.matrix, "code_mirror_residual": residual})
    if distributed.launch_rank() != 0:  # under torchrun only rank 0 exports
        return
    export(run_dir / "best.pt", a.out, a.name, a.semantic_dir,
           info={"data": [str(d) for d in a.data], "samples": len(data),
                 "data_samples": [sum(Path(p).is_relative_to(d) for p in data.image_paths) for d in a.data],
                 "real_frames": 0 if real is None else len(real),
                 "losses": {**dataclasses.asdict(weights), "face_loss": True},
                 **({"init": str(a.init), "init_sha256": init.sha256} if init else {})})


def _network_settings(a, init) -> dict:
    """The network's shape from the flags, or from the --init model (whose shape a flag may not contradict)."""
    given = {"backbone": a.backbone, "resolution": a.resolution, "pooling": a.pooling,
             "dense_landmarks": a.dense_landmarks, "heatmaps": a.heatmaps}
    if a.heatmaps and a.dense_landmarks is False:
        raise ValueError("--heatmaps predicts the dense 478 points, so it needs them: drop --no-dense-landmarks")
    if init is None:
        return given
    from models.capture.train.networks import EARLIER_SHAPE

    started = {k: {**EARLIER_SHAPE, **init.config}[k] for k in given}
    fixed = [k for k in given if k != "resolution" or started["pooling"] == "spatial"]  # mean pooling: any size
    for key in fixed:
        if given[key] is not None and given[key] != started[key]:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"--init {a.init} is a {key} {started[key]!r} model, not {flag} {given[key]!r}; drop "
                             f"{flag} or start from a model that has it")
    return {**started, "resolution": given["resolution"] or started["resolution"]}


def _render_data(a) -> None:
    """`--render N`: the preset renders its training set into the one --data folder first (resumable)."""
    if a.render is None:
        missing = [str(d) for d in a.data if not d.is_dir()]
        if missing:
            raise ValueError(f"{missing[0]} is not a folder: render a dataset with `python -m synthetic render`, or "
                             f"pass --render N to render N samples there first")
        return
    from models.capture.train.render_data import RENDER_PRESETS, render_training_set

    if len(a.data) != 1:
        raise ValueError(f"--render renders into one folder, not {len(a.data)}: give one --data folder (render "
                         f"others with `python -m synthetic render`)")
    render_training_set(a.data[0], a.render, a.render_seed, RENDER_PRESETS[a.preset])


def _export(a) -> None:
    from models.capture.train.export import export

    code_mirror = None
    if a.data:  # a checkpoint from before the mirror map: fit it on its training data's codes
        from models.capture.mirror import CodeMirror
        from models.capture.train.targets import load_targets

        targets = [load_targets(d, cache_dir(), a.semantic_dir) for d in a.data]
        fitted, residual = CodeMirror.fit(np.concatenate([t["z_exp"] for t in targets]),
                                          np.concatenate([t["z_exp_mirror"] for t in targets]))
        code_mirror = (fitted.matrix, residual)
    export(a.checkpoint, a.out, a.name, a.semantic_dir, code_mirror=code_mirror)


def _runtime(a):
    from models.capture.runtime import CaptureOptions, CaptureRuntime

    return CaptureRuntime(CaptureOptions(weights_dir=a.weights_dir, name=a.name, semantic_dir=a.semantic_dir,
                                         precision=getattr(a, "precision", "auto"),
                                         mirror_average=not getattr(a, "no_mirror_average", False)))


def _stderr(*message) -> None:
    print(*message, file=sys.stderr)


def _compare(a) -> None:
    from models.capture.compare import compare, format_table, read_per_frame

    rows = compare(read_per_frame(a.a), read_per_frame(a.b), resamples=a.resamples)
    if a.json:
        import dataclasses

        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    else:
        print(format_table(rows))


def _eval(a) -> None:
    from models.capture.evaluate import evaluate_synthetic, real_agreement
    from models.capture.train import real as R
    from models.semantic.runtime import SemanticRuntime

    runtime = _runtime(a)
    semantic = SemanticRuntime(a.semantic_dir)
    report = {"model": a.name, "data": str(a.data), "mirror_average": runtime.mirror_average,
              "synthetic": evaluate_synthetic(runtime, semantic, a.semantic_dir, a.data, cache_dir(), log=_stderr,
                                                  frames=a.frames)}
    real_paths = _real(a.real, a.no_real)
    if real_paths:
        report["real"] = real_agreement(runtime, R.load_real(real_paths, cache_dir(), log=_stderr))
    print(json.dumps(report, indent=1) if a.json else _table(report))


def _probe(a) -> None:
    from models.capture.train import data as D
    from models.capture.train.mesh_loss import face_metric
    from models.capture.train.probe import run_probe

    train_set = D.load_synthetic_sets(a.data, cache_dir(), a.semantic_dir, log=_stderr)
    heldout = D.load_synthetic_sets([a.heldout], cache_dir(), a.semantic_dir, log=_stderr)
    metric = face_metric(a.semantic_dir, train_set.z_exp, log=_stderr)
    print(json.dumps(run_probe(train_set, heldout, metric, a.resolution, a.noise, a.model, a.mediapipe,
                               log=_stderr), indent=1))


def _table(report: dict) -> str:
    lines = [f"{'split':28s} {'frames':>6s} {'capture':>9s} {'neutral':>9s} {'floor':>9s}  (MultiREX mean, mm)"]
    for name, row in report["synthetic"]["multirex_mm"].items():
        if row["frames"]:
            lines.append(f"{name:28s} {row['frames']:6d} {row['capture']['mean']:9.3f} "
                         f"{row['neutral_face']['mean']:9.3f} {row['decoder_given_true_code']['mean']:9.3f}")
    s = report["synthetic"]
    lines.append(f"code L1 {s['code_l1']:.4f}, landmark NME {s['landmark_nme']:.4f}, pose {s['pose_error_deg']:.2f} deg, "
                 f"gaze {s['gaze_error_deg']:.2f} deg")
    for k, v in s["confusion"].items():
        lines.append(f"{k}: capture {v['capture']}, floor {v['decoder_given_true_code']}")
    if "real" in report:
        lines.append(f"real: {json.dumps(report['real'])}")
    return "\n".join(lines)


def _card(a) -> None:
    from models.capture.card import write_card

    print(f"wrote {write_card(a.weights_dir, a.name, a.eval, a.note)}")


def _bench(a) -> None:
    from models.capture.bench import bench

    if a.random:
        a.weights_dir, a.name, a.semantic_dir = _random_model(a.resolution), "capture_random", None
    print(json.dumps(bench(_runtime(a), tuple(a.batches), a.seconds), indent=1))


def _random_model(resolution: int) -> Path:
    """A random-init light model for speed figures only (speed does not depend on the weights)."""
    import dataclasses

    import torch

    from models.capture.train.export import export
    from models.capture.train.networks import CaptureNet
    from models.capture.train.train import TrainConfig

    out = cache_dir() / "bench-random"
    if not (out / "capture_random.json").is_file():
        ck = out / "random.pt"
        out.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(TrainConfig(resolution=resolution))
        torch.save({"model": CaptureNet.from_config(config).state_dict(), "step": 0, "elapsed": 0.0, "history": [],
                    "config": config}, ck)
        export(ck, out, "capture_random", WEIGHTS_DIR)
    return out


def _adapt(a) -> None:
    from models.capture.train import data as D
    from models.capture.train.adapt import adapt
    from models.capture.train.mesh_loss import face_metric
    from models.capture.train.targets import load_targets

    data = D.load_synthetic(a.data, load_targets(a.data, cache_dir(), a.semantic_dir))
    print(json.dumps(adapt(a.video, data, a.weights_dir, a.name, a.semantic_dir, cache_dir(), a.minutes,
                           a.steps if a.steps else 100_000, threads=a.threads or 2,
                           face=face_metric(a.semantic_dir, data.z_exp)), indent=1))


def _sheet(a) -> None:
    from models.capture.sheet import write_sheet
    from models.capture.train import real as R
    from models.semantic.runtime import SemanticRuntime

    real_paths = _real(a.real, a.no_real)
    real = R.load_real(real_paths, cache_dir(), log=_stderr) if real_paths else None
    write_sheet(_runtime(a), SemanticRuntime(a.semantic_dir), a.data, real, a.out, a.count)


def _measure(a) -> None:
    from models.capture.train.jitter import main

    main(a.data, a.limit)


def _existing_dir(text: str) -> Path:
    p = Path(text)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{p} is not a folder")
    return p


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def _existing_file(text: str) -> Path:
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{p} does not exist")
    return p


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m models.capture", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    def model_args(p, semantic=True, averaging=True):
        p.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="folder of the capture model")
        p.add_argument("--name", default=DEFAULT_NAME, help="model name (NAME.json, NAME.onnx, ...)")
        if semantic:
            p.add_argument("--semantic-dir", type=_existing_dir, default=WEIGHTS_DIR,
                           help="folder of the semantic autoencoder whose codes the model learns")
        if averaging:
            p.add_argument("--no-mirror-average", action="store_true",
                           help="one network evaluation per crop (default: averaged with the crop's mirror image)")

    t = sub.add_parser("train", help="train on a synthetic dataset (+ real media), then export")
    t.add_argument("--data", type=Path, nargs="+", required=True,
                   help="one or more `python -m synthetic render` folders, trained on as one set")
    t.add_argument("--render", type=int, metavar="N",
                   help="first render N samples into the --data folder with the preset's render settings "
                        "(resumable; cpu: 256², 8 spp on the CPU; gpu: 256², 16 spp on CUDA/OptiX when present)")
    t.add_argument("--render-seed", type=int, default=0, help="the rendered set's seed (default 0)")
    t.add_argument("--real", type=Path, nargs="*", help=f"videos/images or folders of them (default {DEFAULT_REAL})")
    t.add_argument("--no-real", action="store_true", help="no real domain (no domain loss)")
    t.add_argument("--preset", choices=("cpu", "gpu"), default="cpu")
    for k, ty in (("minutes", float), ("steps", int), ("threads", int), ("batch", int), ("resolution", int),
                  ("lr", float)):
        t.add_argument(f"--{k}", type=ty)
    t.add_argument("--loss-weight", nargs="+", metavar="TERM=W",
                   help="override a loss weight, e.g. code=2.5 mesh=10 (terms: code, lmks, domain, pose, gaze, mesh, "
                        "dense; part of the run key)")
    t.add_argument("--mirror", type=float, help="fraction of training crops flipped left to right (default 0.5)")
    t.add_argument("--augment", choices=("full", "light", "none"),
                   help="image augmentation: full (default), light (few blurred, noisy or occluded crops) or none")
    t.add_argument("--init", type=_existing_file,
                   help="start from this model's weights (NAME.pt or a run's checkpoint) instead of ImageNet")
    t.add_argument("--backbone", choices=("mobilenet_v2", "convnext_t", "convnext_b"))
    t.add_argument("--pooling", choices=("mean", "spatial"),
                   help="features for the heads: a spatial neck (default) or the backbone's mean (SEREP)")
    t.add_argument("--dense-landmarks", action=argparse.BooleanOptionalAction, default=None,
                   help="a training-only head on all 478 MediaPipe points (default on; never exported)")
    t.add_argument("--heatmaps", action=argparse.BooleanOptionalAction, default=None,
                   help="the 478 points from heatmaps on the stride-8 map and a code read off their shape "
                        "(default off; needs the dense landmarks)")
    t.add_argument("--run-dir", type=Path)
    t.add_argument("--fresh", action="store_true", help="start again instead of resuming")
    t.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where the exported model goes")
    t.add_argument("--name", default=DEFAULT_NAME)
    t.add_argument("--semantic-dir", type=_existing_dir, default=WEIGHTS_DIR)
    t.set_defaults(func=_train)

    x = sub.add_parser("export", help="export a training checkpoint to ONNX")
    x.add_argument("checkpoint", type=_existing_file)
    x.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    x.add_argument("--name", default=DEFAULT_NAME)
    x.add_argument("--semantic-dir", type=_existing_dir, default=WEIGHTS_DIR)
    x.add_argument("--data", type=_existing_dir, nargs="+",
                   help="the model's training data, to fit the code mirror map when the checkpoint has none")
    x.set_defaults(func=_export)

    e = sub.add_parser("eval", help="held-out synthetic metrics (MultiREX) and the real-media domain gap")
    e.add_argument("--data", type=_existing_dir, required=True, help="a held-out `python -m synthetic render` folder")
    e.add_argument("--real", type=Path, nargs="*")
    e.add_argument("--no-real", action="store_true")
    e.add_argument("--json", action="store_true")
    e.add_argument("--precision", choices=("auto", "fp32", "fp16"), default="auto")
    e.add_argument("--frames", type=_positive_int, metavar="N",
                   help="score N samples spread evenly over the folder (e.g. of a training set, to see how well "
                        "the model fits its own renders)")
    model_args(e)
    e.set_defaults(func=_eval)

    c = sub.add_parser("compare",
                       help="two `eval --json` reports of one folder, frame by frame (B − A, 95 %% bootstrap)")
    c.add_argument("a", type=Path, help="model A's `eval --json` report")
    c.add_argument("b", type=Path, help="model B's report on the same --data and --frames")
    c.add_argument("--resamples", type=_positive_int, default=10000)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_compare)

    k = sub.add_parser("card", help="write NAME_model_card.md beside the model from its NAME.json and an eval report")
    k.add_argument("--eval", type=_existing_file, required=True, help="`eval --json` report of the model")
    k.add_argument("--note", default="", help="a paragraph after the status line (e.g. why the model is shipped)")
    model_args(k, semantic=False, averaging=False)
    k.set_defaults(func=_card)

    b = sub.add_parser("bench", help="frames/s of ONNX Runtime")
    model_args(b)
    b.add_argument("--random", action="store_true", help="time a random-init light model (no trained one needed)")
    b.add_argument("--resolution", type=int, default=128, help="with --random")
    b.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    b.add_argument("--seconds", type=float, default=5.0)
    b.add_argument("--precision", choices=("auto", "fp32", "fp16"), default="auto")
    b.set_defaults(func=_bench)

    d = sub.add_parser("adapt", help="fine-tune on an actor's unlabeled clip; writes NAME-adapted-CLIP beside NAME")
    d.add_argument("--video", type=_existing_file, required=True)
    d.add_argument("--data", type=_existing_dir, required=True, help="synthetic data mixed into every batch")
    d.add_argument("--minutes", type=float, default=5.0)
    d.add_argument("--steps", type=int)
    d.add_argument("--threads", type=int)
    model_args(d, averaging=False)
    d.set_defaults(func=_adapt)

    s = sub.add_parser("sheet", help="an image of predictions beside held-out renders and real frames")
    s.add_argument("--data", type=_existing_dir, help="held-out renders")
    s.add_argument("--real", type=Path, nargs="*")
    s.add_argument("--no-real", action="store_true")
    s.add_argument("--count", type=int, default=12, help="renders and real frames each")
    s.add_argument("--out", type=Path, default=ROOT / "out" / "capture_sheet.png")
    model_args(s)
    s.set_defaults(func=_sheet)

    m = sub.add_parser("measure-jitter", help="MediaPipe's crops against the ground-truth crops on renders")
    m.add_argument("--data", type=_existing_dir, required=True)
    m.add_argument("--limit", type=int)
    m.set_defaults(func=_measure)

    q = sub.add_parser("probe", help="how much of the code the 478 landmarks carry (a ridge map, held-out face error)")
    q.add_argument("--data", type=_existing_dir, nargs="+", required=True, help="training renders (fit)")
    q.add_argument("--heldout", type=_existing_dir, required=True, help="held-out renders (score)")
    q.add_argument("--noise", type=float, nargs="*", default=[0.32, 0.64, 1.28],
                   help="ground truth with Gaussian noise of these sizes in crop pixels (default 0.32 0.64 1.28)")
    q.add_argument("--mediapipe", action="store_true", help="also MediaPipe's points on the crops")
    q.add_argument("--model", type=_existing_file, help="also this model's dense points (NAME.pt or a checkpoint)")
    q.add_argument("--resolution", type=int, default=128, help="crop pixels the noise is given in (default 128)")
    q.add_argument("--semantic-dir", type=_existing_dir, default=WEIGHTS_DIR)
    q.set_defaults(func=_probe)
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    try:
        a.func(a)
    except (FileNotFoundError, ValueError, RuntimeError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
