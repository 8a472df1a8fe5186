"""The capture benchmark: every method through the product pipeline on the benchmark sequences, scored with the
MultiREX protocol (`models.metrics.multirex`).

Per identity and view the view's mp4 goes through `models.retarget.pipeline.run` (decode, track, backend) and the
bake's default smoothing (`smooth_performance`, what `bake_performance` writes); the ARKit weights are decoded into
meshes on the subject's ground-truth identity (`HeadModel.vertices`, no head pose) and compared with the ground
truth's (the labels' weights on the same identity). Methods: the neutral face (the floor of uselessness), the
landmark fit, the neural backend with a capture model folder, the same after per-actor adaptation on the
identity's frontal clip, and a ConvNeXt model; a method whose model is absent is listed as skipped, with why.

Retargeting check: the method's result put on another identity (drawn from the benchmark's streams, never
rendered) against that identity wearing the ground-truth weights. The neural backends decode on that identity, as
the product does for a rig of another identity; the landmark fit's weights are identity-free.

Speed: per stage (decode, track, fit, capture, decode-mesh, solve, bake) in frames per second, on the first
identity's frontal clip in the same run, with the analysis cache off.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from models.metrics import multirex

SMALL = {"identities": 1, "views": 2, "frames": 8, "resolution": 128, "samples": 4}
FULL = {"identities": 8, "views": 5, "frames": 60, "resolution": 256, "samples": 16}
SEED = 17
STATES = ("blink_left", "blink_right", "mouth_open")


@dataclasses.dataclass
class BenchOptions:
    data: Path
    small: bool = False
    identities: int | None = None  # evaluate only the set's first N identities (a set still rendering)
    render: bool = True  # render what the size's set is missing into `data` first (resumable)
    model_dir: Path | None = None  # the capture models' folder (default: the shipped models/weights)
    model: str = "capture_light"
    convnext: str = "capture_convnext"
    semantic_dir: Path | None = None  # default: the shipped SEREP model
    adapt_data: Path | None = None  # synthetic training data mixed into the adaptation; None skips that row
    adapt_minutes: float = 5.0
    work: Path | None = None  # the analysis cache and adapted models (default: the project cache's bench/)
    overlay: Path | None = None  # a PNG of predicted meshes drawn on frames of each view


@dataclasses.dataclass
class Clip:
    identity: int
    yaw: int
    video: Path
    folder: Path  # the view's frames in the dataset format
    frames: int


@dataclasses.dataclass
class Subject:
    identity: int
    beta: np.ndarray  # (K,)
    other: np.ndarray  # (K,) the retargeting check's identity
    weights: np.ndarray  # (T, 52) the ground truth
    clips: list[Clip]
    labels: dict  # yaw -> list of per-frame label arrays (overlay)


def size(options: BenchOptions) -> dict:
    return SMALL if options.small else FULL


def render_set(options: BenchOptions, log) -> None:
    """Render (or finish) the size's set into `data`; a finished set of another size there is evaluated as it is."""
    from synthetic.sequence import SETTINGS_FILE, SequenceConfig, read_settings, run

    s = size(options)
    config = SequenceConfig(out=Path(options.data), identities=s["identities"], views=s["views"],
                            frames=s["frames"], seed=SEED, resolution=s["resolution"], samples=s["samples"])
    if (Path(options.data) / SETTINGS_FILE).is_file():
        there = read_settings(options.data)
        if {k: there.get(k) for k in config.settings()} != config.settings():
            log(f"[bench] {options.data} holds a set of another size; evaluating it as it is")
            return
    run(config, log=log)


def load_subjects(options: BenchOptions, asset) -> tuple[dict, list[Subject]]:
    """The set's settings and, per identity evaluated, its ground truth and clips (`--small`: the first identity,
    two views and SMALL's frames of whatever set `data` holds)."""
    from models.dataset import label_path, read_label
    from synthetic.config import ConfigError
    from synthetic.sequence import identity_params, read_settings, video_path, view_dir

    settings = read_settings(options.data)
    limit = size(options) if options.small else {}
    n_id = min(settings["identities"], limit.get("identities", settings["identities"]),
               options.identities or settings["identities"])
    yaws = settings["yaws_deg"][:limit.get("views", len(settings["yaws_deg"]))]
    frames = min(settings["frames"], limit.get("frames", settings["frames"]))
    for i in range(n_id):
        for yaw in yaws:
            manifest = Path(view_dir(options.data, i, yaw)) / "manifest.json"
            if not (manifest.is_file() and json.loads(manifest.read_text()).get("complete")
                    and video_path(options.data, i, yaw).is_file()):
                raise ConfigError(f"{options.data} is not finished ({view_dir(options.data, i, yaw)} is incomplete); "
                                  f"run its `python -m synthetic sequence` command again to finish it")
    subjects = []
    for i in range(n_id):
        per_view = {yaw: [read_label(label_path(view_dir(options.data, i, yaw), f))[0] for f in range(frames)]
                    for yaw in yaws}
        first = per_view[yaws[0]]
        other = identity_params(settings["seed"], settings["identities"] + i, asset.n_identity,
                                settings["hdris"]).identity
        subjects.append(Subject(i, first[0]["identity"].astype(np.float64), other.astype(np.float64),
                                np.stack([a["arkit_weights"] for a in first]).astype(np.float64),
                                [Clip(i, yaw, video_path(options.data, i, yaw), view_dir(options.data, i, yaw), frames)
                                 for yaw in yaws], per_view))
    return settings, subjects


class Methods:
    """name -> analyse(clip, target identity) -> smoothed weights (T, 52), frames found (T,); or the reason a
    method is skipped."""

    def __init__(self, options: BenchOptions, asset, log):
        from models.paths import weights_dir

        self.options, self.asset, self.log = options, asset, log
        self.work = Path(options.work) if options.work else _default_work()
        self.model_dir = Path(options.model_dir or weights_dir())
        self.semantic_dir = Path(options.semantic_dir or weights_dir())
        self.skipped: dict[str, str] = {}
        self.models: dict[str, tuple[Path, str]] = {}
        for row, name in (("neural", options.model), ("neural_convnext", options.convnext)):
            if self._has_model(self.model_dir, name):
                self.models[row] = (self.model_dir, name)
            else:
                self.skipped[row] = f"no capture model {name!r} in {self.model_dir}"
        if "neural" not in self.models:
            self.skipped["neural_adapted"] = self.skipped["neural"]
        elif options.adapt_data is None:
            self.skipped["neural_adapted"] = "not run (pass --adapt-data DIR to adapt on each frontal clip)"
        self.decodes_on_target = {"neural", "neural_convnext", "neural_adapted"}  # the retargeting check decodes anew

    @staticmethod
    def _has_model(folder: Path, name: str) -> bool:
        from models.capture.runtime import file_names

        return (folder / file_names(name)["meta"]).is_file() and (folder / file_names(name)["fp32"]).is_file()

    def names(self) -> list[str]:
        return ["neutral_face", "landmarks", "neural", "neural_adapted", "neural_convnext"]

    def analyse(self, method: str, clip: Clip, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if method == "neutral_face":
            return np.zeros((clip.frames, 52)), np.ones(clip.frames, bool)
        if method == "landmarks":
            perf = self._run(clip, self._options("landmarks"))
        else:
            folder, name = self._model(method, clip)
            perf = self._run(clip, self._options("neural", folder, name, target))
        return _smoothed(perf)

    def _model(self, method: str, clip: Clip) -> tuple[Path, str]:
        if method != "neural_adapted":
            return self.models[method]
        from synthetic.sequence import video_path

        return self._adapted(clip.identity, video_path(self.options.data, clip.identity, 0))

    @functools.cached_property
    def _adapt_inputs(self):
        """The synthetic set mixed into every identity's adaptation, and its face metric: loaded once per bench."""
        from models.capture.train import data as D
        from models.capture.train.mesh_loss import face_metric
        from models.capture.train.targets import load_targets
        from models.paths import capture_cache_dir

        data = D.load_synthetic(self.options.adapt_data, load_targets(self.options.adapt_data, capture_cache_dir(),
                                                                      self.semantic_dir))
        return data, face_metric(self.semantic_dir, data.z_exp, log=self.log)

    def _adapted(self, identity: int, frontal: Path) -> tuple[Path, str]:
        """The shipped model fine-tuned on this identity's frontal clip, in the bench's own folder (the model
        folder is never written to); adapted once per identity and kept."""
        from models.capture.runtime import file_names

        folder, name = self.models["neural"]
        own = self.work / "adapted" / f"identity_{identity:02d}"
        adapted = f"{name}-adapted-{frontal.stem}"
        if self._has_model(own, adapted):
            return own, adapted
        own.mkdir(parents=True, exist_ok=True)
        for f in file_names(name).values():
            if (folder / f).is_file() and not (own / f).is_file():
                shutil.copy2(folder / f, own / f)
        from models.capture.train.adapt import adapt
        from models.paths import capture_cache_dir

        data, face = self._adapt_inputs
        result = adapt(frontal, data, own, name, self.semantic_dir, capture_cache_dir(), self.options.adapt_minutes,
                       log=self.log, face=face)
        return own, result["model"]

    def _options(self, backend: str, folder: Path | None = None, name: str = "", target=None):
        from models.retarget.neural import NeuralOptions
        from models.retarget.pipeline import CaptureOptions

        neural = NeuralOptions() if folder is None else NeuralOptions(
            weights_dir=str(folder), name=name, semantic_dir=str(self.semantic_dir),
            target_identity=tuple(float(x) for x in target))
        return CaptureOptions(backend=backend, neural=neural, cache_dir=self.work / "capture")

    def _run(self, clip: Clip, options):
        from models.retarget.pipeline import run

        options = dataclasses.replace(options, stop=clip.frames)
        return run(clip.video, options, asset=self.asset)


def _default_work() -> Path:
    from models.paths import cache_dir

    return cache_dir() / "bench"


def _smoothed(perf) -> tuple[np.ndarray, np.ndarray]:
    """The weights the bake writes by default (One-Euro at strength 0.5); frames without a face are neutral."""
    from models.retarget.smoothing import smooth_performance

    weights = np.where(perf.found[:, None], smooth_performance(perf).weights, 0.0)
    return weights, perf.found.copy()


def _meshes(model, beta: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return model.vertices(np.repeat(beta[None], len(weights), 0), weights)


def score_method(method: str, methods: Methods, subjects: list[Subject], model, regions, fps: float) -> dict:
    """Every metric of one method over all identities and views."""
    from models.metrics.events import states
    from synthetic.sequence import view_name

    per_view: dict[int, list[dict]] = {}
    retarget: list[dict] = []
    jitter, jitter_truth, spread, found = [], [], [], []
    timing = {k: [] for k in STATES}
    predictions = {}
    for s in subjects:
        truth = _meshes(model, s.beta, s.weights)
        truth_other = _meshes(model, s.other, s.weights)
        neutral = model.neutral(s.beta)[0]
        truth_states = states(model.asset, truth, neutral)
        views = []
        for clip in s.clips:
            weights, ok = methods.analyse(method, clip, s.beta)
            pred = _meshes(model, s.beta, weights)
            predictions[(s.identity, clip.yaw)] = pred
            views.append(pred)
            found.append(ok.mean())
            per_view.setdefault(clip.yaw, []).append(multirex.errors_mm(pred, truth, regions))
            if method in methods.decodes_on_target:
                weights_other = methods.analyse(method, clip, s.other)[0]
            else:
                weights_other = weights
            retarget.append(multirex.errors_mm(_meshes(model, s.other, weights_other), truth_other, regions))
            jitter.append(multirex.jitter_mm(pred, regions)["mean"])
            jitter_truth.append(multirex.jitter_mm(truth, regions)["mean"])
            pred_states = states(model.asset, pred, neutral)
            for k in STATES:
                timing[k].append(multirex.event_timing(truth_states[k], pred_states[k], fps))
        spread.append(multirex.view_spread_mm(np.stack(views), regions)["mean"])
    keys = (*multirex.REGIONS, "mean")
    views_out = {view_name(yaw): {k: float(np.concatenate([e[k] for e in errs]).mean()) for k in keys}
                 for yaw, errs in per_view.items()}
    out = {"per_view_mm": views_out,
           "mean_mm": {k: float(np.mean([v[k] for v in views_out.values()])) for k in keys},
           "retarget_mm": {k: float(np.concatenate([e[k] for e in retarget]).mean()) for k in keys},
           "jitter_mm": float(np.nanmean(jitter)), "jitter_truth_mm": float(np.nanmean(jitter_truth)),
           "view_spread_mm": float(np.nanmean(spread)), "found_fraction": float(np.mean(found)),
           "timing": {k: _pool_timing(v) for k, v in timing.items()}}
    out["jitter_ratio"] = out["jitter_mm"] / out["jitter_truth_mm"] if out["jitter_truth_mm"] > 0 else float("nan")
    return out, predictions


def _pool_timing(parts: list[dict]) -> dict:
    matched = sum(p["matched"] for p in parts)

    def mean(key):
        values = [(p[key], p["matched"]) for p in parts if p["matched"]]
        return float(sum(v * n for v, n in values) / matched) if matched else float("nan")

    return {"events": sum(p["events"] for p in parts), "matched": matched,
            "missed": sum(p["missed"] for p in parts), "false": sum(p["false"] for p in parts),
            "onset_ms": mean("onset_ms"), "release_ms": mean("release_ms")}


def stage_speed(clip: Clip, methods: Methods, asset, beta: np.ndarray) -> dict:
    """Frames per second of each stage on one clip, the analysis cache off."""
    from models.head import HeadModel
    from models.retarget.backends import LandmarkBackend
    from models.video.frames import open_frames
    from models.video.track import track_faces

    n = clip.frames
    out = {"clip": f"identity {clip.identity}, yaw {clip.yaw:+d}, {n} frames"}
    t0 = time.perf_counter()
    for _ in open_frames(clip.video, 0, n):
        pass
    decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    track = track_faces(open_frames(clip.video, 0, n))
    track_s = max(time.perf_counter() - t0 - decode, 1e-9)
    out["decode"], out["track"] = n / decode, n / track_s
    model = HeadModel(asset)
    t0 = time.perf_counter()
    perf = LandmarkBackend().analyse(open_frames(clip.video, 0, n), track, model)
    out["fit (landmarks)"] = n / (time.perf_counter() - t0)
    if "neural" in methods.models:
        from models.retarget.neural import NeuralBackend

        folder, name = methods.models["neural"]
        backend = NeuralBackend(methods._options("neural", folder, name, beta).neural)
        timers = {"capture": _Timer(backend.capture.run_frames), "decode-mesh": _Timer(backend.semantic.decode)}
        backend.capture.run_frames, backend.semantic.decode = timers["capture"], timers["decode-mesh"]
        t0 = time.perf_counter()
        perf = backend.analyse(open_frames(clip.video, 0, n), track, model)
        total = time.perf_counter() - t0
        for k, timer in timers.items():
            out[k] = n / max(timer.seconds, 1e-9)
        out["solve"] = n / max(total - decode - sum(t.seconds for t in timers.values()), 1e-9)
    out["bake"] = _bake_fps(asset, perf)
    return out


class _Timer:
    """A callable that times the one it wraps."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def _bake_fps(asset, perf) -> float:
    import bpy

    from blender_addon import bake, rig

    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj, arm = rig.build_head_rig(asset)
    t0 = time.perf_counter()
    bake.bake_performance(obj, arm, perf, "bench", bpy.context.scene)
    seconds = time.perf_counter() - t0
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return len(perf) / seconds


def hardware() -> dict:
    name = platform.processor()
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": name, "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "gpu": "none"}


def run(options: BenchOptions, log=print) -> dict:
    from models.head import HeadModel
    from models.head.build.build import load_head_asset

    if options.render:
        render_set(options, log)
    asset = load_head_asset(log=lambda *a: None)
    model = HeadModel(asset)
    regions = multirex.regions_from_masks(asset.regions)
    settings, subjects = load_subjects(options, asset)
    methods = Methods(options, asset, log)
    started = time.perf_counter()
    report = {"date": datetime.date.today().isoformat(), "hardware": hardware(),
              "set": {k: settings[k] for k in ("identities", "views", "frames", "seed", "resolution", "samples",
                                                "yaws_deg", "fps")},
              "evaluated": {"identities": len(subjects), "yaws_deg": [c.yaw for c in subjects[0].clips],
                            "frames": subjects[0].clips[0].frames, "small": options.small},
              "models": {row: f"{folder}/{name}" for row, (folder, name) in methods.models.items()},
              "methods": {}, "skipped": dict(methods.skipped)}
    predictions = {}
    for method in methods.names():
        if method in methods.skipped:
            log(f"[bench] {method}: skipped ({methods.skipped[method]})")
            continue
        log(f"[bench] {method} ...", flush=True)
        report["methods"][method], predictions[method] = score_method(method, methods, subjects, model, regions,
                                                                      settings["fps"])
    beta = subjects[0].beta
    frontal = next((c for c in subjects[0].clips if c.yaw == 0), subjects[0].clips[0])
    report["speed_fps"] = stage_speed(frontal, methods, asset, beta)
    report["seconds"] = round(time.perf_counter() - started, 1)
    if options.overlay is not None:
        from .overlay import write_overlay

        shown = next((m for m in ("neural", "landmarks") if m in predictions), "neutral_face")
        write_overlay(options.overlay, asset, subjects[0], predictions[shown], shown)
        report["overlay"] = {"path": str(options.overlay), "method": shown}
    return report
