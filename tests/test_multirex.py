"""The MultiREX metric on known rigid transforms."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from models.metrics import multirex


def mesh_and_regions():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(400, 3)) * 0.05
    masks = {name: np.zeros(400, bool) for name in ("forehead_brows", "nose", "mouth", "cheeks", "eyes", "face")}
    for k, name in enumerate(("forehead_brows", "nose", "mouth", "cheeks")):
        masks[name][k * 100:(k + 1) * 100] = True
    masks["face"][:] = True  # overlapping parts that MultiREX does not use are ignored
    return v, multirex.regions_from_masks(masks)


def rigid(x, seed, shift):
    return x @ Rotation.random(random_state=seed).as_matrix().T + shift


def test_each_region_rigidly_moved_scores_zero():
    v, regions = mesh_and_regions()
    truth = v.copy()
    truth[regions["forehead"]] = rigid(v[regions["forehead"]], 1, [0.1, 0, 0])
    truth[regions["nose"]] = rigid(v[regions["nose"]], 2, [0, 0.2, 0])
    both = np.concatenate([regions["mouth"], regions["cheeks"]])
    truth[both] = rigid(v[both], 3, [0, 0, 0.3])
    e = multirex.errors_mm(v, truth, regions)
    for r in multirex.REGIONS:
        assert e[r][0] < 1e-9


def test_mouth_and_cheeks_are_aligned_jointly():
    v, regions = mesh_and_regions()
    truth = v.copy()
    truth[regions["mouth"]] += [0.002, 0, 0]  # 2 mm relative to the cheeks: one transform cannot undo it
    e = multirex.errors_mm(v, truth, regions)
    assert e["mouth"][0] > 0.5 and e["cheeks"][0] > 0.5
    assert e["forehead"][0] < 1e-9 and e["nose"][0] < 1e-9


def test_no_scale_and_a_known_error():
    v, regions = mesh_and_regions()
    truth = v * 1.1  # a scale is not aligned away
    assert multirex.errors_mm(v, truth, regions)["mean"][0] > 1.0
    truth = v.copy()
    ids = regions["nose"]
    offsets = np.zeros((len(ids), 3))
    offsets[::2, 2], offsets[1::2, 2] = 0.001, -0.001  # +-1 mm, zero mean and no rotation to fit
    truth[ids] += offsets
    e = multirex.errors_mm(v, truth, regions)
    assert e["nose"][0] == pytest.approx(1.0, abs=0.05)
    assert e["mean"][0] == pytest.approx(np.mean([e[r][0] for r in multirex.REGIONS]))


def test_overlap_and_missing_regions_are_refused():
    masks = {n: np.ones(10, bool) for n in ("forehead_brows", "nose", "mouth", "cheeks")}
    with pytest.raises(ValueError, match="overlap"):
        multirex.regions_from_masks(masks)
    with pytest.raises(ValueError, match="lacks"):
        multirex.regions_from_masks({"nose": np.ones(10, bool)})
