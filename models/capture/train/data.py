"""Training batches: synthetic renders (crops from ground-truth landmarks with jitter, every target) and real frames
(crops from MediaPipe's landmarks, landmark pseudo-labels only), some of them seen in a mirror."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from models.capture.crop import CropJitter, apply_affine, make_crop, rotation_to_crop
from models.capture.mirror import mirror_gaze, mirror_images, mirror_landmarks, mirror_rotation
from models.capture.train.augment import Augment, augment
from models.capture.train.real import RealFrames
from models.vocab import capture64, mediapipe478


@dataclasses.dataclass
class SyntheticSet:
    """The small per-sample arrays of a dataset in memory; images are read when drawn."""

    image_paths: list[Path]
    mp478: np.ndarray  # (N, 478, 2) frame pixels
    rotation_camera: np.ndarray  # (N, 3, 3) head rotation in the camera frame
    gaze: np.ndarray  # (N, 2, 2) radians, [left, right] x [yaw, pitch], head frame
    yaw_deg: np.ndarray  # (N,) head yaw as the camera sees it
    z_exp: np.ndarray  # (N, 64)
    z_exp_mirror: np.ndarray  # (N, 64) the code of the sample's mirror image
    identity: np.ndarray
    arkit_weights: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def subset(self, rows) -> "SyntheticSet":
        rows = np.asarray(rows)
        return SyntheticSet([self.image_paths[i] for i in rows], *(getattr(self, f.name)[rows] for f in
                                                                     dataclasses.fields(self)[1:]))


def load_synthetic(data_dir: Path, targets: dict[str, np.ndarray]) -> SyntheticSet:
    from models.dataset import label_path, read_label

    data_dir = Path(data_dir)
    paths, mp, rot, gaze, yaw = [], [], [], [], []
    for i in targets["index"]:
        arrays, meta = read_label(label_path(data_dir, int(i)))
        paths.append(data_dir / meta["image"])
        mp.append(arrays["mp478_2d"])
        rot.append(arrays["R"] @ arrays["head_rotation"])
        gaze.append(np.deg2rad(arrays["gaze_deg"]))
        yaw.append(arrays["head_pose_camera_deg"][0])
    f = np.float32
    return SyntheticSet(paths, np.array(mp, f), np.array(rot, f), np.array(gaze, f), np.array(yaw, f),
                        targets["z_exp"], targets["z_exp_mirror"], targets["identity"], targets["arkit_weights"],
                        targets["index"])


def load_synthetic_sets(data_dirs, cache: Path, semantic_dir: Path, model=None, log=print) -> SyntheticSet:
    """Several rendered datasets as one set (their targets computed and cached per dataset; `model`: the head
    model, see load_targets)."""
    from models.capture.train.targets import load_targets

    sets = [load_synthetic(d, load_targets(d, cache, semantic_dir, model, log)) for d in data_dirs]
    if len(sets) == 1:
        return sets[0]
    fields = dataclasses.fields(SyntheticSet)[1:]
    return SyntheticSet([p for s in sets for p in s.image_paths],
                        *(np.concatenate([getattr(s, f.name) for s in sets]) for f in fields))


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path} is not a readable image; re-render it with `python -m synthetic render`")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def normalised(points_crop: np.ndarray, resolution: int) -> np.ndarray:
    return (points_crop / (resolution / 2) - 1).astype(np.float32)


@dataclasses.dataclass
class Batch:
    images: np.ndarray  # (B, R, R, 3) uint8: the synthetic ones first
    landmarks: np.ndarray  # (B, 64, 2) in [-1, 1] crop units
    n_synthetic: int
    z_exp: np.ndarray  # (Bs, 64)
    rotation: np.ndarray  # (Bs, 3, 3) as the crop sees it
    gaze: np.ndarray  # (Bs, 2, 2) radians
    dense: np.ndarray  # (B, 478, 2) every MediaPipe point in [-1, 1] crop units (targets of the dense head)
    dense_valid: np.ndarray  # (B,) bool: False on mirrored rows (MediaPipe's 478 have no exact mirror pairing here)


def synthetic_crops(data: SyntheticSet, rows, resolution: int, rng, jitter: CropJitter | None,
                    aug: Augment | None):
    """Crops, their 64 landmarks, head rotations and all 478 points (the last two in crop terms)."""
    images, dense, rots = [], [], []
    for i in rows:
        crop = make_crop(read_rgb(data.image_paths[i]), resolution, data.mp478[i], jitter=jitter, rng=rng)
        images.append(augment(crop.image, rng, aug) if aug else crop.image)
        dense.append(normalised(crop.to_crop(data.mp478[i]), resolution))
        rots.append(rotation_to_crop(data.rotation_camera[i], crop.affine))
    dense = np.array(dense)
    return np.array(images), capture64.from_mp478(dense), np.array(rots, np.float32), dense


def real_crops(real: RealFrames, rows, resolution: int, rng, jitter: CropJitter | None, aug: Augment | None):
    """Crops, their 64 landmarks and all 478 points: MediaPipe's, the pseudo-labels."""
    images, dense = [], []
    for i in rows:
        crop = make_crop(real.images[i], resolution, real.landmarks[i], jitter=jitter, rng=rng)
        images.append(augment(crop.image, rng, aug) if aug else crop.image)
        dense.append(normalised(apply_affine(crop.affine, real.landmarks[i]), resolution))
    r = resolution
    dense = np.array(dense, np.float32).reshape(-1, mediapipe478.N_LANDMARKS, 2)
    return np.array(images, np.uint8).reshape(-1, r, r, 3), capture64.from_mp478(dense), dense


def make_batch(data: SyntheticSet, real: RealFrames | None, n_synthetic: int, n_real: int, resolution: int,
               rng: np.random.Generator, jitter: CropJitter | None = CropJitter(),
               aug: Augment | None = Augment(), mirror: float = 0.0) -> Batch:
    """`mirror`: the fraction of crops (synthetic and real) flipped left to right, with their targets mirrored."""
    rows = rng.integers(0, len(data), n_synthetic)
    images, lmks, rots, dense = synthetic_crops(data, rows, resolution, rng, jitter, aug)
    z_exp, gaze = data.z_exp[rows], data.gaze[rows]
    if real is not None and len(real) and n_real:
        r_img, r_lmk, r_dense = real_crops(real, rng.integers(0, len(real), n_real), resolution, rng, jitter, aug)
        images, lmks, dense = (np.concatenate(pair) for pair in ((images, r_img), (lmks, r_lmk), (dense, r_dense)))
    flip = np.zeros(len(images), bool)
    if mirror > 0:
        flip = rng.random(len(images)) < mirror
        images[flip], lmks[flip] = mirror_images(images[flip]), mirror_landmarks(lmks[flip])
        s = flip[:n_synthetic]  # the rows below are copies (fancy indexing), so the set itself stays as it is
        rots[s], gaze[s], z_exp[s] = mirror_rotation(rots[s]), mirror_gaze(gaze[s]), data.z_exp_mirror[rows[s]]
    return Batch(images, lmks, n_synthetic, z_exp, rots, gaze, dense, ~flip)
