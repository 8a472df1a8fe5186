"""The Python that runs one of the project's command-line modules in a background job (`jobs.Job`)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy

from .deps import paths

REPO = paths.project_root()
# the packed extension: the add-on's own folder holds the models package (build_addon.py), and there is no
# blender_addon package to run modules of
PACKED = Path(__file__).resolve().parent == REPO


def _packed_script(module: str) -> str:
    """Code that runs the add-on's file for `blender_addon.NAME` as a script: the add-on's folder first on
    sys.path (its bpy-free `models` package is then top-level, as in the repository), then this process's
    sys.path (Blender's modules and the extension wheels, which a fresh Blender may not have added yet)."""
    script = str(Path(__file__).resolve().parent / (module.rpartition(".")[2] + ".py"))
    path = [str(REPO)] + [p for p in sys.path if p != str(REPO)]
    return (f"import runpy, sys; P = {path!r}; sys.path[:] = P + [p for p in sys.path if p not in P]; "
            f"sys.argv = [{script!r}] + sys.argv[sys.argv.index('--') + 1:]; "
            f"runpy.run_path({script!r}, run_name='__main__')")


def module_command(module: str, configured: str = "") -> list[str]:
    """`python -m module` for a background job: the configured interpreter, the project's venv, this Python
    when it is the bpy module (or Blender's bundled one), else Blender itself in background mode (which then
    needs the module's dependencies installed). In the packed extension a `blender_addon.NAME` module runs
    as the add-on's NAME.py with this process's sys.path (`_packed_script`)."""
    if PACKED and module.startswith("blender_addon."):
        code = _packed_script(module)
        if configured:
            return [bpy.path.abspath(configured), "-c", code, "--"]
        if not bpy.app.binary_path or Path(sys.executable).name.startswith("python"):
            return [sys.executable, "-I", "-S", "-c", code, "--"]  # -I -S: this sys.path, nothing else
        return [bpy.app.binary_path, "--background", "--factory-startup", "--python-expr", code, "--"]
    if configured:
        return [bpy.path.abspath(configured), "-m", module]
    venv = REPO / ".venv" / "bin" / "python"
    if venv.is_file():
        return [str(venv), "-m", module]
    if not bpy.app.binary_path or Path(sys.executable).name.startswith("python"):
        return [sys.executable, "-m", module]
    return [bpy.app.binary_path, "--background", "--factory-startup", "--python-expr",
            f"import runpy, sys; sys.path.insert(0, {str(REPO)!r}); "
            f"sys.argv = [{module!r}] + sys.argv[sys.argv.index('--') + 1:]; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)", "--"]


def use_packed_cache() -> None:
    """The packed extension keeps its rebuildable files (the head model's identity-shape derivatives, the
    per-clip analyses) in Blender's folder for this extension's user files, not in its own folder (replaced
    on every update): $FACECAP_CACHE, which models.paths and the analysis processes read, names it unless
    the user set one. Nothing changes in the repository (its .cache/)."""
    if PACKED and not os.environ.get("FACECAP_CACHE"):
        os.environ["FACECAP_CACHE"] = bpy.utils.extension_path_user(__package__, path="cache", create=True)
