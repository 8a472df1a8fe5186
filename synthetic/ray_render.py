"""`render --ray`: the missing samples of a dataset as Ray tasks, on this machine or a cluster.

Each task takes a chunk of sample indices and renders it in its worker's scene (built by the worker's first task
of the run, then kept for its later ones), yielding after every sample (a streaming generator), so the driver
counts samples as they finish and knows, when a worker or node dies, exactly which of its samples are still
missing: those go to a new task. Two ways to the dataset folder:

- shared: the tasks write into `--out` themselves (the same atomic files as a local render); every node must
  see the folder, which the driver checks by the lock file's contents before any sample renders;
- driver: a task renders into a scratch folder on its node and sends the files back; the driver writes them
  into `--out` (image and mask first, label last, each by atomic rename).

Only `python -m synthetic render --ray` imports this module (the add-on and its zip never import Ray).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

import ray

from models.paths import project_root

from . import labels
from .config import ConfigError, RenderConfig, RenderStopped
from .render import SampleRenderer, lock_name

OUTPUTS = ("auto", "shared", "driver")
FIRST_CHUNK = 8  # samples per task until the first task has measured its start-up and per-sample time
STARTUP_SHARE = 0.1  # a task's scene start-up stays under this share of its time
MAX_ATTEMPTS = 3  # a sample whose task died this many times stops the run
# Ray starts its workers at nice 15, below every other process of the machine: a local cluster's tasks run at
# the priority of the direct path's workers instead (a cluster started by `ray start` keeps its own setting)
LOCAL_SYSTEM_CONFIG = {"worker_niceness": 0}


@dataclasses.dataclass(frozen=True)
class RayOptions:
    address: str = "auto"  # auto: a running cluster, else a local one; local: always a new local one; or an address
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    output: str = "auto"  # auto | shared | driver (see the module docstring)


def check_options(config: RenderConfig, options: RayOptions) -> None:
    if config.workers != 1:
        raise ConfigError("--workers is for local processes; with --ray the cluster's CPUs set the parallelism "
                          "(--cpus-per-task per task)")
    if not options.cpus_per_task > 0:
        raise ConfigError(f"--cpus-per-task {options.cpus_per_task}: must be > 0")
    if options.gpus_per_task < 0:
        raise ConfigError(f"--gpus-per-task {options.gpus_per_task}: must be >= 0")
    if options.output not in OUTPUTS:
        raise ConfigError(f"--ray-output {options.output!r}: choose one of {', '.join(OUTPUTS)}")


class OutputNotShared(RuntimeError):
    pass


def _worker_env() -> dict:
    """What a task needs to import this checkout and find the same cache (the same paths on every node)."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(project_root()), os.environ.get("PYTHONPATH")) if p)}
    for name in ("FACECAP_CACHE", "FACECAP_SHARED"):
        if name in os.environ:
            env[name] = os.environ[name]
    # Ray sets OMP_NUM_THREADS to a task's CPUs (1), and numpy's BLAS with one thread sums some vertex
    # positions in another order (1 ulp): the driver's own setting keeps the labels those of a local render
    env["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    return env


def connect(address: str, log) -> bool:
    """Join or start a cluster; returns whether it is a new local one (its nodes are this machine)."""
    common = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING",
                  runtime_env={"env_vars": _worker_env()})
    if address == "auto":
        try:
            ray.init(address="auto", **common)
        except ConnectionError:
            log("[synthetic] no running Ray cluster found: starting a local one")
            address = "local"
    if address == "local":
        try:
            ray.init(address="local", num_cpus=os.cpu_count(), _system_config=LOCAL_SYSTEM_CONFIG, **common)
        except Exception as exc:  # Ray gives its processes a fixed 30 s to register, too short when overloaded
            if "timed out during startup" not in str(exc):
                raise
            raise ConfigError("the local Ray cluster did not start within Ray's 30 s (is the machine overloaded?); "
                              "run the same command again, or render without --ray") from None
        return True
    if not ray.is_initialized():
        try:
            ray.init(address=address, **common)
        except ConnectionError as exc:
            raise ConfigError(f"--ray {address}: no Ray cluster there ({exc}); start one with `ray start --head` "
                              "or pass its address (host:port)") from None
    return False


def _sees_lock(path: str, text: str) -> bool:
    try:
        return Path(path).read_text() == text
    except OSError:
        return False


def _output_is_shared(lock_path: Path, lock_text: str) -> bool:
    """Whether every node of the cluster sees this run's lock file (so tasks can write into its folder)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_sees_lock)
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    checks = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
              .remote(str(lock_path), lock_text) for node in nodes]
    return all(ray.get(checks))


def _sample_files(folder: Path, index: int, masks: bool) -> list[tuple[str, bytes]]:
    """A rendered sample's files in the order they must appear (label last), read and removed from `folder`."""
    paths = ([labels.mask_path(folder, index)] if masks else []) + [labels.image_path(folder, index),
                                                                    labels.label_path(folder, index)]
    files = []
    for path in paths:
        files.append((str(path.relative_to(folder)), path.read_bytes()))
        path.unlink()
    return files


def remove_debris_of(out: Path, pid: int) -> int:
    """Delete the temporary files a dead task's worker (process `pid`, perhaps on another node) left in `out`'s
    sample folders; returns how many."""
    return labels.clean_debris(out, lambda writer: writer == pid, (labels.IMAGE_DIR, labels.MASK_DIR, labels.LABEL_DIR))


class WorkerScene:
    """The scene of this worker process, kept between the chunks of one run: Ray runs a run's later tasks in the
    same worker processes, which then render like a direct worker (one scene build per process, not per chunk).
    A task of another run or other settings builds a new one."""

    key = None
    renderer: SampleRenderer | None = None

    @classmethod
    def get(cls, config: RenderConfig, hdris: dict, asset_ref) -> tuple[SampleRenderer, bool]:
        """(the renderer, whether it was built by this call)."""
        key = (asset_ref.hex(), config, tuple(sorted(hdris.items())))
        if cls.key == key:
            return cls.renderer, False
        cls.key = cls.renderer = None  # the old scene goes before the new one is built
        cls.renderer = SampleRenderer(config, hdris, ray.get(asset_ref))
        cls.key = key
        return cls.renderer, True


def render_chunk(config: RenderConfig, hdris: dict, asset_box: list, indices: list[int], lock_text: str,
                 shared: bool):
    """The task: get this worker's scene (built by its first task of the run), then render `indices`. Yields
    ("ready", origin, start-up seconds, built) once, then ("sample", index, seconds, files) per sample; files is
    None when written into `config.out` (shared), else the sample's [(relative path, bytes)] for the driver to
    write. `asset_box` holds the head asset's object reference (in a list, so that Ray passes the reference and
    a worker that already has the scene does not fetch the asset)."""
    start = time.perf_counter()
    origin = f"{socket.gethostname()}:{os.getpid()}"
    out = Path(config.out)
    if shared and not _sees_lock(str(out / lock_name(config.shard)), lock_text):
        raise OutputNotShared(f"{out} is not this run's dataset folder on node {origin} (its lock file differs); "
                              "render with --ray-output driver where the nodes share no filesystem")
    renderer, built = WorkerScene.get(config, hdris, asset_box[0])
    yield "ready", origin, time.perf_counter() - start, built
    scratch = None if shared else Path(tempfile.mkdtemp(prefix="facecap-ray-"))
    try:
        for index in indices:
            t = time.perf_counter()
            renderer.render(index, out if shared else scratch)
            files = None if shared else _sample_files(scratch, index, config.masks)
            yield "sample", index, time.perf_counter() - t, files
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@dataclasses.dataclass
class Task:
    left: list[int]  # its samples not yet received
    origin: str = "?"  # host:pid of the worker, once it has started
    build_s: float | None = None  # its scene build, while its first sample has not arrived (None: reused scene)


@contextlib.contextmanager
def session(options: RayOptions, log, progress=None):
    """Joined to (or running) the cluster for the block: yields the RayExecutor; a local cluster stops after."""
    local = connect(options.address, log)
    try:
        yield RayExecutor(options, local, log, progress)
    finally:
        ray.shutdown()


class RayExecutor:
    """Renders a job's missing samples on the cluster this process has joined; called by render._render like
    the local executor, with the folder's lock held."""

    def __init__(self, options: RayOptions, local: bool, log, progress=None):
        self.options, self.local, self.log, self.progress = options, local, log, progress
        self.builds: list[float] = []  # scene build per task that built one
        self.firsts: list[float] = []  # first sample in each new scene (Cycles loads its kernels then)
        self.sample_seconds: list[float] = []
        self.failed = self.retried = 0
        self.reused = 0  # tasks that found their worker's scene built by an earlier task

    def __call__(self, job, asset, todo: list[int], report) -> None:
        config = dataclasses.replace(job.config, out=Path(job.config.out).absolute(), workers=1,
                                     threads=job.config.threads or max(1, math.ceil(self.options.cpus_per_task)))
        hdris = {name: Path(path).absolute() for name, path in job.hdris.items()}
        lock_text = (config.out / lock_name(config.shard)).read_text()  # names this run: the tasks check it
        shared = {"shared": True, "driver": False}.get(self.options.output)
        if shared is None:
            shared = self.local or _output_is_shared(config.out / lock_name(config.shard), lock_text)
        self._run(config, hdris, asset, todo, report, lock_text, shared)

    def _slots(self) -> int:
        res = ray.cluster_resources()
        slots = int(res.get("CPU", 0) // self.options.cpus_per_task)
        if self.options.gpus_per_task:
            slots = min(slots, int(res.get("GPU", 0) // self.options.gpus_per_task))
        return slots

    def chunk_size(self, left: int, slots: int) -> int:
        """Samples for the next task: enough that the scene start-up measured so far is at most STARTUP_SHARE of
        the task's time, and no more than an even share of what is left (so every slot has work to the end)."""
        balance = math.ceil(left / max(slots, 1))
        if not self.firsts:
            return max(1, min(balance, FIRST_CHUNK))
        startup, per_sample = self.startup()
        target = math.ceil(startup * (1 - STARTUP_SHARE) / STARTUP_SHARE / max(per_sample, 1e-3))
        return max(1, min(balance, target))

    def startup(self) -> tuple[float, float]:
        """(a task's start-up, seconds per sample) measured so far: start-up is the scene build plus what the
        first sample takes beyond the others."""
        per_sample = statistics.median(self.sample_seconds)
        return statistics.mean(self.builds) + max(0.0, statistics.mean(self.firsts) - per_sample), per_sample

    def _status(self, running: int) -> str:
        return f"{running} task(s) running, {self.failed} failed, {self.retried} retried"

    def _note(self, message: str) -> None:
        self.log(f"[synthetic] {message}", flush=True)
        if self.progress is not None:
            self.progress.log(message)

    def _died(self, task: Task, exc: Exception, attempts: collections.Counter, shared_out: Path | None) -> None:
        """Count a dead task, remove what its worker left half-written in a shared folder, and stop the run when
        one of its samples has now died MAX_ATTEMPTS times."""
        self.failed += 1
        if shared_out is not None and task.origin != "?":
            remove_debris_of(shared_out, int(task.origin.rsplit(":", 1)[1]))
        for index in task.left:
            attempts[index] += 1
            if attempts[index] >= MAX_ATTEMPTS:
                raise RenderStopped(f"sample {index:06d}: {MAX_ATTEMPTS} tasks rendering it died "
                                   f"(last: {type(exc).__name__}); run the same command again")
        self._note(f"task on {task.origin} died ({type(exc).__name__}); its {len(task.left)} missing sample(s) go "
                   "to a new task")

    def _run(self, config: RenderConfig, hdris: dict, asset, todo: list[int], report, lock_text: str,
             shared: bool) -> None:
        slots = self._slots()
        if slots < 1:
            raise ConfigError(f"the Ray cluster has no room for a task of {self.options.cpus_per_task} CPU(s)"
                              + (f" and {self.options.gpus_per_task} GPU(s)" if self.options.gpus_per_task else "")
                              + f" ({ray.cluster_resources()}); lower --cpus-per-task/--gpus-per-task")
        self._note(f"Ray cluster: {slots} task slot(s) of {self.options.cpus_per_task:g} CPU(s)"
                   + (f" and {self.options.gpus_per_task:g} GPU(s)" if self.options.gpus_per_task else "")
                   + f"; samples {'written by the tasks into the shared folder' if shared else 'sent to this driver'}")
        task_fn = ray.remote(render_chunk).options(
            num_cpus=self.options.cpus_per_task, num_gpus=self.options.gpus_per_task, max_retries=0,
            num_returns="streaming")
        asset_ref = ray.put(asset)
        fresh = collections.deque(todo)
        retries: collections.deque[list[int]] = collections.deque()
        attempts: collections.Counter[int] = collections.Counter()
        running: dict = {}
        while fresh or retries or running:
            slots = max(self._slots(), 1)
            while (fresh or retries) and len(running) < slots:
                if retries:
                    chunk = retries.popleft()
                    self.retried += 1
                else:
                    n = self.chunk_size(len(fresh), slots)
                    chunk = [fresh.popleft() for _ in range(min(n, len(fresh)))]
                running[task_fn.remote(config, hdris, [asset_ref], chunk, lock_text, shared)] = Task(chunk)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=5.0)
            for gen in ready:
                task = running[gen]
                try:
                    item = ray.get(next(gen))
                except StopIteration:
                    del running[gen]
                    continue
                except ray.exceptions.RayTaskError as exc:  # our code raised: the same would happen again
                    raise RuntimeError(f"a render task on {task.origin} failed: {exc.cause!r}") from None
                except ray.exceptions.RayError as exc:  # its worker or node died: render its missing samples again
                    del running[gen]
                    self._died(task, exc, attempts, config.out if shared else None)
                    if task.left:
                        retries.append(task.left)
                    continue
                if item[0] == "ready":
                    task.origin, task.build_s = item[1], item[2] if item[3] else None
                    self.reused += not item[3]
                    continue
                _, index, seconds, files = item
                if files is not None:
                    for relative, data in files:
                        labels.atomic_write(config.out / relative, lambda handle, data=data: handle.write(data))
                task.left.remove(index)
                if task.build_s is not None:
                    self.builds.append(task.build_s)
                    self.firsts.append(seconds)
                    task.build_s = None
                self.sample_seconds.append(seconds)
                report(index, seconds, f" on {task.origin}", self._status(len(running)))
        if self.firsts:
            startup, per_sample = self.startup()
            self._note(f"task start-up {startup:.2f} s (scene build and first render), {per_sample:.2f} s per "
                       f"sample, chunks of up to {self.chunk_size(10**9, 1)}, {self.reused} task(s) reused their "
                       f"worker's scene; {self.failed} task(s) failed, {self.retried} retried")
