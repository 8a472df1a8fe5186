"""`python -m models.capture` refuses bad input with one clear line (in-process)."""

from models.capture.__main__ import main


def test_missing_dataset_folder(capsys):
    assert main(["train", "--data", "/nonexistent/dataset"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/dataset is not a folder" in err and "--render N" in err


def test_render_goes_into_one_folder(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "a"), str(tmp_path / "b"), "--render", "10", "--no-real"]) == 2
    assert "--render renders into one folder, not 2" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "a"), "--render", "0", "--no-real"]) == 2
    assert "--render 0: give the number of training samples" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


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
    assert "is a backbone 'mobilenet_v2' model, not --backbone 'convnext_t'" in capsys.readouterr().err


def test_init_keeps_its_network_shape(tmp_path, capsys):
    from tests.capture_model_helpers import export_tiny_capture_model

    model = export_tiny_capture_model(tmp_path, pooling="mean", dense_landmarks=False) / "tiny.pt"
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(model), "--pooling", "spatial"]) == 2
    assert "is a pooling 'mean' model, not --pooling 'spatial'" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(model), "--dense-landmarks"]) == 2
    assert "is a dense_landmarks False model, not --dense-landmarks True" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(model), "--heatmaps"]) == 2
    assert "is a heatmaps False model, not --heatmaps True" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--no-real", "--heatmaps", "--no-dense-landmarks"]) == 2
    assert "--heatmaps predicts the dense 478 points" in capsys.readouterr().err
    (tmp_path / "s").mkdir()
    spatial = export_tiny_capture_model(tmp_path / "s", pooling="spatial") / "tiny.pt"
    assert main(["train", "--data", str(tmp_path), "--no-real", "--init", str(spatial), "--resolution", "64"]) == 2
    assert "is a resolution 32 model, not --resolution 64" in capsys.readouterr().err


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


def test_render_then_train_on_what_was_rendered(tmp_path, monkeypatch, capsys, head_asset):
    from pathlib import Path

    from models.capture.train import render_data
    from models.capture.train import train as T
    from synthetic.config import RenderConfig

    monkeypatch.setitem(render_data.RENDER_PRESETS, "cpu",
                        RenderConfig(out=Path("."), count=1, seed=0, resolution=64, samples=1, denoise=False))
    seen, runs = [], []

    def stop(data, real, config, run_dir, *args, **kwargs):
        seen.append(len(data))
        runs.append((run_dir, kwargs["weights"]))
        raise RuntimeError("stopped before training")

    monkeypatch.setattr(T, "train", stop)
    out = tmp_path / "set"
    args = ["train", "--data", str(out), "--render", "2", "--render-seed", "4", "--no-real"]
    assert main(args) == 2
    assert seen == [2] and sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.png"]
    assert "2/2 done" in capsys.readouterr().out
    assert main(args) == 2 and seen == [2, 2]  # the same command again renders nothing
    assert "2/2 done, 0 to render" in capsys.readouterr().out
    assert main([*args, "--loss-weight", "code=2.5", "mesh=10"]) == 2 and seen == [2, 2, 2]
    (plain_run, plain), (weighted_run, weighted) = runs[1:]
    assert (weighted.code, weighted.mesh, weighted.dense) == (2.5, 10.0, plain.dense) and weighted_run != plain_run
    assert main([*args, "--loss-weight", "mesh"]) == 2 and seen == [2, 2, 2]
    assert "--loss-weight 'mesh': expected TERM=W" in capsys.readouterr().err
    monkeypatch.setitem(render_data.RENDER_PRESETS, "cpu",
                        RenderConfig(out=Path("."), count=1, seed=0, resolution=96, samples=1, denoise=False))
    assert main(args) == 2 and seen == [2, 2, 2]  # other settings: refused before rendering or training
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resolution" in err
