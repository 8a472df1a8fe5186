"""Bad input fails with a clear message before anything is rendered."""
import os
import subprocess
import sys

import pytest

from models.paths import project_root

ROOT = project_root()


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "synthetic", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize("extra,message", [
    (["--count", "0"], "--count 0"),
    (["--count", "2", "--resolution", "8"], "--resolution 8"),
    (["--count", "2", "--samples", "0"], "--samples 0"),
    (["--count", "2", "--shard", "2/2"], "--shard '2/2'"),
    (["--count", "2", "--shard", "a/b"], "expected K/N"),
    (["--count", "2", "--workers", "0"], "--workers 0"),
    (["--count", "2", "--hdri-dir", "/nonexistent/hdris"], "not a folder"),
])
def test_bad_arguments(tmp_path, extra, message):
    out = tmp_path / "out"
    proc = run("render", "--out", out, "--seed", 1, *extra)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "error:" in proc.stderr
    assert not (out / "images").exists()


def test_bad_device_choice(tmp_path):
    proc = run("render", "--out", tmp_path, "--count", 1, "--seed", 1, "--device", "metal")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_empty_hdri_dir(tmp_path):
    (tmp_path / "hdris").mkdir()
    proc = run("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--hdri-dir", tmp_path / "hdris")
    assert proc.returncode == 2 and "no .exr or .hdr" in proc.stderr


def test_corrupt_hdri(tmp_path):
    (tmp_path / "hdris").mkdir()
    (tmp_path / "hdris" / "broken.exr").write_bytes(b"not an exr file")
    proc = run("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--hdri-dir", tmp_path / "hdris")
    assert proc.returncode == 2 and "broken.exr is not a valid .exr" in proc.stderr


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    proc = run("render", "--out", blocker / "sub", "--count", 1, "--seed", 1)
    assert proc.returncode == 2 and "not writable" in proc.stderr
    proc = run("render", "--out", blocker, "--count", 1, "--seed", 1)
    assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_missing_head_asset(tmp_path):
    env = dict(os.environ, FACECAP_CACHE=str(tmp_path / "cache"), FACECAP_SHARED=str(tmp_path / "no-shared"))
    proc = run("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "head asset" in proc.stderr and "not found" in proc.stderr
    assert not (tmp_path / "out" / "images").exists()


def test_resume_with_other_settings_is_refused(tmp_path):
    from synthetic import labels

    labels.write_manifest(tmp_path, (0, 1), {"format": "facecap-synthetic", "version": 1,
                                             "settings": {"count": 5, "seed": 1}, "hdris": [], "asset": {}})
    proc = run("render", "--out", tmp_path, "--count", 6, "--seed", 1)
    assert proc.returncode == 2 and "already holds a dataset" in proc.stderr and "count" in proc.stderr


def test_folder_with_foreign_images_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(b"")
    proc = run("render", "--out", tmp_path, "--count", 1, "--seed", 1)
    assert proc.returncode == 2 and "no manifest" in proc.stderr


def test_verify_not_a_dataset(tmp_path):
    proc = run("verify", tmp_path)
    assert proc.returncode == 1 and "no manifest" in proc.stdout
