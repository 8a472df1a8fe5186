"""Frames per second of the capture model with ONNX Runtime at given batch sizes (`python -m models.capture bench`)."""
from __future__ import annotations

import os
import time

import numpy as np


def bench(runtime, batches=(1, 32), seconds: float = 5.0) -> dict:
    r = runtime.resolution
    rng = np.random.default_rng(0)
    out = {"provider": runtime.session.get_providers()[0], "file": runtime.file, "resolution": r,
           "cpu_count": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    for b in batches:
        crops = rng.integers(0, 256, (b, r, r, 3), dtype=np.uint8)
        runtime.session.run(None, {"image": crops})  # warm-up
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or calls < 3:
            runtime.session.run(None, {"image": crops})
            calls += 1
        dt = (time.perf_counter() - t0) / calls
        out[f"batch_{b}"] = {"ms_per_call": round(dt * 1000, 2), "frames_per_s": round(b / dt, 1)}
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out
