"""`python -m synthetic.ray_bench`: samples per second of the direct path and of `render --ray` (a local cluster of
this machine's cores) in one run, alternated, so that both see the same load.

    direct, 1 worker of C threads   = --workers 1            ray, 1 slot of C CPUs      = --cpus-per-task C
    direct, 1 worker of 1 thread    = --workers 1 --threads 1  ray, 1 slot of 1 thread  = --cpus-per-task C --threads 1
    direct, C workers of 1 thread   = --workers C            ray, C slots of 1 CPU      = --cpus-per-task 1

(C = this machine's cores.) Two rates per run: the steady rate, the sum over its workers (task slots: Ray worker
processes) of that worker's samples after its first, over the time from its first to its last (the start-up
before a worker's first sample is left out, the turnover between a Ray worker's chunks is not); and the whole
run's rate, samples over the time from the call to its return (the Ray cluster's start and stop included).
Each round runs the chosen pairs (`--pairs`, default all three), direct first in even rounds and Ray first in
odd ones (the machine's speed drifts); a pair's Ray/direct ratio is taken within each round, then its median and
range over the rounds are reported, and so is the linearity (C one-thread workers against one) of each path.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from .config import RenderConfig
from .ray_render import RayOptions
from .render import run

SAMPLE = re.compile(r" done, sample (\d+) in [\d.]+ s( on (\S+?),)?")


def steady_rate(stamps: list[tuple[str, float]]) -> float:
    """Sum over workers of (samples - 1) / (last - first finish); stamps are (worker, finish time)."""
    per_worker = collections.defaultdict(list)
    for worker, t in stamps:
        per_worker[worker].append(t)
    rates = [(len(ts) - 1) / (ts[-1] - ts[0]) for ts in per_worker.values() if len(ts) > 1]
    return sum(rates) if rates else float("nan")


def measure(config: RenderConfig, cluster: RayOptions | None) -> dict:
    """Steady and whole-run samples/s of one fresh render (see the module docstring)."""
    stamps = []

    def log(message, **_):
        match = SAMPLE.search(message)
        if match:  # a direct worker renders the indices i with i % workers == its number (a fresh folder)
            worker = match.group(3) or str(int(match.group(1)) % config.workers)
            stamps.append((worker, time.perf_counter()))
        elif "task start-up" in message:
            print(message.replace("[synthetic]", "[ray-bench]  "), flush=True)

    load = os.getloadavg()[0]
    start = time.perf_counter()
    run(config, log=log, cluster=cluster)
    total = time.perf_counter() - start
    return {"steady": steady_rate(stamps), "whole": len(stamps) / total, "total_s": total, "load_before": load}


PAIRS = ("all", "one", "many")  # all cores in one worker / slot; one one-thread; `cores` one-thread ones


def runs(cores: int) -> list[tuple[str, str, int, int, RayOptions | None]]:
    """(pair, name, workers, threads, cluster) of each run, direct before Ray in each pair."""
    many = f"{cores} x 1 thread"
    return [("all cores in one", f"direct, 1 worker of {cores} threads", 1, 0, None),
            ("all cores in one", f"ray, 1 slot of {cores} CPUs", 1, 0, RayOptions("local", float(cores))),
            ("1 x 1 thread", "direct, 1 worker of 1 thread", 1, 1, None),
            ("1 x 1 thread", "ray, 1 slot of 1 thread", 1, 1, RayOptions("local", float(cores))),
            (many, f"direct, {cores} workers of 1 thread", cores, 1, None),
            (many, f"ray, {cores} slots of 1 CPU", 1, 1, RayOptions("local", 1.0))]


def round_order(plan: list, r: int) -> list:
    """The plan's runs for round r: each pair direct first in even rounds, Ray first in odd ones."""
    if r % 2 == 0:
        return list(plan)
    return [run_ for i in range(0, len(plan), 2) for run_ in (plan[i + 1], plan[i])]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def summary(plan: list, results: list[dict[str, dict]], cores: int) -> list[str]:
    """Per pair the within-round Ray/direct ratios of both rates, and each path's linearity (when the plan has
    both the one and the many pair), as report lines."""
    pairs = {plan[i][0]: (plan[i][1], plan[i + 1][1]) for i in range(0, len(plan), 2)}  # pair: (direct, ray)
    lines = []
    for pair, (direct, ray_) in pairs.items():
        parts = [f"{rate} {spread([r[ray_][rate] / r[direct][rate] for r in results])}" for rate in ("steady", "whole")]
        lines.append(f"ray / direct, {pair}: " + ", ".join(parts))
    one, many = "1 x 1 thread", f"{cores} x 1 thread"
    if one in pairs and many in pairs:
        for rate in ("steady", "whole"):
            lines.append(f"linearity, {rate} ({cores} one-thread workers / 1; ideal {cores}): " + ", ".join(
                f"{path} {spread([r[pairs[many][k]][rate] / r[pairs[one][k]][rate] for r in results])}"
                for k, path in enumerate(("direct", "ray"))))
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synthetic.ray_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=32, help="samples per run")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="times to run the pairs (ratios per round)")
    parser.add_argument("--pairs", nargs="+", choices=PAIRS, default=list(PAIRS),
                        help="which pairs to run (default all; linearity needs one and many)")
    a = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    plan = [run_ for i, run_ in enumerate(runs(cores)) if PAIRS[i // 2] in a.pairs]
    scratch = Path(tempfile.mkdtemp(prefix="synthetic-ray-bench-"))
    results: list[dict[str, dict]] = []
    print(f"[ray-bench] {a.count} samples per run at {a.resolution}², {a.samples} spp, denoised, {cores} cores")
    try:
        for r in range(a.rounds):
            results.append({})
            for k, (_, name, workers, threads, cluster) in enumerate(round_order(plan, r)):
                config = RenderConfig(out=scratch / f"{r}-{k}", count=a.count, seed=12345, resolution=a.resolution,
                                      samples=a.samples, workers=workers, threads=threads)
                m = measure(config, cluster)
                results[-1][name] = m
                print(f"[ray-bench] round {r + 1}, {name}: {m['steady']:.3f} samples/s steady, {m['whole']:.3f} "
                      f"whole run ({m['total_s']:.1f} s; load average before {m['load_before']:.1f})", flush=True)
                shutil.rmtree(config.out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for line in summary(plan, results, cores):
        print(f"[ray-bench] {line}")


if __name__ == "__main__":
    main()
