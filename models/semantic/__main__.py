"""python -m models.semantic {train, export, eval}"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def _asset(args):
    from models.head.build.build import load_head_asset

    return load_head_asset(log=lambda *a: print(*a, file=sys.stderr))


def _checkpoint(args, asset) -> Path:
    from models.semantic import data as D
    from models.semantic.presets import PRESETS
    from models.semantic.train.train import run_dir_for

    if args.checkpoint:
        return Path(args.checkpoint)
    path = run_dir_for(PRESETS[args.preset], D.asset_digest(asset), args.cache) / "best.pt"
    if not path.is_file():
        others = sorted(Path(args.cache).glob("runs/*/best.pt"), key=lambda p: p.stat().st_mtime)
        hint = f"; the newest other run is {others[-1]} (pass it with --checkpoint)" if others else ""
        raise SystemExit(f"no trained {args.preset} run for the current head asset at {path}{hint}; "
                         f"train with `python -m models.semantic train --preset {args.preset}`")
    return path


def cmd_train(args) -> int:
    from models.semantic.presets import PRESETS
    from models.semantic.train.train import train

    config = PRESETS[args.preset]
    overrides = {k: v for k, v in (("minutes", args.minutes), ("steps", args.steps), ("pool", args.pool),
                                   ("threads", args.threads)) if v is not None}
    if args.no_linear_paths:
        overrides["linear_paths"] = False
    if args.space_weight is not None:
        overrides["space_weight"] = args.space_weight
    config = dataclasses.replace(config, **overrides)
    asset = _asset(args)
    run = train(asset, config, args.cache, run_dir=args.run_dir, fresh=args.fresh,
                log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"trained: {run}; export with `python -m models.semantic export --checkpoint {run / 'best.pt'}`",
          file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    import torch

    from models.semantic import data as D
    from models.semantic.evaluate import report
    from models.semantic.train.export import export_onnx, model_card
    from models.semantic.runtime import SemanticRuntime
    from models.atomic_io import write_text
    from models.semantic.train.train import load_trained
    from models.vocab import arkit

    asset = _asset(args)
    ckpt = _checkpoint(args, asset)
    model = load_trained(asset, ckpt, args.cache, log=lambda m: print(m, file=sys.stderr))
    info = torch.load(ckpt, map_location="cpu", weights_only=False)
    pool = D.load_pool(asset, 2, D.VALIDATION_SEED, args.cache)
    weights = D.default_sampler()(__import__("numpy").random.default_rng(0), 2)
    example = D.pose(pool, __import__("numpy").arange(2), weights, arkit.columns(asset.shape_names))
    meta = {"asset_digest": D.asset_digest(asset), "preset": args.preset, "steps": info["step"],
            "minutes": info["elapsed"] / 60, "device": info["config"]["device"], "checkpoint": ckpt.name}
    worst = export_onnx(model, args.out, example, pool.neutrals, meta)
    print(f"exported to {args.out} (ONNX Runtime vs torch: {worst:.2e})", file=sys.stderr)
    runtime = SemanticRuntime(args.out)
    scores = report(asset, runtime.retarget, args.cache)
    write_text(Path(args.out) / "semantic_model_card.md", model_card(runtime.meta, scores, info["config"]))
    print(json.dumps(scores))
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from models.semantic import data as D
    from models.semantic.evaluate import report

    if args.checkpoint:
        import torch

        from models.semantic.train.train import load_trained

        asset = _asset(args)
        model = load_trained(asset, Path(args.checkpoint), args.cache, log=lambda m: print(m, file=sys.stderr))

        @torch.no_grad()
        def retarget(mesh, src, dst):
            t = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
            z = model.encode_expression(t(mesh), t(src))
            return model.decode(z, model.encode_identity(t(dst)), t(dst)).numpy()
    else:
        from models.semantic.runtime import SemanticRuntime

        runtime = SemanticRuntime(args.weights)  # before the asset: bad weights fail at once
        asset = _asset(args)
        if runtime.meta.get("asset_digest") != D.asset_digest(asset):
            print("warning: the exported weights were trained on another build of the head asset (a rebuild, or "
                  "the same inputs on a CPU whose float kernels round differently); the scores below say whether "
                  "it matters",
                  file=sys.stderr)
        retarget = runtime.retarget
    scores = report(asset, retarget, args.cache)
    if args.json:
        print(json.dumps(scores))
    else:
        for k, v in scores.items():
            print(f"{k:>22}: {v}")
    return 0


def main(argv=None) -> int:
    from models.head.asset import AssetError
    from models.model_files import ModelFileError
    from models.semantic.data import default_cache_dir
    from models.semantic.runtime import WEIGHTS_DIR
    from models.semantic.presets import PRESETS

    p = argparse.ArgumentParser(prog="python -m models.semantic", description=__doc__)
    p.add_argument("--cache", type=Path, default=default_cache_dir(), help="cache folder (hierarchy, identities, runs)")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (resumes the last run of the same configuration)")
    t.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    t.add_argument("--minutes", type=float, help="time budget of the schedule")
    t.add_argument("--steps", type=int, help="step budget of the schedule")
    t.add_argument("--pool", type=int, help="number of training identities (about 3 MB of memory each)")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: the preset's; 1 when another job "
                                               "holds one of 2 cores)")
    t.add_argument("--run-dir", type=Path, help="where checkpoints go (default: keyed by config under --cache)")
    t.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    t.add_argument("--no-linear-paths", action="store_true",
                   help="the networks of Table 1 only, without the linear paths started from PCA (README)")
    t.add_argument("--space-weight", type=float,
                   help="weight of the expression-space term, not in the paper (default "
                        f"{PRESETS['cpu'].space_weight:g}; 0 turns it off)")
    e = sub.add_parser("export", help="write the ONNX networks and the model card")
    e.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    e.add_argument("--checkpoint", help="a best.pt / last.pt (default: the preset's run)")
    e.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    v = sub.add_parser("eval", help="held-out metrics of the shipped ONNX weights")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    v.add_argument("--checkpoint", help="evaluate a torch checkpoint instead of the ONNX files")
    args = p.parse_args(argv)
    try:
        return {"train": cmd_train, "export": cmd_export, "eval": cmd_eval}[args.command](args)
    except (ModelFileError, AssetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
