"""`python -m models.head shapes-bench`: the fast identity shapes against the exact construction.

Error: per-vertex distance in mm between HeadModel.shapes (linearised transfer with its exact patches, lids
re-closed, folds removed) and the exact transfer with the lids re-closed and the same fold removal, over every
shape; the mean is over the face region, the maximum
over all vertices. Time: wall-clock seconds per identity of HeadModel.shapes (all 51 shapes) and of one
sparse expression (HeadModel.shaped, what the generator calls per sample), with the derivatives loaded,
and the CPU time of the former (all threads; less sensitive to other jobs on the machine).
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..identity_shapes import exact_shapes
from ..model import HeadModel
from .identity_quality import random_identities

BENCH_SEED = 12345


def bench_identity_shapes(asset, n: int = 100, log=print) -> dict:
    model = HeadModel(asset)
    exact = exact_shapes(asset, model.identity_shapes.fold_repair)  # loads (or computes) the derivatives first
    face = np.asarray(asset.regions["face"], bool)
    betas = random_identities(n, asset.n_identity, BENCH_SEED)
    load = os.getloadavg()[0]
    fast_s, fast_cpu, exact_s, mean_mm, max_mm, p999 = [], [], [], [], [], []
    worst: dict[str, float] = {}
    for beta in betas:  # timed on their own: the exact solves in between would evict the derivatives from cache
        t, cpu = time.perf_counter(), time.process_time()
        model.shapes(beta)
        fast_s.append(time.perf_counter() - t)
        fast_cpu.append(time.process_time() - cpu)
    for i, beta in enumerate(betas):
        fast = model.shapes(beta)
        t = time.perf_counter()
        ref = exact(beta)
        exact_s.append(time.perf_counter() - t)
        err = np.linalg.norm(fast - ref, axis=-1) * 1000
        mean_mm.append(err[:, face].mean())
        max_mm.append(err.max())
        p999.append(np.percentile(err[:, face], 99.9))
        for k, name in enumerate(asset.shape_names):
            worst[name] = max(worst.get(name, 0.0), float(err[k].max()))
        if (i + 1) % 10 == 0:
            log(f"{i + 1}/{n} identities")
    rng = np.random.default_rng(BENCH_SEED)
    weights = np.zeros((n, len(asset.shape_names)))
    for w in weights:  # a few active shapes, as the expression sampler draws them, a blink among them
        w[rng.choice(len(w), 4, replace=False)] = rng.uniform(0.2, 1.0, 4)
        w[asset.shape_names.index("eyeBlinkLeft")] = 1.0
    sample_s = []
    for beta, w in zip(betas, weights):
        t = time.perf_counter()
        model.shaped(beta, w)
        sample_s.append(time.perf_counter() - t)
    top = sorted(worst, key=worst.get, reverse=True)[:5]
    return {
        "identities": n,
        "method": "transfer linearised in the identity (exact derivatives at the template), solved exactly on "
                  "per-shape patches where that is not close enough, lids re-closed exactly, folds removed",
        "error_mean_mm": round(float(np.mean(mean_mm)), 5),
        "error_max_mm": round(float(np.max(max_mm)), 4),
        "error_p99_9_mm": round(float(np.mean(p999)), 4),
        "error_max_by_shape_mm": {name: round(worst[name], 4) for name in top},
        "shapes_ms_median": round(1000 * float(np.median(fast_s)), 1),
        "shapes_ms_p90": round(1000 * float(np.percentile(fast_s, 90)), 1),
        "shapes_cpu_ms_median": round(1000 * float(np.median(fast_cpu)), 1),
        "sample_ms_median": round(1000 * float(np.median(sample_s)), 1),
        "exact_s_median": round(float(np.median(exact_s)), 2),
        "load_average_before": round(load, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }
