"""How much of the expression code the face's 2D shape carries, and how precise landmarks must be to read it.

A ridge regression from the 478 MediaPipe points of a crop (translation and scale removed) to the SEREP code,
fitted on a training set and scored on a held-out one through the face-surface metric (`mesh_loss.FaceMetric`),
as a fraction of the error of the training set's median code (the neutral-face reference of the linearised metric).
Sources of the points: the labels' ground truth, the ground truth with Gaussian noise of a given size in crop pixels
(fitted and scored with the noise, so the ridge regularises against it), MediaPipe's points, and a trained model's
dense head. numpy and scipy (the regularised normal equations); the network is only run for the model source.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy import linalg

from models.capture.evaluate import YAW_BINS, bin_name

ALPHAS = (1e-6, 1e-5, 1e-4, 1e-3)  # per sample: the penalty is alpha * n * |W|^2
VALIDATION_EVERY = 10  # every k-th training row chooses alpha; the map is then refitted on all rows


def shape_features(points: np.ndarray) -> np.ndarray:
    """(N, P, 2) points -> (N, 2P): centred on their mean and scaled to unit RMS radius."""
    p = np.asarray(points, np.float64)
    p = p - p.mean(1, keepdims=True)
    return (p / np.sqrt((p ** 2).sum(2).mean(1))[:, None, None]).reshape(len(p), -1)


@dataclasses.dataclass(frozen=True)
class RidgeMap:
    weights: np.ndarray  # (F, 64)
    x_mean: np.ndarray
    y_mean: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.x_mean) @ self.weights + self.y_mean


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> RidgeMap:
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    gram = xc.T @ xc + alpha * len(x) * np.eye(x.shape[1])
    return RidgeMap(linalg.solve(gram, xc.T @ (y - y_mean), assume_a="pos"), x_mean, y_mean)


def fit_chosen(x: np.ndarray, y: np.ndarray, metric, alphas=ALPHAS) -> tuple[RidgeMap, float]:
    """The ridge map whose alpha scores best on every VALIDATION_EVERY-th row (fitted on the others), refitted."""
    val = np.arange(len(x)) % VALIDATION_EVERY == 0
    scores = [metric.error_mm(fit_ridge(x[~val], y[~val], a)(x[val]), y[val]).mean() for a in alphas]
    alpha = alphas[int(np.argmin(scores))]
    return fit_ridge(x, y, alpha), alpha


def score(metric, z_pred: np.ndarray, z_true: np.ndarray, z_reference: np.ndarray, yaw_deg: np.ndarray) -> dict:
    """Face error as a fraction of the reference code's, for all rows and by |yaw| (the eval's bins)."""
    e, e0 = metric.error_mm(z_pred, z_true), metric.error_mm(np.broadcast_to(z_reference, z_true.shape), z_true)
    yaw = np.abs(yaw_deg)
    out = {"all": round(float(e.mean() / e0.mean()), 4)}
    for lo, hi in YAW_BINS:
        rows = (yaw >= lo) & (yaw < hi)
        if rows.any():
            out[bin_name("yaw", lo, hi)] = round(float(e[rows].mean() / e0[rows].mean()), 4)
    return out


def probe_points(metric, train_points, train_z, heldout_points, heldout_z, heldout_yaw, reference_z) -> dict:
    """Fit on the training points (rows with NaN points are left out on both sides), score on the held-out ones."""
    ok_t = ~np.isnan(train_points).any((1, 2))
    ok_h = ~np.isnan(heldout_points).any((1, 2))
    ridge, alpha = fit_chosen(shape_features(train_points[ok_t]), train_z[ok_t], metric)
    z = ridge(shape_features(heldout_points[ok_h]))
    return {"alpha": alpha, "train_rows": int(ok_t.sum()), "heldout_rows": int(ok_h.sum()),
            **score(metric, z, heldout_z[ok_h], reference_z, heldout_yaw[ok_h])}


def crop_points(data, resolution: int) -> np.ndarray:
    """The ground-truth 478 points in crop pixels of the un-jittered crops (the eval's crops)."""
    from models.capture.crop import apply_affine, square_affine, square_from_landmarks

    return np.array([apply_affine(square_affine(square_from_landmarks(p), resolution), p) for p in data.mp478],
                    np.float32)


def model_points(model_pt, data, resolution: int, batch: int = 64) -> np.ndarray:
    """A trained model's dense 478 points in crop pixels (its `NAME.pt` or a checkpoint; needs the dense head)."""
    import torch

    from models.capture.train import data as D
    from models.capture.train.networks import CaptureNet
    from models.capture.train.train import load_init

    init = load_init(model_pt)
    net = CaptureNet.from_config(init.config)
    if net.dense is None:
        raise ValueError(f"{model_pt} has no dense landmark head; probe a model trained with --dense-landmarks")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in init.state.items()})
    net.eval()
    res = int(init.config.get("resolution", resolution))
    out = []
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for s in range(0, len(data), batch):
            images = D.synthetic_crops(data, np.arange(s, min(s + batch, len(data))), res, rng, None, None)[0]
            out.append(net(torch.as_tensor(images).float())["dense"].numpy())
    return ((np.concatenate(out) + 1) * (res / 2)).astype(np.float32)


def mediapipe_points(data, size: int = 256) -> np.ndarray:
    """MediaPipe Face Mesh's 478 points on each render's ground-truth crop at `size`² (NaN where it finds no face);
    in that crop's pixels (the shape features drop the scale)."""
    from models.capture.crop import make_crop
    from models.capture.train.data import read_rgb
    from models.video.track import FaceMesh
    from models.vocab import mediapipe478

    out = np.full((len(data), mediapipe478.N_LANDMARKS, 2), np.nan, np.float32)
    with FaceMesh(video=False) as mesh:
        for i, (path, truth) in enumerate(zip(data.image_paths, data.mp478)):
            found = mesh(make_crop(read_rgb(path), size, truth).image)
            if found is not None:
                out[i] = found
    return out


def run_probe(train_set, heldout_set, metric, resolution: int, noise_px=(), model_pt=None, mediapipe=False,
              seed: int = 0, log=print) -> dict:
    """Every source's held-out fraction of the median code's face error (see the module docstring)."""
    reference = np.median(train_set.z_exp, 0)

    def row(train_points, heldout_points):
        return probe_points(metric, train_points, train_set.z_exp, heldout_points, heldout_set.z_exp,
                            heldout_set.yaw_deg, reference)

    truth_t, truth_h = crop_points(train_set, resolution), crop_points(heldout_set, resolution)
    report = {"resolution": resolution, "train_samples": len(train_set), "heldout_samples": len(heldout_set),
              "ground_truth": row(truth_t, truth_h)}
    rng = np.random.default_rng(seed)
    for px in noise_px:
        noisy = [p + rng.normal(0, px, p.shape).astype(np.float32) for p in (truth_t, truth_h)]
        report[f"ground_truth_noise_{px:g}px"] = row(*noisy)
    if mediapipe:
        log("MediaPipe on every crop ...")
        report["mediapipe"] = row(mediapipe_points(train_set), mediapipe_points(heldout_set))
    if model_pt is not None:
        log(f"{model_pt} on every crop ...")
        report["model"] = {"file": str(model_pt), **row(model_points(model_pt, train_set, resolution),
                                                        model_points(model_pt, heldout_set, resolution))}
    return report
