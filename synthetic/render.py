"""`render`: check everything, then render the missing samples of this shard (resumable, multi-worker)."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import multiprocessing
import os
import signal
import socket
import sys
import time
from pathlib import Path
from queue import Empty

from models.atomic_io import commit
from models.head import AssetError, HeadAsset
from models.head.asset import asset_digest
from models.head.build.build import load_head_asset
from models.vocab.arkit import ARKIT_NAMES

from . import DATASET_FORMAT, DATASET_VERSION, labels
from .config import ConfigError, RenderConfig, RenderStopped, not_writable, shard_indices, validate
from .hdris import find_hdris


@dataclasses.dataclass
class Job:
    config: RenderConfig
    hdris: dict[str, Path]
    indices: list[int]
    manifest: dict


def load_asset(config: RenderConfig) -> HeadAsset:
    try:
        return load_head_asset(config.flame, config.landmarks, config.ict,
                               log=lambda *a: print("[synthetic]", *a, file=sys.stderr))
    except AssetError as exc:
        raise ConfigError(f"head asset: {exc}") from None
    except FileNotFoundError as exc:
        raise ConfigError(f"head asset input missing: {exc}") from None


def check_device(device: str) -> None:
    """A GPU asked for by name must exist (auto falls back to the CPU, so it cannot fail)."""
    if device in ("auto", "cpu"):
        return
    import bpy

    from .scene_render import select_device

    select_device(bpy.context.scene, device)


def check_shard_count(out: Path, existing: list[dict], shard: tuple[int, int]) -> None:
    """Samples of one folder all come from one split into shards (verify counts them that way)."""
    counts = sorted({m.get("shard", [0, 1])[1] for m in existing})
    if counts and counts != [shard[1]]:
        made = " and ".join("unsharded" if n == 1 else f"in {n} shards" for n in counts)
        fix = "without --shard" if counts[0] == 1 else f"with --shard K/{counts[0]}"
        raise ConfigError(f"{out} holds a dataset rendered {made}, this run asks for --shard {shard[0]}/{shard[1]}; "
                          f"render into it {fix}, or pick a new --out")


def _differences(old: dict, new: dict) -> str:
    return ", ".join(f"{k} {json.dumps(old.get(k))} there but {json.dumps(v)} now" for k, v in new.items()
                     if old.get(k) != v)


def prepare(config: RenderConfig) -> tuple[Job, HeadAsset]:
    """Every check that can fail, before anything is written: arguments, output folder, shard split, HDRIs,
    device, head asset and agreement with a dataset already in the folder."""
    validate(config)
    out = Path(config.out)
    existing = labels.read_manifests(out) if out.is_dir() else []
    check_shard_count(out, existing, config.shard)
    hdris = find_hdris(config.hdri_dir)
    check_device(config.device)
    asset = load_asset(config)
    settings = config.output_settings()
    manifest = labels.new_manifest(settings, config.shard, shard_indices(config.count, config.shard),
                                   list(hdris), {"digest": asset_digest(asset),
                                                 "builder_version": asset.builder_version},
                                   asset.n_vertices, asset.n_identity, list(ARKIT_NAMES))
    for old in existing:
        problems = []
        if (old.get("format"), old.get("version")) != (DATASET_FORMAT, DATASET_VERSION):
            problems.append(f"format {old.get('format')} v{old.get('version')} (this tool writes "
                            f"{DATASET_FORMAT} v{DATASET_VERSION})")
        if old.get("settings") != settings:
            problems.append(f"other settings ({_differences(old.get('settings', {}), settings)})")
        if old.get("hdris") != list(hdris):
            problems.append("a different set of environment maps (--hdri-dir)")
        if old.get("asset", {}).get("digest") != manifest["asset"]["digest"]:
            problems.append("a different head asset")
        if problems:
            raise ConfigError(f"{out} already holds a dataset made with {' and '.join(problems)}. Resume it with "
                              "the settings it was made with, or pick a new --out.")
    if not existing and any((out / d).is_dir() and any((out / d).iterdir())
                            for d in (labels.IMAGE_DIR, labels.LABEL_DIR)):
        raise ConfigError(f"{out} holds images/labels but no manifest; it is not a dataset this tool can "
                          "resume. Pick a new --out or empty it.")
    return Job(config, hdris, shard_indices(config.count, config.shard), manifest), asset


def _threads(config: RenderConfig) -> int:
    return config.threads or max(1, (os.cpu_count() or 1) // config.workers)


class SampleRenderer:
    """The scene of one process, built once; renders samples by index into a dataset folder (image and mask
    first, then the label, each by atomic rename)."""

    def __init__(self, config: RenderConfig, hdris: dict[str, Path], asset: HeadAsset | None = None):
        from models.head import HeadModel

        from .posing import head_statics
        from .scene import SyntheticScene
        from .scene_render import RenderSettings

        self.config, self.hdris, self.names = config, hdris, list(hdris)
        self.asset = asset if asset is not None else load_asset(config)
        self.model = HeadModel(self.asset)
        self.statics = head_statics(self.asset)
        self.scene = SyntheticScene(self.asset, hdris, RenderSettings(
            config.resolution, config.samples, config.denoise, config.transparent, config.device,
            _threads(config), config.masks))

    def render(self, index: int, out: Path) -> None:
        import numpy as np

        from . import occluders
        from .annotate import label_arrays, label_meta
        from .camera import frame_face
        from .posing import pose_sample
        from .sampling import sample_params

        config, statics = self.config, self.statics
        p = sample_params(config.seed, index, self.asset.n_identity, self.names, occluders=config.occluders)
        posed = pose_sample(self.model, statics, p)
        c = p.camera
        cam = frame_face(posed.vertices[statics.face_points].astype(np.float64), c.focal_mm, c.sensor_mm,
                         config.resolution, c.face_fraction, c.offset, c.azimuth_deg, c.elevation_deg, c.roll_deg)
        occ = occluders.place(p.occluder, posed.head_rotation, posed.eye_centres,
                              posed.vertices[statics.face_points], cam.centre)
        self.scene.apply(p, posed, cam, occ)
        vis68 = self.scene.visibility(posed.lmk68, cam)
        vis478 = self.scene.visibility(posed.mp478, cam)
        arrays = label_arrays(p, posed, cam, statics, vis68, vis478)
        meta = label_meta(p, cam, self.hdris[p.lighting.hdri].name if p.lighting.hdri else "")
        image = labels.image_path(out, index)
        image.parent.mkdir(parents=True, exist_ok=True)
        tmp = labels.temp_path(image)
        mask_tmp = None
        if config.masks:
            labels.mask_path(out, index).parent.mkdir(parents=True, exist_ok=True)
            mask_tmp = labels.temp_path(labels.mask_path(out, index))
        mask_written = self.scene.render(tmp, mask_tmp)
        for written, final in ((mask_written, labels.mask_path(out, index)), (tmp, image)):
            if written is not None:
                commit(written, final)
        labels.write_label(out, index, arrays, meta)


def worker(config: RenderConfig, hdris: dict[str, Path], indices: list[int], report, asset=None) -> None:
    """Build the scene once, then render `indices`; report(index, seconds) after each sample."""
    parent = os.getppid()
    renderer = SampleRenderer(config, hdris, asset)
    for index in indices:
        if config.workers > 1 and os.getppid() != parent:
            return  # the parent died: stop instead of rendering on as an orphan
        start = time.perf_counter()
        renderer.render(index, config.out)
        report(index, time.perf_counter() - start)


def _spawned_worker(config, hdris, indices, queue, parent_path):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    # spawn copies the parent's sys.path; once the parent has imported bpy that includes bpy's own
    # scripts/modules folder, whose `bpy` package would shadow the real module here
    sys.path[:] = parent_path
    try:
        worker(config, hdris, indices, lambda i, s: queue.put(("done", i, s)))
        queue.put(("exit", os.getpid(), None))
    except BaseException as exc:  # report, so the parent can stop with a message instead of hanging
        queue.put(("error", None, f"{type(exc).__name__}: {exc}"))
        raise


def _clean_path() -> list[str]:
    return [p for p in sys.path if not (os.sep + "scripts" in p and os.sep + "bpy" + os.sep in p)]


def lock_name(shard: tuple[int, int]) -> str:
    return f".render-lock-shard-{shard[0]}-of-{shard[1]}"


@contextlib.contextmanager
def render_lock(out: Path, shard: tuple[int, int]):
    """Hold the lock of this shard of `out` (other shards may render into the same folder). The kernel releases
    it when the holder exits or dies; the lock file stays and names the last holder."""
    path = Path(out) / lock_name(shard)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
    except OSError as exc:
        raise not_writable(out, exc.strerror or str(exc)) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read())
            except ValueError:
                holder = {}
            raise ConfigError(f"{out} is being rendered (shard {shard[0]}/{shard[1]}) by process "
                              f"{holder.get('pid', '?')} on host {holder.get('host', '?')} since "
                              f"{holder.get('since', '?')}; wait for it to finish or stop it, then run this "
                              "command again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        yield


def run(config: RenderConfig, log=print, progress=None, cluster=None) -> dict:
    """Render what is missing; returns the final manifest. Raises ConfigError, before anything is written, on
    bad input.

    `progress` (a models.progress.ProgressWriter) also gets the count after each sample and the result.
    `cluster` (a synthetic.ray_render.RayOptions) renders on a Ray cluster instead of local processes."""
    if cluster is not None:
        from .ray_render import check_options, session

        check_options(config, cluster)
    job, asset = prepare(config)
    # joining the cluster is the last check: still nothing written
    with (session(cluster, log, progress) if cluster is not None else contextlib.nullcontext(_execute_locally)) \
            as execute, render_lock(Path(config.out), config.shard):
        return _render(job, asset, log, progress, execute)


def _execute_locally(job: Job, asset: HeadAsset, todo: list[int], report) -> None:
    """Render `todo` in this process, or in `config.workers` spawned processes."""
    config = job.config
    if config.workers == 1 or len(todo) == 1:
        worker(config, job.hdris, todo, report, asset)
        return
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_spawned_worker, args=(config, job.hdris, todo[w::config.workers], queue,
                                                        _clean_path()))
             for w in range(config.workers) if todo[w::config.workers]]
    for proc in procs:
        proc.start()
    try:
        collect_reports(queue, procs, report)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def collect_reports(queue, procs: list, report, poll_s: float = 1.0) -> None:
    """Pass the workers' samples to `report` until every worker has exited. A worker that dies without a word
    (SIGKILL, the OOM killer) stops the run instead of leaving it waiting forever."""
    exited: set[int] = set()
    while len(exited) < len(procs):
        try:
            kind, index, value = queue.get(timeout=poll_s)
        except Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0) and p.pid not in exited]
            if dead:
                raise RenderStopped(f"render worker {dead[0].pid} died (exit code {dead[0].exitcode}) before "
                                    "finishing its samples; the finished ones are kept: run the same command "
                                    "again to render the rest") from None
            continue
        if kind == "done":
            report(index, value)
        elif kind == "exit":
            exited.add(index)
        else:
            raise RuntimeError(f"a render worker failed: {value}")


def _render(job: Job, asset: HeadAsset, log, progress, execute) -> dict:
    config = job.config
    out = Path(config.out)
    labels.clean_debris(out)
    path = out / labels.manifest_name(config.shard)
    previous = json.loads(path.read_text()) if path.is_file() else None
    if previous:
        job.manifest["created"] = previous.get("created", job.manifest["created"])
    problems = {i: labels.sample_problem(out, i, config.resolution, config.masks) for i in job.indices}
    todo = [i for i in job.indices if problems[i]]
    damaged = [f"{i:06d} ({problems[i]})" for i in todo if problems[i] != "no label"]
    if damaged:
        log(f"[synthetic] {len(damaged)} damaged sample(s) will be rendered again: {', '.join(damaged[:5])}"
            + (", ..." if len(damaged) > 5 else ""))
    total = len(job.indices)
    done = total - len(todo)
    if todo:
        labels.write_manifest(out, config.shard, job.manifest)
    where = (f"with {config.workers} worker(s), {_threads(config)} thread(s) each" if execute is _execute_locally
             else "on Ray")
    log(f"[synthetic] {done}/{total} done, {len(todo)} to render {where}")
    if progress is not None:
        progress.progress(done, total, "render")
    start = time.perf_counter()
    rendered = 0

    def report(index, seconds, origin="", status=""):
        """After each sample; `origin` names where it rendered, `status` is the cluster's state (Ray)."""
        nonlocal done, rendered
        done += 1
        rendered += 1
        per_second = rendered / (time.perf_counter() - start)
        rate = f"{per_second:.2f} samples/s, eta {(total - done) / per_second:.0f} s"
        log(f"[synthetic] {done}/{total} done, sample {index:06d} in {seconds:.2f} s{origin}, {rate}"
            f"{'; ' + status if status else ''}", flush=True)
        if progress is not None:
            progress.progress(done, total, f"render: {rate}, {status}" if status else "render")

    if todo:
        execute(job, asset, todo, report)
    missing = [i for i in job.indices if labels.sample_problem(out, i, config.resolution, config.masks)]
    if missing:
        raise RuntimeError(f"{len(missing)} samples are still missing (first {missing[0]}); run the same command again")
    manifest = dict(job.manifest, complete=True,
                    samples=[{"index": i, "image": f"{labels.IMAGE_DIR}/{i:06d}.png",
                              "label": f"{labels.LABEL_DIR}/{i:06d}.npz"} for i in job.indices])
    if manifest != previous:
        labels.write_manifest(out, config.shard, manifest)
    log(f"[synthetic] finished: {total} samples in {out} ({time.perf_counter() - start:.1f} s this run)")
    if progress is not None:
        progress.done({"out": str(out), "samples": total, "shard": list(config.shard)})
    return manifest
