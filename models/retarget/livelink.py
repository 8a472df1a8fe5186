"""Live Link Face CSV (Epic's iPhone app): write a Performance's curves, read a recording back.

Layout (the app's header): `Timecode` (HH:MM:SS:FF.mmm: frame FF within the second and its
sub-frame fraction), `BlendShapeCount` (61), the 52 ARKit names capitalised in the app's order,
then HeadYaw, HeadPitch, HeadRoll, LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch,
RightEyeRoll (radians). The reader matches names case-insensitively (eyeBlinkLeft and EyeBlinkLeft).
Yaw > 0 turns towards the character's left (+X), pitch > 0 lifts the chin / looks up.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..atomic_io import atomic_write
from ..vocab.arkit import ARKIT_NAMES
from ..video.errors import CaptureError

LLF_SHAPE_ORDER = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut")
ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER = ("Timecode", "BlendShapeCount") + LLF_SHAPE_ORDER + ROTATION_COLUMNS
BLENDSHAPE_COUNT = 61


@dataclasses.dataclass
class LiveLinkClip:
    time_s: np.ndarray  # (T,) from the first row
    weights: np.ndarray  # (T, 52) ARKIT_NAMES order
    head_ypr: np.ndarray  # (T, 3) radians
    eye_ypr: np.ndarray  # (T, 2, 3) [left, right] radians
    fps: float


def matrix_to_ypr(m: np.ndarray) -> np.ndarray:
    """R = Ry(yaw) Rx(-pitch) Rz(roll) (the dataset's convention) -> (..., 3) yaw, pitch, roll."""
    e = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_euler("YXZ")
    e[:, 1] *= -1
    return e.reshape(*m.shape[:-2], 3)


def ypr_to_matrix(ypr: np.ndarray) -> np.ndarray:
    flat = np.asarray(ypr, np.float64).reshape(-1, 3) * [1, -1, 1]
    return Rotation.from_euler("YXZ", flat).as_matrix().reshape(*np.shape(ypr)[:-1], 3, 3)


def timecode(seconds: float, fps: float) -> str:
    frames_total = seconds * fps
    whole = int(np.floor(frames_total + 1e-6))
    sub = max(frames_total - whole, 0.0)
    rate = int(round(fps))
    s, ff = divmod(whole, rate)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{int(round(sub * 1000)) % 1000:03d}"


def parse_timecode(text: str, fps: float) -> float:
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(text)
    h, m, s = (int(p) for p in parts[:3])
    frame = float(parts[3])
    return h * 3600 + m * 60 + s + frame / fps


def write_csv(path: Path, weights: np.ndarray, head_rotation: np.ndarray, eye_rotation: np.ndarray,
              fps: float, start_s: float = 0.0) -> Path:
    """weights (T, 52) ARKit order, head (T, 3, 3), eyes (T, 2, 3, 3) sampled at `fps` -> the CSV (atomic)."""
    col = [ARKIT_NAMES.index(n[0].lower() + n[1:]) for n in LLF_SHAPE_ORDER]
    head = matrix_to_ypr(head_rotation)
    eyes = matrix_to_ypr(eye_rotation)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(HEADER)
    for i in range(len(weights)):
        row = [timecode(start_s + i / fps, fps), BLENDSHAPE_COUNT]
        row += [f"{v:.6f}" for v in weights[i, col]]
        row += [f"{v:.6f}" for v in np.r_[head[i], eyes[i, 0], eyes[i, 1]]]
        out.writerow(row)
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(buf.getvalue().encode()))
    path.chmod(0o644)  # a user's file, not the private temporary's mode
    return path


def _infer_fps(frames: list[float]) -> float:
    top = max(int(f) for f in frames) + 1 if frames else 30
    for rate in (24, 25, 30, 48, 50, 60, 120):
        if top <= rate:
            return float(rate)
    return float(top)


def read_csv(path: Path, fps: float | None = None) -> LiveLinkClip:
    """Read a Live Link Face CSV (either capitalisation of the names). fps: the timecode's rate (inferred from
    the largest frame field when not given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(f"{path}: cannot read the CSV ({exc}); pass a Live Link Face CSV file") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise CaptureError(f"{path}: no data rows; pass a Live Link Face CSV recording")
    header = [h.strip().lower() for h in rows[0]]
    index = {h: i for i, h in enumerate(header)}
    if "timecode" not in index or not any(n.lower() in index for n in ARKIT_NAMES):
        raise CaptureError(f"{path}: not a Live Link Face CSV (no Timecode or ARKit columns); "
                           "export one from the app or from FaceCap")
    data = [r for r in rows[1:] if len(r) == len(header)]
    frames = [float(r[index["timecode"]].split(":")[-1]) for r in data]
    rate = fps or _infer_fps(frames)
    try:
        times = np.array([parse_timecode(r[index["timecode"]], rate) for r in data])

        def column(name):
            i = index.get(name.lower())
            return np.zeros(len(data)) if i is None else np.array([float(r[i]) for r in data])

        weights = np.stack([column(n) for n in ARKIT_NAMES], 1)
        rot = np.stack([column(n) for n in ROTATION_COLUMNS], 1)
    except ValueError as exc:
        raise CaptureError(f"{path}: a value is not a number ({exc}); the file is damaged") from exc
    times -= times[0] if len(times) else 0.0
    return LiveLinkClip(times, np.clip(weights, 0.0, 1.0), rot[:, :3], rot[:, 3:].reshape(-1, 2, 3), rate)
