import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def head_asset(tmp_path_factory):
    """The head asset built from ../shared in a fresh cache folder (one build per test session)."""
    from models.head.build.build import load_head_asset

    cache = tmp_path_factory.mktemp("head-cache")
    return load_head_asset(cache=cache, log=lambda *a: None)


@pytest.fixture()
def empty_scene():
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


def pytest_configure(config):
    os.environ.setdefault("GLOG_minloglevel", "2")
