"""The capture entry point: `run(video, options) -> Performance`, with progress, cancellation and a cache.

frames (models.video.frames) -> track (models.video.track) -> backend (backends.py) -> Performance.
The raw Performance of a clip is cached as npz (written atomically) under a key made of the video's
content hash, the frame range, the tracker and backend settings and the head asset's digest, so a
re-bake, a change of smoothing or another target head never re-runs the analysis. The Track is kept
too (keyed by the content, range and tracker settings): a run cancelled during the fit, or the same
frames with another backend or head, resumes after the tracking.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..head.asset import asset_digest as head_digest
from ..video.errors import Cancelled, CaptureError
from ..video.frames import open_frames
from ..video.track import Track, TrackOptions, track_faces
from .backends import get_backend
from .landmark_fit import FitOptions
from .neural import NeuralOptions
from .performance import Performance

CACHE_VERSION = 1


@dataclasses.dataclass
class CaptureOptions:
    start: int = 0
    stop: int | None = None  # exclusive; None: to the end
    fps: float | None = None  # a sequence's frame rate (default 24), or an override of the video's
    backend: str = "landmarks"
    track: TrackOptions = dataclasses.field(default_factory=TrackOptions)
    fit: FitOptions = dataclasses.field(default_factory=FitOptions)  # the landmark backend's
    neural: NeuralOptions = dataclasses.field(default_factory=NeuralOptions)  # the neural backend's
    cache_dir: Path | None = None  # default: the project's .cache/capture
    use_cache: bool = True


def content_hash(paths) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()[:32]


def asset_digest(asset) -> str:
    """The head asset's one digest, plus what the analysis also reads: the MediaPipe correspondence and the joints."""
    h = hashlib.sha256(head_digest(asset).encode())
    for name in ("mp478_faces", "mp478_bary", "joint_regressor"):
        h.update(np.ascontiguousarray(getattr(asset, name)).tobytes())
    return h.hexdigest()[:16]


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def track_key(frames, options: CaptureOptions) -> str:
    """What the tracking depends on: the video's content, the frame range and fps, the tracker settings."""
    files = frames.files if frames.kind != "video" else (frames.source,)
    return _key({"version": CACHE_VERSION, "content": content_hash(files),
                 "range": [frames.start, frames.stop], "fps": frames.fps, "track": dataclasses.asdict(options.track)})


def cache_key(tracking: str, backend_digest: str, asset_hash: str) -> str:
    """The Performance's key: the tracking's (track_key), the backend's models and settings, the head asset."""
    return _key({"track": tracking, "backend": backend_digest, "asset": asset_hash})


def default_cache_dir() -> Path:
    from ..paths import cache_dir

    return cache_dir() / "capture"


def run(video, options: CaptureOptions = CaptureOptions(), progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None,
        asset=None) -> Performance:
    """Analyse a clip (video file, still image or image sequence) into its raw Performance.

    progress(done, total, stage) is called per frame of each stage ("tracking", "fitting");
    cancel() -> True stops the run with `Cancelled` (nothing is cached for it).
    """
    return analyse(video, options, progress, cancel, log, asset).performance


def _read_cached(load, path: Path, options: CaptureOptions, what: str, source, log):
    """The cached stage result at `path`, or None (absent, cache off, or unreadable: then done again)."""
    if not (options.use_cache and path.is_file()):
        return None
    try:
        result = load(path)
    except (OSError, ValueError, KeyError) as exc:
        if log is not None:
            log(f"cached {what} {path} is unreadable ({exc}); doing it again")
        return None
    if log is not None:
        log(f"{source}: {what} read from the cache ({path.name})")
    return result


def _tracked(frames, options: CaptureOptions, path: Path, progress, cancel, log):
    """The clip's Track: from the stage cache when an earlier run (cancelled during the fit, or with another
    backend or head) tracked the same frames, else tracked now and kept there."""
    track = _read_cached(Track.load, path, options, "tracking", frames.source, log)
    if track is not None:
        if progress is not None:
            progress(len(track), len(track), "tracking")
        return track
    track = track_faces(frames, options.track, progress, cancel, log)
    if options.use_cache:
        track.save(path)
    return track


@dataclasses.dataclass
class Analysis:
    performance: Performance
    cache_path: Path | None  # where the raw Performance is cached (None with use_cache off)
    from_cache: bool  # read from the cache, not analysed


def analyse(video, options: CaptureOptions = CaptureOptions(), progress=None, cancel=None, log=None,
            asset=None) -> Analysis:
    """`run`, also saying where the result is cached and whether it was read from there."""
    from ..head import AssetError, HeadModel

    backend = get_backend(options.backend, options=options.neural if options.backend == "neural" else options.fit)
    frames = open_frames(video, options.start, options.stop, options.fps)
    try:
        if asset is None:  # the development tree builds it on first use; the packed add-on passes its own
            from ..head.build.build import load_head_asset

            asset = load_head_asset(log=lambda *a: None)
    except AssetError as exc:
        raise CaptureError(str(exc)) from exc
    tracking = track_key(frames, options)
    key = cache_key(tracking, backend.digest(), asset_digest(asset))
    path = Path(options.cache_dir or default_cache_dir()) / f"performance-{key}.npz"
    perf = _read_cached(Performance.load, path, options, "analysis", frames.source, log)
    if perf is not None:
        if progress is not None:
            progress(frames.count, frames.count, "cached")
        return Analysis(perf, path, True)
    track = _tracked(frames, options, path.with_name(f"track-{tracking}.npz"), progress, cancel, log)
    perf = backend.analyse(frames, track, HeadModel(asset), progress, cancel, log)
    perf.settings["cache_key"] = key
    if options.use_cache:
        perf.save(path)
    return Analysis(perf, path if options.use_cache else None, False)


__all__ = ["Analysis", "CaptureOptions", "CaptureError", "Cancelled", "analyse", "run"]
