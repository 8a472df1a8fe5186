"""`python -m synthetic.ray_bench`: samples per second of the direct path and of `render --ray` (a local cluster of
this machine's cores) in one run, alternated, so that both see the same load.

    direct, 1 worker  = --workers 1 (all cores as threads)    ray, 1 task slot  = --cpus-per-task <cores>
    direct, 2 workers = --workers 2 (cores / 2 threads each)  ray, 2 task slots = --cpus-per-task <cores / 2>
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from .config import RenderConfig
from .ray_render import RayOptions
from .render import run


def measure(config: RenderConfig, cluster: RayOptions | None) -> dict:
    """Steady-state samples/s (first to last sample finished) and the end-to-end time of one render."""
    stamps = []

    def log(message, **_):
        if " done, sample " in message:
            stamps.append(time.perf_counter())
        elif "task start-up" in message:
            print(message.replace("[synthetic]", "[ray-bench]  "), flush=True)

    load = os.getloadavg()[0]
    start = time.perf_counter()
    run(config, log=log, cluster=cluster)
    total = time.perf_counter() - start
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return {"samples_per_s": steady, "total_s": total, "load_before": load}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synthetic.ray_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=16, help="samples per measurement")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="times to alternate the four runs")
    a = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    scratch = Path(tempfile.mkdtemp(prefix="synthetic-ray-bench-"))
    runs = [("direct, 1 worker", 1, None), ("ray, 1 task slot", 1, RayOptions("local", float(cores))),
            ("direct, 2 workers", 2, None), ("ray, 2 task slots", 1, RayOptions("local", cores / 2))]
    print(f"[ray-bench] {a.count} samples per run at {a.resolution}², {a.samples} spp, denoised, {cores} cores")
    try:
        for r in range(a.rounds):
            for name, workers, cluster in runs:
                out = scratch / f"{r}-{name.replace(' ', '').replace(',', '-')}"
                config = RenderConfig(out=out, count=a.count, seed=12345, resolution=a.resolution, samples=a.samples,
                                      workers=workers)
                m = measure(config, cluster)
                print(f"[ray-bench] {name}: {m['samples_per_s']:.3f} samples/s steady, {m['total_s']:.1f} s total "
                      f"(load average before {m['load_before']:.1f})", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
