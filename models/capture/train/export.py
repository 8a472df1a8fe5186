"""ONNX export of the capture model (fp32, and fp16 for CUDA), dynamic batch, parity check, JSON metadata.

The weights are rounded to fp16 first, as `NAME.pt` stores them, so the ONNX files and `NAME.pt` are one model; the
fp32 file then stores those weights as fp16 (`half_storage`) and computes in fp32, which halves it with no change
to what it computes."""
from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from models.atomic_io import atomic_write
from models.capture.crop import BOX_MARGIN, MARGIN
from models.capture.runtime import FORMAT, INPUTS, OUTPUTS, VERSION, file_names
from models.capture.train.networks import CaptureNet, Exported
from models.model_files import write_metadata
from models.semantic.runtime import semantic_digests
from models.vocab import capture64

PARITY_TOL = 1e-4


HALF_STORAGE_MIN = 64  # initializers smaller than this stay fp32 (a Cast node costs more than it saves)


def _onnx(module, example, path: Path, fold: bool = True) -> None:
    """`fold=False` keeps BatchNorm apart from the convolutions (ONNX Runtime fuses them when it loads the file), so
    every stored weight is one of the network's own, which fp16 holds exactly once they are rounded."""
    axes = {n: {0: "batch"} for n in (*INPUTS, *OUTPUTS)}

    def write(handle):
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (example,), handle, input_names=list(INPUTS), output_names=list(OUTPUTS),
                              dynamic_axes=axes, opset_version=17, dynamo=False, do_constant_folding=fold)

    atomic_write(path, write)
    os.chmod(path, 0o644)


def half_storage(path: Path) -> int:
    """Rewrites an fp32 ONNX file so that each float initializer whose values fp16 holds exactly is stored as fp16
    and cast back to fp32 by a Cast node: what the file computes is unchanged, its size about halves, and ONNX
    Runtime folds the casts when it builds a session. Returns how many initializers were converted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, casts = [], []
    for init in graph.initializer:
        values = numpy_helper.to_array(init) if init.data_type == TensorProto.FLOAT else None
        if values is None or values.size < HALF_STORAGE_MIN or not np.array_equal(
                values.astype(np.float16).astype(np.float32), values):
            kept.append(init)
            continue
        kept.append(numpy_helper.from_array(values.astype(np.float16), f"{init.name}__fp16"))
        casts.append(helper.make_node("Cast", [kept[-1].name], [init.name], to=TensorProto.FLOAT))
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    atomic_write(path, lambda handle: handle.write(model.SerializeToString()))
    os.chmod(path, 0o644)
    return len(casts)


def parity(net: CaptureNet, resolution: int, onnx_path: Path, batch: int = 3, seed: int = 0) -> float:
    """Largest |onnx - torch| over every output on random crops (CPU provider), in the network's own units:
    landmarks as fractions of half the crop (in pixels float32 rounding alone reaches 1e-4 near the crop's far edge)."""
    import onnxruntime as ort

    images = np.random.default_rng(seed).integers(0, 256, (batch, resolution, resolution, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = [o.numpy() for o in Exported(net.eval(), resolution)(torch.as_tensor(images))]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUTS[0]: images})
    units = [1.0 if name != "landmarks" else resolution / 2 for name in OUTPUTS]
    return max(float(np.abs(a - b).max()) / u for a, b, u in zip(got, expected, units))


def export(checkpoint: Path, out_dir: Path, name: str, semantic_dir: Path, fp16: bool = True,
           info: dict | None = None, log=print, code_mirror: tuple[np.ndarray, float] | None = None) -> Path:
    """Writes NAME.onnx, NAME_fp16.onnx, NAME.pt (fp16 state dict for `adapt`) and NAME.json into out_dir.
    `code_mirror`: (matrix, residual) of models.capture.mirror.CodeMirror, else the checkpoint's own when it has one."""
    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if code_mirror is None and "code_mirror" in ck:
        code_mirror = (ck["code_mirror"], ck.get("code_mirror_residual"))
    cfg = ck["config"]
    net = CaptureNet.from_config(cfg)
    # the weights NAME.pt holds (fp16), so that it and the ONNX files are one model
    net.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    net.eval()
    r = int(cfg["resolution"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = file_names(name)
    example = torch.zeros(2, r, r, 3, dtype=torch.uint8)
    _onnx(Exported(net, r), example, out_dir / names["fp32"], fold=False)
    half_storage(out_dir / names["fp32"])
    worst = parity(net, r, out_dir / names["fp32"])
    if worst > PARITY_TOL:
        raise RuntimeError(f"ONNX export differs from torch by {worst:.2e} (> {PARITY_TOL}); not shipping it")
    files = [names["fp32"], names["torch"]]
    if fp16:
        half = CaptureNet.from_config(cfg)
        half.load_state_dict(ck["model"])
        # fp16 inside, uint8 in and float32 out, so the runtime feeds both variants the same way
        _onnx(Exported(half.eval(), r, torch.float16), example, out_dir / names["fp16"])
        files.append(names["fp16"])
    # `adapt` and `--init` load it into float32 parameters (load_state_dict casts)
    half_state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    atomic_write(out_dir / names["torch"], lambda h: torch.save({"model": half_state, "config": cfg}, h))
    meta = {"format": FORMAT, "version": VERSION, "name": name, "backbone": cfg["backbone"],
            "pooling": cfg.get("pooling", "mean"), "heatmaps": bool(cfg.get("heatmaps", False)), "resolution": r,
            "crop": {"margin": MARGIN, "box_margin": BOX_MARGIN}, "landmarks": list(capture64.NAMES),
            "landmarks_mp478": capture64.MP478.tolist(),
            "semantic": semantic_digests(semantic_dir),
            "training": {"steps": ck["step"], "minutes": round(ck["elapsed"] / 60, 2), "config": cfg,
                         "history": ck["history"][-1:] if ck["history"] else [], **(info or {})},
            "parity_max_abs": worst, "weights": "fp16", "exported": datetime.date.today().isoformat()}
    if code_mirror is not None:  # fitted on the training set's codes, for the runtime's mirror averaging
        meta["code_mirror"] = np.asarray(code_mirror[0], np.float32).tolist()
        meta["code_mirror_residual"] = None if code_mirror[1] is None else float(code_mirror[1])
    write_metadata(out_dir, names["meta"], meta, files)
    log(f"wrote {', '.join(files)} and {names['meta']} to {out_dir} (ONNX parity {worst:.1e})")
    return out_dir / names["meta"]
