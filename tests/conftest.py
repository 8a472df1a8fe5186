import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """A fresh cache folder for the whole session, named by FACECAP_CACHE so that the code under test and its
    subprocesses (synthetic render, build_addon) all find the head asset the session builds once."""
    cache = tmp_path_factory.mktemp("cache")
    before = os.environ.get("FACECAP_CACHE")
    os.environ["FACECAP_CACHE"] = str(cache)
    yield cache
    if before is None:
        del os.environ["FACECAP_CACHE"]
    else:
        os.environ["FACECAP_CACHE"] = before


@pytest.fixture(scope="session")
def head_asset(session_cache):
    """The head asset built from ../shared into the session cache (one build per test session)."""
    from models.head.build.build import load_head_asset

    return load_head_asset(cache=session_cache, log=lambda *a: None)


@pytest.fixture()
def empty_scene():
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)


def pytest_configure(config):
    os.environ.setdefault("GLOG_minloglevel", "2")
