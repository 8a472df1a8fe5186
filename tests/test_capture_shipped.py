"""The shipped capture model (`models/weights/capture_light.*`): its files, its card, and the real eval on renders no
training set or eval set of the README uses. The bars are the shipped model's own figures on these renders with a
margin (README, Capture model), so a broken crop, landmark order, export or semantic link fails here; the issue's
targets are not met yet and are not what this checks."""
import json

import numpy as np
import pytest

from models.capture.card import card_file, ratio
from models.capture.runtime import DEFAULT_NAME, WEIGHTS_DIR, CaptureOptions, CaptureRuntime, file_names

SEED = 1000013  # held out: training sets use seeds 0–8, the README's held-out sets 1000003 and 1000007
COUNT = 32
# the shipped model on these 32 renders: all 0.681 of the neutral face's error, landmark NME 0.063,
# head pose 6.8°, mouth open or shut read right on 21 of 32; an untrained model: ≥ 1, ≈ 1.4, ≈ 50°
MAX_RATIO = 0.75
MAX_NME = 0.08
MAX_POSE_DEG = 8.0
MIN_MOUTH_RIGHT = 16


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, head_asset):
    """COUNT renders with the training sets' render settings (256², 8 samples per pixel)."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("capture-shipped") / "renders"
    subprocess.run([sys.executable, "-m", "synthetic", "render", "--out", str(data), "--count", str(COUNT),
                    "--seed", str(SEED), "--resolution", "256", "--samples", "8", "--workers", "2", "--threads", "1"],
                   check=True, capture_output=True)
    return data


def test_the_shipped_model_loads_with_its_checks_and_has_a_card_of_these_files():
    runtime = CaptureRuntime(CaptureOptions(providers=("CPUExecutionProvider",)))  # sha256 of every file checked
    assert runtime.mirror_average and runtime.resolution == 128
    meta = json.loads((WEIGHTS_DIR / file_names(DEFAULT_NAME)["meta"]).read_text())
    card = (WEIGHTS_DIR / card_file(DEFAULT_NAME)).read_text()
    for name, digest in meta["sha256"].items():  # a model replaced without a new card fails here
        assert f"| `{name}` | {(WEIGHTS_DIR / name).stat().st_size} | `{digest[:16]}…` |" in card


def test_the_shipped_model_reads_expressions_on_held_out_renders(heldout):
    from models.capture.evaluate import evaluate_synthetic
    from models.paths import capture_cache_dir
    from models.semantic.runtime import WEIGHTS_DIR as SEMANTIC_DIR, SemanticRuntime

    runtime = CaptureRuntime(CaptureOptions(providers=("CPUExecutionProvider",)))
    report = evaluate_synthetic(runtime, SemanticRuntime(SEMANTIC_DIR), SEMANTIC_DIR, heldout, capture_cache_dir(),
                                log=lambda *a: None)
    table = report["multirex_mm"]
    assert report["frames"] == COUNT
    assert ratio(table["all"]) <= MAX_RATIO, table["all"]
    assert report["landmark_nme"] <= MAX_NME and report["pose_error_deg"] <= MAX_POSE_DEG, report
    mouth = report["confusion"]["mouth_open"]["capture"]
    assert mouth["tp"] + mouth["tn"] >= MIN_MOUTH_RIGHT, mouth
    assert np.isfinite(report["per_frame"]["capture_mm"]).all()
