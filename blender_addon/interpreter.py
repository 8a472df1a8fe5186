"""The Python that runs one of the project's command-line modules in a background job (`jobs.Job`)."""
from __future__ import annotations

import sys
from pathlib import Path

import bpy

from .deps import paths

REPO = paths.project_root()


def module_command(module: str, configured: str = "") -> list[str]:
    """`python -m module` for a background job: the configured interpreter, the project's venv, this Python
    when it is the bpy module, else Blender itself in background mode (which then needs the module's
    dependencies installed)."""
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
