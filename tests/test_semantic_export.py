"""ONNX export parity, the torch-free runtime and its checks of the weight files."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from models.paths import project_root
from models.semantic import data as D
from models.model_files import ModelFileError, sha256, write_metadata
from models.vocab import arkit
from models.semantic.train.export import export_onnx
from models.semantic.runtime import FILES, META, WEIGHTS_DIR, SemanticRuntime
from models.semantic.train.train import build_model
from semantic_helpers import make_test_asset


@pytest.fixture(scope="module", params=[False, True], ids=["table1", "linear_paths"])
def exported(request, tmp_path_factory):
    asset = make_test_asset()
    cache = tmp_path_factory.mktemp("cache")
    torch.manual_seed(0)
    model = build_model(asset, cache, linear_paths=request.param).eval()
    with torch.no_grad():  # non-zero zero-initialised layers, so no output is trivially zero
        model.d_mesh.convs[-1].linear.weight.normal_(0, 0.05)
        for path in (model.e_id.linear_path, model.d_mesh.linear_path):
            if path is not None:
                path.weight.normal_(0, 0.01)
    pool = D.load_pool(asset, 2, 3, cache)
    w = D.default_sampler()(np.random.default_rng(0), 2)
    mesh = D.pose(pool, np.arange(2), w, arkit.columns(asset.shape_names))
    out = tmp_path_factory.mktemp("weights")
    worst = export_onnx(model, out, mesh, pool.neutrals, {"asset_digest": D.asset_digest(asset)})
    return model, out, worst, mesh, pool.neutrals


def test_onnx_runtime_matches_torch(exported):
    model, out, worst, mesh, neutrals = exported
    assert worst < 1e-4
    rt = SemanticRuntime(out)
    # another batch size than the export example: the batch axis is dynamic
    m = np.concatenate([mesh, mesh[:1]])
    n = np.concatenate([neutrals, neutrals[:1]])
    with torch.no_grad():
        z_exp = model.encode_expression(torch.as_tensor(m), torch.as_tensor(n)).numpy()
        z_id = model.encode_identity(torch.as_tensor(n)).numpy()
        moved = model.decode(torch.as_tensor(z_exp), torch.as_tensor(z_id), torch.as_tensor(n[::-1].copy())).numpy()
    np.testing.assert_allclose(rt.encode_expression(m, n), z_exp, atol=1e-4)
    np.testing.assert_allclose(rt.encode_identity(n), z_id, atol=1e-4)
    np.testing.assert_allclose(rt.retarget(m, n, n[::-1].copy()), moved, atol=1e-4)
    # about 4 MB of spiral layers, and 2 x 3.9 MB more with the linear paths (E_id, D_mesh)
    assert sum(f.stat().st_size for f in out.glob("*.onnx")) < (14e6 if model.d_mesh.linear_path is not None else 8e6)


def test_runtime_rejects_bad_input(exported, tmp_path):
    _, out, _, mesh, _ = exported
    rt = SemanticRuntime(out)
    with pytest.raises(ValueError, match="FLAME topology"):
        rt.encode_identity(mesh[:, :100])
    with pytest.raises(ModelFileError, match="semantic.json is missing; re-export .*models.semantic export"):
        SemanticRuntime(tmp_path)


def test_export_records_each_files_sha256(exported):
    out = exported[1]
    meta = json.loads((out / META).read_text())
    assert meta["sha256"] == {name: sha256((out / name).read_bytes()) for name in FILES.values()}


def test_shipped_weights_have_their_hashes_checked():
    """Every shipped ONNX file is listed with its sha256 in the semantic model's or the capture model's JSON."""
    import json

    capture = json.loads((WEIGHTS_DIR / "capture_light.json").read_text())
    listed = set(SemanticRuntime().meta["sha256"]) | set(capture["sha256"])
    assert {p.name for p in WEIGHTS_DIR.glob("*.onnx")} <= listed


def _damaged_copy(exported, tmp_path, name=FILES["decoder"]):
    weights = tmp_path / "weights"
    shutil.copytree(exported[1], weights)
    data = bytearray((weights / name).read_bytes())
    data[len(data) // 2] ^= 0x55  # a float in the middle of the weights: the model would still load and run
    (weights / name).write_bytes(bytes(data))
    return weights


def test_flipped_bytes_are_refused_at_load(exported, tmp_path):
    weights = _damaged_copy(exported, tmp_path)
    with pytest.raises(ModelFileError, match=f"{FILES['decoder']} is corrupt.*re-export them with"):
        SemanticRuntime(weights)


def test_unloadable_onnx_with_a_matching_hash_is_refused(exported, tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(exported[1], weights)
    (weights / FILES["identity"]).write_bytes(b"not an onnx model")
    write_metadata(weights, META, json.loads((weights / META).read_text()), FILES.values())
    with pytest.raises(ModelFileError, match=f"{FILES['identity']} is not a loadable ONNX model") as exc:
        SemanticRuntime(weights)
    assert "\n" not in str(exc.value)


def test_cli_reports_bad_weights_in_one_line(exported, tmp_path, capsys):
    from models.semantic.__main__ import main

    weights = _damaged_copy(exported, tmp_path)
    assert main(["eval", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and FILES["decoder"] in err, err
    (weights / META).write_text('{"n_vertices": 5023, "sha')  # truncated
    assert main(["eval", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not valid JSON" in err and err.count("\n") == 1, err


def test_runtime_does_not_import_torch():
    code = ("import sys, models.semantic.runtime as r; "
            "assert 'torch' not in sys.modules, 'runtime imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(project_root()))
