"""`bench`: seconds per sample (steady state, scene already built) and the scaling with --workers."""
from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from .render import run


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the spawned workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench(args, make_config) -> list[dict]:
    workers_list = [int(w) for w in str(args.workers_list).split(",") if w.strip()]
    scratch = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synthetic-bench-"))
    results = []
    print(f"[bench] {args.count} samples per run at {args.resolution}x{args.resolution}, {args.samples} samples, "
          f"denoise {'off' if args.no_denoise else 'on'}, {os.cpu_count()} cores")
    for workers in workers_list:
        out = scratch / f"w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        args.workers = workers
        config = make_config(args, out, args.count, 12345)
        stamps = []

        def log(message, **_):
            if "] " in message and " done, sample " in message:
                stamps.append(time.perf_counter())

        load = os.getloadavg()[0]
        cpu0 = _cpu_seconds()
        start = time.perf_counter()
        run(config, log=log)
        total = time.perf_counter() - start
        cpu = (_cpu_seconds() - cpu0) / args.count
        steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else total
        results.append({"workers": workers, "total_s": total, "steady_s_per_sample": steady,
                        "cpu_s_per_sample": cpu, "load_before": load})
        print(f"[bench] workers {workers}: {steady:.2f} s/sample steady state, {total:.1f} s total for "
              f"{args.count} (including {max(total - steady * len(stamps), 0):.1f} s start-up); "
              f"{cpu:.2f} CPU-s/sample incl. start-up; load average before {load:.1f} on {os.cpu_count()} cores",
              flush=True)
    if not args.out:
        shutil.rmtree(scratch, ignore_errors=True)
    return results
