"""Label files: round trip, atomic writes, debris cleaning that spares live writers."""
import os
import subprocess
import sys

import numpy as np
import pytest

from synthetic import labels


def test_label_round_trip(tmp_path):
    arrays = {"identity": np.arange(3, dtype=np.float32), "lmk68_visible": np.ones(68, bool)}
    labels.write_label(tmp_path, 7, arrays, {"index": 7, "note": "é"})
    got, meta = labels.read_label(labels.label_path(tmp_path, 7))
    assert meta == {"index": 7, "note": "é"}
    assert np.array_equal(got["identity"], arrays["identity"]) and got["lmk68_visible"].dtype == bool
    assert list((tmp_path / labels.LABEL_DIR).iterdir()) == [labels.label_path(tmp_path, 7)]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.json"

    def boom(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        labels.atomic_write(target, boom)
    assert list(tmp_path.iterdir()) == []


def test_clean_debris_spares_live_writers(tmp_path):
    (tmp_path / labels.IMAGE_DIR).mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        live = tmp_path / labels.IMAGE_DIR / f"000001{labels.TMP_MARK}-{sleeper.pid}.png"
        stale = tmp_path / labels.IMAGE_DIR / f"000002{labels.TMP_MARK}-{dead}.png"
        own = tmp_path / labels.IMAGE_DIR / f"000003{labels.TMP_MARK}-{os.getpid()}-abc.png"
        for p in (live, stale, own):
            p.write_bytes(b"x")
        assert labels.clean_debris(tmp_path) == 2
        assert live.exists() and not stale.exists() and not own.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_clean_debris_deletes_only_its_own_temporary_names(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    for sub in (labels.IMAGE_DIR, labels.MASK_DIR, labels.LABEL_DIR):
        (tmp_path / sub).mkdir()
    ours = [f"{labels.IMAGE_DIR}/000002.tmp-{dead}.png", f"{labels.MASK_DIR}/000002.tmp-{dead}index.png",
            f"{labels.LABEL_DIR}/000002.tmp-{dead}-k3x_9abc.npz", f"manifest.tmp-{dead}-ab12cd34.json",
            f"manifest-shard-1-of-4.tmp-{dead}-ab12cd34.json"]
    users = ["draft.tmp.docx", "page.tmpl", f"notes.tmp-{dead}-ab12cd34.json", f"000002.tmp-{dead}.png",
             f"{labels.IMAGE_DIR}/draft.tmp.docx", f"{labels.IMAGE_DIR}/000002.tmp-{dead}.png.bak",
             f"{labels.LABEL_DIR}/page.tmpl", f"{labels.MASK_DIR}/000002.tmp.png"]
    for name in ours + users:
        (tmp_path / name).write_bytes(b"x")
    assert labels.clean_debris(tmp_path) == len(ours)
    assert [n for n in ours if (tmp_path / n).exists()] == []
    assert [n for n in users if not (tmp_path / n).exists()] == []
