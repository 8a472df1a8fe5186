"""The fixed held-out evaluation: identities and expressions drawn from a seed training never uses.

Every metric is the mean Euclidean vertex distance over the face region in mm, except blink_gap_mm
(`models.head.eyelids.eyelid_gap_mm`: the largest upper/lower lid margin gap over both eyes). A method is a
``retarget(mesh, source_neutral, target_neutral) -> mesh`` function on (B, V, 3) arrays in metres:
  recon_mm             A's expression re-created on A
  retarget_mm          A's expression put on B, against B wearing A's ARKit weights
  identity_leakage_mm  how far that result moves when A is replaced by A' wearing the same weights
  blink_gap_mm         lid gap of A's full blink put on B
"""
from __future__ import annotations

import dataclasses

import numpy as np

from models.vocab import arkit
from models.vocab.arkit import ARKIT_NAMES
from models.semantic import data as D

HELDOUT_IDENTITIES = 12
HELDOUT_EXPRESSIONS = 96


@dataclasses.dataclass
class HeldOut:
    pool: D.IdentityPool
    weights: np.ndarray  # (N, 52)
    a: np.ndarray  # (N,) source identity
    a2: np.ndarray  # (N,) another source identity (leakage)
    b: np.ndarray  # (N,) target identity
    columns: np.ndarray
    face: np.ndarray  # (V,) bool


def make_heldout(asset, cache_dir, n_identities: int = HELDOUT_IDENTITIES,
                 n_expressions: int = HELDOUT_EXPRESSIONS, sampler=None) -> HeldOut:
    if n_identities < 3:
        raise ValueError("the held-out set needs at least 3 identities (A, A' and B must differ)")
    sampler = sampler or D.default_sampler()
    pool = D.load_pool(asset, n_identities, D.HELDOUT_SEED, cache_dir)
    rng = np.random.default_rng(D.HELDOUT_SEED)
    w = sampler(rng, n_expressions)
    a = rng.integers(0, n_identities, n_expressions)
    a2 = (a + 1 + rng.integers(0, n_identities - 1, n_expressions)) % n_identities
    b = a2.copy()
    while (clash := (b == a) | (b == a2)).any():
        b[clash] = rng.integers(0, n_identities, int(clash.sum()))
    return HeldOut(pool, w, a, a2, b, arkit.columns(asset.shape_names), asset.regions["face"].astype(bool))


def blink_weights() -> np.ndarray:
    w = np.zeros((1, len(ARKIT_NAMES)), np.float32)
    w[0, [ARKIT_NAMES.index("eyeBlinkLeft"), ARKIT_NAMES.index("eyeBlinkRight")]] = 1.0
    return w


def face_distance_mm(x: np.ndarray, y: np.ndarray, face: np.ndarray) -> float:
    return float(np.linalg.norm((x - y)[:, face], axis=-1).mean() * 1000)


def evaluate(retarget, held: HeldOut, gap_mm, chunk: int = 32) -> dict[str, float]:
    """``gap_mm(vertices (V, 3)) -> float`` measures the lid gap."""
    p, cols, face = held.pool, held.columns, held.face
    rec, ret, leak = [], [], []
    for s in range(0, len(held.weights), chunk):
        sl = slice(s, s + chunk)
        w, a, a2, b = held.weights[sl], held.a[sl], held.a2[sl], held.b[sl]
        mesh_a, mesh_a2, mesh_b = D.pose(p, a, w, cols), D.pose(p, a2, w, cols), D.pose(p, b, w, cols)
        on_a = retarget(mesh_a, p.neutrals[a], p.neutrals[a])
        on_b = retarget(mesh_a, p.neutrals[a], p.neutrals[b])
        on_b2 = retarget(mesh_a2, p.neutrals[a2], p.neutrals[b])
        n = len(w)
        rec.append(face_distance_mm(on_a, mesh_a, face) * n)
        ret.append(face_distance_mm(on_b, mesh_b, face) * n)
        leak.append(face_distance_mm(on_b, on_b2, face) * n)
    total = len(held.weights)
    ids = np.arange(len(p))
    src, dst = ids, np.roll(ids, 1)
    blink = D.pose(p, src, np.repeat(blink_weights(), len(ids), 0), cols)
    closed = retarget(blink, p.neutrals[src], p.neutrals[dst])
    return {
        "recon_mm": sum(rec) / total,
        "retarget_mm": sum(ret) / total,
        "identity_leakage_mm": sum(leak) / total,
        "blink_gap_mm": float(np.mean([gap_mm(v) for v in closed])),
    }


def copy_displacement(mesh, source_neutral, target_neutral):
    """The baseline: A's displacement from its neutral added unchanged to B's neutral."""
    return target_neutral + (mesh - source_neutral)


TARGETS = {"recon_mm": 0.5, "retarget_mm": 1.0, "blink_gap_mm": 1.0}


def report(asset, retarget, cache_dir) -> dict:
    from models.head.eyelids import eyelid_gap_mm

    held = make_heldout(asset, cache_dir)
    gap = lambda v: eyelid_gap_mm(asset, v)  # noqa: E731
    out = {k: round(v, 4) for k, v in evaluate(retarget, held, gap).items()}
    out["baseline"] = {k: round(v, 4) for k, v in evaluate(copy_displacement, held, gap).items()}
    out["targets_met"] = bool(all(out[k] <= t for k, t in TARGETS.items())
                              and out["retarget_mm"] < out["baseline"]["retarget_mm"])
    out["heldout"] = {"identities": len(held.pool), "expressions": len(held.weights), "seed": D.HELDOUT_SEED}
    return out
