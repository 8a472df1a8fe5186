"""Damaged or foreign input never passes silently: damaged samples are found, skipped or rendered again."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from synthetic import labels
from synthetic.sheet import contact_sheet

ROOT = Path(__file__).resolve().parents[1]
RES = 32


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
    proc = subprocess.run([sys.executable, "-m", "synthetic", "sheet", tmp_path], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "error:" in proc.stderr and "no readable sample" in proc.stderr
    assert "Traceback" not in proc.stderr
