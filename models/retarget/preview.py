"""The side-by-side preview video: each frame with its tracked landmarks, beside the rig posed by the
Performance at that frame (rendered with the numpy rasteriser). Written atomically (mp4v)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..head.build.sheet import vertex_colours
from ..raster import look_at_camera, shade
from ..vocab import mediapipe478 as mp
from . import landmark_weights as lw
from ..video.errors import CaptureError

_FEATURES = np.array(lw.FEATURES + mp.NOSE + mp.FACE_OVAL)
_IRIS = np.array(lw.IRIS)


def draw_landmarks(image: np.ndarray, points: np.ndarray | None, found: bool) -> np.ndarray:
    out = image.copy()
    if points is None or not found:
        cv2.putText(out, "no face", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 80, 80), 2, cv2.LINE_AA)
        return out
    r = max(1, int(round(image.shape[0] / 360)))
    for p in points[_FEATURES]:
        cv2.circle(out, (int(p[0]), int(p[1])), r, (60, 255, 120), -1, cv2.LINE_AA)
    for p in points[_IRIS]:
        cv2.circle(out, (int(p[0]), int(p[1])), r, (255, 220, 40), -1, cv2.LINE_AA)
    return out


def face_crop(perf, size) -> tuple[int, int, int]:
    """(x0, y0, side) of one square crop around the face over the whole clip (so the view does not jitter)."""
    w, h = size
    if perf.landmarks is None or not perf.found.any():
        return 0, 0, min(w, h)
    pts = perf.landmarks[perf.found]
    lo, hi = np.median(pts.min(1), 0), np.median(pts.max(1), 0)
    side = int(min(max(hi - lo) * 2.0, w, h))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(cx - side / 2, 0, w - side))
    y0 = int(np.clip(cy - side / 2, 0, h - side))
    return x0, y0, side


def write_preview(path: Path, frames, perf, model, identity=None, weights=None, head_rotation=None,
                  eye_rotation=None, progress=None, cancel=None) -> Path:
    """frames: the clip's Frames (streamed again); the rig's arrays default to the Performance's own."""
    weights = perf.weights if weights is None else weights
    head_rotation = perf.head_rotation if head_rotation is None else head_rotation
    eye_rotation = perf.eye_rotation if eye_rotation is None else eye_rotation
    w, h = frames.size
    side = min(h, 480)
    x0, y0, crop = face_crop(perf, frames.size)
    asset = model.asset
    colours = vertex_colours(asset)
    beta = np.zeros(asset.n_identity) if identity is None else np.asarray(identity, np.float64)
    neutral = model.neutral(beta)[0]
    centre = neutral[asset.head_vertices].mean(0) * [0, 1, 0] + [0, 0.0, 0.0]
    cam = look_at_camera(centre, 0.55, fov_deg=32, size=(side, side))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(frames.fps), (2 * side, side))
    if not writer.isOpened():
        raise CaptureError(f"{path}: cannot write a video there; pass --preview with a writable .mp4 path")
    try:
        for k, (i, t, image) in enumerate(frames):
            if k >= len(perf):
                break
            if cancel is not None and cancel():
                raise CaptureError(f"{path}: preview cancelled; nothing was written")
            lms = perf.landmarks[k] if perf.landmarks is not None else None
            left = draw_landmarks(image, lms, bool(perf.found[k]))[y0:y0 + crop, x0:x0 + crop]
            left = cv2.resize(left, (side, side), interpolation=cv2.INTER_AREA if crop > side else cv2.INTER_CUBIC)
            rv = lambda m: Rotation.from_matrix(m).as_rotvec()[None]  # noqa: E731
            verts = model.vertices(beta, weights[k], neck=rv(head_rotation[k]), eye_left=rv(eye_rotation[k, 0]),
                                   eye_right=rv(eye_rotation[k, 1]))[0]
            right = shade(verts, asset.faces, cam, colours)
            label = f"frame {i}" + ("" if perf.found[k] else " (no face: neutral)")
            cv2.putText(right, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            writer.write(np.ascontiguousarray(np.hstack([left, right])[..., ::-1]))
            if progress is not None:
                progress(k + 1, len(perf), "preview")
        writer.release()
        tmp.replace(path)
    except BaseException:
        writer.release()
        tmp.unlink(missing_ok=True)
        raise
    return path
