"""The add-on panel: registration, the command it builds, and the background process it drives."""
import sys
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

from synthetic import labels  # noqa: E402
from synthetic.cli import build_parser  # noqa: E402
from blender_addon.dataset_panel import RenderProcess, register, render_arguments, unregister  # noqa: E402

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
    assert args.masks and args.device == "auto"
    assert Path(args.out) == tmp_path


def _wait(job, until, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code = job.poll()
        if until(code):
            return code
        time.sleep(0.05)
    raise AssertionError("timed out: " + "\n".join(job.tail))


def test_background_render_reports_progress(tmp_path):
    job = RenderProcess([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "2",
                         "--seed", "1", *FAST])
    code = _wait(job, lambda c: c is not None)
    assert code == 0 and job.fraction == 1.0 and (job.done, job.total) == (2, 2)


def test_cancel_stops_and_keeps_finished_samples(tmp_path):
    job = RenderProcess([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "60",
                         "--seed", "1", *FAST])
    _wait(job, lambda c: job.done >= 1 or c is not None)
    job.cancel()
    assert job.proc.poll() is not None
    finished = len(list((tmp_path / labels.LABEL_DIR).glob("*.npz")))
    assert 1 <= finished < 60


def test_failed_render_reports_the_error(tmp_path):
    job = RenderProcess([sys.executable, "-m", "synthetic", "render", "--out", str(tmp_path), "--count", "0",
                         "--seed", "1"])
    code = _wait(job, lambda c: c is not None)
    assert code == 2 and "--count 0" in job.error_message()
