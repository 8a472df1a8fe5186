"""The packed extension does the whole capture flow on its own: build_addon.py's zip installed the way Blender
installs one (extracted into an extensions repository; Blender itself installs the manifest's wheels when the
add-on is enabled), then, in a fresh process whose sys.path holds Blender's bpy and numpy and nothing of the
repository or its venv: enable, create a rig, analyse 20 frames of the shared clip with the landmark backend in
the add-on's background process, bake, keyframes; then the same frames with the neural backend and the shipped
capture model packed in the zip."""
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from capture_helpers import SELFIE

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".cache" / "wheels"  # the download cache, kept across test sessions
MODULE = "bl_ext.user_default.facecap"

FLOW = r"""
import importlib.util, json, sys
host, selfie, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.append(host)
import bpy

out = {"path": list(sys.path)}
assert bpy.ops.preferences.addon_enable(module=MODULE) == {"FINISHED"}
out["origins"] = {m: (importlib.util.find_spec(m) or type("n", (), {"origin": None})).origin
                  for m in ("mediapipe", "cv2", "onnxruntime", "scipy", "matplotlib", "jax")}
assert bpy.ops.facecap.create_head() == {"FINISHED"}
s = bpy.context.scene.facecap_capture
assert bpy.ops.facecap.load_video(filepath=selfie) == {"FINISHED"}
s.first, s.last, s.backend = first, last, "landmarks"
assert bpy.ops.facecap.analyse() == {"FINISHED"}  # polled to its end in the background (no event loop)
out["status"], out["cache"] = s.status, s.cache_path
assert bpy.ops.facecap.bake_capture() == {"FINISHED"}
obj = bpy.context.active_object
action = obj.data.shape_keys.animation_data.action
out["action"] = action.name
from bpy_extras.anim_utils import action_get_channelbag_for_slot
bag = action_get_channelbag_for_slot(action, obj.data.shape_keys.animation_data.action_slot)
out["curves"] = len(bag.fcurves)
out["shape_keys"] = len(obj.data.shape_keys.key_blocks) - 1
out["jaw"] = [k.co[1] for fc in bag.fcurves if fc.data_path == 'key_blocks["jawOpen"].value' for k in fc.keyframe_points]
s.backend = "neural"
try:
    assert bpy.ops.facecap.analyse() == {"FINISHED"}
    out["neural"] = s.status
except RuntimeError as exc:
    out["neural"] = str(exc)
print("RESULT " + json.dumps(out))
""".replace("MODULE", repr(MODULE))


def _host_packages(root: Path) -> Path:
    """A folder holding only bpy and numpy (links to the installed ones: bpy is far too big to copy)."""
    site = Path(importlib.util.find_spec("bpy").origin).parents[1]
    host = root / "host"
    host.mkdir()
    for name in ("bpy", "numpy", "numpy.libs"):
        (host / name).symlink_to(site / name)
    return host


@pytest.fixture(scope="session")
def packed_zip(tmp_path_factory, head_asset):
    """The built extension (one build per test session; the wheels are downloaded once into .cache/wheels)."""
    import build_addon

    out = tmp_path_factory.mktemp("dist") / "facecap.zip"
    try:
        return build_addon.build(out, wheel_dir=WHEELS)
    except build_addon.WheelError as exc:
        pytest.skip(f"the add-on's wheels are not in {WHEELS} and could not be downloaded: {exc}")


def test_the_packed_extension_is_small_and_holds_the_analysis_runtime(packed_zip):
    names = set(zipfile.ZipFile(packed_zip).namelist())
    assert packed_zip.stat().st_size < 150e6
    for needed in ("models/video/track.py", "models/retarget/pipeline.py", "models/capture/runtime.py",
                   "models/semantic/runtime.py", "models/weights/semantic_decoder.onnx", "models/weights/semantic.json",
                   "models/model_files.py", "capture.py", "data/head_asset.npz"):
        assert needed in names
    assert not [n for n in names if n.startswith(("models/head/build/", "models/capture/train/",
                                                  "models/semantic/train/"))]
    wheels = sorted(n.split("/")[1].split("-")[0].lower() for n in names if n.startswith("wheels/"))
    assert wheels == ["attrs", "mediapipe", "onnxruntime", "opencv_python_headless", "protobuf", "scipy"]
    manifest = zipfile.ZipFile(packed_zip).read("blender_manifest.toml").decode()
    assert all(f"./{n}" in manifest for n in names if n.startswith("wheels/"))


def test_the_packed_mediapipe_wheel_needs_neither_jax_nor_matplotlib(packed_zip):
    z = zipfile.ZipFile(packed_zip)
    wheel = next(n for n in z.namelist() if n.startswith("wheels/mediapipe-"))
    import io

    inner = zipfile.ZipFile(io.BytesIO(z.read(wheel)))
    meta = next(n for n in inner.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line for line in inner.read(meta).decode().splitlines() if line.startswith("Requires-Dist")]
    assert requires and not [r for r in requires if any(h in r for h in ("jax", "matplotlib", "contrib"))]
    assert "import matplotlib" not in inner.read("mediapipe/python/solutions/drawing_utils.py").decode().split(
        "def plot_landmarks")[0]
    record = inner.read(next(n for n in inner.namelist() if n.endswith(".dist-info/RECORD"))).decode()
    assert set(line.split(",")[0] for line in record.splitlines()) == set(inner.namelist())


@pytest.fixture(scope="session")
def shape_derivatives(head_asset, session_cache):
    from models.head.identity_shapes import load_identity_shapes

    load_identity_shapes(head_asset, session_cache)
    return sorted(Path(session_cache).glob("shape-derivatives-*.npz"))


def test_the_installed_extension_analyses_and_bakes_a_clip_on_its_own(packed_zip, shape_derivatives, tmp_path):
    extension = tmp_path / "user" / "extensions" / "user_default" / "facecap"
    extension.mkdir(parents=True)
    zipfile.ZipFile(packed_zip).extractall(extension)
    host = _host_packages(tmp_path)
    # the head model's identity-shape derivatives (rebuilt on a first use, minutes on 2 cores) are seeded
    # from this session's cache into the extension's user cache, where the add-on would compute them
    user_cache = tmp_path / "user" / "extensions" / ".user" / "user_default" / "facecap" / "cache"
    user_cache.mkdir(parents=True)
    for path in shape_derivatives:
        (user_cache / path.name).symlink_to(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FACECAP_"))}
    env["BLENDER_USER_RESOURCES"] = str(tmp_path / "user")  # Blender's user folders: config, extensions, wheels
    r = subprocess.run([sys.executable, "-I", "-S", "-c", FLOW, str(host), str(SELFIE), "1", "20"], env=env,
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    lines = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    assert r.returncode == 0 and lines, (r.stdout + r.stderr)[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    # isolation: nothing of the repository or its venv besides the linked bpy and numpy
    assert not [p for p in out["path"] if str(ROOT) in p or "site-packages" in p and str(tmp_path) not in p]
    site = tmp_path / "user" / "extensions" / ".local"
    for name in ("mediapipe", "cv2", "onnxruntime", "scipy"):
        assert out["origins"][name].startswith(str(site)), out["origins"]
    assert out["origins"]["matplotlib"] is None and out["origins"]["jax"] is None
    assert "analysed 20 frames" in out["status"]
    assert Path(out["cache"]).is_relative_to(user_cache)  # Blender's user folder, not the extension's
    assert not (extension / ".cache").exists()
    assert out["action"] == "FaceCap_mediapipe_selfie_segmentation_web" and out["curves"] == out["shape_keys"] > 40
    assert len(out["jaw"]) > 10 and max(out["jaw"]) > 0.01
    assert "analysed 20 frames" in out["neural"], out["neural"]  # the shipped capture model, from the zip


def test_the_capture_model_is_packed_with_its_fp32_onnx_file_and_card_when_it_exists(tmp_path):
    import build_addon

    for name in build_addon.SEMANTIC_WEIGHTS:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in build_addon.weight_files(tmp_path)] == list(build_addon.SEMANTIC_WEIGHTS)
    (tmp_path / "capture_light.json").write_text(json.dumps({"sha256": {
        "capture_light.onnx": "a", "capture_light_fp16.onnx": "b", "capture_light.pt": "c"}}))
    # not the torch checkpoint, nor the fp16 file (the packed onnxruntime is the CPU build)
    assert [p.name for p in build_addon.weight_files(tmp_path)][-2:] == ["capture_light.json", "capture_light.onnx"]
    (tmp_path / "capture_light_model_card.md").write_text("card")
    assert [p.name for p in build_addon.weight_files(tmp_path)][-3:] == [
        "capture_light.json", "capture_light.onnx", "capture_light_model_card.md"]
