"""Bad input fails with a clear message before anything is rendered."""
import subprocess
import sys

import pytest

from models.paths import project_root

ROOT = project_root()


def run(*args):
    return subprocess.run([sys.executable, "-m", "synthetic", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def cli(capsys):
    """The CLI in this process (for errors found before anything renders): returns (exit code, stderr)."""
    from synthetic.cli import main

    def call(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code
        return code, capsys.readouterr().err

    return call


@pytest.mark.parametrize("extra,message", [
    (["--count", "0"], "--count 0"),
    (["--count", "2", "--resolution", "8"], "--resolution 8"),
    (["--count", "2", "--samples", "0"], "--samples 0"),
    (["--count", "2", "--shard", "2/2"], "--shard '2/2'"),
    (["--count", "2", "--shard", "a/b"], "expected K/N"),
    (["--count", "2", "--workers", "0"], "--workers 0"),
    (["--count", "2", "--hdri-dir", "/nonexistent/hdris"], "not a folder"),
])
def test_bad_arguments(tmp_path, cli, extra, message):
    out = tmp_path / "out"
    code, err = cli("render", "--out", out, "--seed", 1, *extra)
    assert code == 2, err
    assert message in err and err.startswith("error:")
    assert not out.exists()  # nothing is written before every check passes


def test_bad_device_choice(tmp_path, cli):
    code, err = cli("render", "--out", tmp_path, "--count", 1, "--seed", 1, "--device", "metal")
    assert code == 2 and "invalid choice" in err


def test_empty_hdri_dir(tmp_path, cli):
    (tmp_path / "hdris").mkdir()
    code, err = cli("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--hdri-dir", tmp_path / "hdris")
    assert code == 2 and "no .exr or .hdr" in err


def test_corrupt_hdri(tmp_path, cli):
    (tmp_path / "hdris").mkdir()
    (tmp_path / "hdris" / "broken.exr").write_bytes(b"not an exr file")
    code, err = cli("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--hdri-dir", tmp_path / "hdris")
    assert code == 2 and "broken.exr is not a valid .exr" in err


def test_unwritable_output(tmp_path, cli):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, err = cli("render", "--out", blocker / "sub", "--count", 1, "--seed", 1)
    assert code == 2 and "not writable" in err
    code, err = cli("render", "--out", blocker, "--count", 1, "--seed", 1)
    assert code == 2 and "not a folder" in err


def test_missing_head_asset(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("FACECAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACECAP_SHARED", str(tmp_path / "no-shared"))
    code, err = cli("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1)
    assert code == 2, err
    assert "head asset" in err and "not found" in err and "--flame PATH" in err
    assert not (tmp_path / "out").exists()
    # the option the message names exists
    code, err = cli("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--flame", tmp_path / "mine.npz")
    assert code == 2 and f"FLAME model not found at {tmp_path / 'mine.npz'}" in err
    assert not (tmp_path / "out").exists()


def test_resume_with_other_settings_is_refused(tmp_path, head_asset):
    # head_asset: built first, so the asset build's log does not come before the error on stderr
    from synthetic import DATASET_FORMAT, DATASET_VERSION, labels

    labels.write_manifest(tmp_path, (0, 1), {"format": DATASET_FORMAT, "version": DATASET_VERSION,
                                             "settings": {"count": 5, "seed": 1}, "hdris": [], "asset": {}})
    proc = run("render", "--out", tmp_path, "--count", 6, "--seed", 1)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {tmp_path} already holds a dataset made with other settings (count 5 "
                                  "there but 6 now, resolution null there but 256 now,")


def test_folder_with_foreign_images_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(b"")
    proc = run("render", "--out", tmp_path, "--count", 1, "--seed", 1)
    assert proc.returncode == 2 and "no manifest" in proc.stderr


def test_verify_not_a_dataset(tmp_path):
    proc = run("verify", tmp_path)
    assert proc.returncode == 1 and "no manifest" in proc.stdout
