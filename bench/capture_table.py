"""The capture benchmark's report as markdown: accuracy per method, speed per stage, the issue's targets."""
from __future__ import annotations

import math

from models.metrics.multirex import REGIONS
from synthetic.sequence import view_name

TITLES = {"neutral_face": "neutral face (floor)", "landmarks": "landmark fit", "neural": "neural",
          "neural_adapted": "neural, adapted per actor", "neural_convnext": "neural, ConvNeXt"}


def _f(x, digits=2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _events(matched: int, events: int, onset_ms) -> str:
    return f"{matched}/{events}" + (f", {onset_ms:.0f} ms" if matched else "")


def _view_mean(row: dict, yaws) -> float:
    return sum(row["per_view_mm"][view_name(y)]["mean"] for y in yaws) / len(yaws)


def targets(report: dict) -> list[str]:
    """The issue's targets, each with its measured numbers and whether it is met."""
    m = report["methods"]
    if "neural" not in m or "landmarks" not in m:
        return ["targets not checked: the neural or the landmark row is missing"]
    n, lm = m["neural"], m["landmarks"]
    yaws = report["evaluated"]["yaws_deg"]
    lines = []
    cut = 1 - n["mean_mm"]["mean"] / lm["mean_mm"]["mean"]
    lines.append(f"neural ≥ 30 % below the landmark fit over views: {cut * 100:.0f} % "
                 f"({n['mean_mm']['mean']:.2f} vs {lm['mean_mm']['mean']:.2f} mm) — {'met' if cut >= 0.3 else 'MISSED'}")
    side = [y for y in yaws if abs(y) == 60]
    if 0 in yaws and side:
        ratio = _view_mean(n, side) / _view_mean(n, [0])
        lines.append(f"neural at ±60° within 1.5× its frontal error: {ratio:.2f}× — "
                     f"{'met' if ratio <= 1.5 else 'MISSED'}")
    else:
        lines.append("neural at ±60° vs frontal: not measured (the evaluated views lack 0° or ±60°)")
    if n["jitter_mm"] < 1e-3:
        lines.append("the neural output does not move over the clip (an untrained model?): its jitter and "
                     "cross-view targets below are met trivially")
    lines.append(f"neural jitter within 1.5× the ground truth's: {n['jitter_ratio']:.2f}× — "
                 f"{'met' if n['jitter_ratio'] <= 1.5 else 'MISSED'}")
    spread = n["view_spread_mm"] / lm["view_spread_mm"] if lm["view_spread_mm"] > 0 else float("nan")
    lines.append(f"neural cross-view spread ≤ 50 % of the landmark fit's: {spread * 100:.0f} % "
                 f"({n['view_spread_mm']:.2f} vs {lm['view_spread_mm']:.2f} mm) — {'met' if spread <= 0.5 else 'MISSED'}")
    return lines


def markdown(report: dict) -> str:
    yaws = report["evaluated"]["yaws_deg"]
    ev, st = report["evaluated"], report["set"]
    head = (["method"] + [f"{y:+d}°" if y else "0°" for y in yaws] + [f"{r}" for r in REGIONS]
            + ["mean", "retarget", "jitter ×GT", "view spread", "blinks seen, onset", "mouth opens seen, onset", "found"])
    lines = [f"Measured {report['date']} on {report['hardware']['cpu']} ({report['hardware']['cores']} cores, "
             f"no GPU, load average {report['hardware']['load_average'][0]}): {ev['identities']} identit"
             f"{'y' if ev['identities'] == 1 else 'ies'} × {len(yaws)} views × {ev['frames']} frames at "
             f"{st['resolution']} px, {st['samples']} spp. MultiREX error in mm (per view, per region over views); "
             "retarget: on another identity; jitter as a ratio to the ground truth's; events seen (matched/ground "
             "truth) and their mean onset error.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, title in TITLES.items():
        if method not in report["methods"]:
            lines.append(f"| {title} | skipped: {report['skipped'].get(method, 'not run')} |"
                         + " |" * (len(head) - 2))
            continue
        row = report["methods"][method]
        blinks = [row["timing"][k] for k in ("blink_left", "blink_right")]
        matched = sum(b["matched"] for b in blinks)
        blink_ms = sum(b["onset_ms"] * b["matched"] for b in blinks if b["matched"]) / matched if matched else None
        mouth = row["timing"]["mouth_open"]
        cells = ([title] + [_f(row["per_view_mm"][view_name(y)]["mean"]) for y in yaws]
                 + [_f(row["mean_mm"][r]) for r in REGIONS]
                 + [_f(row["mean_mm"]["mean"]), _f(row["retarget_mm"]["mean"]), _f(row["jitter_ratio"]),
                    _f(row["view_spread_mm"]), _events(matched, sum(b["events"] for b in blinks), blink_ms),
                    _events(mouth["matched"], mouth["events"], mouth["onset_ms"]), _f(row["found_fraction"])])
        lines.append("| " + " | ".join(cells) + " |")
    speed = report["speed_fps"]
    stages = [k for k in speed if k != "clip"]
    lines += ["", f"Speed in frames per second ({speed['clip']}, same run, analysis cache off):", "",
              "| " + " | ".join(stages) + " |", "|" + "---|" * len(stages),
              "| " + " | ".join(_f(speed[k], 1) for k in stages) + " |", "", "Targets:", ""]
    lines += [f"- {t}" for t in targets(report)]
    return "\n".join(lines) + "\n"
