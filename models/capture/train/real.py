"""The real domain: frames of any videos and images, with MediaPipe's landmarks as pseudo-labels.

The landmarks are the capture path's own (models.video.track.FaceMesh: 478 points with iris, pixels). Frames
are sampled evenly through each file, so the first face of each sampled frame is taken, not one face followed
through a continuous clip as the capture tracker does. MediaPipe runs once per file; what training needs is
cached under `.cache/capture/real/` keyed by the file's content and these settings: loose crops (LOOSE x the
capture square, LOOSE_RESOLUTION pixels) with the 478 landmarks in their pixels, so the training crop (with
jitter) is cut from them by the same `crop.make_crop`.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import cv2
import numpy as np

from models.atomic_io import save_npz
from models.capture.crop import Square, apply_affine, square_affine, square_from_landmarks, warp

VIDEO = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
IMAGE = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
LOOSE = 1.6
LOOSE_RESOLUTION = 256
CACHE_VERSION = 1


@dataclasses.dataclass
class RealFrames:
    images: np.ndarray  # (N, L, L, 3) uint8 loose crops
    landmarks: np.ndarray  # (N, 478, 2) MediaPipe, loose-crop pixels
    source: np.ndarray  # (N,) file number
    frame: np.ndarray  # (N,) frame index in its file
    files: list[str]

    def __len__(self) -> int:
        return len(self.images)


def media_files(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in VIDEO | IMAGE)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"real media {p} does not exist; pass a folder or files of videos/images")
    return out


def read_frames(path: Path, max_frames: int, start: float = 0.0, stop: float = 1.0):
    """(index, RGB frame) of a video (evenly spaced, at most max_frames, in the [start, stop) fraction) or an image."""
    path = Path(path)
    if path.suffix.lower() in IMAGE:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{path} is not a readable image")
        yield 0, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path} is not a readable video")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    first, last = int(count * start), max(int(count * start) + 1, int(count * stop))
    step = max(1, (last - first) // max(1, max_frames))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok or i >= last:
            break
        if i >= first and (i - first) % step == 0:
            yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        i += 1
    cap.release()


def loose_crop(image: np.ndarray, landmarks478: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = square_from_landmarks(landmarks478)
    affine = square_affine(Square(s.centre, s.size * LOOSE, s.roll), LOOSE_RESOLUTION)
    return warp(image, affine, LOOSE_RESOLUTION), apply_affine(affine, landmarks478)


def file_key(path: Path, max_frames: int, start: float, stop: float) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION} {LOOSE} {LOOSE_RESOLUTION} {max_frames} {start} {stop}".encode())
    h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def analyse_file(path: Path, cache: Path, max_frames: int = 120, start: float = 0.0, stop: float = 1.0,
                 log=print) -> dict[str, np.ndarray]:
    from models.video.track import FaceMesh

    out_path = Path(cache) / "real" / f"{Path(path).stem}-{file_key(path, max_frames, start, stop)}.npz"
    if out_path.is_file():
        with np.load(out_path) as z:
            return {k: z[k] for k in z.files}
    log(f"MediaPipe on {path} (cached after the first time)")
    images, lms, frames = [], [], []
    with FaceMesh(video=Path(path).suffix.lower() in VIDEO) as mesh:
        for i, frame in read_frames(path, max_frames, start, stop):
            found = mesh(frame)
            if found is None:
                continue
            img, lm = loose_crop(frame, found)
            images.append(img), lms.append(lm), frames.append(i)
    r = LOOSE_RESOLUTION
    out = {"images": np.array(images, np.uint8).reshape(-1, r, r, 3),
           "landmarks": np.array(lms, np.float32).reshape(-1, 478, 2), "frame": np.array(frames, np.int64)}
    save_npz(out_path, out, compressed=True)
    return out


def load_real(paths, cache: Path, max_frames: int = 120, log=print, start: float = 0.0, stop: float = 1.0) -> RealFrames:
    files = media_files(paths)
    parts = [analyse_file(f, cache, max_frames, start, stop, log) for f in files]
    r = LOOSE_RESOLUTION
    if not parts or sum(len(p["images"]) for p in parts) == 0:
        return RealFrames(np.zeros((0, r, r, 3), np.uint8), np.zeros((0, 478, 2), np.float32),
                          np.zeros(0, np.int64), np.zeros(0, np.int64), [str(f) for f in files])
    return RealFrames(np.concatenate([p["images"] for p in parts]), np.concatenate([p["landmarks"] for p in parts]),
                      np.concatenate([np.full(len(p["images"]), k) for k, p in enumerate(parts)]),
                      np.concatenate([p["frame"] for p in parts]), [str(f) for f in files])
