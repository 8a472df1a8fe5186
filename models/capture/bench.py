"""Frames per second of the capture model with ONNX Runtime at given batch sizes (`python -m models.capture bench`)."""
from __future__ import annotations

import os
import time

import numpy as np


def _timed(call, seconds: float) -> float:
    """Seconds per call, after a warm-up call."""
    call()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or calls < 3:
        call()
        calls += 1
    return (time.perf_counter() - t0) / calls


def bench(runtime, batches=(1, 32), seconds: float = 5.0) -> dict:
    """The network alone (one ONNX call on B crops) and, when the runtime averages each crop with its mirror image,
    `run_crops` as the product calls it (two network evaluations per crop)."""
    r = runtime.resolution
    rng = np.random.default_rng(0)
    out = {"provider": runtime.session.get_providers()[0], "file": runtime.file, "resolution": r,
           "mirror_average": runtime.mirror_average,
           "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    for b in batches:
        crops = rng.integers(0, 256, (b, r, r, 3), dtype=np.uint8)
        dt = _timed(lambda: runtime.session.run(None, {"image": crops}), seconds)
        out[f"batch_{b}"] = {"ms_per_call": round(dt * 1000, 2), "frames_per_s": round(b / dt, 1)}
        if runtime.mirror_average:
            dt = _timed(lambda: runtime.run_crops(crops), seconds)
            out[f"batch_{b}_mirror_average"] = {"ms_per_call": round(dt * 1000, 2), "frames_per_s": round(b / dt, 1)}
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out
