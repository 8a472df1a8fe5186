"""Face tracking with MediaPipe Face Mesh (478 points with iris): one face followed through the clip.

The main face is chosen once (the largest and most central, or the one overlapping a box the user gives)
and followed by box overlap when several are in view. When the full-frame pass misses it, the mesh runs
again on an enlarged crop around its last position (small, distant faces), and at the start of a clip
the full-range face detector looks for a small face to crop. Frames without the face are flagged;
gaps up to `max_gap_s` are filled by interpolation, longer ones stay flagged.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..atomic_io import load_record, save_record
from .errors import Cancelled, CaptureError
from .frames import Frames
from ..vocab.mediapipe478 import N_LANDMARKS

Progress = Callable[[int, int, str], None]
TRACK_FORMAT = "facecap-track-v1"


@dataclasses.dataclass
class TrackOptions:
    max_faces: int = 4
    face_box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 px: follow the face it overlaps
    max_gap_s: float = 0.5  # gaps up to this long are interpolated, longer ones stay flagged
    min_found_fraction: float = 0.1  # fewer found frames than this is an error
    crop_min_px: int = 256  # a crop around a small face is upscaled to at least this size
    min_confidence: float = 0.5


@dataclasses.dataclass
class Track:
    """Per frame (T = frames in the range); pixels of the (rotated) frame, origin at the top-left corner."""

    landmarks: np.ndarray  # (T, 478, 2) float32; the iris points are 468-477
    box: np.ndarray  # (T, 4) x0, y0, x1, y1 of the landmarks
    found: np.ndarray  # (T,) bool: MediaPipe saw the followed face
    filled: np.ndarray  # (T,) bool: interpolated over a short gap
    n_faces: np.ndarray  # (T,) int: faces in view
    frame_index: np.ndarray  # (T,) int: the source frame number
    time_s: np.ndarray  # (T,)
    size: tuple[int, int]  # (width, height)
    fps: float
    chosen_at: int  # the frame (position in the range) where the followed face was chosen
    source: str = ""

    @property
    def usable(self) -> np.ndarray:
        return self.found | self.filled

    def __len__(self) -> int:
        return len(self.found)

    def save(self, path: Path) -> None:
        """npz, written atomically (a stage result the pipeline keeps so that a resumed analysis skips tracking)."""
        save_record(path, self, {"format": TRACK_FORMAT, "size": list(self.size), "fps": self.fps,
                                 "chosen_at": self.chosen_at, "source": self.source})

    @classmethod
    def load(cls, path: Path) -> "Track":
        arrays, meta = load_record(path, cls, TRACK_FORMAT)
        return cls(**arrays, size=tuple(meta["size"]), fps=float(meta["fps"]), chosen_at=int(meta["chosen_at"]),
                   source=meta["source"])


def box_of(points: np.ndarray) -> np.ndarray:
    return np.r_[points.min(0), points.max(0)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(hi - lo, 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    return float(inter / union) if union > 0 else 0.0


def choose_main(faces: list[np.ndarray], size, face_box=None) -> int:
    """Index of the face to follow: the one overlapping `face_box`, else the largest and most central."""
    boxes = [box_of(f) for f in faces]
    if face_box is not None:
        return int(np.argmax([iou(b, np.asarray(face_box, float)) for b in boxes]))
    centre = np.array(size, float) / 2
    diag = float(np.hypot(*size))
    scores = [np.prod(b[2:] - b[:2]) * (1 - np.linalg.norm((b[:2] + b[2:]) / 2 - centre) / diag) for b in boxes]
    return int(np.argmax(scores))


class FaceMesh:
    """One MediaPipe Face Mesh graph: 478 points with iris (refined), in pixels of the image, per face found.

    `video=True` tracks across consecutive frames of one clip; otherwise every image is searched afresh.
    The one landmark definition of the project: the tracker below and the capture model's real-domain
    pseudo-labels (models.capture.train.real) both read faces through it.
    """

    def __init__(self, video: bool = False, max_faces: int = 1, min_confidence: float = 0.3):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence)

    def faces(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """(478, 2) float64 pixel points of each face found in an RGB (or RGBA) uint8 image."""
        h, w = image_rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(image_rgb[..., :3]))
        out = [np.array([(p.x * w, p.y * h) for p in face.landmark]) for face in result.multi_face_landmarks or ()]
        return [p for p in out if len(p) == N_LANDMARKS]

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """The first face's points, or None when there is none."""
        found = self.faces(image_rgb)
        return found[0] if found else None

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _MediaPipe:
    """The Face Mesh graphs: a tracking one for whole frames, a static one for crops; the full-range detector."""

    def __init__(self, opts: TrackOptions):
        self.video = FaceMesh(video=True, max_faces=opts.max_faces, min_confidence=opts.min_confidence)
        self.still = FaceMesh(video=False, max_faces=1, min_confidence=0.3)
        self._detector = None

    def faces(self, image: np.ndarray) -> list[np.ndarray]:
        return [p.astype(np.float32) for p in self.video.faces(image)]

    def in_crop(self, image: np.ndarray, box: np.ndarray, min_px: int) -> np.ndarray | None:
        """Run the static mesh on an enlarged square crop around `box`, upscaled to at least min_px."""
        import cv2

        h, w = image.shape[:2]
        centre = (box[:2] + box[2:]) / 2
        half = max(box[2] - box[0], box[3] - box[1]) * 1.25 + 4
        x0, y0 = np.floor(np.maximum(centre - half, 0)).astype(int)
        x1, y1 = np.ceil(np.minimum(centre + half, [w, h])).astype(int)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = image[y0:y1, x0:x1]
        scale = max(1.0, min_px / max(crop.shape[:2]))
        if scale > 1:
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        pts = self.still(crop)
        return pts.astype(np.float32) / scale + np.array([x0, y0], np.float32) if pts is not None else None

    def detect_small(self, image: np.ndarray) -> list[np.ndarray]:
        """Boxes (x0, y0, x1, y1) from the full-range face detector (faces up to ~5 m)."""
        if self._detector is None:
            import mediapipe as mp

            self._detector = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        h, w = image.shape[:2]
        boxes = []
        for det in self._detector.process(image).detections or ():
            b = det.location_data.relative_bounding_box
            boxes.append(np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h]))
        return boxes

    def close(self):
        self.video.close()
        self.still.close()
        if self._detector is not None:
            self._detector.close()


def fill_gaps(landmarks: np.ndarray, found: np.ndarray, max_gap: int) -> np.ndarray:
    """Linearly interpolate interior runs of missing frames no longer than max_gap; returns the filled mask."""
    filled = np.zeros_like(found)
    idx = np.flatnonzero(found)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            t = (np.arange(a + 1, b) - a) / (b - a)
            landmarks[a + 1:b] = (1 - t)[:, None, None] * landmarks[a] + t[:, None, None] * landmarks[b]
            filled[a + 1:b] = True
    return filled


def track_faces(frames: Frames, opts: TrackOptions = TrackOptions(), progress: Progress | None = None,
                cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None) -> Track:
    n = frames.count
    landmarks = np.zeros((n, N_LANDMARKS, 2), np.float32)
    found = np.zeros(n, bool)
    n_faces = np.zeros(n, int)
    index = np.zeros(n, int)
    times = np.zeros(n)
    last_box, chosen_at = None, -1
    mp = _MediaPipe(opts)
    try:
        for k, (i, t, image) in enumerate(frames):
            if cancel is not None and cancel():
                raise Cancelled(f"{frames.source}: analysis cancelled at frame {i}; run it again to redo it")
            index[k], times[k] = i, t
            faces = mp.faces(image)
            if not faces and last_box is None:  # nothing yet: maybe a face too small for the short-range graph
                for box in mp.detect_small(image):
                    pts = mp.in_crop(image, box, opts.crop_min_px)
                    if pts is not None:
                        faces.append(pts)
            n_faces[k] = len(faces)
            pick = None
            if faces and last_box is None:
                pick = faces[choose_main(faces, frames.size, opts.face_box)]
                chosen_at = k
            elif faces:
                overlaps = [iou(box_of(f), last_box) for f in faces]
                if max(overlaps) > 0.1:
                    pick = faces[int(np.argmax(overlaps))]
            if pick is None and last_box is not None:
                pick = mp.in_crop(image, last_box, opts.crop_min_px)
                if pick is not None and iou(box_of(pick), last_box) < 0.1:
                    pick = None
            if pick is not None:
                landmarks[k], found[k] = pick, True
                last_box = box_of(pick)
            if progress is not None:
                progress(k + 1, n, "tracking")
    finally:
        mp.close()
    source = frames.source
    if not found.any():
        raise CaptureError(f"{source}: no face found in frames {frames.start}-{frames.stop - 1}; pass a clip or "
                           "frame range where a face is visible (frontal or three-quarter, at least ~40 px)")
    if found.mean() < opts.min_found_fraction:
        raise CaptureError(f"{source}: a face was found in only {found.sum()} of {n} frames; pass a frame range "
                           "where the face stays in view (--start/--end)")
    if log is not None and n_faces.max() > 1:
        log(f"{source}: up to {n_faces.max()} faces in view; following the one chosen at frame "
            f"{index[chosen_at]} (largest and most central; pass a face box to pick another)")
    filled = fill_gaps(landmarks, found, int(round(opts.max_gap_s * frames.fps)))
    return Track(landmarks, np.array([box_of(p) for p in landmarks]), found, filled, n_faces, index, times,
                 frames.size, frames.fps, chosen_at, str(frames.source))
