"""The Capture panel's neural backend decodes on the target's identity (as the CLI does with --rig): the
request the panel makes carries the target rig's identity, or that of a target FLAME mesh's neutral, through
the analysis process's arguments into the backend's options, and a changed target needs a new analysis."""
import numpy as np
import pytest

from capture_helpers import SELFIE

bpy = pytest.importorskip("bpy")

from blender_addon import analysis, rig  # noqa: E402
from blender_addon.capture import _options, parse_args  # noqa: E402


@pytest.fixture()
def panel(empty_scene, head_asset):
    import blender_addon

    blender_addon.register()
    assert bpy.ops.facecap.load_video(filepath=str(SELFIE)) == {"FINISHED"}
    yield bpy.context.scene.facecap_capture
    blender_addon.unregister()


def _decoded_identity(context, s, asset):
    from blender_addon.capture_ops import analysis_request, target_identity

    req = analysis_request(context, s, target_identity(context, s, asset))
    return req, _options(parse_args(analysis.arguments(req))).neural.target_identity


def test_the_panels_neural_analysis_decodes_on_the_target_rigs_identity(panel, head_asset):
    beta = np.round(np.random.default_rng(3).normal(size=head_asset.n_identity).clip(-2, 2), 3)
    obj, _ = rig.build_head_rig(head_asset, beta)
    bpy.context.view_layer.objects.active = obj
    panel.backend = "neural"
    req, decoded = _decoded_identity(bpy.context, panel, head_asset)
    np.testing.assert_allclose(decoded, beta, atol=1e-9)

    other, _ = rig.build_head_rig(head_asset, -beta, name="Other")
    panel.target = other
    req_other, decoded_other = _decoded_identity(bpy.context, panel, head_asset)
    np.testing.assert_allclose(decoded_other, -beta, atol=1e-9)
    assert req_other.signature() != req.signature()  # another target: Bake asks for a new analysis

    panel.backend = "landmarks"  # fits its own identity: none passed, and the target does not key the analysis
    req_landmarks, decoded_landmarks = _decoded_identity(bpy.context, panel, head_asset)
    assert decoded_landmarks is None and not [a for a in analysis.arguments(req_landmarks) if a.startswith("--identity")]


def test_a_target_flame_mesh_gives_the_identity_of_its_neutral(panel, head_asset):
    beta = np.round(np.random.default_rng(4).normal(size=head_asset.n_identity).clip(-1.5, 1.5), 3)
    obj, arm = rig.build_head_rig(head_asset, beta, name="Actor")
    mesh = bpy.data.objects.new("ActorScan", obj.data.copy())  # a plain FLAME-topology mesh, no rig
    mesh.shape_key_clear()
    bpy.context.scene.collection.objects.link(mesh)
    panel.backend, panel.target = "neural", mesh
    _, decoded = _decoded_identity(bpy.context, panel, head_asset)
    np.testing.assert_allclose(decoded, beta, atol=0.05)
