"""Headless capture: a clip -> analysis -> the rig baked -> .blend, Live Link Face CSV and a preview video.

    python -m blender_addon.capture VIDEO [--rig BLEND] [--out BLEND] [--csv FILE] [--preview MP4]
                                          [--backend landmarks|neural] [--start N] [--end N] [--fps F]
                                          [--start-frame F] [--smoothing one_euro|savgol|none] [--strength S]
                                          [--head-translation] [--fov DEG | --focal-mm MM]
                                          [--no-cache] [--progress-json]
    python -m blender_addon.capture VIDEO --analyse-only [--start N] [--end N] [--backend ...] [--asset FILE]
                                          [--model-dir DIR] [--provider auto|cuda|cpu] [--threads N]
                                          [--identity B1,B2,...]

VIDEO is a video file, a still image, or a folder / pattern of numbered frames (PNG, JPG, EXR).
--progress-json prints one JSON object per line on stdout: {"event": "progress", "done", "total", "stage"},
{"event": "log", "message"}, {"event": "error", "message"}, {"event": "done", "result": {...}}.
Errors are one line (exit code 2); SIGTERM or Ctrl-C cancels (exit code 130); outputs are written atomically.
--analyse-only stops after the analysis (no Blender): its result names the cached raw Performance ("cache"),
which the add-on's Bake reads (the add-on's Analyse runs this in a background process).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path


class Reporter:
    """Progress and messages: human lines on stderr, or JSON lines on stdout."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._last = {}

    def _emit(self, obj):
        print(json.dumps(obj), flush=True)

    def progress(self, done: int, total: int, stage: str):
        if self.as_json:
            self._emit({"event": "progress", "done": int(done), "total": int(total), "stage": stage})
        else:
            step = max(1, total // 10)
            if done == total or done - self._last.get(stage, 0) >= step:
                self._last[stage] = done
                print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    def log(self, message: str):
        if self.as_json:
            self._emit({"event": "log", "message": message})
        else:
            print(message, file=sys.stderr, flush=True)

    def error(self, message: str):
        if self.as_json:
            self._emit({"event": "error", "message": message})
        else:
            print(f"error: {message}", file=sys.stderr, flush=True)

    def done(self, result: dict):
        if self.as_json:
            self._emit({"event": "done", "result": result})
        else:
            for key, value in result.items():
                print(f"{key}: {value}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m blender_addon.capture", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", type=Path)
    p.add_argument("--rig", type=Path, help="a .blend holding a FaceCap head rig (default: a new mean-face rig)")
    p.add_argument("--out", type=Path, help="write the baked .blend here")
    p.add_argument("--csv", type=Path, help="write the Live Link Face CSV here")
    p.add_argument("--preview", type=Path, help="write the side-by-side preview .mp4 here")
    p.add_argument("--backend", default="landmarks", choices=("landmarks", "neural"))
    p.add_argument("--start", type=int, default=0, help="first source frame")
    p.add_argument("--end", type=int, default=None, help="source frame to stop before (default: the end)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of an image sequence (default 24)")
    p.add_argument("--face-box", default=None, metavar="X0,Y0,X1,Y1",
                   help="follow the face overlapping this pixel box (default: the largest, most central one)")
    camera = p.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=float, default=None, metavar="DEG",
                        help="the camera's field of view across the frame's wider side (default 60; landmark backend)")
    camera.add_argument("--focal-mm", type=float, default=None, metavar="MM",
                        help="the camera's 35 mm-equivalent focal length (36 mm across the wider side), instead of --fov")
    p.add_argument("--start-frame", type=int, default=1, help="scene frame the clip starts at")
    p.add_argument("--scene-fps", type=int, default=None, help="the scene's frame rate (default: keep the rig's)")
    p.add_argument("--smoothing", default="one_euro", choices=("one_euro", "savgol", "none"))
    p.add_argument("--strength", type=float, default=0.5)
    p.add_argument("--head-translation", action="store_true",
                   help="also bake the head's translation as the neck bone's location (default: rotation only)")
    p.add_argument("--clip", default=None, help="action name suffix (default: the video's file name)")
    p.add_argument("--no-cache", action="store_true", help="analyse again even if a cached result exists")
    p.add_argument("--analyse-only", action="store_true",
                   help="analyse into the cache and report its path; no rig, no bake, no Blender")
    p.add_argument("--asset", type=Path, default=None, help="the head asset file (default: build or read the cached one)")
    p.add_argument("--model-dir", type=Path, default=None, help="the capture model's files (neural backend)")
    p.add_argument("--provider", default="auto", choices=("auto", "cuda", "cpu"),
                   help="ONNX Runtime execution provider of the neural backend")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads of the neural backend (0: default)")
    p.add_argument("--no-mirror-average", action="store_true",
                   help="neural backend: one network evaluation per frame instead of averaging it with its mirror image")
    p.add_argument("--identity", default=None, metavar="B1,B2,...",
                   help="the target's identity coefficients the neural backend decodes on (default: the template's; "
                        "--rig gives its rig's)")
    p.add_argument("--progress-json", action="store_true")
    return p.parse_args(argv)


def _check_outputs(args):
    for flag in ("out", "csv", "preview"):
        path = getattr(args, flag)
        if path is None:
            continue
        parent = path.resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"{path}: cannot create its folder ({exc}); pass a writable --{flag} path")


def _load_asset(path: Path | None):
    from models.head import AssetError, load_asset_file
    from models.video.errors import CaptureError

    try:
        if path is not None:
            return load_asset_file(path)
        from models.head.build.build import load_head_asset

        return load_head_asset(log=lambda *a: None)
    except AssetError as exc:
        raise CaptureError(str(exc)) from exc


def _fov(args) -> float:
    from models.retarget.camera import DEFAULT_FOV_DEG, fov_from_focal_mm

    if args.focal_mm is not None:
        if not args.focal_mm > 0:
            raise ValueError(f"--focal-mm {args.focal_mm:g}: give the lens's 35 mm-equivalent focal length in mm, "
                             "e.g. 26 for a phone's main camera")
        return fov_from_focal_mm(args.focal_mm)
    fov = DEFAULT_FOV_DEG if args.fov is None else args.fov
    if not 5.0 <= fov <= 150.0:
        raise ValueError(f"--fov {fov:g}: give the field of view across the frame's wider side in degrees, "
                         "between 5 and 150")
    return fov


def _options(args):
    from models.retarget.landmark_fit import FitOptions
    from models.retarget.neural import NeuralOptions
    from models.retarget.pipeline import CaptureOptions
    from models.video.track import TrackOptions

    box = None
    if args.face_box:
        try:
            box = tuple(float(v) for v in args.face_box.split(","))
            assert len(box) == 4 and box[0] < box[2] and box[1] < box[3]
        except (ValueError, AssertionError):
            raise ValueError(f"--face-box {args.face_box!r}: give four pixel numbers x0,y0,x1,y1 with x0<x1, y0<y1")
    if args.threads < 0:
        raise ValueError(f"--threads {args.threads}: give 0 (the runtime's default) or a positive count")
    fit = FitOptions(fov_deg=_fov(args))
    providers = {"auto": None, "cuda": ("CUDAExecutionProvider", "CPUExecutionProvider"),
                 "cpu": ("CPUExecutionProvider",)}[args.provider]
    identity = None
    if args.identity:
        try:
            identity = tuple(float(v) for v in args.identity.split(","))
        except ValueError:
            raise ValueError(f"--identity {args.identity[:40]!r}: give the identity coefficients as numbers b1,b2,...")
    neural = NeuralOptions(weights_dir=str(args.model_dir) if args.model_dir else None, providers=providers,
                           threads=args.threads, target_identity=identity, mirror_average=not args.no_mirror_average)
    return CaptureOptions(start=args.start, stop=args.end, fps=args.fps, backend=args.backend,
                          track=TrackOptions(face_box=box), fit=fit, use_cache=not args.no_cache, neural=neural)


def _summary(perf) -> dict:
    found = perf.found
    return {"frames": len(perf), "found": int(found.sum()), "source_fps": perf.fps,
            "focal_px": perf.settings.get("focal_px"),
            "residual_mm_mean": float(round(float(perf.residual_mm[found].mean()), 3)) if found.any() else None}


def analyse_only(args, report: Reporter, cancel) -> dict:
    """The analysis alone, into the cache: what the add-on's background Analyse runs."""
    from models.retarget.pipeline import analyse

    options = _options(args)
    if args.no_cache:
        raise ValueError("--analyse-only writes its result to the cache; drop --no-cache")
    t0 = time.perf_counter()
    analysis = analyse(args.video, options, report.progress, cancel, report.log, asset=_load_asset(args.asset))
    return {**_summary(analysis.performance), "cache": str(analysis.cache_path), "from_cache": analysis.from_cache,
            "analysis_s": round(time.perf_counter() - t0, 2)}


def run(args, report: Reporter, cancel) -> dict:
    from models.head import HeadModel
    from models.retarget import livelink
    from models.retarget.pipeline import run as analyse
    from models.retarget.smoothing import smooth_performance
    from models.video.frames import open_frames

    import bpy

    from . import bake, rig_io

    _check_outputs(args)
    options = _options(args)
    asset = _load_asset(args.asset)
    obj, arm = rig_io.open_rig(args.rig, asset)  # before the analysis: a wrong rig fails at once
    if options.backend == "neural":  # the codes are decoded on the rig's own identity
        identity = tuple(float(v) for v in obj.get("facecap_identity", [])) or None
        options = dataclasses.replace(options, neural=dataclasses.replace(options.neural, target_identity=identity))
    t0 = time.perf_counter()
    perf = analyse(args.video, options, report.progress, cancel, report.log, asset=asset)
    t_analyse = time.perf_counter() - t0

    scene = bpy.context.scene
    if args.scene_fps:
        scene.render.fps, scene.render.fps_base = args.scene_fps, 1.0
    clip = args.clip or Path(args.video).stem
    t1 = time.perf_counter()
    action = bake.bake_performance(obj, arm, perf, clip, scene, args.start_frame, args.smoothing, args.strength,
                                   args.head_translation)
    t_bake = time.perf_counter() - t1
    result = {**_summary(perf), "scene_fps": bake.scene_fps(scene), "action": action.name,
              "analysis_s": round(t_analyse, 2), "bake_s": round(t_bake, 3)}
    if args.out:
        result["blend"] = str(rig_io.save_blend(args.out))
    if args.csv:
        frames, weights, head_rot, eye_rot = bake.read_baked(obj, arm, action, scene)
        livelink.write_csv(args.csv, weights, head_rot, eye_rot, bake.scene_fps(scene))
        result["csv"] = str(args.csv)
    if args.preview:
        from models.retarget.preview import write_preview

        smooth = smooth_performance(perf, args.smoothing, args.strength)
        frames = open_frames(args.video, args.start, args.end, args.fps)
        identity = list(obj.get("facecap_identity", [])) or None
        write_preview(args.preview, frames, perf, HeadModel(asset), identity, smooth.weights, smooth.head_rotation,
                      smooth.eye_rotation, report.progress, cancel)
        result["preview"] = str(args.preview)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    report = Reporter(args.progress_json)
    stop = {"flag": False}

    def on_term(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    from models.video.errors import Cancelled, CaptureError

    try:
        result = (analyse_only if args.analyse_only else run)(args, report, lambda: stop["flag"])
    except Cancelled as exc:
        report.error(str(exc))
        return 130
    except KeyboardInterrupt:
        report.error(f"{args.video}: cancelled; run it again to redo the analysis")
        return 130
    except (CaptureError, ValueError) as exc:
        report.error(str(exc))
        return 2
    report.done(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
