"""Runtime apart from build and training: what importing the runtime modules loads (checked in a fresh process)."""
import json
import subprocess
import sys

import pytest

from models.paths import project_root

ROOT = project_root()
HEAVY = ("torch", "scipy.optimize", "models.head.build", "models.semantic.train", "mediapipe", "bpy")


def _loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("code", [
    "import models.head",
    "import models.head.eyelids, models.head.model, models.head.asset",
    "import models.semantic.runtime",
    "import models.semantic.evaluate, models.semantic.data",  # the eval of the ONNX files
    "import models.vocab.arkit, models.vocab.landmarks68, models.vocab.mediapipe478, models.vocab.templates",
    "import models.paths, models.progress, models.expressions",
    "import models.capture.runtime, models.capture.crop, models.vocab.capture64, models.metrics.multirex",
    "import models.dataset, synthetic.labels",  # the dataset format (read by the trainers) and its writer
])
def test_runtime_modules_load_neither_torch_nor_builder_nor_trainer(code):
    assert _heavy(_loaded_after(code)) == []


def test_semantic_cli_parser_needs_no_torch():
    code = ("import models.semantic.__main__ as m\n"
            "try:\n    m.main(['eval', '--help'])\nexcept SystemExit:\n    pass")
    assert _heavy(_loaded_after(code)) == []


def test_models_package_is_light():
    assert [m for m in _loaded_after("import models") if m.startswith("models")] == ["models"]
