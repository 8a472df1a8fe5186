"""Atomic writes for writers that take a file name, and atomic text files."""
import pytest

from models.atomic_io import atomic_path, write_text


def test_atomic_path_renames_on_success_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "sheet.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and not tmp.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["sheet.png"]


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.zip"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.zip"]


def test_write_text(tmp_path):
    write_text(tmp_path / "a.json", '{"x": "é"}')
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{"x": "é"}'
