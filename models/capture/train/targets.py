"""Training targets of a synthetic dataset, computed once and cached: the shipped E_exp's code of each label.

The labels hold posed `vertices`; the code needs the unposed expression mesh and its neutral. Both come from the
head model: neutral = HeadModel.neutral(identity), mesh = HeadModel.vertices(identity, arkit_weights) with no
joint rotation (head pose and gaze are rigid motions the labels carry separately; the semantic autoencoder was
trained on unrotated eyes too). Each label also gets the code of its mirror image (both meshes reflected across
the head's symmetry plane, the head asset's vertex `mirror` map), the target of a crop flipped left to right in
training (`train/data.py`). Cached under `.cache/capture/targets/`, keyed by the dataset's manifests and the
semantic encoder's sha256, written atomically.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from models.atomic_io import save_npz
from models.semantic.runtime import semantic_digests

CHUNK = 64


def dataset_key(data_dir: Path) -> str:
    manifests = sorted(Path(data_dir).glob("manifest*.json"))
    if not manifests:
        raise FileNotFoundError(f"{data_dir} has no manifest.json; render a dataset with `python -m synthetic render`")
    h = hashlib.sha256()
    for m in manifests:
        h.update(m.name.encode() + m.read_bytes())
    return h.hexdigest()[:16]


def datasets_key(data_dirs) -> str:
    """The key of one dataset, or of several trained on together (in the order given)."""
    keys = [dataset_key(d) for d in data_dirs]
    return keys[0] if len(keys) == 1 else hashlib.sha256("+".join(keys).encode()).hexdigest()[:16]


def label_paths(data_dir: Path) -> list[Path]:
    paths = sorted((Path(data_dir) / "labels").glob("[0-9][0-9][0-9][0-9][0-9][0-9].npz"))
    if not paths:
        raise FileNotFoundError(f"{data_dir}/labels holds no samples; render with `python -m synthetic render`")
    return paths


def head_model(log=print):
    """The numpy HeadModel of the default head asset (built and cached on first use)."""
    from models.head import HeadModel
    from models.head.build.build import load_head_asset

    return HeadModel(load_head_asset(log=log))


def unposed(model, identity: np.ndarray, arkit_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, V, 3) expression meshes and their neutrals, float32, in the head frame."""
    return (model.vertices(identity, arkit_weights).astype(np.float32), model.neutral(identity).astype(np.float32))


def load_targets(data_dir: Path, cache: Path, semantic_dir: Path, model=None, log=print) -> dict[str, np.ndarray]:
    """{'index', 'z_exp', 'z_exp_mirror', 'identity', 'arkit_weights'} of every sample, from the cache when it is
    current."""
    from models.head.build.shapes import mirror_displacement
    from models.semantic.runtime import SemanticRuntime

    digest = semantic_digests(semantic_dir)["expression"]
    path = Path(cache) / "targets" / f"{dataset_key(data_dir)}-{digest[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                cached = {k: z[k] for k in z.files}
            if "z_exp_mirror" in cached:
                return cached
            log(f"recomputing target cache {path}: it predates the mirrored codes")
        except Exception:
            log(f"recomputing damaged target cache {path}")
    if model is None:
        model = head_model(log)
    labels = label_paths(data_dir)
    index, identity, weights = [], [], []
    for p in labels:
        with np.load(p) as z:
            index.append(int(p.stem))
            identity.append(z["identity"])
            weights.append(z["arkit_weights"])
    identity, weights = np.array(identity), np.array(weights)
    runtime = SemanticRuntime(semantic_dir)
    codes, mirror_codes = [], []
    log(f"semantic codes of {len(labels)} labels and their mirror images (cached after the first time)")
    for s in range(0, len(labels), CHUNK):
        mesh, neutral = unposed(model, identity[s:s + CHUNK], weights[s:s + CHUNK])
        codes.append(runtime.encode_expression(mesh, neutral))
        mirror_codes.append(runtime.encode_expression(mirror_displacement(mesh, model.asset.mirror),
                                                      mirror_displacement(neutral, model.asset.mirror)))
    out = {"index": np.array(index), "z_exp": np.concatenate(codes).astype(np.float32),
           "z_exp_mirror": np.concatenate(mirror_codes).astype(np.float32),
           "identity": identity.astype(np.float32), "arkit_weights": weights.astype(np.float32),
           "semantic_expression_sha256": np.array(digest)}
    save_npz(path, out)
    return out
