import numpy as np
import pytest

from models.expressions import (ExpressionOptions, enforce_constraints,
                                gaze_to_weights, sample_expressions, sample_one, template_weights,
                                weights_to_gaze)
from models.vocab.arkit import ARKIT_NAMES, EXCLUSIVE_PAIRS, INDEX, MIRROR_PAIRS
from models.vocab.templates import TEMPLATES


@pytest.fixture(scope="module")
def draws():
    return sample_expressions(np.random.default_rng(123), 3000)


def test_shape_dtype_range(draws):
    assert draws.shape == (3000, 52) and draws.dtype == np.float32
    assert draws.min() >= 0.0 and draws.max() <= 1.0
    assert np.all(draws[:, INDEX["tongueOut"]] == 0)


def test_same_seed_same_draws():
    a = sample_expressions(np.random.default_rng(7), 50)
    b = sample_expressions(np.random.default_rng(7), 50)
    c = sample_expressions(np.random.default_rng(8), 50)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_contradictory_pairs_exclusive(draws):
    for a, b in EXCLUSIVE_PAIRS:
        total = draws[:, INDEX[a]] + draws[:, INDEX[b]]
        assert total.max() <= 1.0 + 1e-6, (a, b)
    assert np.all(draws[:, INDEX["mouthClose"]] <= draws[:, INDEX["jawOpen"]] + 1e-6)


def test_sparse_extreme_asymmetric_statistics(draws):
    active = (draws > 0.05).sum(1)
    assert 2 <= np.median(active) <= 12  # sparse, not dense noise
    assert (draws.max(1) >= 0.85).mean() > 0.3  # extremes are common
    # every shape that can move does move, in some draws strongly
    for name in ARKIT_NAMES:
        if name != "tongueOut":
            assert draws[:, INDEX[name]].max() > 0.7, name
    # asymmetric draws: one side strong while the other is near zero
    asym = 0
    for left, right in MIRROR_PAIRS:
        l, r = draws[:, INDEX[left]], draws[:, INDEX[right]]
        asym += int(np.sum((np.abs(l - r) > 0.5)))
    assert asym > 100
    neutral_like = (np.delete(draws, [INDEX[n] for n in ARKIT_NAMES if n.startswith("eyeLook")], 1).max(1) == 0)
    assert 0.01 < neutral_like.mean() < 0.15


def test_blinks_and_templates_present():
    rng = np.random.default_rng(5)
    kinds = [sample_one(rng)[1] for _ in range(3000)]
    names = {k.split(":", 1)[1] for k in kinds if k.startswith("template:")}
    for required in ("lip_roll", "kiss", "cheek_puff", "mouth_left", "mouth_right", "jaw_left", "jaw_right"):
        assert required in names
    w = sample_expressions(np.random.default_rng(6), 2000)
    full_blink = (w[:, INDEX["eyeBlinkLeft"]] > 0.9) & (w[:, INDEX["eyeBlinkRight"]] > 0.9)
    wink = (w[:, INDEX["eyeBlinkLeft"]] > 0.9) & (w[:, INDEX["eyeBlinkRight"]] < 0.3)
    assert full_blink.mean() > 0.03 and wink.mean() > 0.005


def test_templates_valid():
    for name in TEMPLATES:
        w = template_weights(name)
        assert np.array_equal(enforce_constraints(w), w), name  # templates obey the constraints themselves
    with pytest.raises(KeyError, match="unknown expression template"):
        template_weights("nope")


def test_enforce_constraints_keeps_stronger():
    w = np.zeros(52, np.float32)
    w[INDEX["mouthSmileLeft"]], w[INDEX["mouthFrownLeft"]] = 1.0, 0.9
    out = enforce_constraints(w)
    assert out[INDEX["mouthSmileLeft"]] == 1.0 and out[INDEX["mouthFrownLeft"]] == 0.0


def test_gaze_roundtrip():
    yaw = np.array([[20.0, 15.0], [-10.0, -12.0]], np.float32)
    pitch = np.array([[5.0, 5.0], [-20.0, -20.0]], np.float32)
    g = weights_to_gaze(gaze_to_weights(yaw, pitch))
    assert np.allclose(g[:, :, 0], yaw, atol=1e-4) and np.allclose(g[:, :, 1], pitch, atol=1e-4)


def test_bad_options():
    with pytest.raises(ValueError, match="p_blink"):
        ExpressionOptions(p_blink=2.0)
    with pytest.raises(ValueError):
        sample_expressions(np.random.default_rng(0), -1)


def test_open_mouths_common_and_mostly_partial():
    # without the speech component only ~9 % of draws showed the mouth open (jawOpen > 0.2, lips not sealed)
    w = sample_expressions(np.random.default_rng(11), 3000)
    jaw, close = w[:, INDEX["jawOpen"]], w[:, INDEX["mouthClose"]]
    gap = jaw - close
    visibly_open = (jaw > 0.2) & (gap > 0.2)
    assert visibly_open.mean() >= 0.25
    assert (visibly_open & (gap < 0.6)).mean() >= 0.15  # speech-like partial openings, not only screams
    rng = np.random.default_rng(12)
    kinds = [sample_one(rng)[1] for _ in range(2000)]
    assert 0.15 < kinds.count("speech") / len(kinds) < 0.3
    with pytest.raises(ValueError, match="p_speech"):
        ExpressionOptions(p_neutral=0.5, p_template=0.3, p_speech=0.3)
