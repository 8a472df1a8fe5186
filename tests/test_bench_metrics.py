"""The benchmark's clip metrics in models.metrics.multirex: jitter, cross-view spread, event timing."""
import numpy as np

from models.metrics import multirex

REGIONS = {"forehead": np.array([0]), "nose": np.array([1]), "mouth": np.array([2]), "cheeks": np.array([3])}


def test_jitter_is_zero_for_uniform_motion_and_the_second_difference_otherwise():
    t = np.arange(6, dtype=float)
    steady = np.zeros((6, 4, 3))
    steady[:, :, 0] = t[:, None] * 0.001  # 1 mm per frame, no acceleration
    assert multirex.jitter_mm(steady, REGIONS)["mean"] == 0.0
    shaky = steady.copy()
    shaky[::2, 2, 1] += 0.0005  # the mouth vertex alternates by 0.5 mm: second difference 1 mm every frame
    out = multirex.jitter_mm(shaky, REGIONS)
    assert np.isclose(out["mouth"], 1.0) and out["nose"] == 0.0 and np.isclose(out["mean"], 0.25)
    assert np.isnan(multirex.jitter_mm(steady[:2], REGIONS)["mean"])


def test_view_spread_measures_the_distance_to_the_views_mean():
    base = np.random.default_rng(0).normal(size=(5, 4, 3)) * 0.01
    same = np.stack([base, base, base])
    assert np.isclose(multirex.view_spread_mm(same, REGIONS)["mean"], 0.0)
    apart = same.copy()
    apart[0, :, 3, 2] += 0.002  # one view puts the cheek vertex 2 mm off: the mean moves 2/3 mm
    out = multirex.view_spread_mm(apart, REGIONS)
    assert np.isclose(out["cheeks"], (4 / 3 + 2 / 3 + 2 / 3) / 3) and np.isclose(out["forehead"], 0.0)


def test_event_timing_matches_overlapping_events_and_counts_missed_and_false_ones():
    truth = np.zeros(40, bool)
    truth[5:9] = True  # matched: predicted 1 frame late, released 2 frames late
    truth[20:23] = True  # missed
    pred = np.zeros(40, bool)
    pred[6:11] = True
    pred[30:32] = True  # false
    out = multirex.event_timing(truth, pred, fps=25.0)
    assert out == {"events": 2, "matched": 1, "missed": 1, "false": 1, "onset_ms": 40.0, "release_ms": 80.0}
    none = multirex.event_timing(truth, np.zeros(40, bool), fps=25.0)
    assert none["missed"] == 2 and np.isnan(none["onset_ms"])


def test_mesh_states_see_a_blink_and_an_open_mouth(head_asset):
    """Read through the 68-point lids and inner lips (MediaPipe's inner-lip points 13/14 stay 0.6 mm apart on the
    head with the jaw open, so a reading through them never saw an open mouth)."""
    from models.head import HeadModel
    from models.metrics.events import states
    from models.vocab.arkit import INDEX

    model = HeadModel(head_asset)
    w = np.zeros((3, 52))
    w[1, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]] = 1.0
    w[2, INDEX["jawOpen"]] = 0.5
    out = states(head_asset, model.vertices(None, w), model.neutral()[0])
    assert out["blink_left"].tolist() == [False, True, False] and out["blink_right"].tolist() == [False, True, False]
    assert out["mouth_open"].tolist() == [False, False, True]
