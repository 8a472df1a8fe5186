"""The evaluation's measures on known inputs."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from models.capture import evaluate as E
from models.vocab import capture64


def test_rotation_and_gaze_errors_in_degrees():
    a = Rotation.random(3, random_state=0).as_matrix()
    b = Rotation.from_euler("z", [10, 30, 90], degrees=True).as_matrix() @ a
    np.testing.assert_allclose(E.rotation_error_deg(a, b), [10, 30, 90], atol=1e-6)
    np.testing.assert_allclose(E.gaze_vectors(np.zeros((1, 2))), [[0, 0, 1]])
    up = E.gaze_vectors(np.array([[0.0, np.deg2rad(20)]]))[0]
    assert up[1] > 0 and np.degrees(np.arcsin(up[1])) == pytest.approx(20)
    truth = np.zeros((1, 2, 2))
    pred = truth.copy()
    pred[0, 0, 0] = np.deg2rad(12)  # the left eye 12 deg off, the right exact: mean over eyes 6
    assert E.gaze_error_deg(pred, truth)[0] == pytest.approx(6.0)


def test_nme_is_normalised_by_the_outer_eye_corners():
    truth = np.zeros((1, 64, 2))
    truth[0, capture64.index("left_eye_outer")] = [100, 0]
    pred = truth + [5.0, 0]
    assert E.nme(pred, truth)[0] == pytest.approx(0.05)


def test_confusion_counts():
    t = np.array([True, True, False, False, False])
    p = np.array([True, False, True, False, False])
    assert E.confusion(t, p) == {"tp": 1, "fp": 1, "fn": 1, "tn": 2}


def test_states_read_blinks_and_open_mouths_off_the_mesh(head_asset):
    from models.head import HeadModel
    from models.vocab.arkit import INDEX, N_ARKIT

    model = HeadModel(head_asset)
    weights = np.zeros((4, N_ARKIT))
    weights[1, INDEX["jawOpen"]] = 0.6
    weights[2, INDEX["eyeBlinkLeft"]] = weights[2, INDEX["eyeBlinkRight"]] = 1.0
    weights[3, INDEX["jawOpen"]] = 0.05  # lips parted less than the 4 mm threshold
    meshes = model.vertices(None, weights)
    neutral = np.repeat(model.neutral(None), 4, 0)
    s = E.states(head_asset, meshes, neutral)
    assert s["mouth_open"].tolist() == [False, True, False, False]
    assert s["blink_left"].tolist() == s["blink_right"].tolist() == [False, False, True, False]


def test_face_side_is_the_landmark_square_in_frame_pixels():
    from models.capture.crop import make_crop
    from tests.test_capture_crop import fake_landmarks

    frame = np.zeros((400, 400, 3), np.uint8)
    sides = []
    for size, roll in ((40.0, 0.0), (90.0, 12.0), (200.0, -20.0)):
        lm = fake_landmarks(centre=(200.0, 190.0), size=size, roll_deg=roll)
        crop = make_crop(frame, 64, lm)
        unrolled = lm @ np.array([[np.cos(np.deg2rad(roll)), -np.sin(np.deg2rad(roll))],
                                  [np.sin(np.deg2rad(roll)), np.cos(np.deg2rad(roll))]])
        sides.append((E.face_side_px(crop.affine[None], 64)[0], np.ptp(unrolled, axis=0).max()))
    for got, expected in sides:
        assert got == pytest.approx(expected, rel=0.03)


def test_evenly_spaced_keeps_every_per_sample_array_in_step():
    targets = {"index": np.arange(10, 20), "z_exp": np.arange(10.0)[:, None] * np.ones((1, 64)),
               "identity": np.arange(10.0)[:, None], "semantic_expression_sha256": np.array("ab")}
    some = E.evenly_spaced(targets, 4)
    assert some["index"].tolist() == [10, 13, 16, 19]
    np.testing.assert_array_equal(some["z_exp"][:, 0], some["index"] - 10)
    np.testing.assert_array_equal(some["identity"][:, 0], some["index"] - 10)
    assert str(some["semantic_expression_sha256"]) == "ab"
    assert E.evenly_spaced(targets, None) is targets and E.evenly_spaced(targets, 50) is targets


@pytest.fixture(scope="module")
def tiny_renders(tmp_path_factory, head_asset):
    """Three 64² renders (one sample per pixel), shared by the eval and probe tests."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("capture-eval") / "renders"
    subprocess.run([sys.executable, "-m", "synthetic", "render", "--out", str(data), "--count", "3", "--seed", "11",
                    "--resolution", "64", "--samples", "1", "--no-denoise"], check=True, capture_output=True)
    return data


def test_synthetic_eval_splits_by_yaw_and_face_size(tmp_path, tiny_renders):
    """The real eval on three tiny renders with an untrained model: every split, the per-frame errors."""
    from models.capture.runtime import CaptureOptions, CaptureRuntime
    from models.paths import capture_cache_dir
    from models.semantic.runtime import WEIGHTS_DIR, SemanticRuntime
    from tests.capture_model_helpers import export_tiny_capture_model

    data = tiny_renders
    weights = export_tiny_capture_model(tmp_path)
    runtime = CaptureRuntime(CaptureOptions(weights_dir=weights, name="tiny", providers=("CPUExecutionProvider",)))
    report = E.evaluate_synthetic(runtime, SemanticRuntime(WEIGHTS_DIR), WEIGHTS_DIR, data, capture_cache_dir(),
                                  log=lambda *a: None)
    table, frames = report["multirex_mm"], report["per_frame"]
    assert len(frames["capture_mm"]) == len(frames["face_px"]) == 3
    assert table["all"]["capture"]["mean"] == pytest.approx(np.mean(frames["capture_mm"]), abs=1e-3)
    assert table["all"]["neutral_face"]["mean"] == pytest.approx(np.mean(frames["neutral_face_mm"]), abs=1e-3)
    for prefix in ("yaw_", "face_px_"):
        assert sum(row["frames"] for name, row in table.items() if name.startswith(prefix)) == 3
    assert all(0 < px < 64 for px in frames["face_px"])  # a 64² render holds faces smaller than the frame
    from models.dataset import label_path, read_label
    from models.vocab.landmarks68 import LIPS_OUTER

    in_view = [bool(read_label(label_path(data, i))[0]["lmk68_visible"][list(LIPS_OUTER)].all())
               for i in frames["index"]]
    assert frames["lips_visible"] == in_view
    assert table["lips_visible"]["frames"] + table["lips_hidden"]["frames"] == 3
    rebuilt = E.split_rows(*(np.asarray(frames[k]) for k in ("yaw_deg", "face_px", "most_expressive_quarter",
                                                              "lips_visible")))
    assert set(rebuilt) == set(table)
    assert all(int(rows.sum()) == table[name]["frames"] for name, rows in rebuilt.items())


def test_eval_command_scores_part_of_a_folder(tmp_path, tiny_renders, capsys):
    """`eval --frames 2` on the three renders scores the first and the last; `--frames 0` is refused."""
    import json

    from models.capture.__main__ import main
    from tests.capture_model_helpers import export_tiny_capture_model

    weights = export_tiny_capture_model(tmp_path)
    args = ["eval", "--data", str(tiny_renders), "--weights-dir", str(weights), "--name", "tiny", "--no-real", "--json"]
    assert main([*args, "--frames", "2"]) == 0
    report = json.loads(capsys.readouterr().out)["synthetic"]
    assert report["frames"] == 2 and report["per_frame"]["index"] == [0, 2]
    with pytest.raises(SystemExit):
        main([*args, "--frames", "0"])
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err


def test_probe_command_on_tiny_renders(tmp_path, tiny_renders, capsys):
    """`probe` end to end on three tiny renders: every source scored, a model's dense points included."""
    import json

    from models.capture.__main__ import main
    from tests.capture_model_helpers import export_tiny_capture_model

    data = tiny_renders
    model = export_tiny_capture_model(tmp_path, heatmaps=True) / "tiny.pt"
    assert main(["probe", "--data", str(data), "--heldout", str(data), "--noise", "1", "--model", str(model)]) == 0
    report = json.loads(capsys.readouterr().out)
    for source in ("ground_truth", "ground_truth_noise_1px", "model"):
        assert report[source]["heldout_rows"] == 3 and np.isfinite(report[source]["all"])
    (tmp_path / "plain").mkdir()
    plain = export_tiny_capture_model(tmp_path / "plain", dense_landmarks=False) / "tiny.pt"
    assert main(["probe", "--data", str(data), "--heldout", str(data), "--model", str(plain)]) == 2
    assert "has no dense landmark head" in capsys.readouterr().err


def test_model_card_states_every_split_and_target_from_the_eval_report(tmp_path, tiny_renders, capsys):
    """`card` writes the figures of the model's JSON and its eval report; a report of another model is refused."""
    import json

    from models.capture.__main__ import main
    from models.capture.card import ratio, verdicts
    from tests.capture_model_helpers import export_tiny_capture_model

    weights = export_tiny_capture_model(tmp_path)
    assert main(["eval", "--data", str(tiny_renders), "--weights-dir", str(weights), "--name", "tiny", "--no-real",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["data"] == str(tiny_renders)
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(report))
    assert main(["card", "--eval", str(path), "--weights-dir", str(weights), "--name", "tiny", "--note", "Why."]) == 0
    card = (weights / "tiny_model_card.md").read_text()
    assert "\n\nWhy.\n\n" in card
    table = report["synthetic"]["multirex_mm"]
    assert f"| all | 3 | {table['all']['capture']['mean']:.3f} | {table['all']['neutral_face']['mean']:.3f} | " \
           f"{ratio(table['all']):.3f} |  |" in card
    assert "| |yaw|" not in card  # a label's pipes are escaped, so the table keeps its columns
    assert "`renders`: 3 renders, seed 11, 64², 1 samples per pixel" in card  # the held-out set's manifest
    meta = json.loads((weights / "tiny.json").read_text())
    for name in meta["sha256"]:
        assert f"| `{name}` | {(weights / name).stat().st_size} | `{meta['sha256'][name][:16]}…` |" in card
    for target, value, met in verdicts(table):
        assert met == (table[target.split]["frames"] > 0 and value <= target.max_ratio)
        assert (f"{target.label} {value:.3f} against ≤ {target.max_ratio:.2f}" if value == value
                else f"{target.label}: no frames") in card  # an untrained model misses them all
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**report, "model": "capture_light"}))
    assert main(["card", "--eval", str(other), "--weights-dir", str(weights), "--name", "tiny"]) == 2
    assert "is an eval report of 'capture_light', not 'tiny'" in capsys.readouterr().err


def test_the_card_names_how_many_of_a_folders_renders_training_read(tiny_renders, tmp_path):
    """A render stopped early holds fewer samples than its manifest's count; the card says how many were read."""
    from models.capture.card import _dataset_line

    assert _dataset_line(str(tiny_renders), 2) == "`renders`: 2 (of the 3 asked for) renders, seed 11, 64², " \
                                                  "1 samples per pixel"
    assert _dataset_line(str(tiny_renders), 3) == _dataset_line(str(tiny_renders)) == \
        "`renders`: 3 renders, seed 11, 64², 1 samples per pixel"
    assert _dataset_line(str(tmp_path / "gone"), 5) == "`gone`: 5 renders (its manifest is not on this machine)"


def test_target_verdicts_are_the_issue_targets():
    from models.capture.card import TARGETS, verdicts

    def row(capture, neutral=1.0):
        return {"frames": 5, "capture": {"mean": capture}, "neutral_face": {"mean": neutral}}

    assert {t.split: t.max_ratio for t in TARGETS} == {"yaw_0_20": 0.40, "yaw_45_up": 0.60,
                                                       "most_expressive_quarter": 0.50}
    table = {"yaw_0_20": row(0.8, 2.0), "yaw_45_up": row(0.61), "most_expressive_quarter": row(0.5)}
    assert [(t.split, round(v, 3), ok) for t, v, ok in verdicts(table)] == [
        ("yaw_0_20", 0.4, True), ("yaw_45_up", 0.61, False), ("most_expressive_quarter", 0.5, True)]


def test_model_card_says_whether_the_held_out_seed_was_trained_on(tmp_path):
    import json

    from models.capture.card import _seed_note

    def folder(name, seed):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"settings": {"seed": seed}}))
        return str(tmp_path / name)

    train0, train1, held = folder("train0", 0), folder("train1", 1), folder("held", 1000007)
    assert _seed_note(held, [train1, train0]) == "; training's seeds: 0, 1"
    assert "not held out" in _seed_note(held, [train0, folder("again", 1000007)])
    assert _seed_note(held, [str(tmp_path / "gone")]) == ""
