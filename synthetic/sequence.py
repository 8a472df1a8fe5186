"""`sequence`: the capture benchmark's multi-view sequences (MultiREX's protocol on our generator).

Per identity one scripted range-of-motion performance (`sequence_script`), rendered from fixed cameras at yaw 0,
+-30 and +-60 degrees (MultiREX's five views), under one lighting set-up per identity, as an mp4 per view plus
every frame in the dataset format (`models.dataset`), so the labels are the generator's own:

    DIR/sequence.json                          the settings (a resumed run must match them)
    DIR/identity_00/yaw+00/manifest.json       one dataset folder per view: images/, labels/ (frame = index)
    DIR/identity_00/yaw+00.mp4                 the view's video (mp4v), written once all its frames exist

Seeds: identity, skin, lighting and the script come from `SeedSequence([seed, identity], spawn_key=(SPAWN_KEY,))`.
A training sample draws from `SeedSequence([seed, index])` and its children (spawn keys () and (0,) .. (8,)), so
no benchmark stream is a training stream, whatever the two seeds are.

Resumable like `render`: frames appear by atomic renames, a killed run leaves only complete frames (and temporary
files the next run deletes), the same command renders what is missing. Renders in one process.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from models.atomic_io import atomic_path, commit, write_text

from . import DATASET_VERSION, labels
from .config import ConfigError, RenderConfig, validate
from .sequence_script import FPS

YAWS_DEG = (0, -30, 30, -60, 60)  # the first --views of these
SPAWN_KEY = 1017  # the benchmark's streams: no training stream has a spawn key that starts with it
FOCAL_MM, SENSOR_MM, FACE_FRACTION = 50.0, 36.0, 0.55
SETTINGS_FILE = "sequence.json"
FORMAT = "facecap-sequence"
VERSION = 2  # 2: the frames are datasets of the generator's current format, recorded as dataset_version


@dataclasses.dataclass(frozen=True)
class SequenceConfig:
    out: Path
    identities: int
    views: int
    frames: int
    seed: int
    resolution: int = 256
    samples: int = 16
    denoise: bool = True
    device: str = "auto"
    threads: int = 0

    def render_config(self) -> RenderConfig:
        return RenderConfig(out=Path(self.out), count=self.frames, seed=self.seed, resolution=self.resolution,
                            samples=self.samples, device=self.device, denoise=self.denoise, occluders=False,
                            threads=self.threads)

    def settings(self) -> dict:
        return {"identities": self.identities, "views": self.views, "frames": self.frames, "seed": self.seed,
                "resolution": self.resolution, "samples": self.samples, "denoise": self.denoise}


def view_name(yaw_deg: float) -> str:
    return f"yaw{int(yaw_deg):+03d}"


def identity_dir(out: Path, identity: int) -> Path:
    return Path(out) / f"identity_{identity:02d}"


def view_dir(out: Path, identity: int, yaw_deg: float) -> Path:
    return identity_dir(out, identity) / view_name(yaw_deg)


def video_path(out: Path, identity: int, yaw_deg: float) -> Path:
    return identity_dir(out, identity) / f"{view_name(yaw_deg)}.mp4"


def read_settings(out: Path) -> dict:
    """The sequence set's settings file; a ConfigError when `out` is not a finished or started sequence set."""
    path = Path(out) / SETTINGS_FILE
    try:
        settings = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{out} is not a benchmark sequence set (no {SETTINGS_FILE}); make one with "
                          "`python -m synthetic sequence --out DIR ...`") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); move it away and render the set again") from None
    if settings.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a {FORMAT} settings file")
    return settings


def identity_streams(seed: int, identity: int) -> tuple[np.random.SeedSequence, np.random.Generator]:
    """(the seed sequence of the identity's look and lighting, the generator of its script)."""
    looks, script = np.random.SeedSequence([int(seed), int(identity)], spawn_key=(SPAWN_KEY,)).spawn(2)
    return looks, np.random.default_rng(script)


def identity_params(seed: int, identity: int, n_identity: int, hdris: list[str]):
    """The identity's SampleParams (identity, skin, eyes, lighting, body; no occluder), before any frame."""
    from .sampling import sample_from

    return sample_from(identity_streams(seed, identity)[0], seed, identity, n_identity, hdris, occluders=False)


def _validate(config: SequenceConfig) -> None:
    if config.frames < 1:
        raise ConfigError(f"--frames {config.frames}: must be at least 1")
    if config.identities < 1:
        raise ConfigError(f"--identities {config.identities}: must be at least 1")
    if not 1 <= config.views <= len(YAWS_DEG):
        raise ConfigError(f"--views {config.views}: must be 1 to {len(YAWS_DEG)} (yaws {YAWS_DEG} in that order)")
    validate(config.render_config())


def _check_folder(out: Path, settings: dict) -> None:
    if (out / SETTINGS_FILE).is_file():
        old = read_settings(out)
        made_by = {k: old.get(k) for k in ("format", "version", "dataset_version")}
        if made_by != {k: settings[k] for k in made_by}:
            raise ConfigError(f"{out} holds a sequence set rendered by another version of the generator "
                              f"({json.dumps(made_by)}, now {FORMAT} v{VERSION}, dataset v{DATASET_VERSION}); "
                              "render the set again into a new --out")
        if old != settings:
            diff = ", ".join(f"{k} {json.dumps(old.get(k))} there but {json.dumps(v)} now"
                             for k, v in settings.items() if old.get(k) != v)
            raise ConfigError(f"{out} holds a sequence set made with other settings ({diff}); resume it with the "
                              "settings it was made with, or pick a new --out")
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty and holds no {SETTINGS_FILE}; pick a new --out or empty it")


def run(config: SequenceConfig, log=print) -> dict:
    """Render what is missing of the sequence set; returns its settings. ConfigError before anything is written
    on bad input."""
    from models.head.asset import asset_digest
    from models.vocab.arkit import ARKIT_NAMES

    from .hdris import find_hdris
    from .render import check_device, load_asset, render_lock

    _validate(config)
    out = Path(config.out)
    hdris = find_hdris(None)
    check_device(config.device)
    asset = load_asset(config.render_config())
    asset_info = {"digest": asset_digest(asset), "builder_version": asset.builder_version}
    settings = {"format": FORMAT, "version": VERSION, "dataset_version": DATASET_VERSION, **config.settings(),
                "yaws_deg": list(YAWS_DEG[:config.views]), "fps": FPS, "hdris": list(hdris), "asset": asset_info}
    _check_folder(out, settings)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / SETTINGS_FILE).is_file():
        write_text(out / SETTINGS_FILE, json.dumps(settings, indent=1, sort_keys=True))
    frame_settings = {**config.render_config().output_settings(), "sequence": config.settings()}
    with render_lock(out, (0, 1)):
        start = time.perf_counter()
        for identity in range(config.identities):
            manifests = {}
            for yaw in settings["yaws_deg"]:
                folder = view_dir(out, identity, yaw)
                labels.clean_debris(folder)
                manifests[yaw] = labels.new_manifest(
                    {**frame_settings, "view_yaw_deg": yaw, "identity": identity}, (0, 1),
                    list(range(config.frames)), list(hdris), asset_info, asset.n_vertices, asset.n_identity,
                    list(ARKIT_NAMES))
            _render_identity(config, asset, hdris, identity, manifests, log)
        log(f"[synthetic] sequence set finished in {out} ({time.perf_counter() - start:.1f} s this run)")
    return settings


def _cameras(model, statics, base, yaws, resolution):
    """One fixed camera per view, framing the identity's neutral face at rest."""
    from .camera import frame_face
    from .posing import pose_sample
    from .sampling import Camera

    rest = pose_sample(model, statics, dataclasses.replace(base, expression=np.zeros_like(base.expression),
                                                           head_pose_deg=np.zeros(3, np.float32),
                                                           gaze_deg=np.zeros((2, 2), np.float32)))
    face = rest.vertices[statics.face_points].astype(np.float64)
    out = {}
    for yaw in yaws:
        camera = Camera(FOCAL_MM, SENSOR_MM, FACE_FRACTION, (0.0, 0.0), float(yaw), 0.0, 0.0)
        out[yaw] = camera, frame_face(face, FOCAL_MM, SENSOR_MM, resolution, FACE_FRACTION, (0.0, 0.0),
                                      float(yaw), 0.0, 0.0)
    return out


def _render_identity(config: SequenceConfig, asset, hdris: dict, identity: int, manifests: dict, log) -> None:
    from models.head import HeadModel

    from .annotate import label_arrays, label_meta
    from .posing import head_statics, pose_sample
    from .render import _threads
    from .scene import SyntheticScene
    from .scene_render import RenderSettings
    from .sequence_script import make_script

    out = Path(config.out)
    yaws = list(manifests)
    todo = {yaw: [f for f in range(config.frames)
                  if labels.sample_problem(view_dir(out, identity, yaw), f, config.resolution, False)]
            for yaw in yaws}
    n_todo = sum(len(v) for v in todo.values())
    log(f"[synthetic] identity {identity}: {config.frames * len(yaws) - n_todo}/{config.frames * len(yaws)} "
        f"frames done, {n_todo} to render", flush=True)
    if n_todo:
        for yaw in yaws:
            labels.write_manifest(view_dir(out, identity, yaw), (0, 1), manifests[yaw])
        model = HeadModel(asset)
        statics = head_statics(asset)
        base = identity_params(config.seed, identity, asset.n_identity, list(hdris))
        script = make_script(identity_streams(config.seed, identity)[1], config.frames)
        cameras = _cameras(model, statics, base, yaws, config.resolution)
        scene = SyntheticScene(asset, hdris, RenderSettings(config.resolution, config.samples, config.denoise,
                                                            False, config.device,
                                                            _threads(config.render_config()), False))
        environment = hdris[base.lighting.hdri].name if base.lighting.hdri else ""
        done, start = 0, time.perf_counter()
        for frame in range(config.frames):
            views = [yaw for yaw in yaws if frame in todo[yaw]]
            if not views:
                continue
            p = dataclasses.replace(base, index=frame, expression=script.weights[frame],
                                    expression_kind=script.kinds[frame], head_pose_deg=script.head_pose_deg[frame],
                                    gaze_deg=script.gaze_deg[frame], render_seed=base.render_seed + frame)
            posed = pose_sample(model, statics, p)
            for yaw in views:
                camera, cam = cameras[yaw]
                p_view = dataclasses.replace(p, camera=camera)
                folder = view_dir(out, identity, yaw)
                scene.apply(p_view, posed, cam, {})
                arrays = label_arrays(p_view, posed, cam, statics, scene.visibility(posed.lmk68, cam),
                                      scene.visibility(posed.mp478, cam))
                image = labels.image_path(folder, frame)
                image.parent.mkdir(parents=True, exist_ok=True)
                tmp = labels.temp_path(image)
                scene.render(tmp)
                commit(tmp, image)
                labels.write_label(folder, frame, arrays, label_meta(p_view, cam, environment))
                done += 1
                log(f"[synthetic] identity {identity} {view_name(yaw)} frame {frame}: {done}/{n_todo}, eta "
                    f"{(time.perf_counter() - start) / done * (n_todo - done):.0f} s", flush=True)
    for yaw in yaws:
        _finish_view(config, identity, yaw, manifests[yaw])


def _finish_view(config: SequenceConfig, identity: int, yaw: float, manifest: dict) -> None:
    """Check the view's frames, write its complete manifest and (once) its video."""
    import cv2

    out = Path(config.out)
    folder = view_dir(out, identity, yaw)
    missing = [f for f in range(config.frames) if labels.sample_problem(folder, f, config.resolution, False)]
    if missing:
        raise RuntimeError(f"{folder}: {len(missing)} frames are still missing (first {missing[0]}); run the same "
                           "command again")
    path = folder / labels.manifest_name((0, 1))
    previous = json.loads(path.read_text()) if path.is_file() else {}
    final = dict(manifest, complete=True, created=previous.get("created", manifest["created"]),
                 samples=[{"index": f, "image": f"{labels.IMAGE_DIR}/{f:06d}.png",
                           "label": f"{labels.LABEL_DIR}/{f:06d}.npz"} for f in range(config.frames)])
    if final != previous:
        labels.write_manifest(folder, (0, 1), final)
    video = video_path(out, identity, yaw)
    if video.is_file() and _frame_count(video) == config.frames:
        return
    with atomic_path(video) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                                 (config.resolution, config.resolution))
        try:
            for f in range(config.frames):
                writer.write(cv2.imread(str(labels.image_path(folder, f)), cv2.IMREAD_COLOR))
        finally:
            writer.release()


def _frame_count(video: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
    finally:
        cap.release()


def main(args) -> int:
    config = SequenceConfig(out=args.out, identities=args.identities, views=args.views, frames=args.frames,
                            seed=args.seed, resolution=args.resolution, samples=args.samples,
                            denoise=not args.no_denoise, device=args.device, threads=args.threads)
    run(config, log=lambda *a, **k: print(*a, file=sys.stderr, **k))
    print(f"[synthetic] sequences in {args.out}")
    return 0
