"""End-to-end renders in subprocesses (64 px, 1-2 samples): determinism, shards, resume after SIGKILL and of
damaged samples, landmarks on the rendered silhouette, verify and sheet."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.paths import project_root
from synthetic import labels

ROOT = project_root()
COUNT = 6
FAST = ["--resolution", "64", "--samples", "1", "--no-denoise"]


def synthetic(*args, check=True, **kwargs):
    proc = subprocess.run([sys.executable, "-m", "synthetic", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"synthetic {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def all_labels(folder):
    out = {}
    for path in sorted((Path(folder) / labels.LABEL_DIR).glob("*.npz")):
        out[path.stem] = labels.read_label(path)
    return out


def assert_same_labels(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        (arr_a, meta_a), (arr_b, meta_b) = a[key], b[key]
        assert meta_a == meta_b, key
        assert sorted(arr_a) == sorted(arr_b)
        for name in arr_a:
            assert np.array_equal(arr_a[name], arr_b[name]), (key, name)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    out = tmp_path_factory.mktemp("base")
    synthetic("render", "--out", out, "--count", COUNT, "--seed", 5, *FAST)
    return out


def test_verify_and_sheet(baseline, tmp_path):
    proc = synthetic("verify", baseline)
    assert f"{COUNT} valid samples of {COUNT} expected" in proc.stdout and "OK" in proc.stdout
    sheet = tmp_path / "sheet.png"
    synthetic("sheet", baseline, "--out", sheet, "--count", 4)
    assert cv2.imread(str(sheet)).shape == (512, 512, 3)


def test_rerun_is_a_no_op_and_same_seed_same_labels(baseline, tmp_path):
    before = all_labels(baseline)
    manifest = baseline / "manifest.json"
    written = manifest.read_bytes(), manifest.stat().st_mtime_ns
    proc = synthetic("render", "--out", baseline, "--count", COUNT, "--seed", 5, *FAST)
    assert f"{COUNT}/{COUNT} done, 0 to render" in proc.stdout
    assert (manifest.read_bytes(), manifest.stat().st_mtime_ns) == written  # its `created` time too
    again = tmp_path / "again"
    again.mkdir()
    users = ["draft.tmp.docx", "page.tmpl"]  # the user's own files in --out survive
    for name in users:
        (again / name).write_text("mine")
    synthetic("render", "--out", again, "--count", COUNT, "--seed", 5, *FAST)
    assert_same_labels(before, all_labels(again))
    assert all((again / name).read_text() == "mine" for name in users)


def test_same_seed_same_pixels(tmp_path):
    # several samples per process, denoised, lights switching between samples: the case that varied with Cycles'
    # persistent data on
    settings = ["--count", 6, "--seed", 11, "--resolution", 256, "--samples", 16]
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        synthetic("render", "--out", out, *settings)
    for i in range(6):
        a, b = (cv2.imread(str(labels.image_path(out, i))) for out in runs)
        assert np.array_equal(a, b), i


def test_shards_are_disjoint_and_equal_the_whole(baseline, tmp_path):
    out = tmp_path / "sharded"
    synthetic("render", "--out", out, "--count", COUNT, "--seed", 5, "--shard", "1/2", *FAST)
    part = all_labels(out)
    assert sorted(part) == [f"{i:06d}" for i in range(1, COUNT, 2)]
    assert synthetic("verify", out, check=False).returncode == 1  # shard 0 missing: incomplete
    assert synthetic("verify", out, "--partial").returncode == 0
    synthetic("render", "--out", out, "--count", COUNT, "--seed", 5, "--shard", "0/2", *FAST)
    assert_same_labels(all_labels(baseline), all_labels(out))
    assert synthetic("verify", out).returncode == 0


def test_sigkill_then_resume_gives_the_uninterrupted_dataset(baseline, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "synthetic", "render", "--out", str(out), "--count", str(COUNT), "--seed", "5",
           *FAST]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    finished = "[0-9]" * 6 + ".npz"  # not the temporary file of the label in flight
    while time.time() < deadline and len(list((out / labels.LABEL_DIR).glob(finished))) < 2:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted((out / labels.LABEL_DIR).glob(finished))
    assert 2 <= len(done) < COUNT, "the run finished before it could be killed; raise COUNT"
    assert synthetic("verify", out, check=False).returncode == 1
    # a damaged label and a damaged image (a full disk, a bad copy) are rendered again, not counted as done
    for path in (done[0], labels.image_path(out, int(done[1].stem))):
        path.write_bytes(path.read_bytes()[:100])
    proc = synthetic("render", "--out", out, "--count", COUNT, "--seed", 5, *FAST)
    assert f"{len(done) - 2}/{COUNT} done" in proc.stdout and "2 damaged sample(s)" in proc.stdout
    assert_same_labels(all_labels(baseline), all_labels(out))
    assert synthetic("verify", out).returncode == 0


def test_visible_landmarks_land_on_the_rendered_silhouette(tmp_path):
    out = tmp_path / "alpha"
    synthetic("render", "--out", out, "--count", 4, "--seed", 9, "--resolution", 96, "--samples", 1, "--no-denoise",
              "--transparent", "--no-occluders")
    for key, (arrays, meta) in all_labels(out).items():
        image = cv2.imread(str(out / meta["image"]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (96, 96, 4)
        silhouette = cv2.dilate((image[:, :, 3] > 127).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        for name in ("lmk68", "mp478"):
            uv, vis = arrays[f"{name}_2d"], arrays[f"{name}_visible"]
            assert vis.sum() > 0.3 * len(vis), (key, name)
            px = np.floor(uv[vis]).astype(int)
            on = silhouette[px[:, 1], px[:, 0]]
            assert on.mean() >= 0.98, (key, name, on.mean())
        # the face box holds most of the silhouette's face and lies in the image
        x0, y0, x1, y1 = arrays["face_box"]
        assert 0.25 * 96 <= max(x1 - x0, y1 - y0) <= 0.95 * 96
        assert silhouette[int(max(y0, 0)):int(y1), int(max(x0, 0)):int(x1)].mean() > 0.5


def test_visibility_agrees_with_the_object_index_mask(tmp_path):
    from synthetic.sampling import sample_params

    # a seed whose first samples include occluders, so visibility is tested against hands/shapes/glasses too
    seed = next(s for s in range(200) if sum(bool(sample_params(s, i, 60, ["x"]).occluder.kind) for i in range(4)) >= 2)
    out = tmp_path / "masks"
    synthetic("render", "--out", out, "--count", 4, "--seed", seed, "--resolution", 128, "--samples", 1,
              "--no-denoise", "--masks")
    assert synthetic("verify", out).returncode == 0
    kernel = np.ones((3, 3), np.uint8)
    hidden_by_occluder = 0
    for key, (arrays, meta) in all_labels(out).items():
        mask = cv2.imread(str(labels.mask_path(out, int(key))), cv2.IMREAD_UNCHANGED)
        face = cv2.dilate(np.isin(mask, (1, 2, 5)).astype(np.uint8), kernel) > 0  # 5: clear lenses
        occluder_only = cv2.erode((mask == 4).astype(np.uint8), kernel) > 0
        for name in ("lmk68", "mp478"):
            uv, vis = arrays[f"{name}_2d"], arrays[f"{name}_visible"]
            inside = (uv >= 0).all(1) & (uv < 128).all(1)
            px = np.floor(uv[inside]).astype(int)
            on_face = face[px[:, 1], px[:, 0]]
            under = occluder_only[px[:, 1], px[:, 0]]
            assert on_face[vis[inside]].mean() >= 0.97, (key, name)  # visible -> drawn as the face there
            assert not vis[inside][under].any(), (key, name)  # fully covered by an occluder -> not visible
            hidden_by_occluder += int(under.sum())
    assert hidden_by_occluder > 0, "no landmark was behind an occluder; pick another seed"


def test_user_hdri_dir(tmp_path):
    from synthetic.hdris import find_hdris
    from synthetic.sampling import sample_params

    hdri_dir = tmp_path / "hdris"
    hdri_dir.mkdir()
    sky = np.zeros((32, 64, 3), np.float32)
    sky[:16] = (1.5, 0.9, 0.4)  # warm top half, dark ground
    cv2.imwrite(str(hdri_dir / "warm.hdr"), sky)
    names = list(find_hdris(hdri_dir))
    assert names[-1] == "dir:warm.hdr" and sum(n.startswith("studio:") for n in names) == 8
    seed = next(s for s in range(500) if sample_params(s, 0, 60, names).lighting.hdri == "dir:warm.hdr")
    out = tmp_path / "out"
    synthetic("render", "--out", out, "--count", 1, "--seed", seed, "--hdri-dir", hdri_dir, *FAST)
    (arrays, meta), = all_labels(out).values()
    assert meta["environment_map"] == "dir:warm.hdr" and meta["environment_file"] == "warm.hdr"
    assert synthetic("verify", out).returncode == 0


def test_open_mouth_interior_is_lit(tmp_path):
    from models.vocab.arkit import INDEX
    from synthetic.sampling import sample_params

    def wide_open_and_frontal(p):
        w = p.expression
        return (w[INDEX["jawOpen"]] - w[INDEX["mouthClose"]] > 0.5 and abs(p.head_pose_deg[0]) < 20
                and abs(p.head_pose_deg[1]) < 15 and p.camera.face_fraction > 0.6 and not p.occluder.kind)

    seed = next(s for s in range(5000) if wide_open_and_frontal(sample_params(s, 0, 60, ["x"])))
    out = tmp_path / "mouth"
    synthetic("render", "--out", out, "--count", 1, "--seed", seed, "--resolution", 128, "--samples", 4, "--masks")
    value = cv2.imread(str(labels.image_path(out, 0))).astype(np.float64).max(2)  # the tongue is red: not grey
    mask = cv2.imread(str(labels.mask_path(out, 0)), cv2.IMREAD_UNCHANGED)
    mouth = cv2.erode((mask == 2).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert mouth.sum() >= 10, "the teeth/tongue hardly show; pick another sample"
    # teeth, gums and tongue lit, not a black hole: 0.36 of the skin's value with the mouth fill, 0.07 without
    assert value[mouth].mean() >= 0.25 * value[mask == 1].mean()
