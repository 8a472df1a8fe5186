"""Per-actor adaptation (SEREP's semi-supervised scheme as a user feature): fine-tune an exported capture model on
the user's own unlabeled clip (its frames are the real domain: MediaPipe landmark pseudo-labels and the domain
loss) with synthetic batches mixed in, and write it as a new model beside the original (never over it).

The last quarter of the clip is held out; agreement with MediaPipe and jitter there are measured before and after.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from models.capture.runtime import CaptureOptions, CaptureRuntime, file_names
from models.capture.train import real as R
from models.capture.train.train import TrainConfig, train

HELD_OUT = 0.75  # frames after this fraction of the clip are never trained on


def adapted_name(weights_dir: Path, name: str, clip: Path) -> str:
    """`NAME-adapted-CLIP`, with a number appended when that model already exists."""
    base, k = f"{name}-adapted-{Path(clip).stem}", 1
    candidate = base
    while (Path(weights_dir) / file_names(candidate)["meta"]).exists():
        k += 1
        candidate = f"{base}-{k}"
    return candidate


def adapt(clip: Path, data, weights_dir: Path, name: str, semantic_dir: Path, cache: Path, minutes: float = 5.0,
          steps: int = 100_000, max_frames: int = 200, threads: int = 2, log=print, face=None, lr: float = 1e-4,
          frozen_norm: bool = True) -> dict:
    """`face`: the training's mesh_loss.FaceMetric, so the synthetic rows keep the loss they were trained with.
    `frozen_norm`: the BatchNorm statistics stay the model's (train.training_mode)."""
    from models.capture.evaluate import real_agreement
    from models.capture.train.export import export

    names = file_names(name)
    state_path = Path(weights_dir) / names["torch"]
    if not state_path.is_file():
        raise FileNotFoundError(f"{state_path} is missing: adapt fine-tunes the torch weights exported beside "
                                f"{names['fp32']}; export the model again with `python -m models.capture export`")
    base = CaptureRuntime(CaptureOptions(weights_dir=weights_dir, name=name, semantic_dir=semantic_dir))
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    fit = R.load_real([clip], cache, max_frames, log, 0.0, HELD_OUT)
    held = R.load_real([clip], cache, max_frames, log, HELD_OUT, 1.0)
    if not len(fit):
        raise RuntimeError(f"MediaPipe found no face in {clip}; adaptation needs frames with the actor's face")
    before = real_agreement(base, held)
    cfg = TrainConfig(**{**state["config"], "minutes": minutes, "steps": steps, "lr": lr, "warmup_steps": 20,
                         "batch": 16, "real_batch": 16, "pretrained": False, "threads": threads, "val_every": 100})
    key = hashlib.sha256(f"{base.digest} {R.file_key(Path(clip), max_frames, 0.0, HELD_OUT)} "
                         f"{dataclasses.asdict(cfg)} face_loss={face is not None} "
                         f"frozen_norm={frozen_norm}".encode()).hexdigest()[:12]
    mirror = {k: base.meta[k] for k in ("code_mirror", "code_mirror_residual") if k in base.meta}
    run_dir = train(data, fit, cfg, Path(cache) / "adapt" / key, cache, init_state=state["model"], log=log, face=face,
                    extra=mirror, frozen_norm=frozen_norm)
    new_name = adapted_name(weights_dir, name, clip)
    export(run_dir / "last.pt", weights_dir, new_name, semantic_dir,
           info={"adapted_from": name, "adapted_from_sha256": base.digest, "clip": str(clip)}, log=log)
    after = real_agreement(CaptureRuntime(CaptureOptions(weights_dir=weights_dir, name=new_name,
                                                         semantic_dir=semantic_dir)), held)
    return {"model": new_name, "fit_frames": len(fit), "held_out_frames": len(held), "before": before, "after": after}
