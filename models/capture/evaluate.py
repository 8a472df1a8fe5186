"""Held-out evaluation of an exported capture model (ONNX Runtime; no torch).

On a synthetic set: the decoded mesh (semantic decoder, the prediction's code on the label's identity) against the
ground-truth unposed mesh with the MultiREX protocol, split by |yaw| and for the most expressive quarter, beside
two references on the same frames (the neutral face; the decoder given the ground-truth code, the floor); code
error, landmark NME, pose and gaze error in degrees, blink and mouth-open confusion counts. On real media: landmark
NME against MediaPipe (the domain gap) and temporal jitter.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from models.capture.crop import MARGIN, apply_affine, make_crop
from models.metrics import multirex
from models.metrics.events import states  # blinks and open mouths, read as the benchmark reads them
from models.vocab import capture64
from models.vocab.landmarks68 import LIPS_OUTER

YAW_BINS = ((0.0, 20.0), (20.0, 45.0), (45.0, 180.0))
FACE_PX_BINS = ((0.0, 64.0), (64.0, 128.0), (128.0, np.inf))  # the face's side in frame pixels (the crop, no margin)
_OUTER = (capture64.index("right_eye_outer"), capture64.index("left_eye_outer"))


def interocular(landmarks64: np.ndarray) -> np.ndarray:
    return np.linalg.norm(landmarks64[..., _OUTER[0], :] - landmarks64[..., _OUTER[1], :], axis=-1)


def nme(pred64: np.ndarray, truth64: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pred64 - truth64, axis=-1).mean(-1) / np.maximum(interocular(truth64), 1e-6)


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = (np.einsum("bij,bij->b", a, b) - 1) / 2
    return np.rad2deg(np.arccos(np.clip(cos, -1, 1)))


def gaze_vectors(yaw_pitch: np.ndarray) -> np.ndarray:
    """Directions of yaw/pitch (radians) as the dataset defines them: Ry(yaw) Rx(-pitch) (0, 0, 1)."""
    y, p = yaw_pitch[..., 0], yaw_pitch[..., 1]
    return np.stack([np.cos(p) * np.sin(y), np.sin(p), np.cos(p) * np.cos(y)], -1)


def gaze_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.rad2deg(np.arccos(np.clip((gaze_vectors(a) * gaze_vectors(b)).sum(-1), -1, 1))).mean(-1)


def confusion(truth: np.ndarray, pred: np.ndarray) -> dict[str, int]:
    return {"tp": int((truth & pred).sum()), "fp": int((~truth & pred).sum()), "fn": int((truth & ~pred).sum()),
            "tn": int((~truth & ~pred).sum())}


def face_side_px(affine: np.ndarray, resolution: int) -> np.ndarray:
    """Side in frame pixels of the square the crop frames, without its margin, from (B, 2, 3) frame -> crop maps."""
    scale = np.sqrt(np.abs(np.linalg.det(np.asarray(affine)[..., :2, :2])))
    return resolution / scale / (1 + 2 * MARGIN)


def bin_name(prefix: str, lo: float, hi: float) -> str:
    """The split's key in reports: `yaw_20_45`, `yaw_45_up`, `face_px_0_64` ..."""
    return f"{prefix}_{int(lo)}_{int(hi) if np.isfinite(hi) and hi < 180 else 'up'}"


def split_rows(yaw: np.ndarray, face_px: np.ndarray, most_expressive: np.ndarray | None = None,
               lips_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The report's splits as row masks: all frames, by |yaw|, the most expressive quarter (when given), by the
    face's size, and (when given) whether every outer-lip point is in view or some are hidden, by an occluder, a
    hand or the head's own turn. `compare` rebuilds them from an eval report's per-frame record."""
    rows = {"all": np.ones(len(yaw), bool),
            **{bin_name("yaw", lo, hi): (yaw >= lo) & (yaw < hi) for lo, hi in YAW_BINS}}
    if most_expressive is not None:
        rows["most_expressive_quarter"] = np.asarray(most_expressive, bool)
    rows.update({bin_name("face_px", lo, hi): (face_px >= lo) & (face_px < hi) for lo, hi in FACE_PX_BINS})
    if lips_visible is not None:
        rows["lips_visible"] = np.asarray(lips_visible, bool)
        rows["lips_hidden"] = ~rows["lips_visible"]
    return rows


def _summary(errors: dict[str, np.ndarray], rows) -> dict[str, float]:
    return {k: round(float(v[rows].mean()), 4) for k, v in errors.items()} if np.any(rows) else {}


def evenly_spaced(targets: dict, frames: int | None) -> dict:
    """The targets of `frames` samples spread evenly over the folder (all of them when None or more than there are),
    e.g. to score a model on part of its own training renders."""
    n = len(targets["index"])
    if frames is None or frames >= n:
        return targets
    rows = np.linspace(0, n - 1, frames).round().astype(int)
    return {k: v[rows] if isinstance(v, np.ndarray) and v.ndim and len(v) == n else v for k, v in targets.items()}


def evaluate_synthetic(runtime, semantic, semantic_dir: Path, data_dir: Path, cache: Path, model=None,
                       log=print, frames: int | None = None) -> dict:
    from models.capture.train.data import read_rgb
    from models.capture.train.targets import head_model, load_targets, unposed
    from models.dataset import label_path, read_label

    model = model or head_model(log)
    asset = model.asset
    regions = multirex.regions_from_masks(asset.regions)
    targets = evenly_spaced(load_targets(data_dir, cache, semantic_dir, model, log), frames)
    crops, affines, truth64, rot_true, gaze_true, yaw, lips = [], [], [], [], [], [], []
    for i in targets["index"]:
        arrays, meta = read_label(label_path(Path(data_dir), int(i)))
        crop = make_crop(read_rgb(Path(data_dir) / meta["image"]), runtime.resolution, arrays["mp478_2d"])
        crops.append(crop.image), affines.append(crop.affine)
        truth64.append(crop.to_crop(capture64.from_mp478(arrays["mp478_2d"])))
        rot_true.append(arrays["R"] @ arrays["head_rotation"])
        gaze_true.append(np.deg2rad(arrays["gaze_deg"]))
        yaw.append(abs(float(arrays["head_pose_camera_deg"][0])))
        lips.append(bool(arrays["lmk68_visible"][list(LIPS_OUTER)].all()))  # the generator's ray cast
    res = runtime.run_crops(np.array(crops), np.array(affines))
    truth, neutral = unposed(model, targets["identity"], targets["arkit_weights"])
    z_id = semantic.encode_identity(neutral)
    predicted = semantic.decode(res.z_exp, z_id, neutral)
    floor = semantic.decode(targets["z_exp"], z_id, neutral)
    errors = {"capture": multirex.errors_mm(predicted, truth, regions),
              "neutral_face": multirex.errors_mm(neutral, truth, regions),
              "decoder_given_true_code": multirex.errors_mm(floor, truth, regions)}
    yaw = np.array(yaw)
    face = np.flatnonzero(asset.regions["face"])
    expressiveness = np.linalg.norm(truth[:, face] - neutral[:, face], axis=2).mean(1)
    top = expressiveness >= np.quantile(expressiveness, 0.75)
    face_px = face_side_px(np.array(affines), runtime.resolution)
    table = {name: {"frames": int(rows.sum()), **{ref: _summary(e, rows) for ref, e in errors.items()}}
             for name, rows in split_rows(yaw, face_px, top, np.array(lips)).items()}
    truth_states = states(asset, truth, neutral)
    pred_states = states(asset, predicted, neutral)
    floor_states = states(asset, floor, neutral)
    z_err = np.abs(res.z_exp - targets["z_exp"])
    return {"frames": len(yaw), "multirex_mm": table,
            "per_frame": {"index": targets["index"].tolist(), "capture_mm": errors["capture"]["mean"].round(4).tolist(),
                          "neutral_face_mm": errors["neutral_face"]["mean"].round(4).tolist(),
                          "yaw_deg": yaw.round(2).tolist(), "face_px": face_px.round(1).tolist(),
                          "most_expressive_quarter": top.tolist(), "lips_visible": lips},
            "code_l1": float(z_err.mean()),
            "code_relative": float((np.linalg.norm(res.z_exp - targets["z_exp"], axis=1)
                                    / np.maximum(np.linalg.norm(targets["z_exp"], axis=1), 1e-9)).mean()),
            "landmark_nme": float(nme(res.landmarks64, np.array(truth64)).mean()),
            "pose_error_deg": float(rotation_error_deg(res.head_rotation, np.array(rot_true)).mean()),
            "gaze_error_deg": float(gaze_error_deg(res.gaze, np.array(gaze_true)).mean()),
            "confusion": {k: {"capture": confusion(truth_states[k], pred_states[k]),
                              "decoder_given_true_code": confusion(truth_states[k], floor_states[k])}
                          for k in truth_states}}


def real_agreement(runtime, real) -> dict:
    """Landmark NME against MediaPipe on cached real frames, and temporal jitter of the predicted landmarks
    (mean second difference between consecutive analysed frames of a file, as a fraction of the inter-ocular)."""
    if real is None or not len(real):
        return {"frames": 0}
    crops, truth = [], []
    for img, lm in zip(real.images, real.landmarks):
        crop = make_crop(img, runtime.resolution, lm)
        crops.append(crop.image)
        truth.append(apply_affine(crop.affine, capture64.from_mp478(lm)))
    res = runtime.run_crops(np.array(crops))
    truth = np.array(truth)
    out = {"frames": len(truth), "landmark_nme_vs_mediapipe": float(nme(res.landmarks64, truth).mean())}
    jitter, mp_jitter = [], []
    for k in np.unique(real.source):
        rows = np.flatnonzero(real.source == k)
        if len(rows) < 3:
            continue
        scale = interocular(truth[rows])[1:-1, None]
        for pts, acc in ((res.landmarks64[rows], jitter), (truth[rows], mp_jitter)):
            acc.append((np.linalg.norm(pts[2:] - 2 * pts[1:-1] + pts[:-2], axis=2) / scale).mean())
    if jitter:
        out["jitter"] = float(np.mean(jitter))
        out["jitter_mediapipe"] = float(np.mean(mp_jitter))
    return out
