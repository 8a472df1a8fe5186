"""Damaged or foreign input never passes silently: damaged samples are found, skipped or rendered again."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from synthetic import hdris, labels
from synthetic.config import ConfigError
from synthetic.sheet import contact_sheet

ROOT = Path(__file__).resolve().parents[1]
RES = 32


def synthetic(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "synthetic", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kwargs)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def fake_dataset(folder, n=3):
    """n samples with the label arrays the contact sheet draws, no Blender needed."""
    for i in range(n):
        labels.image_path(folder, i).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(labels.image_path(folder, i)), np.full((RES, RES, 3), 40 * i, np.uint8))
        arrays = {"face_box": np.array([4, 4, 28, 28], np.float32), "lmk68_2d": np.full((68, 2), 16, np.float32),
                  "lmk68_visible": np.ones(68, bool)}
        labels.write_label(folder, i, arrays, {"index": i, "expression_kind": "neutral",
                                               "image": f"{labels.IMAGE_DIR}/{i:06d}.png"})


def test_sample_problem_finds_damaged_files_cheaply(tmp_path):
    fake_dataset(tmp_path, 4)
    assert [labels.sample_problem(tmp_path, i, RES, False) for i in range(4)] == [None] * 4
    truncate(labels.label_path(tmp_path, 1))
    truncate(labels.image_path(tmp_path, 2))
    cv2.imwrite(str(labels.image_path(tmp_path, 3)), np.zeros((RES, RES + 1, 3), np.uint8))
    problems = [labels.sample_problem(tmp_path, i, RES, False) for i in range(5)]
    assert problems[0] is None and problems[4] == "no label"
    assert problems[1].startswith("label is unreadable")
    assert problems[2] == "image is truncated"
    assert problems[3] == f"image is {RES + 1}x{RES}, expected {RES}x{RES}"
    assert labels.sample_problem(tmp_path, 0, RES, True) == "mask is missing or unreadable"


def test_sheet_skips_and_reports_unreadable_samples(tmp_path):
    fake_dataset(tmp_path, 4)
    truncate(labels.label_path(tmp_path, 1))
    truncate(labels.image_path(tmp_path, 2))
    messages = []
    out = contact_sheet(tmp_path, tmp_path / "sheet.png", count=2, log=messages.append)
    assert cv2.imread(str(out)).shape == (256, 512, 3)  # samples 0 and 3
    assert len(messages) == 1 and "000001" in messages[0] and "000002" in messages[0]
    for i in (0, 3):
        truncate(labels.label_path(tmp_path, i))
    proc = synthetic("sheet", tmp_path)
    assert proc.returncode == 2 and "error:" in proc.stderr and "no readable sample" in proc.stderr
    assert "Traceback" not in proc.stderr


def garbage_body(source, target, keep):
    """`source` with everything after its first `keep` bytes replaced by random bytes: a valid header."""
    data = source.read_bytes()
    target.write_bytes(data[:keep] + np.random.default_rng(0).integers(0, 256, len(data) - keep, np.uint8).tobytes())


def test_environment_map_with_a_garbage_body_is_refused(tmp_path):
    maps = tmp_path / "hdris"
    maps.mkdir()
    radiance = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 64 +X 128\n"
    (maps / "noise.hdr").write_bytes(radiance + np.random.default_rng(1).integers(0, 256, 64 * 128 * 4, np.uint8)
                                     .tobytes())
    proc = synthetic("render", "--out", tmp_path / "out", "--count", 1, "--seed", 1, "--hdri-dir", maps)
    assert proc.returncode == 2, proc.stderr
    error = [line for line in proc.stderr.splitlines() if "noise.hdr" in line]
    assert len(error) == 1 and error[0].startswith("error: environment map") and "implausible" in error[0]
    assert not (tmp_path / "out" / labels.IMAGE_DIR).exists()

    (maps / "noise.hdr").unlink()
    studio = hdris.bundled_dir() / "studio.exr"
    garbage_body(studio, maps / "garbage.exr", 2000)
    with pytest.raises(ConfigError, match="garbage.exr cannot be decoded"):
        hdris.check_decoded([maps / "garbage.exr"], tmp_path / "cache.json")
    (maps / "garbage.exr").write_bytes(studio.read_bytes()[:studio.stat().st_size // 2])
    with pytest.raises(ConfigError, match="garbage.exr cannot be decoded"):
        hdris.check_decoded([maps / "garbage.exr"], tmp_path / "cache.json")


def test_environment_maps_are_decoded_once_per_version(tmp_path, monkeypatch):
    good = tmp_path / "good.exr"
    good.write_bytes((hdris.bundled_dir() / "studio.exr").read_bytes())
    cache = tmp_path / "cache" / "decoded.json"
    decoded = []
    real = hdris.decode_problem
    monkeypatch.setattr(hdris, "decode_problem", lambda path: decoded.append(path) or real(path))
    hdris.check_decoded([good], cache)
    hdris.check_decoded([good], cache)
    assert decoded == [good]  # the second check used the cache
    garbage_body(good, good, 2000)  # same size, new contents and mtime: decoded again, refused
    os.utime(good, ns=(good.stat().st_atime_ns, good.stat().st_mtime_ns + 10 ** 9))
    with pytest.raises(ConfigError, match="good.exr cannot be decoded"):
        hdris.check_decoded([good], cache)
    assert decoded == [good, good]


def test_shard_count_mismatch_is_refused_before_rendering(tmp_path, capsys):
    from synthetic.cli import main
    from synthetic.config import RenderConfig
    from synthetic.render import prepare

    labels.write_manifest(tmp_path, (0, 1), {"shard": [0, 1], "settings": {"count": 4}})
    before = sorted(tmp_path.iterdir())
    assert main(["render", "--out", str(tmp_path), "--count", "4", "--seed", "1", "--shard", "0/2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path} holds a dataset rendered unsharded") and "without --shard" in err
    assert sorted(tmp_path.iterdir()) == before
    sharded = tmp_path / "sharded"
    labels.write_manifest(sharded, (1, 4), {"shard": [1, 4], "settings": {"count": 4}})
    with pytest.raises(ConfigError, match="rendered in 4 shards.*with --shard K/4"):
        prepare(RenderConfig(out=sharded, count=4, seed=1, shard=(0, 2)))


def test_device_that_is_missing_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = synthetic("render", "--out", out, "--count", 1, "--seed", 1, "--device", "cuda", "--resolution", 16,
                     "--samples", 1)
    if proc.returncode == 0:
        pytest.skip("this machine has a CUDA device")
    assert proc.returncode == 2 and "error: --device cuda: no CUDA device found" in proc.stderr
    assert not out.exists()


def test_one_render_per_shard_and_folder(tmp_path):
    import socket

    from synthetic.render import render_lock

    out = tmp_path / "out"
    out.mkdir()
    with render_lock(out, (0, 1)):
        proc = synthetic("render", "--out", out, "--count", 1, "--seed", 1)
        assert proc.returncode == 2, proc.stderr
        assert f"by process {os.getpid()} on host {socket.gethostname()}" in proc.stderr.splitlines()[-1]
        assert sorted(p.name for p in out.iterdir()) == [".render-lock-shard-0-of-1"]
        with render_lock(out, (1, 2)):  # another shard may render into the same folder
            pass
    # the lock goes with its holder, however it ends
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from synthetic.render import render_lock\n"
                               f"with render_lock({str(out)!r}, (0, 1)):\n print('locked', flush=True)\n"
                               " time.sleep(120)"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=f"by process {holder.pid} "):
            with render_lock(out, (0, 1)):
                pass
    finally:
        holder.kill()
        holder.wait()
    with render_lock(out, (0, 1)):
        pass


@pytest.mark.parametrize("body", [b'{"settings": {"count"', b"\xff\xfe", b"[1, 2]"])
def test_damaged_manifest_is_a_one_line_error_and_is_kept(tmp_path, capsys, body):
    from synthetic.cli import main

    (tmp_path / "manifest.json").write_bytes(body)
    for argv in (["render", "--out", str(tmp_path), "--count", "2", "--seed", "1"], ["verify", str(tmp_path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {tmp_path / 'manifest.json'} is not") and err.count("\n") == 1, err
    assert (tmp_path / "manifest.json").read_bytes() == body and sorted(tmp_path.iterdir()) == [tmp_path / "manifest.json"]


def _reporting_worker(queue, indices, die):
    for i in indices:
        queue.put(("done", i, 0.1))
    if die:
        queue.close()
        queue.join_thread()  # its reports are out, as a worker's are seconds before it dies
        os.kill(os.getpid(), 9)  # as the OOM killer would: no word to the parent
    queue.put(("exit", os.getpid(), None))


@pytest.mark.parametrize("die", [False, True])
def test_the_parent_of_local_workers_stops_when_one_dies_without_a_word(die):
    import multiprocessing

    from synthetic.config import RenderStopped
    from synthetic.render import collect_reports

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_reporting_worker, args=(queue, [0, 2], False)),
             ctx.Process(target=_reporting_worker, args=(queue, [1, 3], die))]
    for proc in procs:
        proc.start()
    got = []
    try:
        if die:
            with pytest.raises(RenderStopped, match=rf"render worker {procs[1].pid} died \(exit code -9\).*again"):
                collect_reports(queue, procs, lambda i, s: got.append(i), poll_s=0.2)
        else:
            collect_reports(queue, procs, lambda i, s: got.append(i), poll_s=0.2)
    finally:
        for proc in procs:
            proc.join(10)
    assert sorted(got) == [0, 1, 2, 3]  # what the dead worker finished still counts
