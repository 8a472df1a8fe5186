"""The add-on's video analysis as a background job: the command it runs and how its progress reads.

The job is `python -m blender_addon.capture VIDEO --analyse-only --progress-json`: the analysis runs in its
own process (MediaPipe and the fit would block Blender's UI for seconds to minutes) and writes the raw
Performance into the per-clip cache; its `done` event names the cache file, which Bake reads. No bpy here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from pathlib import Path

from .jobs import Job

MODULE = "blender_addon.capture"
# share of the whole analysis each stage takes (the landmark backend: tracking about a third, the fit the rest)
STAGES = {"tracking": (0.0, 0.35), "fitting": (0.35, 0.65), "cached": (0.0, 1.0)}


@dataclasses.dataclass
class AnalysisRequest:
    video: Path  # a video file, or the folder of an image sequence
    first: int = 1  # the clip's first frame to analyse, 1-based as in Blender
    last: int = 0  # the last one, inclusive; 0: to the end of the clip
    backend: str = "landmarks"
    asset: Path | None = None  # the head asset file (None: the development tree builds or reads its own)
    model_dir: Path | None = None
    provider: str = "auto"
    threads: int = 0
    fps: float | None = None  # an image sequence's frame rate
    fov_deg: float = 60.0  # the camera's field of view across the wider side (the landmark backend's fit)
    identity: tuple[float, ...] | None = None  # the target's identity the neural backend decodes on

    def signature(self) -> str:
        """What the analysis depends on that the user picks: a changed clip, range, backend or FOV (or, for the
        neural backend, target identity) needs a new one."""
        base = f"{Path(self.video).resolve()}|{self.first}|{self.last}|{self.backend}|{self.fov_deg:g}"
        if self.backend != "neural" or not self.identity:
            return base
        return base + "|" + hashlib.sha256(",".join(f"{v:.6g}" for v in self.identity).encode()).hexdigest()[:16]


def check_request(req: AnalysisRequest) -> None:
    """One-line ValueError for what can be refused before starting a process."""
    if not Path(req.video).exists():
        raise ValueError(f"{req.video}: the movie clip's file is missing; load the video again (Load Video)")
    if req.last and req.last < req.first:
        raise ValueError(f"frame range {req.first}-{req.last} is empty; set Last Frame to {req.first} or more "
                         "(0: to the end)")


def arguments(req: AnalysisRequest) -> list[str]:
    args = [str(req.video), "--analyse-only", "--progress-json", "--start", str(req.first - 1),
            "--backend", req.backend, "--provider", req.provider, "--threads", str(req.threads),
            "--fov", f"{req.fov_deg:g}"]
    if req.last:
        args += ["--end", str(req.last)]
    if req.fps:
        args += ["--fps", f"{req.fps:g}"]
    if req.asset is not None:
        args += ["--asset", str(req.asset)]
    if req.model_dir is not None:
        args += ["--model-dir", str(req.model_dir)]
    if req.backend == "neural" and req.identity:
        args += ["--identity=" + ",".join(repr(float(v)) for v in req.identity)]  # "=": it may start with "-"
    return args


def start(python: list[str], req: AnalysisRequest, cwd: Path | None = None) -> Job:
    check_request(req)
    env = dict(os.environ)
    if req.threads:
        env.setdefault("OMP_NUM_THREADS", str(req.threads))
    return Job(python + arguments(req), cwd=cwd, env=env)


def overall_fraction(stage: str, done: int, total: int) -> float:
    begin, span = STAGES.get(stage, (0.0, 1.0))
    return min(1.0, begin + span * (done / total if total else 0.0))


@dataclasses.dataclass
class Clock:
    """The ETA of a job from its progress: the rate since the first progress event (process start-up and
    model loading excluded), over the whole analysis."""

    started: float | None = None
    first_fraction: float = 0.0

    def eta_s(self, fraction: float, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if self.started is None:
            self.started, self.first_fraction = now, fraction
            return None
        gained = fraction - self.first_fraction
        if gained <= 0.02 or fraction >= 1.0:
            return None
        return (now - self.started) * (1.0 - fraction) / gained


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d} left"


def status_text(stage: str, done: int, total: int, eta: float | None) -> str:
    if not total:
        return "starting…"
    text = f"{stage} {done}/{total}"
    left = format_eta(eta)
    return f"{text}, {left}" if left else text
