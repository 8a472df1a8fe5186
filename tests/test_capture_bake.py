"""Baking in bpy (slotted action, resampling, re-bake, clear), the CSV round trip through the rig, the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capture_helpers import SELFIE
from models.head import ARKIT_NAMES
from models.retarget.performance import Performance

ROOT = Path(__file__).resolve().parents[1]
INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}


def _perf(n=50, fps=25.0):
    t = np.arange(n) / fps
    w = np.zeros((n, 52))
    w[:, INDEX["jawOpen"]] = 0.5 + 0.4 * np.sin(t * 3)
    w[:, INDEX["eyeBlinkLeft"]] = (np.arange(n) % 20 < 3).astype(float)
    from scipy.spatial.transform import Rotation

    head = Rotation.from_euler("y", 0.3 * np.sin(t * 2)).as_matrix()
    eyes = np.stack([Rotation.from_euler("x", 0.1 * np.cos(t)).as_matrix()] * 2, 1)
    return Performance(weights=w, head_rotation=head, head_translation=np.zeros((n, 3)), eye_rotation=eyes,
                       found=np.ones(n, bool), residual_mm=np.ones(n), time_s=t, fps=fps, source="test")


@pytest.fixture()
def head_rig(empty_scene, head_asset):
    from blender_addon import rig

    return rig.build_head_rig(head_asset)


def test_bake_resamples_to_scene_fps_and_matches_the_performance(head_rig):
    import bpy

    from blender_addon import bake

    obj, arm = head_rig
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    perf = _perf()
    action = bake.bake_performance(obj, arm, perf, "take1", scene, start_frame=101, smoothing="none")
    assert action.name == "FaceCap_take1" and action.slots[0] is not None
    assert obj.data.shape_keys.animation_data.action == action and arm.animation_data.action == action
    frames, w, head, eyes = bake.read_baked(obj, arm, action, scene)
    assert frames[0] == 101 and len(frames) == int(np.floor(49 / 25 * 30)) + 1  # 1.96 s at 30 fps
    t = (frames - 101) / 30
    expected = np.interp(t, perf.time_s, perf.weights[:, INDEX["jawOpen"]])
    assert np.abs(w[:, INDEX["jawOpen"]] - expected).max() < 1e-5
    from scipy.spatial.transform import Rotation

    yaw = Rotation.from_matrix(head).as_euler("YXZ")[:, 0]
    assert np.abs(yaw - 0.3 * np.sin(t * 2)).max() < 2e-3
    # the keys drive the rig: jawOpen at frame 101 is what was baked
    scene.frame_set(101)
    assert obj.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(perf.weights[0, INDEX["jawOpen"]], 1e-4)


def test_head_translation_is_baked_on_the_neck_only_when_asked(head_rig):
    import bpy

    from blender_addon import bake

    obj, arm = head_rig
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    perf = _perf()
    t = perf.time_s
    perf.head_translation = np.column_stack([0.02 * np.sin(t * 2), 0.01 * np.cos(t * 3) - 0.01, -0.03 * t])
    rest = np.array(arm.data.bones["neck"].head_local)
    action = bake.bake_performance(obj, arm, perf, "moving", scene, start_frame=1, smoothing="none",
                                   translation=True)
    assert action["facecap_head_translation"] is True
    assert np.abs(bake.read_baked_translation(arm, action) - perf.head_translation).max() < 1e-6
    for k in (0, 17, 49):  # the neck's head, in the armature's (the head's) frame, moved by the translation
        scene.frame_set(1 + k)
        moved = np.array(arm.pose.bones["neck"].head) - rest
        assert np.abs(moved - perf.head_translation[k]).max() < 1e-5
    still = bake.bake_performance(obj, arm, perf, "moving", scene, smoothing="none")  # the default: rotation only
    assert still == action and not still["facecap_head_translation"]
    assert not bake.read_baked_translation(arm, still).any()
    scene.frame_set(18)
    assert np.abs(np.array(arm.pose.bones["neck"].head) - rest).max() < 1e-6


def test_rebake_replaces_only_that_clip(head_rig):
    import bpy

    from blender_addon import bake

    obj, arm = head_rig
    scene = bpy.context.scene
    other = bake.bake_performance(obj, arm, _perf(30), "other", scene, smoothing="none")
    first = bake.bake_performance(obj, arm, _perf(50), "take", scene, smoothing="none")
    n_curves = sum(len(bag.fcurves) for layer in first.layers for strip in layer.strips
                   for bag in strip.channelbags)
    perf = _perf(50)
    perf.weights[:, INDEX["jawOpen"]] = 0.25
    again = bake.bake_performance(obj, arm, perf, "take", scene, smoothing="one_euro", strength=0.7)
    assert again == first and "FaceCap_other" in bpy.data.actions
    assert sum(len(bag.fcurves) for layer in again.layers for strip in layer.strips
               for bag in strip.channelbags) == n_curves == 51 + 12
    _, w, _, _ = bake.read_baked(obj, arm, again, scene)
    assert np.allclose(w[:, INDEX["jawOpen"]], 0.25, atol=1e-5)
    _, w_other, _, _ = bake.read_baked(obj, arm, other, scene)
    assert not np.allclose(w_other[:, INDEX["jawOpen"]], 0.25)
    assert bake.clear_clip(obj, arm, "take") and "FaceCap_take" not in bpy.data.actions
    assert "FaceCap_other" in bpy.data.actions


def test_csv_export_import_round_trip_through_the_rig(head_rig, tmp_path):
    import bpy

    from blender_addon import bake
    from models.retarget import livelink

    obj, arm = head_rig
    scene = bpy.context.scene
    action = bake.bake_performance(obj, arm, _perf(), "take", scene, smoothing="none")
    frames, w, head, eyes = bake.read_baked(obj, arm, action, scene)
    path = livelink.write_csv(tmp_path / "take.csv", w, head, eyes, bake.scene_fps(scene))
    clip = livelink.read_csv(path)
    imported = bake.bake_curves(obj, arm, "imported", clip.time_s, clip.weights,
                                livelink.ypr_to_matrix(clip.head_ypr), livelink.ypr_to_matrix(clip.eye_ypr), scene)
    frames2, w2, head2, eyes2 = bake.read_baked(obj, arm, imported, scene)
    assert np.array_equal(frames, frames2)
    assert np.abs(w2 - w).max() < 1e-5 and np.abs(head2 - head).max() < 1e-4 and np.abs(eyes2 - eyes).max() < 1e-4


def test_bake_1800_frames_uses_bulk_writes(head_rig):
    import bpy

    from blender_addon import bake

    obj, arm = head_rig
    scene = bpy.context.scene
    scene.render.fps = 30
    action = bake.bake_performance(obj, arm, _perf(1800, 30.0), "long", scene, smoothing="none")
    fcurves = [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
               for fc in bag.fcurves]
    assert all(len(fc.keyframe_points) == 1800 for fc in fcurves)
    assert all(kp.interpolation == "LINEAR" for kp in fcurves[0].keyframe_points[:5])


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "blender_addon.capture", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_cli_writes_blend_csv_preview_with_json_progress(tmp_path, head_asset):
    out = tmp_path / "o"
    r = _cli(SELFIE, "--end", 12, "--no-cache", "--out", out / "take.blend", "--csv", out / "take.csv", "--preview",
             out / "take.mp4", "--progress-json", "--head-translation", "--focal-mm", 26)
    assert r.returncode == 0, r.stderr[-2000:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert {e["event"] for e in events} >= {"progress", "done"}
    assert all(set(e) == {"event", "done", "total", "stage"} for e in events if e["event"] == "progress")
    result = events[-1]["result"]
    assert result["frames"] == 12 and result["found"] == 12
    assert result["focal_px"] == pytest.approx(320 * 26 / 18)  # 26 mm: 36 mm across the 640 px side
    assert (out / "take.blend").stat().st_size > 0 and (out / "take.mp4").stat().st_size > 0
    assert len((out / "take.csv").read_text().splitlines()) > 10
    assert sorted(p.name for p in out.iterdir()) == ["take.blend", "take.csv", "take.mp4"]
    import cv2

    video = cv2.VideoCapture(str(out / "take.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    # the rig in the .blend carries the clip's action
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(out / "take.blend"))
    action = bpy.data.actions["FaceCap_mediapipe_selfie_segmentation_web"]
    assert action["facecap_head_translation"]
    from blender_addon import bake

    assert np.abs(bake.read_baked_translation(bpy.data.objects["FaceCapHead"].parent, action)).max() > 1e-4
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.mark.parametrize("case", ["not_video", "neural", "wrong_rig"])
def test_cli_bad_input_one_line_and_nothing_written(tmp_path, case, empty_scene):
    args = []
    video = SELFIE
    if case == "not_video":
        video = tmp_path / "notes.mp4"
        video.write_text("hello")
    elif case == "neural":  # a model folder without the capture model's files
        (tmp_path / "no-model").mkdir()
        args = ["--backend", "neural", "--model-dir", str(tmp_path / "no-model")]
    else:
        import bpy

        bpy.ops.mesh.primitive_cube_add()
        cube = bpy.context.active_object
        cube["facecap_identity"] = [0.0]
        empty = bpy.data.objects.new("arm", None)
        bpy.context.scene.collection.objects.link(empty)
        cube.parent = empty
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cube.blend"))
        args = ["--rig", tmp_path / "cube.blend", "--end", 5]
    out = tmp_path / "out"
    r = _cli(video, *args, "--out", out / "x.blend", "--csv", out / "x.csv")
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    expected = {"not_video": str(video), "neural": "neural backend could not load its models", "wrong_rig": "FLAME topology"}[case]
    assert expected in errors[0]
    assert not out.exists() or not list(out.iterdir())


def test_operators_import_export_clear(head_rig, tmp_path):
    import bpy

    import blender_addon
    from blender_addon import bake
    from models.retarget import livelink

    obj, arm = head_rig
    perf = _perf()
    src = livelink.write_csv(tmp_path / "phone_take.csv", perf.weights, perf.head_rotation, perf.eye_rotation, 25)
    blender_addon.register()
    try:
        bpy.context.view_layer.objects.active = None
        assert not bpy.ops.facecap.import_livelink.poll()
        bpy.context.view_layer.objects.active = obj
        assert bpy.ops.facecap.import_livelink.poll() and not bpy.ops.facecap.clear_capture.poll()
        assert bpy.ops.facecap.import_livelink(filepath=str(src)) == {"FINISHED"}
        assert "FaceCap_phone_take" in bpy.data.actions and bpy.ops.facecap.export_livelink.poll()
        out = tmp_path / "again.csv"
        assert bpy.ops.facecap.export_livelink(filepath=str(out)) == {"FINISHED"}
        clip = livelink.read_csv(out)
        t = clip.time_s
        expected = np.interp(t, perf.time_s, perf.weights[:, INDEX["jawOpen"]])
        assert np.abs(clip.weights[:, INDEX["jawOpen"]] - expected).max() < 1e-4
        bad = tmp_path / "bad.csv"
        bad.write_text("x,y\n1,2\n")
        with pytest.raises(RuntimeError, match="not a Live Link Face CSV"):
            bpy.ops.facecap.import_livelink(filepath=str(bad))
        assert bpy.ops.facecap.clear_capture() == {"FINISHED"}
        assert bake.action_name("phone_take") not in bpy.data.actions
    finally:
        blender_addon.unregister()


def test_rig_from_a_plain_flame_mesh_takes_its_identity(empty_scene, head_asset, tmp_path):
    import bpy

    from blender_addon import rig, rig_io
    from models.head import HeadModel
    from models.video.errors import CaptureError

    beta = np.random.default_rng(5).normal(size=head_asset.n_identity)
    neutral = HeadModel(head_asset).neutral(beta)[0]
    mesh = rig._mesh_from_arrays("scan", neutral, head_asset.faces)
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("scan", mesh))
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scan.blend"))
    obj, arm = rig_io.open_rig(tmp_path / "scan.blend", head_asset)
    assert np.allclose(obj["facecap_identity"], beta, atol=1e-3) and obj.data.shape_keys is not None
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_monkey_add()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "monkey.blend"))
    with pytest.raises(CaptureError, match="no mesh of FLAME topology"):
        rig_io.open_rig(tmp_path / "monkey.blend", head_asset)
