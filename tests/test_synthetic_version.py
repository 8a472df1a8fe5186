"""Datasets of an older label format are refused, with how to re-render them."""
from synthetic import DATASET_VERSION, labels
from synthetic.verify import verify


def test_verify_refuses_an_older_dataset_and_says_how_to_re_render(tmp_path):
    settings = {"count": 3, "seed": 7, "resolution": 64, "samples": 4, "denoise": False, "transparent": False,
                "occluders": True, "masks": False}
    manifest = labels.new_manifest(settings, (0, 1), [0, 1, 2], [], {"digest": "x"}, 5023, 60, [])
    manifest.update(version=DATASET_VERSION - 1, complete=True)
    labels.write_manifest(tmp_path, (0, 1), manifest)
    messages = []
    assert not verify(tmp_path, log=messages.append)
    text = "\n".join(messages)
    assert f"v{DATASET_VERSION - 1}, expected" in text
    assert "python -m synthetic render --out NEW_DIR --count 3 --seed 7" in text
