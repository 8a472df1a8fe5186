"""The Capture panel in bpy: a Movie Clip analysed through the background job, baked from the cache, re-baked
with another smoothing without analysing again, a cancelled analysis, bad targets and files as one-line reports."""
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from capture_helpers import SELFIE

bpy = pytest.importorskip("bpy")

from blender_addon import analysis  # noqa: E402
from blender_addon.capture import parse_args  # noqa: E402


@pytest.fixture()
def addon(empty_scene, head_asset):
    import blender_addon

    blender_addon.register()
    bpy.ops.facecap.create_head()
    yield bpy.context.scene.facecap_capture
    blender_addon.unregister()


def _cache_files(session_cache):
    folder = Path(session_cache) / "capture"
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.is_dir() else {}


def _shape_values(action, name="jawOpen"):
    from bpy_extras.anim_utils import action_ensure_channelbag_for_slot

    for slot in action.slots:
        for fc in action_ensure_channelbag_for_slot(action, slot).fcurves:
            if fc.data_path == f'key_blocks["{name}"].value':
                values = np.empty(len(fc.keyframe_points) * 2, np.float32)
                fc.keyframe_points.foreach_get("co", values)
                return values.reshape(-1, 2)[:, 1]
    raise AssertionError(f"no {name} curve")


class StubLayout:
    """Records what a panel's draw() shows: ('prop', name), ('operator', idname), ('label', text), ..."""

    def __init__(self, shown):
        self.shown = shown
        self.enabled = True

    def _child(self, *args, **kwargs):
        return StubLayout(self.shown)

    row = column = box = _child

    def prop(self, data, name, **kwargs):
        self.shown.append(("prop", name))

    def operator(self, idname, **kwargs):
        self.shown.append(("operator", idname))

    def label(self, text="", **kwargs):
        self.shown.append(("label", text))

    def progress(self, factor=0.0, type="", text=""):
        self.shown.append(("progress", text))


def _draw_panel():
    from blender_addon.capture_ops import FACECAP_PT_capture

    shown = []
    FACECAP_PT_capture.draw(type("Panel", (), {"layout": StubLayout(shown)})(), bpy.context)
    return shown


def test_panel_shows_the_capture_settings_and_polls_guard_the_operators(addon):
    s = addon
    assert not bpy.ops.facecap.analyse.poll() and not bpy.ops.facecap.bake_capture.poll()
    assert bpy.ops.facecap.load_video.poll() and not bpy.ops.facecap.cancel_analysis.poll()
    shown = _draw_panel()
    print("\n".join(f"{kind}: {what}" for kind, what in shown))
    props = [what for kind, what in shown if kind == "prop"]
    assert props == ["clip", "first", "last", "backend", "fov", "target", "smoothing", "strength", "head_translation",
                     "start_frame"]
    ops = [what for kind, what in shown if kind == "operator"]
    assert ops == ["facecap.load_video", "facecap.analyse", "facecap.bake_capture", "facecap.clear_capture",
                   "facecap.import_livelink", "facecap.export_livelink"]
    assert ("label", "Target: FaceCapHead (selected)") in shown
    s.running, s.status, s.progress = True, "tracking 3/20, 0:04 left", 0.2
    shown = _draw_panel()
    assert ("progress", "tracking 3/20, 0:04 left") in shown and ("operator", "facecap.cancel_analysis") in shown
    assert ("operator", "facecap.analyse") not in shown
    s.running = False


def test_analyse_in_the_background_bake_and_rebake_from_the_cache(addon, session_cache):
    s = addon
    assert bpy.ops.facecap.load_video(filepath=str(SELFIE)) == {"FINISHED"}
    camera = bpy.context.scene.camera
    assert s.clip is not None and camera.data.show_background_images
    assert camera.data.background_images[0].source == "MOVIE_CLIP" and camera.data.background_images[0].clip == s.clip
    s.first, s.last, s.start_frame = 11, 30, 1
    assert s.clip.frame_start == 1 - 10  # clip frame 11 shows at scene frame 1
    assert bpy.ops.facecap.analyse() == {"FINISHED"}  # the job, polled to its end (no event loop here)
    assert not s.running and Path(s.cache_path).is_file() and s.analysed_frames == 20
    assert "analysed 20 frames" in s.status
    before = _cache_files(session_cache)

    assert bpy.ops.facecap.bake_capture() == {"FINISHED"}
    action = bpy.data.actions["FaceCap_mediapipe_selfie_segmentation_web"]
    raw = _shape_values(action)
    keys = int(np.floor(19 / 25 * bpy.context.scene.render.fps)) + 1  # 20 frames at 25 fps, resampled
    assert len(raw) == keys and raw.max() > 0.01
    s.smoothing, s.strength = "savgol", 1.0
    assert bpy.ops.facecap.bake_capture() == {"FINISHED"}
    smooth = _shape_values(bpy.data.actions["FaceCap_mediapipe_selfie_segmentation_web"])
    assert len(smooth) == keys and np.abs(smooth - raw).max() > 1e-3
    assert action["facecap_strength"] == 1.0
    from blender_addon import bake

    arm = bpy.data.objects["FaceCapHead"].parent
    assert not bake.read_baked_translation(arm, action).any()  # by default the head only turns
    s.head_translation = True
    assert bpy.ops.facecap.bake_capture() == {"FINISHED"}
    assert action["facecap_head_translation"] and np.abs(bake.read_baked_translation(arm, action)).max() > 1e-4
    assert _cache_files(session_cache) == before  # the bakes read the cache and wrote nothing

    assert bpy.ops.facecap.analyse() == {"FINISHED"}  # the same clip and range again: read from the cache
    assert "read from the cache" in s.status and _cache_files(session_cache) == before
    assert bpy.ops.facecap.clear_capture() == {"FINISHED"}
    assert "FaceCap_mediapipe_selfie_segmentation_web" not in bpy.data.actions
    s.fov = 45.0  # another camera: the fit differs, so the old analysis no longer matches
    with pytest.raises(RuntimeError, match="camera FOV or target changed since the analysis; press Analyse"):
        bpy.ops.facecap.bake_capture()
    s.fov, s.last = 60.0, 31  # another range: the same
    with pytest.raises(RuntimeError, match="press Analyse"):
        bpy.ops.facecap.bake_capture()


class Event:
    def __init__(self, type):
        self.type = type


class ModalAnalyse:
    """The Analyse operator's modal code on a stand-in instance (no event loop in background bpy)."""

    from blender_addon.capture_ops import FACECAP_OT_analyse as _op

    modal, finish, settings, poll_job, cancel_job, show_progress = (
        _op.modal, _op.finish, _op.settings, _op.poll_job, _op.cancel_job, _op.show_progress)

    def __init__(self, run):
        self._run, self._timer, self.reports = run, None, []

    def report(self, level, message):
        self.reports.append((level, message))


def _wait(run, s, until, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        outcome = run.step(s)
        if until(outcome):
            return outcome
        time.sleep(0.05)
    raise AssertionError("timed out: " + "\n".join(run.job.log))


def test_cancel_stops_the_job_writes_nothing_half_done_and_resumes_after_the_tracking(addon, session_cache):
    from blender_addon.capture_ops import AnalysisRun

    s = addon
    bpy.ops.facecap.load_video(filepath=str(SELFIE))
    s.first, s.last = 101, 160
    before = _cache_files(session_cache)
    operator = ModalAnalyse(AnalysisRun(bpy.context, s))  # the modal operator's own code, fed events
    run = operator._run
    assert s.running
    deadline = time.time() + 120
    while run.job.done < 2 and run.job.returncode is None and time.time() < deadline:
        assert operator.modal(bpy.context, Event("TIMER")) == {"PASS_THROUGH"}
        time.sleep(0.05)
    assert run.job.returncode is None and run.job.stage == "tracking", "the analysis ended before the cancel"
    assert 0 < s.progress < 0.35 and s.status.startswith("tracking ")
    assert operator.modal(bpy.context, Event("ESC")) == {"CANCELLED"}
    level, message = operator.reports[-1]
    assert level == {"WARNING"} and "cancelled at tracking" in message and "nothing was kept" in message
    assert run.job.proc.poll() is not None and not s.running and not s.cache_path
    assert _cache_files(session_cache) == before  # no result, no temporary file

    run = AnalysisRun(bpy.context, s)  # again, cancelled during the fit this time
    _wait(run, s, lambda outcome: run.job.stage == "fitting" or outcome is not None)
    assert run.job.returncode is None, "the analysis ended before the cancel"
    assert "Analyse resumes with the fit" in run.cancel(s)[1]
    added = set(_cache_files(session_cache)) - set(before)
    assert len(added) == 1 and next(iter(added)).startswith("track-")  # the finished stage, nothing else
    run = AnalysisRun(bpy.context, s)
    assert _wait(run, s, lambda outcome: outcome is not None)[0] == "INFO"
    assert any("tracking read from the cache" in line for line in run.job.log)
    assert Path(s.cache_path).is_file() and s.analysed_frames == 60


def test_wrong_topology_target_and_missing_files_are_one_line_reports(addon, tmp_path):
    s = addon
    bpy.ops.facecap.load_video(filepath=str(SELFIE))
    bpy.ops.mesh.primitive_monkey_add()
    s.target = bpy.context.active_object
    with pytest.raises(RuntimeError, match=r"Suzanne has 507 vertices, not the FLAME topology's \d+; pick"):
        bpy.ops.facecap.analyse()
    assert not s.running
    s.target = None
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="no target: select a FaceCap head rig"):
        bpy.ops.facecap.analyse()
    bpy.context.view_layer.objects.active = bpy.data.objects["FaceCapHead"]

    with pytest.raises(RuntimeError, match="no such file; pick a video file"):
        bpy.ops.facecap.load_video(filepath=str(tmp_path / "nothing.mp4"))
    moved = shutil.copy(SELFIE, tmp_path / "take.mp4")
    bpy.ops.facecap.load_video(filepath=str(moved))
    Path(moved).unlink()
    with pytest.raises(RuntimeError, match="file is missing; load the video again"):
        bpy.ops.facecap.analyse()

    fake = tmp_path / "notes.mp4"
    fake.write_text("hello")
    s.clip = bpy.data.movieclips.load(str(fake))
    with pytest.raises(RuntimeError) as info:
        bpy.ops.facecap.analyse()
    message = str(info.value)
    assert "analysis failed:" in message and "notes.mp4: not a readable video" in message
    assert "Traceback" not in message and message.count("\n") <= 1


def test_preferences_reach_the_analysis_process(addon, tmp_path):
    import blender_addon
    from blender_addon.capture_ops import analysis_request

    prefs_entry = bpy.context.preferences.addons.new()
    prefs_entry.module = blender_addon.__name__
    try:
        prefs = prefs_entry.preferences
        prefs.model_dir, prefs.provider, prefs.threads = str(tmp_path), "cpu", 3
        bpy.ops.facecap.load_video(filepath=str(SELFIE))
        req = analysis_request(bpy.context, bpy.context.scene.facecap_capture)
        assert (req.model_dir, req.provider, req.threads) == (tmp_path, "cpu", 3)
        args = parse_args(analysis.arguments(req))
        assert (args.model_dir, args.provider, args.threads) == (tmp_path, "cpu", 3)
        from blender_addon.capture import _options

        neural = _options(args).neural  # what the neural backend is built with
        assert (neural.weights_dir, neural.providers, neural.threads) == (str(tmp_path), ("CPUExecutionProvider",), 3)
    finally:
        bpy.context.preferences.addons.remove(prefs_entry)


def test_an_image_sequence_clip_is_analysed_as_its_folder(tmp_path):
    import cv2

    from blender_addon import capture_scene

    for i in range(1, 4):
        cv2.imwrite(str(tmp_path / f"shot_{i:04d}.png"), np.full((32, 32, 3), 60 * i, np.uint8))
    clip = bpy.data.movieclips.load(str(tmp_path / "shot_0001.png"))
    try:
        assert clip.source == "SEQUENCE"
        video, fps = capture_scene.analysis_source(clip)
        assert video == tmp_path and (fps is None or fps > 0)
    finally:
        bpy.data.movieclips.remove(clip)


def test_request_arguments_reach_the_cli_and_progress_reads_as_a_whole():
    req = analysis.AnalysisRequest(video=SELFIE, first=5, last=24, backend="neural", asset=Path("/a/head.npz"),
                                   model_dir=Path("/m"), provider="cuda", threads=3, fps=30.0, fov_deg=72.5)
    args = parse_args(analysis.arguments(req))
    assert args.fps == 30.0 and args.fov == 72.5
    from blender_addon.capture import _options

    assert _options(args).fit.fov_deg == 72.5
    assert args.analyse_only and args.progress_json and (args.start, args.end) == (4, 24)
    assert (args.backend, args.asset, args.model_dir, args.provider, args.threads) == (
        "neural", Path("/a/head.npz"), Path("/m"), "cuda", 3)
    assert analysis.overall_fraction("tracking", 10, 20) == pytest.approx(0.175)
    assert analysis.overall_fraction("fitting", 20, 20) == 1.0
    clock = analysis.Clock()
    assert clock.eta_s(0.1, now=100.0) is None  # the first report starts the clock
    assert clock.eta_s(0.3, now=102.0) == pytest.approx(2.0 * 0.7 / 0.2)
    assert analysis.status_text("fitting", 5, 20, 75.0) == "fitting 5/20, 1:15 left"
    with pytest.raises(ValueError, match="frame range 9-3 is empty"):
        analysis.check_request(analysis.AnalysisRequest(video=SELFIE, first=9, last=3))
