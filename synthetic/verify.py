"""`verify`: check every sample of a dataset folder (all shard manifests in it) and print a summary."""
from __future__ import annotations

import collections
from pathlib import Path

import cv2
import numpy as np

from . import DATASET_FORMAT, DATASET_VERSION, labels
from .config import shard_indices

MAX_REPORTED = 20


def _rerender_hint(manifest: dict) -> str:
    """How to replace a dataset an older generator made (its labels no longer match the head model)."""
    if manifest.get("format") != DATASET_FORMAT or not isinstance(manifest.get("version"), int) \
            or manifest["version"] >= DATASET_VERSION:
        return ""
    st = manifest.get("settings", {})
    return (f": made by an older generator whose labels and images differ from today's (head model, sampled distributions, scene); re-render it into a new "
            f"folder with `python -m synthetic render --out NEW_DIR --count {st.get('count', 'N')} "
            f"--seed {st.get('seed', 'S')}` (and the same other options)")


def _expected_indices(manifests: list[dict], problems: list[str], partial: bool) -> tuple[list[int], int | None]:
    if not manifests:
        problems.append("no manifest*.json: not a dataset folder (or the run never started)")
        return [], None
    first = manifests[0]
    for m in manifests:
        if (m.get("format"), m.get("version")) != (DATASET_FORMAT, DATASET_VERSION):
            problems.append(f"manifest format {m.get('format')} v{m.get('version')}, expected "
                            f"{DATASET_FORMAT} v{DATASET_VERSION}" + _rerender_hint(m))
        if m.get("settings") != first.get("settings") or m.get("asset") != first.get("asset"):
            problems.append("shard manifests disagree on settings or head asset")
        if not m.get("complete"):
            problems.append(f"shard {m['shard'][0]}/{m['shard'][1]} is incomplete; resume it with the same command")
    count = first["settings"]["count"]
    indices = set()
    n_shards = {m["shard"][1] for m in manifests}
    for m in manifests:
        got = set(shard_indices(count, tuple(m["shard"])))
        if indices & got:
            problems.append(f"shard {m['shard']} overlaps another shard manifest")
        indices |= got
    if len(n_shards) > 1:
        problems.append(f"manifests from different shard counts {sorted(n_shards)}")
    if not partial and len(indices) != count:
        missing = sorted({k for k in range(max(n_shards))} - {m["shard"][0] for m in manifests})
        problems.append(f"shards {missing} of {max(n_shards)} are missing: {len(indices)} of {count} samples "
                        "(render them into this folder, or pass --partial to check only the shards present)")
    return sorted(indices), count


def check_sample(folder: Path, index: int, manifest: dict) -> tuple[list[str], dict | None, dict | None]:
    problems = []
    img_path, lbl_path = labels.image_path(folder, index), labels.label_path(folder, index)
    if not lbl_path.is_file() or not img_path.is_file():
        return [f"sample {index:06d}: missing {'label' if not lbl_path.is_file() else 'image'}"], None, None
    try:
        arrays, meta = labels.read_label(lbl_path)
    except Exception as exc:  # any failure to parse means a corrupt file
        return [f"sample {index:06d}: unreadable label ({exc})"], None, None
    res = manifest["settings"]["resolution"]
    image = cv2.imread(str(img_path), cv2.IMREAD_UNCHANGED)
    if image is None:
        problems.append(f"sample {index:06d}: unreadable image")
    elif image.shape[:2] != (res, res):
        problems.append(f"sample {index:06d}: image is {image.shape[1]}x{image.shape[0]}, expected {res}x{res}")
    if manifest["settings"].get("masks"):
        mask = cv2.imread(str(labels.mask_path(folder, index)), cv2.IMREAD_UNCHANGED)
        if mask is None:
            problems.append(f"sample {index:06d}: missing or unreadable mask")
        elif mask.shape != (res, res) or mask.max() > 5:
            problems.append(f"sample {index:06d}: mask is {mask.shape} with values up to {mask.max()}")
        elif not (mask == 1).any():
            problems.append(f"sample {index:06d}: the head is not in the mask")
    sizes = {"V": manifest["n_vertices"], "K": manifest["n_identity"]}
    for name, (dtype, shape) in labels.LABEL_ARRAYS.items():
        want = tuple(sizes.get(s, s) for s in shape)
        a = arrays.get(name)
        if a is None:
            problems.append(f"sample {index:06d}: label has no {name}")
        elif a.shape != want or a.dtype != np.dtype(dtype):
            problems.append(f"sample {index:06d}: {name} is {a.dtype}{a.shape}, expected {dtype}{want}")
        elif a.dtype.kind == "f" and not np.isfinite(a).all():
            problems.append(f"sample {index:06d}: {name} has non-finite values")
    if problems:
        return problems, arrays, meta
    if meta.get("index") != index or meta.get("seed") != manifest["settings"]["seed"]:
        problems.append(f"sample {index:06d}: label says index {meta.get('index')} seed {meta.get('seed')}")
    w = arrays["arkit_weights"]
    if w.min() < 0 or w.max() > 1:
        problems.append(f"sample {index:06d}: ARKit weights outside [0, 1]")
    if not np.allclose(arrays["R"] @ arrays["R"].T, np.eye(3), atol=1e-4):
        problems.append(f"sample {index:06d}: R is not a rotation")
    # the 2D landmarks must be the projection of the 3D ones
    pc = arrays["lmk68_3d"] @ arrays["R"].T + arrays["t"]
    uv = pc[:, :2] / pc[:, 2:] * np.diag(arrays["K"])[:2] + arrays["K"][:2, 2]
    if np.abs(uv - arrays["lmk68_2d"]).max() > 0.05:
        problems.append(f"sample {index:06d}: lmk68_2d is not the projection of lmk68_3d")
    x0, y0, x1, y1 = arrays["face_box"]
    if not (x1 > x0 and y1 > y0 and x1 > 0 and y1 > 0 and x0 < res and y0 < res):
        problems.append(f"sample {index:06d}: face box {arrays['face_box']} misses the image")
    if arrays["lmk68_visible"].sum() == 0:
        problems.append(f"sample {index:06d}: no visible landmark")
    return problems, arrays, meta


def verify(folder: Path, log=print, partial: bool = False) -> bool:
    folder = Path(folder)
    problems: list[str] = []
    if not folder.is_dir():
        log(f"error: {folder} is not a folder")
        return False
    manifests = labels.read_manifests(folder)
    indices, count = _expected_indices(manifests, problems, partial)
    stats = collections.defaultdict(list)
    ok = 0
    for index in indices:
        sample_problems, arrays, meta = check_sample(folder, index, manifests[0])
        problems += sample_problems
        if sample_problems or arrays is None:
            continue
        ok += 1
        stats["kind"].append(meta["expression_kind"].split(":")[0])
        stats["light"].append(meta["lighting"]["kind"])
        stats["occluder"].append(meta["occluder"]["kind"] or "none")
        stats["fitz"].append(meta["skin"]["fitzpatrick"])
        stats["pose"].append(arrays["head_pose_deg"])
        res = manifests[0]["settings"]["resolution"]
        box = arrays["face_box"]
        stats["face_fraction"].append(max(box[2] - box[0], box[3] - box[1]) / res)
        stats["visible68"].append(arrays["lmk68_visible"].mean())
        stats["active"].append(int((arrays["arkit_weights"] > 0.05).sum()))
    expected_files = {f"{i:06d}" for i in indices}
    for sub, suffix in ((labels.IMAGE_DIR, ".png"), (labels.MASK_DIR, ".png"), (labels.LABEL_DIR, ".npz")):
        d = folder / sub
        if d.is_dir():
            for p in d.iterdir():
                if labels.temp_writer(sub, p.name) is not None:
                    problems.append(f"leftover temporary file {p.name} (a run was interrupted; resume it)")
                elif p.suffix != suffix or p.stem not in expected_files:
                    problems.append(f"unexpected file {sub}/{p.name}")

    log(f"dataset {folder}: {ok} valid samples of {len(indices)} expected"
        + (f" (count {count}, {len(manifests)} manifest(s))" if count is not None else ""))
    if ok:
        pose = np.array(stats["pose"], np.float64)
        frac = np.array(stats["face_fraction"])
        log(f"  expressions: {dict(collections.Counter(stats['kind']))}, active shapes median "
            f"{int(np.median(stats['active']))}")
        log(f"  lighting: {dict(collections.Counter(stats['light']))}; occluders: "
            f"{dict(collections.Counter(stats['occluder']))}")
        log(f"  skin Fitzpatrick types: {dict(sorted(collections.Counter(stats['fitz']).items()))}")
        log(f"  head pose deg min {pose.min(0).round(1).tolist()} max {pose.max(0).round(1).tolist()} (yaw, pitch, roll)")
        log(f"  face box / image: {frac.min():.2f}..{frac.max():.2f}; visible 68-landmarks "
            f"{100 * np.mean(stats['visible68']):.0f} %")
    for p in problems[:MAX_REPORTED]:
        log(f"  PROBLEM: {p}")
    if len(problems) > MAX_REPORTED:
        log(f"  ... and {len(problems) - MAX_REPORTED} more problems")
    log("OK" if not problems else f"FAILED: {len(problems)} problem(s)")
    return not problems
