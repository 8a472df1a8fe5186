"""Two `eval --json` reports of one held-out folder, frame by frame: is model B's face error really lower than A's?

The splits hold tens of frames, so a difference of a few hundredths of the neutral face's error is often noise. Each
split's mean difference gets a 95 % bootstrap interval over its frames (the frames are paired: both models saw the
same renders).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from models.capture.evaluate import split_rows


@dataclass(frozen=True)
class SplitComparison:
    split: str
    frames: int
    a_mm: float
    b_mm: float
    neutral_mm: float
    difference_mm: float  # B − A; negative: B is better
    low_mm: float
    high_mm: float

    @property
    def a_ratio(self) -> float:
        return self.a_mm / self.neutral_mm

    @property
    def b_ratio(self) -> float:
        return self.b_mm / self.neutral_mm

    @property
    def resolved(self) -> bool:
        """True when the interval leaves out zero."""
        return self.low_mm > 0 or self.high_mm < 0


def read_per_frame(path: Path) -> dict[str, np.ndarray]:
    try:
        report = json.loads(Path(path).read_text())
        frames = report["synthetic"]["per_frame"]
        return {k: np.asarray(v) for k, v in frames.items()}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: write it with `python -m models.capture eval ... --json > "
                                f"{path}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise ValueError(f"{path} is not an `eval --json` report with per-frame errors: write it again with "
                         "`python -m models.capture eval ... --json`") from None


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray], resamples: int = 10000,
            seed: int = 0) -> list[SplitComparison]:
    if not np.array_equal(a["index"], b["index"]):
        raise ValueError("the two reports score different frames: evaluate both models on the same --data with the "
                         "same --frames")
    if not np.allclose(a["neutral_face_mm"], b["neutral_face_mm"], atol=1e-3):
        raise ValueError("the two reports score different renders under the same sample numbers: evaluate both "
                         "models on the same --data folder")
    out = []
    splits = split_rows(a["yaw_deg"], a["face_px"], _ground_truth_split(a, b, "most_expressive_quarter"),
                        _ground_truth_split(a, b, "lips_visible"))
    for name, rows in splits.items():
        if rows.sum() < 2:
            continue
        d = b["capture_mm"][rows] - a["capture_mm"][rows]
        ci = stats.bootstrap((d,), np.mean, n_resamples=resamples, confidence_level=0.95, method="percentile",
                             random_state=np.random.default_rng(seed)).confidence_interval
        out.append(SplitComparison(name, int(rows.sum()), float(a["capture_mm"][rows].mean()),
                                   float(b["capture_mm"][rows].mean()), float(a["neutral_face_mm"][rows].mean()),
                                   float(d.mean()), float(ci.low), float(ci.high)))
    return out


def _ground_truth_split(a: dict[str, np.ndarray], b: dict[str, np.ndarray], key: str) -> np.ndarray | None:
    """A split that depends on the ground truth only, not on the model (the most expressive quarter, the frames with
    the lips in view), from whichever report records it: reports written by an earlier `eval` lack it."""
    masks = [r[key] for r in (a, b) if key in r]
    if len(masks) == 2 and not np.array_equal(*masks):
        raise ValueError(f"the two reports disagree on the {key.replace('_', ' ')} frames of the same renders: "
                         "evaluate both models again with the same version of `python -m models.capture eval`")
    return masks[0] if masks else None


def format_table(rows: list[SplitComparison]) -> str:
    lines = [f"{'split':26s} {'frames':>6s} {'A mm':>7s} {'B mm':>7s} {'A/neutral':>9s} {'B/neutral':>9s} "
             f"{'B − A mm [95 %]':>26s}"]
    for r in rows:
        mark = " *" if r.resolved else ""
        lines.append(f"{r.split:26s} {r.frames:6d} {r.a_mm:7.3f} {r.b_mm:7.3f} {r.a_ratio:9.2f} {r.b_ratio:9.2f} "
                     f"{r.difference_mm:+8.3f} [{r.low_mm:+.3f}, {r.high_mm:+.3f}]{mark}")
    lines.append("* the interval leaves out zero")
    return "\n".join(lines)
