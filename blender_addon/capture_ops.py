"""The Capture panel: a video (Movie Clip) analysed in a background process, baked from the cache with the
current smoothing, cleared; Live Link Face CSV import and export. Thin operators around analysis.py
(the job), capture_scene.py (clip, target, bake) and bake.py."""
from __future__ import annotations

import time
from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import analysis, bake, capture_scene, rig_io
from .asset_source import asset_file
from .deps import models_module
from .interpreter import REPO, module_command
from .job_operator import ModalJob
from .operators import _asset, _preferences, _rig_of

MOVIE_GLOB = "*.mp4;*.mov;*.mkv;*.avi;*.webm;*.m4v;*.mpg;*.mpeg;*.mxf;*.ogv"


def _baked_action(obj, arm):
    ad = obj.data.shape_keys.animation_data if obj and obj.data.shape_keys else None
    action = ad.action if ad else None
    return action if action is not None and action.name.startswith(bake.ACTION_PREFIX) else None


def _rig_ready(context) -> bool:
    obj, arm = _rig_of(context.active_object)
    return context.mode == "OBJECT" and obj is not None and arm is not None and obj.data.shape_keys is not None


class FACECAP_OT_import_livelink(bpy.types.Operator, ImportHelper):
    """Bake a Live Link Face CSV recording onto the selected head rig (an action named after the file)"""

    bl_idname = "facecap.import_livelink"
    bl_label = "Import Live Link Face CSV"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1)

    @classmethod
    def poll(cls, context):
        return _rig_ready(context)

    def execute(self, context):
        livelink = models_module("retarget.livelink")
        errors = models_module("video.errors")
        obj, arm = _rig_of(context.active_object)
        try:
            clip = livelink.read_csv(Path(self.filepath))
        except errors.CaptureError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        action = bake.bake_curves(obj, arm, Path(self.filepath).stem, clip.time_s, clip.weights,
                                  livelink.ypr_to_matrix(clip.head_ypr), livelink.ypr_to_matrix(clip.eye_ypr),
                                  context.scene, self.start_frame, {"source": self.filepath})
        self.report({"INFO"}, f"baked {len(clip.time_s)} rows into {action.name}")
        return {"FINISHED"}


class FACECAP_OT_export_livelink(bpy.types.Operator, ExportHelper):
    """Write the rig's baked capture as a Live Link Face CSV at the scene's frame rate"""

    bl_idname = "facecap.export_livelink"
    bl_label = "Export Live Link Face CSV"
    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return _rig_ready(context) and _baked_action(*_rig_of(context.active_object)) is not None

    def execute(self, context):
        livelink = models_module("retarget.livelink")
        obj, arm = _rig_of(context.active_object)
        frames, weights, head, eyes = bake.read_baked(obj, arm, _baked_action(obj, arm), context.scene)
        path = livelink.write_csv(Path(self.filepath), weights, head, eyes, bake.scene_fps(context.scene))
        self.report({"INFO"}, f"wrote {len(frames)} frames to {path}")
        return {"FINISHED"}


class FACECAP_OT_clear_capture(bpy.types.Operator):
    """Remove the rig's baked capture action (other clips' actions stay)"""

    bl_idname = "facecap.clear_capture"
    bl_label = "Clear Capture"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _rig_ready(context) and _baked_action(*_rig_of(context.active_object)) is not None

    def execute(self, context):
        obj, arm = _rig_of(context.active_object)
        action = _baked_action(obj, arm)
        name = action.name
        bake.clear_clip(obj, arm, action.get("facecap_clip", name[len(bake.ACTION_PREFIX):]))
        self.report({"INFO"}, f"removed {name}")
        return {"FINISHED"}


def _show_clip_update(self, context):
    if self.clip is not None:
        obj, _ = _rig_of(self.target or context.active_object)
        capture_scene.show_clip(context.scene, self.clip, obj, self.first, self.start_frame)


def _is_mesh(self, obj):
    return obj.type == "MESH"


class FaceCapCaptureSettings(bpy.types.PropertyGroup):
    clip: bpy.props.PointerProperty(name="Video", type=bpy.types.MovieClip, update=_show_clip_update,
                                    description="The video to analyse (shown as the camera's background)")
    first: bpy.props.IntProperty(name="First Frame", default=1, min=1, update=_show_clip_update,
                                 description="The clip's first frame to analyse")
    last: bpy.props.IntProperty(name="Last Frame", default=0, min=0,
                                description="The clip's last frame to analyse (0: to the end)")
    backend: bpy.props.EnumProperty(name="Backend", default="landmarks", items=[
        ("landmarks", "Landmarks", "Fit the rig to MediaPipe's 478 landmarks (no trained model)"),
        ("neural", "Neural",
         "The capture model through ONNX Runtime: the shipped one, or the one in the preferences' Model Files")])
    fov: bpy.props.FloatProperty(name="Camera FOV", default=60.0, min=5.0, max=150.0, precision=1,
                                 description="The video camera's field of view across the frame's wider side, in "
                                             "degrees (60 when unknown; a phone's main camera is about 70)")
    target: bpy.props.PointerProperty(name="Target", type=bpy.types.Object, poll=_is_mesh,
                                      description="A FaceCap rig, or any mesh of FLAME topology (its neutral gives "
                                                  "the identity of a rig made for it); empty: the selected rig")
    smoothing: bpy.props.EnumProperty(name="Smoothing", default="one_euro", items=[
        ("one_euro", "One-Euro", "Adaptive low-pass: smooth when still, responsive when fast"),
        ("savgol", "Savitzky-Golay", "Polynomial window"), ("none", "None", "The raw per-frame result")])
    strength: bpy.props.FloatProperty(name="Strength", default=0.5, min=0.0, max=1.0, subtype="FACTOR")
    head_translation: bpy.props.BoolProperty(
        name="Head Translation", default=False,
        description="Also bake the head's translation on the neck bone (off: rotation only, the head stays on "
                    "its body; the translation is as good as the camera's field of view)")
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1, update=_show_clip_update,
                                       description="Scene frame the first analysed frame is baked at")
    cache_path: bpy.props.StringProperty(name="Analysis", default="", description="The cached raw analysis")
    analysed: bpy.props.StringProperty(default="", description="What the cached analysis is of")
    analysed_frames: bpy.props.IntProperty(default=0)
    running: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    cancel_requested: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(default=0.0, min=0.0, max=1.0, options={"SKIP_SAVE"})
    status: bpy.props.StringProperty(default="", options={"SKIP_SAVE"})


def target_identity(context, s, asset) -> tuple[float, ...] | None:
    """The identity the neural backend decodes on: the target rig's, else that of the target mesh's neutral
    (the rig Bake makes for it gets the same); None for the landmark backend, which fits its own."""
    if s.backend != "neural":
        return None
    obj, _ = capture_scene.rig_for_target(s.target, context.active_object, asset, build=False)
    beta = obj.get("facecap_identity", []) if obj is not None else rig_io.identity_of_mesh(s.target, asset)
    return tuple(float(v) for v in beta) or None


def analysis_request(context, s, identity: tuple[float, ...] | None = None) -> analysis.AnalysisRequest:
    prefs = _preferences(context)
    video, fps = capture_scene.analysis_source(s.clip)
    return analysis.AnalysisRequest(
        video=video, fps=fps, first=s.first, last=s.last, backend=s.backend, fov_deg=s.fov, identity=identity,
        asset=asset_file(prefs.asset_path if prefs else ""),
        model_dir=Path(bpy.path.abspath(prefs.model_dir)) if prefs and prefs.model_dir else None,
        provider=prefs.provider if prefs else "auto", threads=prefs.threads if prefs else 0)


def clip_name(clip) -> str:
    """The action's clip name: the video file's stem, as the headless CLI names it."""
    return capture_scene.clip_path(clip).stem


def _cache_matches(context, s, identity) -> bool:
    return (bool(s.cache_path) and s.clip is not None
            and s.analysed == analysis_request(context, s, identity).signature())


class AnalysisRun:
    """One analysis job and what it does to the panel's settings at each poll."""

    def __init__(self, context, s, identity: tuple[float, ...] | None = None):
        self.request = analysis_request(context, s, identity)
        self.job = analysis.start(module_command(analysis.MODULE), self.request, cwd=REPO)
        self.clock = analysis.Clock()
        s.running, s.cancel_requested, s.progress, s.status = True, False, 0.0, "starting…"

    def step(self, s) -> tuple[str, str] | None:
        """Poll the job; (level, message) once it has ended."""
        code = self.job.poll()
        job = self.job
        s.progress = analysis.overall_fraction(job.stage, job.done, job.total)
        s.status = analysis.status_text(job.stage, job.done, job.total, self.clock.eta_s(s.progress)
                                        if job.total else None)
        if code is None:
            return None
        s.running = False
        if code == 0 and job.result and job.result.get("cache"):
            s.cache_path, s.analysed = job.result["cache"], self.request.signature()
            s.analysed_frames = job.result["frames"]
            where = "read from the cache" if job.result.get("from_cache") else f"in {job.result['analysis_s']} s"
            s.status = f"analysed {job.result['frames']} frames ({job.result['found']} with a face), {where}"
            return "INFO", s.status
        s.status = f"analysis failed: {job.error_message()}"
        return "ERROR", s.status

    def cancel(self, s) -> tuple[str, str]:
        self.job.cancel()
        s.running, s.cancel_requested = False, False
        kept = ("the tracking is kept: Analyse resumes with the fit" if self.job.stage == "fitting"
                else "nothing was kept: Analyse starts again")
        s.status = f"cancelled at {self.job.stage or 'start'} {self.job.done}/{self.job.total}; {kept}"
        return "WARNING", s.status


class FACECAP_OT_load_video(bpy.types.Operator, ImportHelper):
    """Load a video as a Movie Clip for the Capture panel, shown as the camera's background"""

    bl_idname = "facecap.load_video"
    bl_label = "Load Video"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: bpy.props.StringProperty(default=MOVIE_GLOB, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None and not context.scene.facecap_capture.running

    def execute(self, context):
        try:
            clip = capture_scene.load_clip(Path(self.filepath))
        except RuntimeError as exc:  # CaptureError
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        s = context.scene.facecap_capture
        s.clip = clip  # shows it (the property's update)
        self.report({"INFO"}, f"loaded {clip.name}: {clip.frame_duration} frames at {clip.fps:g} fps")
        return {"FINISHED"}


class FACECAP_OT_analyse(ModalJob, bpy.types.Operator):
    """Analyse the video in a background process (Esc or Cancel stops it; the result is cached for Bake)"""

    bl_idname = "facecap.analyse"
    bl_label = "Analyse"

    _run: AnalysisRun | None = None

    @classmethod
    def poll(cls, context):
        s = context.scene.facecap_capture if context.scene else None
        return s is not None and s.clip is not None and not s.running

    def settings(self, context):
        return context.scene.facecap_capture

    def execute(self, context):
        s = context.scene.facecap_capture
        asset = _asset(self, context)
        if asset is None:
            return {"CANCELLED"}
        try:
            capture_scene.rig_for_target(s.target, context.active_object, asset, build=False)
            self._run = AnalysisRun(context, s, target_identity(context, s, asset))
        except (RuntimeError, ValueError, OSError) as exc:  # CaptureError, bad request, no interpreter
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if bpy.app.background or context.window is None:  # no event loop to poll from: wait here (no UI)
            while (outcome := self.poll_job(context)) is None:
                time.sleep(0.1)
            return self.finish(context, outcome)
        return self.start_modal(context)

    def poll_job(self, context):
        return self._run.step(context.scene.facecap_capture)

    def cancel_job(self, context):
        return self._run.cancel(context.scene.facecap_capture)

    def show_progress(self, context):
        """The panel redrawn; the status bar says how far the analysis is while it runs."""
        ModalJob.show_progress(self, context)
        s = context.scene.facecap_capture
        if context.workspace is not None:
            context.workspace.status_text_set(
                f"Face capture: {s.status} ({s.progress:.0%}) · Esc: cancel" if s.running else None)


class FACECAP_OT_cancel_analysis(bpy.types.Operator):
    """Stop the running analysis (nothing half-written is kept; a finished tracking stage is reused)"""

    bl_idname = "facecap.cancel_analysis"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and context.scene.facecap_capture.running

    def execute(self, context):
        context.scene.facecap_capture.cancel_requested = True
        return {"FINISHED"}


class FACECAP_OT_bake_capture(bpy.types.Operator):
    """Bake the analysed video onto the target with the current smoothing (no new analysis)"""

    bl_idname = "facecap.bake_capture"
    bl_label = "Bake"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        s = context.scene.facecap_capture if context.scene else None
        return (s is not None and context.mode == "OBJECT" and not s.running and bool(s.cache_path)
                and (s.target is not None or _rig_of(context.active_object)[0] is not None))

    def execute(self, context):
        s = context.scene.facecap_capture
        asset = _asset(self, context)
        if asset is None:
            return {"CANCELLED"}
        try:
            if not _cache_matches(context, s, target_identity(context, s, asset)):
                self.report({"ERROR"}, "the video, frame range, backend, camera FOV or target changed since the "
                                       "analysis; press Analyse")
                return {"CANCELLED"}
            obj, arm = capture_scene.rig_for_target(s.target, context.active_object, asset)
            action, frames = capture_scene.bake_cached(obj, arm, Path(s.cache_path), clip_name(s.clip),
                                                       context.scene, s.start_frame, s.smoothing, s.strength,
                                                       s.head_translation)
        except RuntimeError as exc:  # CaptureError
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        capture_scene.show_clip(context.scene, s.clip, obj, s.first, s.start_frame)
        self.report({"INFO"}, f"baked {frames} frames into {action.name} on {obj.name} "
                              f"({s.smoothing}, strength {s.strength:.2f})")
        return {"FINISHED"}


class FACECAP_PT_capture(bpy.types.Panel):
    bl_label = "Capture"
    bl_idname = "FACECAP_PT_capture"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Face Capture"

    def draw(self, context):
        layout = self.layout
        s = context.scene.facecap_capture
        col = layout.column()
        col.enabled = not s.running
        row = col.row(align=True)
        row.prop(s, "clip")
        row.operator(FACECAP_OT_load_video.bl_idname, text="", icon="FILEBROWSER")
        if s.clip is not None:
            col.label(text=f"{s.clip.frame_duration} frames, {s.clip.fps:g} fps, {s.clip.size[0]}×{s.clip.size[1]}")
        row = col.row(align=True)
        row.prop(s, "first")
        row.prop(s, "last")
        col.prop(s, "backend")
        row = col.row()
        row.enabled = s.backend == "landmarks"  # the neural backend reads no camera
        row.prop(s, "fov")
        col.prop(s, "target")
        if s.target is None:
            obj, _ = _rig_of(context.active_object)
            col.label(text=f"Target: {obj.name} (selected)" if obj else "Target: select a FaceCap rig",
                      icon="OUTLINER_OB_MESH" if obj else "ERROR")
        if s.running:
            layout.progress(factor=s.progress, type="BAR", text=s.status)
            layout.operator(FACECAP_OT_cancel_analysis.bl_idname, icon="CANCEL")
        else:
            layout.operator(FACECAP_OT_analyse.bl_idname, icon="PLAY")
            if s.status:
                layout.label(text=s.status)
        box = layout.box()
        box.enabled = not s.running
        box.prop(s, "smoothing")
        row = box.row()
        row.enabled = s.smoothing != "none"
        row.prop(s, "strength", slider=True)
        box.prop(s, "head_translation")
        box.prop(s, "start_frame")
        box.operator(FACECAP_OT_bake_capture.bl_idname, icon="KEYINGSET")
        obj, arm = _rig_of(context.active_object)
        action = _baked_action(obj, arm) if obj is not None else None
        layout.label(text=f"Baked: {action.name}" if action else "No capture baked on the selection")
        layout.operator("facecap.clear_capture", icon="X")
        row = layout.row(align=True)
        row.operator("facecap.import_livelink", icon="IMPORT", text="Import CSV")
        row.operator("facecap.export_livelink", icon="EXPORT", text="Export CSV")


CLASSES = (FaceCapCaptureSettings, FACECAP_OT_import_livelink, FACECAP_OT_export_livelink, FACECAP_OT_clear_capture,
           FACECAP_OT_load_video, FACECAP_OT_analyse, FACECAP_OT_cancel_analysis, FACECAP_OT_bake_capture,
           FACECAP_PT_capture)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.facecap_capture = bpy.props.PointerProperty(type=FaceCapCaptureSettings)


def unregister():
    del bpy.types.Scene.facecap_capture
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
