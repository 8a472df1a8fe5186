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
