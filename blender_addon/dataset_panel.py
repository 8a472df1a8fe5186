"""The dataset panel: runs `python -m synthetic render --progress-json` as a background job (`jobs.py`), with a
progress bar and Cancel, so Blender's UI never blocks.

The render runs in another process because it resets Blender's scene (read_factory_settings) and takes
minutes; the modal operator only polls the job on a timer. The generator is part of a project checkout
(`synthetic/` beside `models/`); the packed extension has none, and the panel says so instead of rendering.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import sys

import bpy

from .deps import paths
from .interpreter import module_command
from .job_operator import ModalJob
from .jobs import Job

REPO = paths.project_root()


def generator_available() -> bool:
    return (REPO / "synthetic" / "cli.py").is_file()


def _generator_config():
    """This checkout's synthetic/config.py (bpy-free; the one place for render defaults and devices), loaded
    from its file so that no other `synthetic` on sys.path is used; None in the packed extension."""
    path = REPO / "synthetic" / "config.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("facecap_generator_config", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_CONFIG = _generator_config()
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(_CONFIG.RenderConfig)} if _CONFIG else {}
DEVICES = _CONFIG.DEVICES if _CONFIG else ("auto",)


def _default(name: str) -> dict:
    return {"default": _DEFAULTS[name]} if name in _DEFAULTS else {}


def python_for_render(configured: str = "") -> list[str]:
    return module_command("synthetic", configured)


def render_arguments(s) -> list[str]:
    args = ["render", "--out", bpy.path.abspath(s.out), "--count", str(s.count), "--seed", str(s.seed),
            "--resolution", str(s.resolution), "--samples", str(s.samples), "--shard", s.shard,
            "--device", s.device, "--progress-json"]
    # with Ray the cluster's CPUs set the parallelism: --workers is for local processes only
    args += ["--ray", s.ray.strip()] if s.ray.strip() else ["--workers", str(s.workers)]
    if s.hdri_dir:
        args += ["--hdri-dir", bpy.path.abspath(s.hdri_dir)]
    if s.masks:
        args.append("--masks")
    return args


def job_status(job: Job) -> str:
    """The progress line: samples done, and on Ray the cluster's rate, ETA and task failures (the stage)."""
    if not job.total:
        return "preparing…"
    cluster = job.stage.partition("render: ")[2]
    return f"{job.done}/{job.total} samples" + (f" · {cluster}" if cluster else "")


class SyntheticRenderSettings(bpy.types.PropertyGroup):
    out: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="//synthetic")
    count: bpy.props.IntProperty(name="Count", default=100, min=1)
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    resolution: bpy.props.IntProperty(name="Resolution", min=16, max=4096, **_default("resolution"))
    samples: bpy.props.IntProperty(name="Samples", min=1, max=4096, **_default("samples"))
    shard: bpy.props.StringProperty(name="Shard", default="0/1", description="K/N: render indices i % N == K")
    workers: bpy.props.IntProperty(name="Workers", min=1, max=64, **_default("workers"))
    ray: bpy.props.StringProperty(name="Ray", default="",
                                  description="Empty: local worker processes. auto, local or a cluster's head "
                                              "address (host:port): render as Ray tasks (needs ray in the Python)")
    device: bpy.props.EnumProperty(name="Device", items=[(d, d.upper() if d != "auto" else "Auto", "") for d in DEVICES],
                                   **_default("device"))
    hdri_dir: bpy.props.StringProperty(name="Extra HDRIs", subtype="DIR_PATH")
    masks: bpy.props.BoolProperty(name="Object masks", **_default("masks"),
                                  description="Also write masks/NNNNNN.png (object index per pixel)")
    python: bpy.props.StringProperty(name="Python", subtype="FILE_PATH",
                                     description="Python with bpy, numpy and scipy (empty: the project's .venv)")
    running: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    cancel_requested: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, options={"SKIP_SAVE"})
    status: bpy.props.StringProperty(default="", options={"SKIP_SAVE"})


class SYNTHETIC_OT_render(ModalJob, bpy.types.Operator):
    """Render a synthetic face dataset in the background (resumable: run again to continue)"""

    bl_idname = "synthetic.render"
    bl_label = "Render Dataset"

    _job: Job | None = None

    @classmethod
    def poll(cls, context):
        return generator_available() and not context.scene.synthetic_render.running

    def settings(self, context):
        return context.scene.synthetic_render

    def execute(self, context):
        s = context.scene.synthetic_render
        if not s.out:
            self.report({"ERROR"}, "Set an output folder first")
            return {"CANCELLED"}
        try:
            self._job = Job(python_for_render(s.python) + render_arguments(s), cwd=REPO)
        except OSError as exc:
            self.report({"ERROR"}, f"Could not start the renderer: {exc}")
            return {"CANCELLED"}
        s.running, s.cancel_requested, s.progress, s.status = True, False, 0.0, "starting…"
        return self.start_modal(context)

    def poll_job(self, context):
        s = context.scene.synthetic_render
        code = self._job.poll()
        s.progress = self._job.fraction
        s.status = job_status(self._job)
        if code is None:
            return None
        if code == 0:
            return self._ended(s, ("INFO", f"finished: {self._job.total} samples"))
        return self._ended(s, ("ERROR", f"failed: {self._job.error_message()}"))

    def cancel_job(self, context):
        self._job.cancel()
        return self._ended(context.scene.synthetic_render,
                           ("WARNING", f"cancelled at {self._job.done}/{self._job.total}; render again to resume"))

    @staticmethod
    def _ended(s, outcome):
        s.running, s.cancel_requested, s.status = False, False, outcome[1]
        return outcome


class SYNTHETIC_OT_cancel(bpy.types.Operator):
    """Stop the background render (finished samples are kept)"""

    bl_idname = "synthetic.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene.synthetic_render.running

    def execute(self, context):
        context.scene.synthetic_render.cancel_requested = True
        return {"FINISHED"}


class SYNTHETIC_PT_panel(bpy.types.Panel):
    bl_label = "Synthetic Dataset"
    bl_idname = "SYNTHETIC_PT_panel"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Face Capture"

    def draw(self, context):
        s = context.scene.synthetic_render
        layout = self.layout
        if not generator_available():
            layout.label(text="The dataset generator needs a FaceCap checkout (synthetic/)", icon="INFO")
            return
        col = layout.column()
        col.enabled = not s.running
        for name in ("out", "count", "seed", "resolution", "samples", "shard", "ray", "workers", "device",
                     "hdri_dir", "masks", "python"):
            row = col.row()
            row.enabled = name != "workers" or not s.ray.strip()  # Ray sizes itself from the cluster
            row.prop(s, name)
        if s.running:
            layout.progress(factor=s.progress, type="BAR", text=s.status)
            layout.operator(SYNTHETIC_OT_cancel.bl_idname, icon="CANCEL")
        else:
            layout.operator(SYNTHETIC_OT_render.bl_idname, icon="RENDER_STILL")
            if s.status:
                layout.label(text=s.status)


CLASSES = (SyntheticRenderSettings, SYNTHETIC_OT_render, SYNTHETIC_OT_cancel, SYNTHETIC_PT_panel)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.synthetic_render = bpy.props.PointerProperty(type=SyntheticRenderSettings)


def unregister():
    del bpy.types.Scene.synthetic_render
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
