"""The bpy-free `models` package: bundled inside the packed extension, or the repository's in development."""
try:  # packed extension: build_addon.py copies models/ into the add-on
    from .models import head, paths, progress, vocab  # noqa: F401
    from .models.vocab import arkit  # noqa: F401
except ImportError:  # development tree: the repository root is on sys.path
    from models import head, paths, progress, vocab  # noqa: F401
    from models.vocab import arkit  # noqa: F401


def models_module(name: str):
    """A submodule of the bpy-free package, imported on first use (some need OpenCV or MediaPipe)."""
    import importlib

    try:
        return importlib.import_module(f"{__package__}.models.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.models":
            raise
        return importlib.import_module(f"models.{name}")
