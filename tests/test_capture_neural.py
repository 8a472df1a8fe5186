"""The neural backend through the product pipeline (video -> track -> capture model -> decoder -> solve), with a
tiny untrained capture model: the plumbing, shapes, conventions and cache key, not accuracy."""
import numpy as np
import pytest

from capture_helpers import SELFIE
from capture_model_helpers import export_tiny_capture_model
from models.head import HeadModel
from models.retarget.neural import NeuralBackend, NeuralOptions
from models.retarget.pipeline import CaptureOptions, run
from models.video.errors import Cancelled, CaptureError


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return export_tiny_capture_model(tmp_path_factory.mktemp("neural-model"))


def _options(tiny_model, cache, **neural):
    return CaptureOptions(stop=8, backend="neural", cache_dir=cache,
                          neural=NeuralOptions(weights_dir=str(tiny_model), name="tiny", batch=5, **neural))


def test_neural_backend_runs_the_clip_into_a_performance(head_asset, tiny_model, tmp_path):
    stages = []
    perf = run(SELFIE, _options(tiny_model, tmp_path), progress=lambda d, t, s: stages.append(s), asset=head_asset)
    assert len(perf) == 8 and perf.found.all() and "capture" in stages
    assert perf.weights.shape == (8, 52) and (perf.weights >= 0).all() and (perf.weights <= 1 + 1e-9).all()
    assert np.isfinite(perf.residual_mm).all()
    assert np.allclose(perf.head_rotation @ np.swapaxes(perf.head_rotation, 1, 2), np.eye(3), atol=1e-4)
    assert perf.settings["backend"] == "neural" and len(perf.settings["capture_digest"]) == 64
    again = run(SELFIE, _options(tiny_model, tmp_path), asset=head_asset)  # from the cache
    np.testing.assert_array_equal(again.weights, perf.weights)
    assert len(list(tmp_path.glob("performance-*.npz"))) == 1
    other = run(SELFIE, _options(tiny_model, tmp_path, target_identity=tuple(np.full(head_asset.n_identity, 0.5))),
                asset=head_asset)
    assert len(list(tmp_path.glob("performance-*.npz"))) == 2  # another target identity is another analysis
    assert other.settings["target_identity"] == [0.5] * head_asset.n_identity


def test_neural_backend_decodes_the_capture_code_onto_the_target(head_asset, tiny_model):
    """Frame by frame: weights = solve(decode(z_exp, E_id(target neutral))) for the code the capture model gives."""
    from models.retarget.solve import solve_mesh_weights
    from models.video.frames import open_frames
    from models.video.track import track_faces

    backend = NeuralBackend(NeuralOptions(weights_dir=str(tiny_model), name="tiny"))
    model = HeadModel(head_asset)
    frames = open_frames(SELFIE, 0, 3)
    track = track_faces(frames)
    perf = backend.analyse(frames, track, model)
    images = [im for _, _, im in frames]
    z = backend.capture.run_frames(images, landmarks478=track.landmarks).z_exp
    neutral = model.neutral()[0].astype(np.float32)
    meshes = backend.semantic.decode(z, backend.semantic.encode_identity(neutral), neutral)
    expected, _ = solve_mesh_weights(model, meshes)
    np.testing.assert_allclose(perf.weights, expected, atol=1e-9)


def test_neural_backend_bad_models_and_cancel(head_asset, tiny_model, tmp_path):
    with pytest.raises(CaptureError, match=r"could not load its models: .*tiny.json is missing.*--backend landmarks"):
        NeuralBackend(NeuralOptions(weights_dir=str(tmp_path), name="tiny"))
    with pytest.raises(CaptureError, match="target identity has 3 coefficients"):
        run(SELFIE, _options(tiny_model, tmp_path / "a", target_identity=(0.0, 0.0, 0.0)), asset=head_asset)
    with pytest.raises(Cancelled):
        run(SELFIE, _options(tiny_model, tmp_path / "b"), cancel=lambda: True, asset=head_asset)
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").glob("performance-*.npz"))


def test_cli_decodes_the_neural_codes_on_the_rigs_identity(head_asset, empty_scene, tmp_path, session_cache):
    """`blender_addon.capture --backend neural --rig FILE`: the codes go onto that rig's identity."""
    import subprocess
    import sys

    from blender_addon import rig
    from models.paths import project_root
    from models.retarget.performance import Performance

    bpy = empty_scene
    beta = np.round(np.random.default_rng(5).normal(size=head_asset.n_identity).clip(-2, 2), 3)
    rig.build_head_rig(head_asset, beta)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "actor.blend"))
    (tmp_path / "model").mkdir()
    model_dir = export_tiny_capture_model(tmp_path / "model", name="capture_light")
    r = subprocess.run([sys.executable, "-m", "blender_addon.capture", str(SELFIE), "--backend", "neural",
                        "--model-dir", str(model_dir), "--rig", str(tmp_path / "actor.blend"), "--end", "4",
                        "--out", str(tmp_path / "out.blend")], cwd=project_root(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    cached = sorted((session_cache / "capture").glob("performance-*.npz"), key=lambda p: p.stat().st_mtime)
    perf = Performance.load(cached[-1])
    assert perf.settings["backend"] == "neural"
    np.testing.assert_allclose(perf.settings["target_identity"], beta, atol=1e-6)
