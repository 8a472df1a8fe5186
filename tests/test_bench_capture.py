"""The capture benchmark: the scripted sequences, their render (resumable, one per session), the runner at --small
size through the product pipeline with a tiny capture model, and the scoring against the ground truth."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from capture_model_helpers import export_tiny_capture_model
from models.vocab.arkit import INDEX
from models.vocab.templates import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]


def python(*args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "GLOG_minloglevel": "2"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, head_asset):
    """`python -m bench capture --small` once per session: renders the small set, then runs every method."""
    root = tmp_path_factory.mktemp("bench")
    (root / "model").mkdir()
    models = export_tiny_capture_model(root / "model")
    data, out = root / "set", root / "report.json"
    proc = python("-m", "bench", "capture", "--data", data, "--json", out, "--small", "--model-dir", models,
                  "--model", "tiny", "--work", root / "work", "--overlay", root / "overlay.png")
    return {"data": data, "report": json.loads(out.read_text()), "markdown": out.with_suffix(".md").read_text(),
            "stdout": proc.stdout, "root": root}


def test_script_plays_every_template_with_smooth_onsets_blinks_and_head_motion():
    from synthetic.sequence_script import MIN_EVENT_FRAMES, envelope, frames_for_every_template, make_script

    frames = frames_for_every_template()
    script = make_script(np.random.default_rng(3), frames)
    kinds = set(script.kinds)
    assert {f"template:{name}" for name in TEMPLATES} <= kinds
    assert {"speech"} <= kinds and any(k.startswith("asymmetric:") for k in kinds)
    assert any(k.startswith("extreme:") for k in kinds)
    ramp = envelope(MIN_EVENT_FRAMES * 4)
    assert ramp[0] < 0.1 and ramp[len(ramp) // 2] == 1.0 and np.all(np.abs(np.diff(ramp)) < 0.35)
    blink = script.weights[:, INDEX["eyeBlinkLeft"]]
    assert (blink >= 0.99).sum() >= 2 * frames // 60  # a blink every ~2.5 s on top of the events
    jaw = script.weights[:, INDEX["jawOpen"]]
    speech = np.array([k == "speech" for k in script.kinds])
    assert np.ptp(jaw[speech]) > 0.3  # speech opens and closes the jaw
    assert 1.0 < np.abs(script.head_pose_deg).max() < 6.0
    assert np.all(script.weights >= 0) and np.all(script.weights <= 1)
    short = make_script(np.random.default_rng(3), 8)
    assert short.weights.shape == (8, 52) and short.kinds[0] == "speech"


def test_benchmark_streams_are_not_training_streams():
    from synthetic.sampling import sample_params
    from synthetic.sequence import identity_params

    train = sample_params(5, 0, 50, ["a.exr"])
    bench = identity_params(5, 0, 50, ["a.exr"])
    assert not np.allclose(train.identity, bench.identity) and bench.occluder.kind == ""
    assert np.array_equal(identity_params(5, 0, 50, ["a.exr"]).identity, bench.identity)  # deterministic


def test_scoring_the_ground_truth_gives_no_error(head_asset):
    from bench.capture import Clip, Subject, score_method
    from models.head import HeadModel
    from models.metrics import multirex
    from synthetic.sequence_script import make_script

    weights = make_script(np.random.default_rng(0), 30).weights.astype(np.float64)
    rng = np.random.default_rng(1)
    beta, other = rng.normal(size=(2, head_asset.n_identity)) * 0.5
    clips = [Clip(0, yaw, Path("unused.mp4"), Path("unused"), len(weights)) for yaw in (0, 30)]
    subject = Subject(0, beta, other, weights, clips, {})

    class Truth:
        decodes_on_target = set()

        def analyse(self, method, clip, target):
            return weights, np.ones(len(weights), bool)

    model = HeadModel(head_asset)
    out, _ = score_method("truth", Truth(), [subject], model, multirex.regions_from_masks(head_asset.regions), 24.0)
    assert out["mean_mm"]["mean"] < 1e-6 and out["retarget_mm"]["mean"] < 1e-6
    assert np.isclose(out["jitter_ratio"], 1.0) and out["view_spread_mm"] < 1e-9
    assert out["timing"]["blink_left"]["events"] >= 1
    assert out["timing"]["blink_left"]["missed"] == 0 and out["timing"]["blink_left"]["onset_ms"] == 0.0


def test_small_run_scores_every_method_it_has_and_says_why_the_others_are_skipped(small_run):
    report = small_run["report"]
    assert report["evaluated"] == {"identities": 1, "yaws_deg": [0, -30], "frames": 8, "small": True}
    methods = report["methods"]
    assert set(methods) == {"neutral_face", "landmarks", "neural"}
    assert "capture_convnext" in report["skipped"]["neural_convnext"]
    assert "--adapt-data" in report["skipped"]["neural_adapted"]
    for name, row in methods.items():
        assert set(row["per_view_mm"]) == {"yaw+00", "yaw-30"}
        assert row["found_fraction"] == 1.0, name  # MediaPipe tracks the rendered face in every frame
    assert methods["neutral_face"]["mean_mm"]["mean"] > 0.2  # the script moves the face
    assert methods["neutral_face"]["view_spread_mm"] == 0.0 and methods["neutral_face"]["jitter_mm"] == 0.0
    assert methods["landmarks"]["view_spread_mm"] > 0.0  # two views, two fits
    speed = report["speed_fps"]
    assert all(speed[k] > 0 for k in ("decode", "track", "fit (landmarks)", "capture", "decode-mesh", "solve",
                                      "bake"))
    table = small_run["markdown"]
    assert "| landmark fit |" in table and "skipped: no capture model 'capture_convnext'" in table
    assert "Targets:" in table and table in small_run["stdout"]
    import cv2

    overlay = cv2.imread(str(small_run["root"] / "overlay.png"))
    assert overlay is not None and overlay.shape[0] == 2 * 128 * 3  # one row per view


def test_small_set_is_a_dataset_per_view_with_videos_and_resumes(small_run):
    import cv2

    from models.dataset import label_path, read_label
    from synthetic.sequence import video_path, view_dir

    data = small_run["data"]
    for yaw in (0, -30):
        assert "OK" in python("-m", "synthetic", "verify", view_dir(data, 0, yaw)).stdout
        cap = cv2.VideoCapture(str(video_path(data, 0, yaw)))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8 and cap.get(cv2.CAP_PROP_FPS) == 24
        cap.release()
    a, _ = read_label(label_path(view_dir(data, 0, 0), 3))
    b, _ = read_label(label_path(view_dir(data, 0, -30), 3))
    assert np.array_equal(a["vertices"], b["vertices"]) and not np.allclose(a["R"], b["R"])  # one pose, two cameras
    gone = label_path(view_dir(data, 0, -30), 5)
    gone.unlink()
    args = ["-m", "synthetic", "sequence", "--out", data, "--identities", 1, "--views", 2, "--frames", 8,
            "--seed", 17, "--resolution", 128, "--samples", 4]
    proc = python(*args)
    assert "15/16 frames done, 1 to render" in proc.stderr and gone.is_file()
    other = python(*args[:-2], "--samples", 8, check=False)
    assert other.returncode == 2 and "other settings (samples 4 there but 8 now)" in other.stderr


def test_a_set_of_an_older_generator_is_refused_with_what_to_do(small_run, tmp_path):
    import json

    from synthetic.sequence import SETTINGS_FILE

    old = json.loads((small_run["data"] / SETTINGS_FILE).read_text())
    old.update(version=1)
    del old["dataset_version"]
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(old))
    proc = python("-m", "synthetic", "sequence", "--out", tmp_path, "--identities", 1, "--views", 2, "--frames", 8,
                  "--seed", 17, "--resolution", 128, "--samples", 4, check=False)
    assert proc.returncode == 2 and "another version of the generator" in proc.stderr
    assert "render the set again into a new --out" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [SETTINGS_FILE]


def test_an_unfinished_set_is_refused_with_the_command_that_finishes_it(small_run, tmp_path):
    import shutil

    from synthetic.sequence import SETTINGS_FILE

    shutil.copy(small_run["data"] / SETTINGS_FILE, tmp_path / SETTINGS_FILE)
    proc = python("-m", "bench", "capture", "--data", tmp_path, "--no-render", "--json", tmp_path / "r.json",
                  check=False)
    assert proc.returncode == 2 and "is not finished" in proc.stderr and "synthetic sequence" in proc.stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("bad, message", [(["--views", "6"], "--views 6: must be 1 to 5"),
                                          (["--frames", "0"], "--frames 0: must be at least 1"),
                                          (["--identities", "0"], "--identities 0: must be at least 1")])
def test_bad_sequence_arguments_fail_before_anything_is_written(tmp_path, bad, message):
    args = {"--identities": "1", "--views": "2", "--frames": "4", "--seed": "1"}
    args.update(dict(zip(bad[::2], bad[1::2])))
    proc = python("-m", "synthetic", "sequence", "--out", tmp_path / "set", *[x for kv in args.items() for x in kv],
                  check=False)
    assert proc.returncode == 2 and message in proc.stderr and not (tmp_path / "set").exists()
