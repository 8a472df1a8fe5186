"""The bpy-free `models` package: bundled inside the packed extension, or the repository's in development."""
try:  # packed extension: build_addon.py copies models/ into the add-on
    from .models import head, paths, progress  # noqa: F401
    from .models.vocab import arkit  # noqa: F401
except ImportError:  # development tree: the repository root is on sys.path
    from models import head, paths, progress  # noqa: F401
    from models.vocab import arkit  # noqa: F401
