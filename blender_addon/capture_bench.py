"""Capture benchmark (landmark backend): end to end, bake speed, analysis memory on a long clip.

    python -m blender_addon.capture_bench [--seconds 10] [--fps 30] [--long-seconds 60] [--long-size 1920x1080]
                                          [--long-only] [--json]

1. `end_to_end_s`: a `seconds` x `fps` clip made from the shared selfie clip (640x360) -> analysis (no cache)
   -> a new rig -> baked keys.
2. `bake_s`: 52 curves (51 shape keys + the bones) x 1800 frames written into one action.
3. `long_rss_max_mb`: the process's resident memory (sampled every 100 frames) while analysing a synthesised
   clip of `long_seconds` at `long_size` (1080p, or 3840x2160 for 4K; frames streamed, per frame only the
   landmarks and the fit's result are kept), and `long_rss_growth_mb_per_1000_frames`: the slope of a line
   fitted to the samples of each stage (what a longer clip adds).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLIP_NAME = "mediapipe_selfie_segmentation_web.mp4"


def _clip(path: Path, seconds: float, fps: float, size=None) -> Path:
    """`seconds` of the shared clip re-timed to `fps` (looping), optionally scaled to size (w, h)."""
    import cv2

    from models.video.frames import open_frames

    from models.paths import shared_dir

    src = [im for _, _, im in open_frames(shared_dir() / "media" / "real" / CLIP_NAME)]
    n = int(round(seconds * fps))
    w, h = size or (src[0].shape[1], src[0].shape[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for i in range(n):
        k = int(i * 25.0 / fps) % (2 * len(src) - 2)
        frame = src[k if k < len(src) else 2 * len(src) - 2 - k]  # ping-pong so the motion stays continuous
        if size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """The process's resident memory now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m blender_addon.capture_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--long-seconds", type=float, default=60.0, help="0 skips the memory run")
    p.add_argument("--long-size", default="1920x1080", help="the memory run's frame size, WIDTHxHEIGHT")
    p.add_argument("--long-only", action="store_true", help="only the memory run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from models.head.build.build import load_head_asset

    asset = load_head_asset(log=lambda *a: None)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.long_only:
            out.update(_speed(args, asset, tmp))
        if args.long_seconds > 0:
            out.update(_memory(args, asset, tmp))
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0


def _memory(args, asset, tmp: Path) -> dict:
    from models.retarget.pipeline import CaptureOptions, run

    size = tuple(int(v) for v in args.long_size.lower().split("x"))
    long_clip = _clip(tmp / "long.mp4", args.long_seconds, 30.0, size)
    start = _rss_mb()
    samples = {}  # stage -> [(frames done, resident MB)]
    t0 = time.perf_counter()

    def sample(done, total, stage):
        if done % 100 == 0 or done == total:
            samples.setdefault(stage, []).append((done, _rss_mb()))
            print(f"{stage} {done}/{total}: {samples[stage][-1][1]:.0f} MB resident, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    perf = run(long_clip, CaptureOptions(use_cache=False), progress=sample, asset=asset)
    growth = {stage: round(1000 * np.polyfit(*np.array(s).T, 1)[0], 2) for stage, s in samples.items() if len(s) > 2}
    return {"long_clip": f"{args.long_seconds:g} s, {size[0]}x{size[1]}, 30 fps, {len(perf)} frames",
            "long_clip_mb": round(long_clip.stat().st_size / 2**20, 1),
            "long_analysis_s": round(time.perf_counter() - t0, 1),
            "long_rss_start_mb": round(start, 1),
            "long_rss_max_mb": round(max(m for s in samples.values() for _, m in s), 1),
            "long_rss_growth_mb_per_1000_frames": growth,
            "process_peak_rss_mb": round(_peak_rss_mb(), 1)}


def _speed(args, asset, tmp: Path) -> dict:
    import bpy

    from blender_addon import bake, rig
    from models.retarget.pipeline import CaptureOptions, run

    out = {}
    clip = _clip(tmp / "clip.mp4", args.seconds, args.fps)
    stages = {}
    t0 = time.perf_counter()
    last = {"t": t0}

    def progress(done, total, stage):
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - last["t"]
        last["t"] = now

    perf = run(clip, CaptureOptions(use_cache=False), progress=progress, asset=asset)
    t_analyse = time.perf_counter() - t0
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(round(args.fps)), 1.0
    obj, arm = rig.build_head_rig(asset)
    bake.bake_performance(obj, arm, perf, "bench", scene)
    out["end_to_end_s"] = round(time.perf_counter() - t0, 2)
    out["frames"] = len(perf)
    out["analysis_s"] = round(t_analyse, 2)
    out["tracking_s"] = round(stages.get("tracking", 0.0), 2)
    out["fitting_s"] = round(stages.get("fitting", 0.0), 2)

    n = 1800
    from models.retarget.performance import Performance

    rng = np.random.default_rng(0)
    fake = Performance(weights=rng.random((n, 52)), head_rotation=np.tile(np.eye(3), (n, 1, 1)),
                       head_translation=np.zeros((n, 3)), eye_rotation=np.tile(np.eye(3), (n, 2, 1, 1)),
                       found=np.ones(n, bool), residual_mm=np.zeros(n), time_s=np.arange(n) / 30.0, fps=30.0)
    scene.render.fps = 30
    t1 = time.perf_counter()
    action = bake.bake_performance(obj, arm, fake, "bake_bench", scene, smoothing="none")
    out["bake_s"] = round(time.perf_counter() - t1, 3)
    out["bake_curves"] = sum(len(bag.fcurves) for layer in action.layers for strip in layer.strips
                             for bag in strip.channelbags)
    out["bake_frames"] = n

    return out


if __name__ == "__main__":
    sys.exit(main())
