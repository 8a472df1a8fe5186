"""python -m synthetic {render, sequence, verify, sheet, bench}."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.progress import ProgressWriter, add_argument as add_progress_argument

from .config import DEVICES, ConfigError, RenderConfig, RenderStopped, parse_shard

DEFAULTS = RenderConfig(out=Path("."), count=1, seed=0)


def _add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resolution", type=int, default=DEFAULTS.resolution,
                   help=f"square image size in pixels (default {DEFAULTS.resolution})")
    p.add_argument("--samples", type=int, default=DEFAULTS.samples,
                   help=f"Cycles samples per pixel (default {DEFAULTS.samples})")
    p.add_argument("--workers", type=int, default=DEFAULTS.workers, help="render processes; threads are split between them")
    p.add_argument("--threads", type=int, default=DEFAULTS.threads, help="render threads per worker (default: cores / workers)")
    p.add_argument("--device", default=DEFAULTS.device, choices=DEVICES, help=f"Cycles device (default {DEFAULTS.device})")
    p.add_argument("--hdri-dir", type=Path, default=None, help="extra .exr/.hdr environment maps")
    p.add_argument("--no-denoise", action="store_true", help="skip OpenImageDenoise")
    p.add_argument("--no-occluders", action="store_true", help="never add glasses, hands or shapes")
    p.add_argument("--masks", action="store_true",
                   help="also write masks/NNNNNN.png: 0 background, 1 head, 2 teeth/gums, "
                        "3 body (shoulders, arms, collar), 4 occluders, 5 glasses lenses")
    p.add_argument("--transparent", action="store_true",
                   help="debug: transparent background, the alpha channel is the silhouette")
    p.add_argument("--flame", type=Path, default=None,
                   help="head asset input: flame2023_open_subset.npz or flame2023_Open.pkl (default: in ../shared)")
    p.add_argument("--landmarks", type=Path, default=None, help="head asset input: landmarks68_embedding.npz")
    p.add_argument("--ict", type=Path, default=None, help="head asset input: ict_facekit_light.npz")


def _config(a, out, count, seed, shard=(0, 1)) -> RenderConfig:
    return RenderConfig(out=Path(out), count=count, seed=seed, resolution=a.resolution, samples=a.samples,
                        shard=shard, workers=a.workers, device=a.device, hdri_dir=a.hdri_dir,
                        denoise=not a.no_denoise, transparent=a.transparent, occluders=not a.no_occluders,
                        masks=a.masks,
                        threads=a.threads, flame=a.flame, landmarks=a.landmarks, ict=a.ict)


def _ray_options(a):
    """The --ray options, or None for a local render (then none of them may be given)."""
    given = [f"--{n.replace('_', '-')}" for n in ("cpus_per_task", "gpus_per_task", "ray_output")
             if getattr(a, n) is not None]
    if a.ray is None:
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --ray")
        return None
    try:
        from .ray_render import RayOptions  # imports Ray: only here
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise ConfigError("--ray needs the ray package: pip install ray==2.60.0 (requirements.txt)") from None

    return RayOptions(a.ray, 1.0 if a.cpus_per_task is None else a.cpus_per_task,
                      0.0 if a.gpus_per_task is None else a.gpus_per_task, a.ray_output or "auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m synthetic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="render a dataset (resumable: run the same command again)")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--count", required=True, type=int, help="samples in the whole dataset (all shards)")
    r.add_argument("--seed", required=True, type=int)
    r.add_argument("--shard", default="0/1", help="K/N: render indices i with i %% N == K (K from 0)")
    r.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|local|ADDRESS",
                   help="render as Ray tasks: auto (default) joins a running cluster or starts a local one, local "
                        "always starts one, or the head's host:port")
    r.add_argument("--cpus-per-task", type=float, default=None, help="with --ray: CPUs per task (default 1)")
    r.add_argument("--gpus-per-task", type=float, default=None, help="with --ray: GPUs per task (default 0)")
    r.add_argument("--ray-output", default=None, choices=("auto", "shared", "driver"),
                   help="with --ray: tasks write into --out (shared), send samples to this driver which writes "
                        "them (driver), or auto: shared when every node sees --out")
    _add_render_options(r)
    add_progress_argument(r)
    q = sub.add_parser("sequence", help="the capture benchmark's multi-view range-of-motion sequences (resumable)")
    q.add_argument("--out", required=True, type=Path)
    q.add_argument("--identities", type=int, default=8)
    q.add_argument("--views", type=int, default=5, help="cameras at yaw 0, -30, +30, -60, +60 degrees: the first N")
    q.add_argument("--frames", required=True, type=int, help="frames per identity (24 fps)")
    q.add_argument("--seed", required=True, type=int)
    q.add_argument("--resolution", type=int, default=DEFAULTS.resolution, help="square image size in pixels")
    q.add_argument("--samples", type=int, default=DEFAULTS.samples, help="Cycles samples per pixel")
    q.add_argument("--device", default=DEFAULTS.device, choices=DEVICES, help="Cycles device")
    q.add_argument("--threads", type=int, default=DEFAULTS.threads, help="render threads (default: all cores)")
    q.add_argument("--no-denoise", action="store_true", help="skip OpenImageDenoise")
    v = sub.add_parser("verify", help="check a dataset and print a summary (exit 1 on problems)")
    v.add_argument("dir", type=Path)
    v.add_argument("--partial", action="store_true", help="check only the shards present in DIR")
    s = sub.add_parser("sheet", help="write a contact sheet with landmarks drawn")
    s.add_argument("dir", type=Path)
    s.add_argument("--out", type=Path, default=None, help="PNG path (default DIR/contact_sheet.png)")
    s.add_argument("--count", type=int, default=16)
    s.add_argument("--mediapipe", action="store_true", help="draw the 478 MediaPipe points too")
    b = sub.add_parser("bench", help="seconds per sample at 256x256, 16 samples, denoised")
    b.add_argument("--count", type=int, default=6, help="samples per measurement")
    b.add_argument("--workers-list", default="1,2", help="comma-separated worker counts to compare")
    b.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temporary one)")
    _add_render_options(b)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "render":
            from .render import run

            progress = ProgressWriter.claim_stdout() if args.progress_json else None
            try:
                run(_config(args, args.out, args.count, args.seed, parse_shard(args.shard)), progress=progress,
                    cluster=_ray_options(args))
            except BaseException as exc:  # reported to the job runner, then handled below as before
                if progress is not None:
                    progress.error(str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}")
                raise
            return 0
        if args.command == "sequence":
            from .sequence import main as sequence

            return sequence(args)
        if args.command == "verify":
            from .verify import verify

            return 0 if verify(args.dir, partial=args.partial) else 1
        if args.command == "sheet":
            from .sheet import contact_sheet

            path = contact_sheet(args.dir, args.out, args.count, args.mediapipe)
            print(f"[synthetic] contact sheet written to {path}")
            return 0
        if args.command == "bench":
            from .bench import bench

            bench(args, _config)
            return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RenderStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 1
