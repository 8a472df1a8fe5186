"""`python -m models.capture compare`: two eval reports of one folder, frame by frame."""
import json

import numpy as np
import pytest

from models.capture.compare import compare, read_per_frame


def _frames(capture_mm, seed=0):
    rng = np.random.default_rng(seed)
    n = len(capture_mm)
    return {"index": np.arange(n), "capture_mm": np.asarray(capture_mm, float),
            "neutral_face_mm": rng.uniform(1.0, 2.0, n), "yaw_deg": rng.uniform(0, 80, n),
            "face_px": rng.uniform(30, 200, n), "most_expressive_quarter": np.arange(n) % 4 == 0,
            "lips_visible": np.arange(n) % 3 != 0}


def _report(frames):
    return {"model": "x", "synthetic": {"per_frame": {k: v.tolist() for k, v in frames.items()}}}


def test_a_uniform_gain_is_resolved_in_every_split_and_noise_is_not():
    rng = np.random.default_rng(1)
    a = _frames(rng.uniform(0.5, 1.5, 200))
    better = dict(a, capture_mm=a["capture_mm"] - 0.1)
    rows = {r.split: r for r in compare(a, better, resamples=2000)}
    assert {"all", "yaw_0_20", "yaw_45_up", "most_expressive_quarter", "face_px_128_up", "lips_visible",
            "lips_hidden"} <= set(rows)
    for r in rows.values():
        assert r.difference_mm == pytest.approx(-0.1) and r.resolved and r.b_ratio < r.a_ratio
    noisy = dict(a, capture_mm=a["capture_mm"] + rng.normal(0, 0.05, 200) - 0.002)
    everything = compare(a, noisy, resamples=2000)[0]
    assert everything.split == "all" and everything.low_mm < 0 < everything.high_mm and not everything.resolved
    assert everything.frames == 200 and everything.a_mm == pytest.approx(a["capture_mm"].mean())


def test_reports_of_other_frames_or_renders_are_refused():
    a = _frames(np.ones(10))
    with pytest.raises(ValueError, match="different frames"):
        compare(a, _frames(np.ones(9)))
    with pytest.raises(ValueError, match="different renders"):
        compare(a, _frames(np.ones(10), seed=5))


@pytest.mark.parametrize("key, split, frames", [("most_expressive_quarter", "most_expressive_quarter", 10),
                                                ("lips_visible", "lips_hidden", 14)])
def test_an_older_report_without_a_ground_truth_split_borrows_it_from_the_other(key, split, frames):
    a = _frames(np.linspace(0.5, 1.5, 40))
    older = {k: v for k, v in a.items() if k != key}
    for first, second in ((older, a), (a, older)):
        rows = {r.split: r for r in compare(first, second, resamples=200)}
        assert rows[split].frames == frames
    assert split not in {r.split for r in compare(older, older, resamples=200)}
    with pytest.raises(ValueError, match=f"disagree on the {key.replace('_', ' ')}"):
        compare(a, dict(a, **{key: ~a[key]}))


def test_the_command_reads_reports_and_refuses_other_files(tmp_path, capsys):
    from models.capture.__main__ import main

    a = _frames(np.linspace(0.5, 1.5, 40))
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    paths[0].write_text(json.dumps(_report(a)))
    paths[1].write_text(json.dumps(_report(dict(a, capture_mm=a["capture_mm"] * 0.9))))
    assert read_per_frame(paths[0])["capture_mm"] == pytest.approx(a["capture_mm"])
    assert main(["compare", *map(str, paths), "--resamples", "500", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["split"] == "all" and rows[0]["difference_mm"] == pytest.approx(-0.1 * a["capture_mm"].mean())
    assert main(["compare", *map(str, paths), "--resamples", "500"]) == 0
    assert "the interval leaves out zero" in capsys.readouterr().out
    (tmp_path / "notes.txt").write_text("not json")
    assert main(["compare", str(tmp_path / "notes.txt"), str(paths[1])]) == 2
    assert "is not an `eval --json` report" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "missing.json"), str(paths[1])]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err
