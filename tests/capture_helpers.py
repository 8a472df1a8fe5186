"""Shared inputs of the capture tests: the real clips and small synthetic videos."""
from pathlib import Path

import numpy as np

from models.paths import shared_dir

REAL = shared_dir() / "media" / "real"
SELFIE = REAL / "mediapipe_selfie_segmentation_web.mp4"
GROUP = REAL / "mediapipe_realtime_face_detection.mp4"
SERGEY = REAL / "mediapipe_sergey.png"


def write_video(path: Path, frames, fps: float = 25.0) -> Path:
    import cv2

    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(np.ascontiguousarray(f[..., ::-1]))
    writer.release()
    return path


def ffmpeg() -> str:
    """The static ffmpeg binary of imageio-ffmpeg (for files OpenCV cannot write: rotation metadata, other codecs)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def blank_frames(n: int, size=(160, 120)):
    w, h = size
    ramp = np.linspace(0, 255, w, dtype=np.uint8)
    return [np.stack([np.tile(ramp, (h, 1)), np.full((h, w), 60 + i % 50, np.uint8), np.full((h, w), 90, np.uint8)],
                     -1) for i in range(n)]


def real_frames(path: Path, start: int, stop: int):
    from models.video.frames import open_frames

    return [im for _, _, im in open_frames(path, start, stop)]
