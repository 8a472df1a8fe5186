"""Model files checked against the sha256 in their metadata: every kind of damage is a one-line error."""
import json

import pytest

from models.model_files import ModelFileError, load_model_files, write_metadata

RESTORE = "restore them with `git checkout -- models/weights/`"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a.onnx").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "b.onnx").write_bytes(b"second network")
    write_metadata(tmp_path, "m.json", {"n_vertices": 5023}, ["a.onnx", "b.onnx"])
    return tmp_path


def load(folder):
    return load_model_files(folder, "m.json", ["a.onnx", "b.onnx"], RESTORE, {"n_vertices": int})


def assert_one_line(exc, names):
    message = str(exc.value)
    assert "\n" not in message and message.endswith(RESTORE), message
    assert names in message, message


def test_intact_files_load_with_their_bytes(folder):
    meta, contents = load(folder)
    assert meta["n_vertices"] == 5023 and set(meta["sha256"]) == {"a.onnx", "b.onnx"}
    assert contents["b.onnx"] == b"second network"


def test_flipped_bytes_are_refused(folder):
    data = bytearray((folder / "a.onnx").read_bytes())
    data[1000] ^= 0xFF
    (folder / "a.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="a.onnx is corrupt") as exc:
        load(folder)
    assert_one_line(exc, str(folder / "a.onnx"))


def test_truncated_and_missing_files_are_refused(folder):
    (folder / "b.onnx").write_bytes(b"second")
    with pytest.raises(ModelFileError, match="b.onnx is corrupt") as exc:
        load(folder)
    assert_one_line(exc, str(folder / "b.onnx"))
    (folder / "b.onnx").unlink()
    with pytest.raises(ModelFileError, match="b.onnx is missing") as exc:
        load(folder)
    assert_one_line(exc, str(folder / "b.onnx"))


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "{not json", "not valid JSON"),
    (lambda text: "\xff\xfe", "not valid JSON"),
    (lambda text: "[1, 2]", "holds a list"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "n_vertices"}), "'n_vertices'"),
    (lambda text: json.dumps({**json.loads(text), "n_vertices": "many"}), "'n_vertices'"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "sha256"}), "'sha256'"),
    (lambda text: json.dumps({**json.loads(text), "sha256": {"a.onnx": "0" * 64}}), "no sha256 for b.onnx"),
], ids=["truncated", "garbage", "not-utf8", "not-an-object", "missing-key", "wrong-type", "no-hashes",
        "hash-missing"])
def test_broken_metadata_is_refused(folder, damage, message):
    meta = folder / "m.json"
    meta.write_bytes(damage(meta.read_text()).encode("latin-1"))
    with pytest.raises(ModelFileError, match=message) as exc:
        load(folder)
    assert_one_line(exc, str(meta))


def test_missing_metadata_is_refused(folder):
    (folder / "m.json").unlink()
    with pytest.raises(ModelFileError, match="m.json is missing") as exc:
        load(folder)
    assert_one_line(exc, str(folder / "m.json"))
