"""Decoding: a video file, a still image or an image sequence as a stream of RGB frames.

Frames are read one at a time (memory bounded by one frame, whatever the clip length). Videos go
through OpenCV's FFmpeg backend with its rotation metadata applied; stills and sequences through
cv2.imread (EXR is linear: it is tone-mapped to sRGB for the tracker).
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Iterator

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must precede the cv2 import
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .errors import CaptureError  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr", ".tif", ".tiff", ".bmp")
DEFAULT_SEQUENCE_FPS = 24.0


@dataclasses.dataclass
class Frames:
    """A frame range of one source. Iterating yields (index, time_s, image HxWx3 uint8 RGB), streamed."""

    source: Path
    kind: str  # "video", "image" or "sequence"
    fps: float
    count: int  # frames in the range [start, stop)
    size: tuple[int, int]  # (width, height) after rotation
    start: int = 0
    stop: int = 0
    rotation_deg: int = 0  # the container's rotation metadata (already applied to the frames)
    files: tuple[Path, ...] = ()  # image sequence members, in frame order

    @property
    def duration_s(self) -> float:
        return self.count / self.fps

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        if self.kind == "video":
            yield from self._video()
        else:
            for i in range(self.start, self.stop):
                yield i, i / self.fps, read_image(self.files[i])

    def _video(self):
        cap = _open_capture(self.source)
        try:
            if self.start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            for i in range(self.start, self.stop):
                ok, bgr = cap.read()
                if not ok:
                    if i == self.start:
                        raise CaptureError(_undecodable(self.source, cap))
                    return  # the container over-counted its frames; the stream ends here
                yield i, i / self.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def _open_capture(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise CaptureError(f"{path}: not a readable video (unknown format, truncated or corrupt); "
                           "pass a video file (mp4, mov, mkv, ...), an image or a folder of frames")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _codec(cap: cv2.VideoCapture) -> str:
    """The stream's codec as its FourCC (e.g. "h264", "AV01"); "" when the container names none."""
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = code.to_bytes(4, "little").decode("latin-1").strip("\x00 ") if code > 0 else ""
    return text if text.isprintable() else ""


REENCODE = "re-encode it to H.264, e.g. ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4"


def _undecodable(path: Path, cap: cv2.VideoCapture) -> str:
    """The one line for a container that opens but whose first frame does not decode."""
    codec = _codec(cap)
    if codec and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0:
        return (f"{path}: its {codec} video stream cannot be decoded (a codec OpenCV's FFmpeg does not decode "
                f"in software, or corrupt data); {REENCODE}")
    return f"{path}: no frame could be decoded (zero frames, corrupt file or unsupported codec); {REENCODE}"


def to_uint8_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """cv2.imread output (BGR/BGRA/grey, 8/16-bit or float) as RGB uint8; float (EXR) is treated as linear."""
    if image.ndim == 2:
        image = image[..., None].repeat(3, 2)
    if image.shape[2] == 4:
        image = image[..., :3]
    elif image.shape[2] != 3:
        raise CaptureError(f"{path}: {image.shape[2]} channels; pass an RGB, RGBA or greyscale image")
    image = image[..., ::-1]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    linear = np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return (srgb * 255 + 0.5).astype(np.uint8)


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CaptureError(f"{path}: not a readable image (corrupt or unsupported); pass PNG, JPG or EXR frames")
    return to_uint8_rgb(image, path)


def _numbered(paths) -> list[Path]:
    """Image files ordered by the last number in their name (frame_9 before frame_10)."""
    def key(p: Path):
        numbers = re.findall(r"\d+", p.stem)
        return (int(numbers[-1]) if numbers else -1, p.name)
    return sorted((p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES), key=key)


def _sequence_files(source: Path) -> list[Path]:
    if source.is_dir():
        return _numbered(source.iterdir())
    # a pattern: frame_%04d.png, frame_####.png or frame_*.png
    glob = re.sub(r"%0?\d*d", "*", source.name).replace("#", "*")
    return _numbered(source.parent.glob(glob)) if source.parent.is_dir() else []


def _range(path: Path, total: int, start: int, stop: int | None) -> tuple[int, int]:
    stop = total if stop is None or stop <= 0 else min(stop, total)
    if start < 0 or start >= stop:
        raise CaptureError(f"{path}: frame range [{start}, {stop}) is empty (the source has {total} frames); "
                           "pass a start below the frame count")
    return start, stop


def open_frames(source, start: int = 0, stop: int | None = None, fps: float | None = None) -> Frames:
    """Open a video file, a still image, or an image sequence (a folder, or a pattern with %04d / # / *).

    `stop` is exclusive (None: to the end); `fps` overrides the video's rate and sets a sequence's
    (default 24). Raises CaptureError with a one-line message for anything unreadable.
    """
    path = Path(source)
    if fps is not None and not fps > 0:
        raise CaptureError(f"{path}: fps must be positive, got {fps}")
    is_pattern = any(c in path.name for c in "%#*")
    if path.is_dir() or is_pattern:
        files = _sequence_files(path)
        if not files:
            raise CaptureError(f"{path}: no PNG, JPG or EXR frames found; pass a folder of numbered frames "
                               "or a pattern such as frame_%04d.png")
        first = read_image(files[0])
        s, e = _range(path, len(files), start, stop)
        return Frames(path, "sequence", fps or DEFAULT_SEQUENCE_FPS, e - s, (first.shape[1], first.shape[0]),
                      s, e, 0, tuple(files))
    if not path.is_file():
        raise CaptureError(f"{path}: no such file; pass a video, an image or a folder of frames")
    if path.stat().st_size == 0:
        raise CaptureError(f"{path}: the file is empty (0 bytes); pass a complete video or image")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(path)
        s, e = _range(path, 1, start, stop)
        return Frames(path, "image", fps or DEFAULT_SEQUENCE_FPS, 1, (image.shape[1], image.shape[0]),
                      s, e, 0, (path,))
    cap = _open_capture(path)
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rate = cap.get(cv2.CAP_PROP_FPS)
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        ok, bgr = cap.read()
        if not ok or bgr is None:
            raise CaptureError(_undecodable(path, cap))
    finally:
        cap.release()
    if total <= 0:
        raise CaptureError(f"{path}: the container reports no frame count; {REENCODE}")
    if not rate or not np.isfinite(rate) or rate <= 0 or rate > 1000:
        if fps is None:
            raise CaptureError(f"{path}: the video has no usable frame rate; pass --fps")
    s, e = _range(path, total, start, stop)
    return Frames(path, "video", float(fps or rate), e - s, (bgr.shape[1], bgr.shape[0]), s, e, rotation)
