"""ONNX export of E_exp, E_id and D_mesh, with a parity check against torch and a model card."""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from models.atomic_io import atomic_write
from models.model_files import write_metadata
from models.semantic.train.losses import LossWeights
from models.semantic.train.networks import SemanticAutoencoder
from models.semantic.runtime import FILES, META

PARITY_TOL = 1e-4


class _Expression(torch.nn.Module):
    def __init__(self, m: SemanticAutoencoder):
        super().__init__()
        self.m = m

    def forward(self, mesh, neutral):
        return self.m.encode_expression(mesh, neutral)


class _Identity(torch.nn.Module):
    def __init__(self, m: SemanticAutoencoder):
        super().__init__()
        self.m = m

    def forward(self, neutral):
        return self.m.encode_identity(neutral)


class _Decoder(torch.nn.Module):
    def __init__(self, m: SemanticAutoencoder):
        super().__init__()
        self.m = m

    def forward(self, z_exp, z_id):
        return self.m.displacement(z_exp, z_id)


def _export(module, args, names_in, names_out, path: Path) -> None:
    axes = {n: {0: "batch"} for n in (*names_in, *names_out)}

    def write(handle):
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module.eval(), args, handle, input_names=list(names_in),
                              output_names=list(names_out), dynamic_axes=axes, opset_version=17, dynamo=False)

    atomic_write(path, write)
    os.chmod(path, 0o644)  # shipped weights: readable by everyone, unlike mkstemp's 0600


def export_onnx(model: SemanticAutoencoder, out_dir: Path, example_mesh: np.ndarray,
                example_neutral: np.ndarray, meta: dict) -> float:
    """Writes the three networks and their metadata (with each file's sha256); returns the largest
    |onnx - torch| difference."""
    import onnxruntime as ort

    model = model.eval().cpu()
    out_dir = Path(out_dir)
    mesh = torch.as_tensor(example_mesh, dtype=torch.float32)
    neutral = torch.as_tensor(example_neutral, dtype=torch.float32)
    with torch.no_grad():
        z_exp = model.encode_expression(mesh, neutral)
        z_id = model.encode_identity(neutral)
        disp = model.displacement(z_exp, z_id)
    jobs = [("expression", _Expression(model), (mesh, neutral), ("mesh", "neutral"), ("z_exp",), z_exp),
            ("identity", _Identity(model), (neutral,), ("neutral",), ("z_id",), z_id),
            ("decoder", _Decoder(model), (z_exp, z_id), ("z_exp", "z_id"), ("displacement",), disp)]
    worst = 0.0
    for key, module, args, names_in, names_out, expected in jobs:
        path = out_dir / FILES[key]
        _export(module, args, names_in, names_out, path)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {n: a.numpy() for n, a in zip(names_in, args)})[0]
        worst = max(worst, float(np.abs(got - expected.numpy()).max()))
    if worst > PARITY_TOL:
        raise RuntimeError(f"ONNX Runtime differs from torch by {worst:.2e} > {PARITY_TOL}; export is broken")
    meta = {**meta, "n_vertices": int(mesh.shape[1]), "code_size": int(z_exp.shape[1]), "units": "metres",
            "parity_max_abs": worst}
    write_metadata(out_dir, META, meta, FILES.values())
    return worst


def model_card(meta: dict, scores: dict, config: dict) -> str:
    b = scores["baseline"]
    rows = "\n".join(f"| {k} | {scores[k]:.3f} | {b[k]:.3f} |"
                     for k in ("recon_mm", "retarget_mm", "identity_leakage_mm", "blink_gap_mm"))
    linear = ("""
plus linear paths in E_id and D_mesh started from a whitened PCA of the training data
(`models/semantic/pca_init.py`)""" if config.get("linear_paths") else "")
    weights = dataclasses.replace(LossWeights(), space=config.get("space_weight", 0.0))
    space = (""",
and (not in the paper) the swapped-code decodes' distance from the span of the new face's own
transferred blendshapes""" if weights.space else "")
    return f"""# SEREP semantic expression autoencoder (FLAME topology)

Three ONNX networks (exported {datetime.date.today().isoformat()}, opset 17, float32, dynamic batch):

| file | inputs | output |
|---|---|---|
| `{FILES['expression']}` | `mesh`, `neutral` (B, {meta['n_vertices']}, 3) metres | `z_exp` (B, 64) |
| `{FILES['identity']}` | `neutral` (B, {meta['n_vertices']}, 3) metres | `z_id` (B, 64) |
| `{FILES['decoder']}` | `z_exp`, `z_id` (B, 64) | `displacement` (B, {meta['n_vertices']}, 3) metres from the identity's neutral |

Retarget A's expression onto B: `neutral_B + decoder(E_exp(mesh_A, neutral_A), E_id(neutral_B))`
(`models/semantic/runtime.py` does this with ONNX Runtime; ONNX Runtime matches torch within
{meta['parity_max_abs']:.1e}).

## Training
SpiralNet++ convolutions over a 5-level quadric-decimation hierarchy of the FLAME topology, the
networks of SEREP's supplementary Table 1{linear}, trained with `python -m models.semantic train --preset
{meta.get('preset', 'cpu')}` ({meta.get('steps', '?')} steps, {meta.get('minutes', 0):.1f} min on {meta.get('device', 'cpu')}) on
synthetic meshes made on the fly: random FLAME identities (N(0,1) coefficients clipped at 2.5) wearing
random ARKit expressions from `models/expressions.py`, each ARKit shape of the head asset moved onto
each identity by gradient-domain deformation transfer (lids re-closed for the blinks). Every
expression is drawn fresh, so no expression is ever seen on two identities (unpaired training).
Losses: reconstruction, cycle consistency, delta coordinates, edge length, eye closure, and the eye
term again on the swapped-code decodes (each lid open by the same fraction of the new face's opening){space},
weighted `{json.dumps(dataclasses.asdict(weights))}`. Config: `{json.dumps(config)}`.

## Evaluation (`python -m models.semantic eval --json`, held-out identities and expressions)
| metric | SEREP | baseline: copy A's displacement |
|---|---|---|
{rows}

Targets: recon_mm <= 0.5, retarget_mm <= 1.0 and below the baseline, blink_gap_mm <= 1.0.
All targets met: {scores['targets_met']}.

## Intended use and limits
Retargeting facial expressions between FLAME-topology heads, and as the expression space of the
capture pipeline. Trained only on synthetic blendshape expressions of the project's head rig; it
has not seen real scans. The FLAME licence forbids pornographic use and fake, libelous, misleading
or defamatory content.

## Attribution
Derived from FLAME 2023 Open (Max Planck Institute for Intelligent Systems, CC BY 4.0; T. Li,
T. Bolkart, M. J. Black, H. Li, J. Romero, "Learning a model of facial shape and expression from 4D
scans", ACM TOG 2017; changes: subset of components, expression rig added) and ICT-FaceKit (MIT,
Copyright (c) 2020 USC Institute for Creative Technologies; expression shapes transferred to FLAME
topology). The networks follow SEREP (Josi et al., "SEREP: Semantic Facial Expression Representation
for Robust In-the-Wild Capture and Retargeting") and SpiralNet++ (Gong et al. 2019); the code is
this project's own.
"""
