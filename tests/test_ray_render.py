"""`render --ray` on a local Ray cluster this module starts (2 CPUs) and stops: the same dataset as one process in
both output modes, a worker killed mid-run, the driver killed and run again; Ray stays out of the plain CLI."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.paths import project_root
from synthetic import labels
from synthetic.ray_render import LOCAL_SYSTEM_CONFIG
from tests.test_synthetic_render import all_labels, assert_same_labels, synthetic

ray = pytest.importorskip("ray")

ROOT = project_root()
COUNT = 4
FAST = ["--resolution", "64", "--samples", "2", "--no-denoise"]
SAMPLE_LINE = re.compile(r"done, sample (\d{6}) in [\d.]+ s on [^:]+:(\d+),")


def _our_processes(marker: str) -> list[int]:
    """Pids whose command line names `marker` (the cluster's own temporary folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU cluster in its own temporary folder; after the module, none of its processes is left."""
    temp = tempfile.mkdtemp(prefix="ray-t-", dir="/tmp")  # short: Ray's socket paths have a length limit
    try:
        for attempt in range(3):  # Ray allows its processes a fixed 30 s to register: too short on a loaded machine
            try:
                context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                                   logging_level="WARNING", _temp_dir=temp, _system_config=LOCAL_SYSTEM_CONFIG)
                break
            except Exception as exc:
                if "timed out during startup" not in str(exc) or attempt == 2:
                    raise
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 60
        while _our_processes(temp) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _our_processes(temp)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes left after shutdown: {left}"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, head_asset):
    """One process, with the head asset and its identity-shape derivatives already in the session's cache (as
    every Ray run finds them; computing the derivatives in a render would take minutes of its time limit)."""
    from models.head.identity_shapes import load_identity_shapes

    load_identity_shapes(head_asset)
    out = tmp_path_factory.mktemp("direct")
    synthetic("render", "--out", out, "--count", COUNT, "--seed", 5, *FAST)
    return out


def assert_same_dataset(a, b):
    assert_same_labels(all_labels(a), all_labels(b))
    for i in range(COUNT):
        pa, pb = (cv2.imread(str(labels.image_path(d, i)), cv2.IMREAD_UNCHANGED) for d in (a, b))
        assert np.array_equal(pa, pb), f"image {i} differs"
    manifest = json.loads((Path(b) / "manifest.json").read_text())
    assert manifest["complete"] and [s["index"] for s in manifest["samples"]] == list(range(COUNT))
    debris = [p.name for d in (labels.IMAGE_DIR, labels.LABEL_DIR) for p in (Path(b) / d).iterdir()
              if labels.temp_writer(d, p.name) is not None]
    assert not debris, debris


def _start(out, address, *extra):
    return subprocess.Popen([sys.executable, "-m", "synthetic", "render", "--out", str(out), "--count", str(COUNT),
                             "--seed", "5", *FAST, "--ray", address, *extra], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_samples_sent_to_the_driver_equal_the_single_process_run(cluster, baseline, tmp_path):
    """(The shared-folder mode is compared in the next test.)"""
    proc = synthetic("render", "--out", tmp_path, "--count", COUNT, "--seed", 5, *FAST, "--ray", cluster,
                     "--ray-output", "driver", "--progress-json")
    assert_same_dataset(baseline, tmp_path)
    assert "sent to this driver" in proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    done = [e["done"] for e in events if e["event"] == "progress"]
    assert done == list(range(COUNT + 1))
    assert all("task(s) running" in e["stage"] and "samples/s" in e["stage"] for e in events
               if e["event"] == "progress" and e["done"])
    assert events[-1]["event"] == "done"


def test_a_killed_worker_ends_with_every_sample_once(cluster, baseline, tmp_path):
    """In the shared-folder mode: the dataset also equals the single-process one. The worker killed is the one that
    has just reported sample 0: the first task holds samples 0 and 1 (2 slots, 4 samples), so it dies with sample 1
    still to render (a worker killed after its chunk's last sample would leave nothing to retry)."""
    proc = _start(tmp_path, cluster, "--ray-output", "shared")
    killed, reported, lines = None, [], []
    for line in proc.stdout:
        lines.append(line)
        match = SAMPLE_LINE.search(line)
        if match:
            reported.append(int(match.group(1)))
            if killed is None and int(match.group(1)) == 0:
                killed = int(match.group(2))
                os.kill(killed, signal.SIGKILL)  # a worker of this module's cluster, named by the driver
    assert proc.wait(timeout=300) == 0
    assert killed is not None
    assert any(f":{killed} died (WorkerCrashedError)" in line for line in lines), "".join(lines)
    assert any("1 failed, 1 retried" in line for line in lines), "".join(lines)
    assert sorted(reported) == list(range(COUNT)), "each sample reported exactly once"
    assert_same_dataset(baseline, tmp_path)


def test_a_rerun_after_the_driver_died_renders_only_the_missing(cluster, baseline, tmp_path):
    proc = _start(tmp_path, cluster)
    seen = 0
    for line in proc.stdout:
        seen += bool(SAMPLE_LINE.search(line))
        if seen == 2:
            proc.kill()
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    present = {i for i in range(COUNT) if labels.sample_problem(tmp_path, i, 64, False) is None}
    assert 2 <= len(present) < COUNT
    again = synthetic("render", "--out", tmp_path, "--count", COUNT, "--seed", 5, *FAST, "--ray", cluster)
    first = re.search(rf"(\d+)/{COUNT} done, (\d+) to render on Ray", again.stdout)
    assert first and int(first.group(1)) >= len(present) and int(first.group(1)) + int(first.group(2)) == COUNT
    rendered = {int(m.group(1)) for m in SAMPLE_LINE.finditer(again.stdout)}
    assert not rendered & present
    assert_same_dataset(baseline, tmp_path)


def test_tasks_of_a_local_cluster_run_at_the_drivers_priority(cluster):
    """Not Ray's nice 15, at which a task got half the CPU of a direct worker beside it."""
    code = ("import os, sys, ray; ray.init(address=sys.argv[1], log_to_driver=False, logging_level='WARNING'); "
            "print('nice', ray.get(ray.remote(lambda: os.nice(0)).options(num_cpus=1).remote()))")
    proc = subprocess.run([sys.executable, "-c", code, cluster], cwd=ROOT, text=True, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"nice {os.nice(0)}" in proc.stdout.splitlines()


SECOND_CHUNK = """
import dataclasses
import sys
from pathlib import Path
import ray
from synthetic import labels
from synthetic.config import RenderConfig
from synthetic.ray_render import render_chunk
from synthetic.render import prepare
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="WARNING")
out = Path(sys.argv[2])
config = RenderConfig(out=out, count=4, seed=5, resolution=64, samples=2, denoise=False, threads=1)
job, asset = prepare(config)
ref = ray.put(asset)
for chunk, settings in (([0, 1], config), ([2, 3], config), ([1], dataclasses.replace(config, seed=6))):
    items = list(render_chunk(settings, job.hdris, [ref], chunk, "", shared=False))
    print("scene:", "built" if items[0][3] else "reused", flush=True)
    if settings is config:
        for _, index, _, files in items[1:]:
            for relative, data in files:
                labels.atomic_write(out / relative, lambda handle, data=data: handle.write(data))
"""


def test_a_workers_later_chunks_reuse_its_scene_and_render_the_same_labels(cluster, baseline, tmp_path):
    """Two chunks in one process (as Ray runs a run's later tasks in the workers of its first ones): the second
    renders in the scene the first built, the labels are those of the single-process run; other settings build
    a new scene."""
    proc = subprocess.run([sys.executable, "-c", SECOND_CHUNK, cluster, str(tmp_path)], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.findall(r"^scene: (\w+)$", proc.stdout, re.M) == ["built", "reused", "built"]
    assert_same_labels(all_labels(baseline), all_labels(tmp_path))


def test_the_plain_cli_and_the_addon_panel_never_import_ray():
    code = ("import sys; import synthetic.cli, synthetic.render, synthetic.config; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    panel = (ROOT / "blender_addon" / "dataset_panel.py").read_text()
    assert "import ray" not in panel and "ray_render" not in panel


def test_ray_options_need_ray(tmp_path, capsys):
    from synthetic.cli import main

    assert main(["render", "--out", str(tmp_path), "--count", "1", "--seed", "1", "--cpus-per-task", "2"]) == 2
    assert "--cpus-per-task only apply with --ray" in capsys.readouterr().err
    assert main(["render", "--out", str(tmp_path), "--count", "1", "--seed", "1", "--ray", "--workers", "2"]) == 2
    assert "--workers is for local processes" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing written"
