"""How far the runtime's crops (from MediaPipe) fall from the training crops (from ground-truth landmarks).

The spread sets the training crop jitter (`models.capture.crop.CropJitter`); `python -m models.capture
measure-jitter --data DIR` prints it.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.capture.crop import square_from_landmarks
from models.video.track import FaceMesh


def measure(data_dir: Path, limit: int | None = None) -> dict:
    from models.dataset import read_label

    labels = sorted((Path(data_dir) / "labels").glob("[0-9]*.npz"))[:limit]
    if not labels:
        raise FileNotFoundError(f"{data_dir} holds no labels/NNNNNN.npz; render one with `python -m synthetic render`")
    log_scale, shift, roll, nme = [], [], [], []
    with FaceMesh() as mesh:
        for path in labels:
            arrays, meta = read_label(path)
            image = cv2.cvtColor(cv2.imread(str(Path(data_dir) / meta["image"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            found = mesh(image)
            if found is None:
                continue
            gt = square_from_landmarks(arrays["mp478_2d"])
            mp = square_from_landmarks(found)
            log_scale.append(np.log(mp.size / gt.size))
            shift.extend((mp.centre - gt.centre) / gt.size)
            roll.append(np.rad2deg((mp.roll - gt.roll + np.pi) % (2 * np.pi) - np.pi))
            nme.append(np.linalg.norm(found - arrays["mp478_2d"], axis=1).mean() / gt.size)
    n = len(log_scale)
    if n < 2:
        raise RuntimeError(f"MediaPipe found a face on only {n} of {len(labels)} renders; cannot measure the jitter")

    def robust_sd(x):  # 1.4826 * median absolute deviation: a few gross MediaPipe failures do not dominate
        x = np.asarray(x)
        return float(1.4826 * np.median(np.abs(x - np.median(x))))

    return {"renders": len(labels), "found": n,
            "log_scale": {"sd": float(np.std(log_scale)), "robust_sd": robust_sd(log_scale), "mean": float(np.mean(log_scale))},
            "shift": {"sd": float(np.std(shift)), "robust_sd": robust_sd(shift), "mean": float(np.mean(shift))},
            "roll_deg": {"sd": float(np.std(roll)), "robust_sd": robust_sd(roll), "mean": float(np.mean(roll))},
            "landmark_error_of_size": {"mean": float(np.mean(nme)), "median": float(np.median(nme))}}


def main(data: Path, limit: int | None) -> None:
    print(json.dumps(measure(data, limit), indent=1))
