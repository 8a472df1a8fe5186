"""The dataset panel: registration, the command it builds, and the render job it drives (through jobs.Job)."""
import sys
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from synthetic import labels  # noqa: E402
from synthetic.cli import build_parser  # noqa: E402
from blender_addon.dataset_panel import DEVICES, job_status, register, render_arguments, unregister  # noqa: E402
from blender_addon.jobs import Job  # noqa: E402
from synthetic.config import DEVICES as GENERATOR_DEVICES  # noqa: E402

FAST = ["--resolution", "64", "--samples", "1", "--no-denoise"]


@pytest.fixture
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    register()
    yield bpy.context.scene.synthetic_render
    unregister()
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_register_and_arguments(registered, tmp_path):
    s = registered
    assert hasattr(bpy.ops.synthetic, "render") and hasattr(bpy.ops.synthetic, "cancel")
    s.out, s.count, s.seed, s.shard, s.workers, s.masks = str(tmp_path), 12, 3, "1/4", 2, True
    args = build_parser().parse_args(render_arguments(s))
    assert (args.count, args.seed, args.shard, args.workers, args.resolution) == (12, 3, "1/4", 2, 256)
    assert args.masks and args.device == "auto" and args.progress_json
    assert Path(args.out) == tmp_path
    assert DEVICES == GENERATOR_DEVICES  # one device list, the generator's
    assert args.ray is None
    s.ray = "10.0.0.5:6379"
    args = build_parser().parse_args(render_arguments(s))
    assert args.ray == "10.0.0.5:6379" and args.workers == 1  # the cluster sets the parallelism


def test_status_shows_the_clusters_progress():
    class Running:
        done, total, stage = 3, 10, "render: 1.50 samples/s, eta 5 s, 2 task(s) running, 1 failed, 1 retried"

    assert job_status(Running) == "3/10 samples · 1.50 samples/s, eta 5 s, 2 task(s) running, 1 failed, 1 retried"
    Running.stage = "render"
    assert job_status(Running) == "3/10 samples"
    Running.total = 0
    assert job_status(Running) == "preparing…"


def _wait(job, until, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code = job.poll()
        if until(code):
            return code
        time.sleep(0.05)
    raise AssertionError("timed out: " + "\n".join(job.log))


def test_background_render_reports_progress(tmp_path):
    job = Job([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "2",
               "--seed", "1", "--progress-json", *FAST])
    code = _wait(job, lambda c: c is not None)
    assert code == 0 and job.fraction == 1.0 and (job.done, job.total, job.stage) == (2, 2, "render")
    assert job.result == {"out": str(tmp_path), "samples": 2, "shard": [0, 1]}
    assert any("[synthetic] finished" in line for line in job.log)  # the human log arrives on stderr


def test_cancel_stops_and_keeps_finished_samples(tmp_path):
    job = Job([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "60",
               "--seed", "1", "--progress-json", *FAST])
    _wait(job, lambda c: job.done >= 1 or c is not None)
    job.cancel()
    assert job.proc.poll() is not None
    finished = len(list((tmp_path / labels.LABEL_DIR).glob("*.npz")))
    assert 1 <= finished < 60


def test_failed_render_reports_the_error(tmp_path):
    job = Job([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "0",
               "--seed", "1", "--progress-json"])
    code = _wait(job, lambda c: c is not None)
    assert code == 2 and job.errors and "--count 0" in job.errors[-1] and "--count 0" in job.error_message()
