"""A tiny untrained capture model, exported like a real one (for the runtime, export and backend tests)."""
import dataclasses
from pathlib import Path

import torch

RES = 32


def export_tiny_capture_model(root: Path, name: str = "tiny", code_mirror=None, **config) -> Path:
    """Exports a randomly initialised light network (RES² crops) into root/out; returns that folder. `code_mirror`:
    a (65, 64) map (models.capture.mirror.CodeMirror) carried like a trained model's; `config`: TrainConfig fields
    (e.g. pooling, dense_landmarks)."""
    from models.capture.train.export import export
    from models.capture.train.networks import CaptureNet
    from models.capture.train.train import TrainConfig
    from models.semantic.runtime import WEIGHTS_DIR

    torch.manual_seed(0)
    ck = Path(root) / "ck.pt"
    settings = dataclasses.asdict(TrainConfig(resolution=RES, **config))
    torch.save({"model": CaptureNet.from_config(settings).state_dict(), "step": 0, "elapsed": 0.0, "history": [],
                "config": settings,
                **({} if code_mirror is None else {"code_mirror": code_mirror, "code_mirror_residual": 0.0})}, ck)
    export(ck, Path(root) / "out", name, WEIGHTS_DIR, log=lambda *a: None)
    return Path(root) / "out"
