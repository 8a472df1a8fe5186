"""`python -m models.capture` refuses bad input with one clear line (in-process)."""
import pytest

from models.capture.__main__ import main


def test_missing_dataset_folder(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "/nonexistent/dataset"])
    assert e.value.code == 2 and "is not a folder" in capsys.readouterr().err


def test_dataset_without_labels(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--no-real"]) == 2
    assert "render a dataset with `python -m synthetic render`" in capsys.readouterr().err


def test_eval_without_a_model(tmp_path, capsys):
    assert main(["eval", "--data", str(tmp_path), "--weights-dir", str(tmp_path), "--no-real"]) == 2
    assert "train and export a capture model" in capsys.readouterr().err


def test_init_that_is_not_a_model(tmp_path, capsys):
    bad = tmp_path / "notes.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a capture model's NAME.pt" in err


def test_init_of_another_backbone(tmp_path, capsys):
    from tests.capture_model_helpers import export_tiny_capture_model

    model = export_tiny_capture_model(tmp_path) / "tiny.pt"
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(model), "--backbone", "convnext_t"]) == 2
    assert "is a mobilenet_v2 model, not --backbone convnext_t" in capsys.readouterr().err


def test_a_run_from_a_model_starts_from_its_weights(tmp_path):
    import torch

    from models.capture.train.train import TrainConfig, load_init, run_dir_for
    from tests.capture_model_helpers import export_tiny_capture_model

    path = export_tiny_capture_model(tmp_path) / "tiny.pt"
    init = load_init(path)
    saved = torch.load(path, weights_only=False)["model"]
    assert init.config["resolution"] == 32 and set(init.state) == set(saved)
    assert all(torch.equal(init.state[k], saved[k]) for k in saved)
    plain = run_dir_for(TrainConfig(), "data", "sem", [], tmp_path)
    started = run_dir_for(TrainConfig(), "data", "sem", [], tmp_path, init_digest=init.sha256)
    assert plain != started and len(init.sha256) == 64
