"""The retarget solve, the landmark backend on a real clip, smoothing, the Live Link Face CSV and the cache."""
import dataclasses

import numpy as np
import pytest

from capture_helpers import SELFIE, blank_frames, write_video
from models.vocab.arkit import EXCLUSIVE_PAIRS
from models.head import ARKIT_NAMES, HeadModel
from models.retarget import livelink
from models.retarget.landmark_fit import LandmarkRig, eye_matrices, gaze
from models.retarget.performance import Performance
from models.retarget.neural import NeuralOptions
from models.retarget.pipeline import CaptureOptions, run
from models.retarget.smoothing import smooth_array, smooth_performance
from models.retarget.solve import PAIR_BOUND, solve_mesh_weights
from models.video.errors import Cancelled, CaptureError

INDEX = {n: i for i, n in enumerate(ARKIT_NAMES)}


def _pairs_ok(w, bound=PAIR_BOUND):
    """No frame has both shapes of an exclusive pair above the bound."""
    return all(not ((w[..., INDEX[a]] > bound + 1e-6) & (w[..., INDEX[b]] > bound + 1e-6)).any()
               for a, b in EXCLUSIVE_PAIRS)


def _random_weights(rng, n, asset):
    w = np.zeros((n, 52))
    present = [INDEX[s] for s in asset.shape_names]
    for row in w:
        for i in rng.choice(present, 6, replace=False):
            row[i] = rng.uniform(0.1, 1.0)
        for a, b in EXCLUSIVE_PAIRS:  # a valid target: never both of a pair above the bound
            if row[INDEX[a]] > PAIR_BOUND and row[INDEX[b]] > PAIR_BOUND:
                row[INDEX[b]] = 0.0
    return w


def test_mesh_solve_recovers_known_weights(head_asset):
    model = HeadModel(head_asset)
    rng = np.random.default_rng(3)
    beta = rng.normal(size=head_asset.n_identity)
    w = _random_weights(rng, 6, head_asset)
    est, residual = solve_mesh_weights(model, model.vertices(beta, w), beta)
    assert est.shape == (6, 52) and np.abs(est - w).max() < 1e-4
    assert (residual < 0.01).all()
    assert (est[:, INDEX["tongueOut"]] == 0).all()


def test_mesh_solve_bounds_pairs_and_reports_mm(head_asset):
    model = HeadModel(head_asset)
    w = np.zeros((1, 52))
    w[0, INDEX["mouthSmileLeft"]] = w[0, INDEX["mouthFrownLeft"]] = 0.8  # both of an exclusive pair
    w[0, INDEX["jawOpen"]] = 1.4  # outside [0, 1]
    est, residual = solve_mesh_weights(model, model.vertices(None, w))
    assert est.min() >= 0 and est.max() <= 1 + 1e-9
    assert min(est[0, INDEX["mouthSmileLeft"]], est[0, INDEX["mouthFrownLeft"]]) <= PAIR_BOUND + 1e-6
    assert residual[0] > 0.05  # the mesh cannot be matched exactly any more: the residual says by how much


def test_gaze_from_synthetic_iris(head_asset):
    """Project the rig's iris centres with known eye rotations; the gaze solve must return them."""
    model = HeadModel(head_asset)
    rig = LandmarkRig(model)
    from models.retarget.camera import FRONTAL, intrinsics, project

    k = intrinsics((640, 480), 60)
    yp = np.radians([[12.0, -6.0], [9.0, 4.0]])  # left eye, right eye: yaw, pitch
    eyes = eye_matrices(yp[None])[0]
    from scipy.spatial.transform import Rotation

    rv = lambda m: Rotation.from_matrix(m).as_rotvec()[None]  # noqa: E731
    verts = model.vertices(None, None, eye_left=rv(eyes[0]), eye_right=rv(eyes[1]))[0]
    tri, bary = head_asset.faces[head_asset.mp478_faces], head_asset.mp478_bary
    pts = np.einsum("lk,lkc->lc", bary, verts[tri])
    r_cam = FRONTAL @ Rotation.from_euler("y", 10, degrees=True).as_matrix()
    t = np.array([0.01, 0.02, 0.5])
    obs = project(pts @ r_cam.T + t, k)
    est = gaze(rig, np.zeros(head_asset.n_identity), Rotation.from_matrix(r_cam).as_rotvec(), t, obs, k)
    assert np.degrees(np.abs(est - yp)).max() < 1.0


@pytest.fixture(scope="module")
def selfie_perf(head_asset, tmp_path_factory):
    cache = tmp_path_factory.mktemp("capture-cache")
    opts = CaptureOptions(start=0, stop=40, cache_dir=cache)
    progress = []
    perf = run(SELFIE, opts, progress=lambda d, t, s: progress.append((d, t, s)), asset=head_asset)
    return perf, opts, progress, cache


def test_landmark_backend_on_the_real_clip(selfie_perf):
    perf, _, progress, _ = selfie_perf
    assert len(perf) == 40 and perf.found.all() and perf.fps == 25.0
    w = perf.weights
    assert w.shape == (40, 52) and w.min() >= 0 and w.max() <= 1
    assert (w[:, INDEX["tongueOut"]] == 0).all()
    assert _pairs_ok(w)
    assert np.nanmean(perf.residual_mm) < 3.0
    # she talks (the jaw moves) and looks down with lowered lids around frames 25-40, not at the start
    jaw = w[:, INDEX["jawOpen"]]
    assert jaw.max() - jaw.min() > 0.1
    blink = w[:, [INDEX["eyeBlinkLeft"], INDEX["eyeBlinkRight"]]].mean(1)
    assert blink[28:40].mean() > blink[:8].mean() + 0.2
    # the head rotation is a rotation, near frontal; the eyes turn a few degrees at most
    r = perf.head_rotation
    assert np.allclose(r @ r.transpose(0, 2, 1), np.eye(3), atol=1e-6)
    assert np.degrees(np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1))).max() < 40
    assert {s for _, _, s in progress} >= {"tracking", "fitting"}
    assert progress[-1][0] == progress[-1][1]


def test_camera_fov_sets_the_fit_and_is_part_of_the_cache_key(selfie_perf, head_asset, tmp_path):
    import shutil

    from blender_addon.capture import _options, parse_args
    from models.retarget.camera import fov_from_focal_mm
    from models.retarget.landmark_fit import FitOptions

    assert _options(parse_args(["v.mp4"])).fit.fov_deg == 60.0
    assert _options(parse_args(["v.mp4", "--fov", "47"])).fit.fov_deg == 47.0
    assert fov_from_focal_mm(18.0) == pytest.approx(90.0)
    for bad in (["--fov", "200"], ["--focal-mm", "0"]):
        with pytest.raises(ValueError, match="--f"):
            _options(parse_args(["v.mp4", *bad]))
    perf, opts, _, cache = selfie_perf
    for path in cache.iterdir():  # the 60° analysis and its tracking, in a cache of this test's own
        shutil.copy(path, tmp_path)
    logs = []
    narrow = run(SELFIE, dataclasses.replace(opts, fit=FitOptions(fov_deg=40.0), cache_dir=tmp_path),
                 log=logs.append, asset=head_asset)
    assert any("tracking read from the cache" in line for line in logs)  # the tracking does not depend on it
    assert len(list(tmp_path.glob("performance-*.npz"))) == 2  # its own entry beside the 60° one
    assert narrow.settings["focal_px"] == pytest.approx(320 / np.tan(np.radians(20)))
    assert perf.settings["focal_px"] == pytest.approx(320 / np.tan(np.radians(30)))
    # a longer lens sees the same face from farther: the head's motion in depth grows with the focal length
    depth = [np.ptp(p.head_translation[:, 2]) for p in (perf, narrow)]
    assert depth[1] > depth[0]


def test_cache_hit_and_key(selfie_perf, head_asset):
    perf, opts, _, cache = selfie_perf
    files = list(cache.glob("performance-*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    stages = []
    again = run(SELFIE, opts, progress=lambda d, t, s: stages.append(s), asset=head_asset)
    assert stages == ["cached"] and np.array_equal(again.weights, perf.weights)
    assert again.found.dtype == bool
    files[0].write_bytes(b"garbage")  # an unreadable cache entry is analysed again, not trusted
    redone = run(SELFIE, opts, asset=head_asset)
    assert np.allclose(redone.weights, perf.weights)


def test_cancelled_analysis_caches_no_result_and_resumes_after_the_tracking(head_asset, tmp_path):
    opts = CaptureOptions(stop=30, cache_dir=tmp_path)
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 35  # during the fit, after tracking

    with pytest.raises(Cancelled):
        run(SELFIE, opts, cancel=cancel, asset=head_asset)
    kept = [p.name for p in tmp_path.iterdir()]
    assert len(kept) == 1 and kept[0].startswith("track-") and kept[0].endswith(".npz")  # the finished stage only
    stages, logs = [], []
    perf = run(SELFIE, opts, progress=lambda d, t, s: stages.append((d, s)), log=logs.append, asset=head_asset)
    assert [s for d, s in stages if s == "tracking"] == ["tracking"] and stages[0] == (30, "tracking")
    assert any("tracking read from the cache" in line for line in logs) and len(perf) == 30
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["performance", "track"]


def test_bad_clip_inputs(head_asset, tmp_path):
    blank = write_video(tmp_path / "blank.mp4", blank_frames(5))
    with pytest.raises(CaptureError, match="no face found"):
        run(blank, CaptureOptions(cache_dir=tmp_path / "c"), asset=head_asset)
    with pytest.raises(CaptureError, match="neural backend could not load its models: .*is missing") as err:
        run(SELFIE, CaptureOptions(backend="neural", neural=NeuralOptions(weights_dir=str(tmp_path))), asset=head_asset)
    assert "\n" not in str(err.value) and "--backend landmarks" in str(err.value)
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


def test_smoothing_is_non_destructive_and_reduces_noise():
    rng = np.random.default_rng(0)
    clean = np.repeat([0.1, 0.9, 0.2, 0.6], 50)  # holds and fast steps, like a blink or a jaw opening
    noisy = clean + rng.normal(0, 0.02, len(clean))
    holds = np.concatenate([np.arange(s + 15, s + 35) for s in (0, 50, 100, 150)])  # away from the steps
    for method in ("one_euro", "savgol"):
        out = smooth_array(noisy[:, None], 30, method, 0.5)[:, 0]
        assert np.abs(out - clean)[holds].mean() < 0.6 * np.abs(noisy - clean)[holds].mean(), method
        assert out[56] > 0.1 + 0.8 * 0.8, method  # a step is followed within a few frames
    assert np.array_equal(smooth_array(noisy[:, None], 30, "one_euro", 0.0)[:, 0], noisy)
    n = 30
    perf = Performance(weights=np.clip(rng.random((n, 52)), 0, 1), head_rotation=np.tile(np.eye(3), (n, 1, 1)),
                       head_translation=np.zeros((n, 3)), eye_rotation=np.tile(np.eye(3), (n, 2, 1, 1)),
                       found=np.ones(n, bool), residual_mm=np.zeros(n), time_s=np.arange(n) / 30, fps=30.0)
    raw = perf.weights.copy()
    s = smooth_performance(perf, "one_euro", 0.8)
    assert np.array_equal(perf.weights, raw) and not np.allclose(s.weights, raw)
    assert s.weights.min() >= 0 and s.weights.max() <= 1


def test_livelink_csv_round_trip_and_capitalisation(tmp_path):
    rng = np.random.default_rng(1)
    n = 40
    w = np.clip(rng.random((n, 52)), 0, 1)
    ypr = rng.uniform(-0.4, 0.4, (n, 3))
    eyes = rng.uniform(-0.3, 0.3, (n, 2, 3)) * [1, 1, 0]
    path = livelink.write_csv(tmp_path / "take.csv", w, livelink.ypr_to_matrix(ypr), livelink.ypr_to_matrix(eyes), 30)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft"] and header[-1] == "RightEyeRoll"
    assert len(header) == 2 + 52 + 9 and path.read_text().splitlines()[1].split(",")[1] == "61"
    assert path.read_text().splitlines()[32].startswith("00:00:01:01.000")
    clip = livelink.read_csv(path)
    assert clip.fps == 30 and np.allclose(clip.time_s, np.arange(n) / 30)
    assert np.allclose(clip.weights, w, atol=1e-5) and np.allclose(clip.head_ypr, ypr, atol=1e-5)
    assert np.allclose(clip.eye_ypr, eyes, atol=1e-5)
    lower = tmp_path / "lower.csv"
    text = path.read_text().splitlines()
    text[0] = ",".join(h[0].lower() + h[1:] if h not in ("Timecode", "BlendShapeCount") else h for h in header)
    lower.write_text("\n".join(text) + "\n")
    assert np.allclose(livelink.read_csv(lower).weights, w, atol=1e-5)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CaptureError, match="not a Live Link Face CSV"):
        livelink.read_csv(bad)


def test_performance_file_round_trip(tmp_path):
    n = 5
    perf = Performance(weights=np.zeros((n, 52)), head_rotation=np.tile(np.eye(3), (n, 1, 1)),
                       head_translation=np.zeros((n, 3)), eye_rotation=np.tile(np.eye(3), (n, 2, 1, 1)),
                       found=np.array([1, 1, 0, 1, 1], bool), residual_mm=np.ones(n), time_s=np.arange(n) / 25,
                       fps=25.0, source="x.mp4", settings={"backend": "landmarks"})
    perf.save(tmp_path / "p.npz")
    back = Performance.load(tmp_path / "p.npz")
    assert dataclasses.asdict(back).keys() == dataclasses.asdict(perf).keys()
    assert back.found.tolist() == perf.found.tolist() and back.settings == perf.settings


def test_a_4k_clip_is_streamed_with_bounded_memory_and_steady_progress(head_asset, tmp_path):
    """A 4K clip (a huge one in small): frames are decoded one at a time, so the memory Python holds while
    tracking does not grow with the frames seen, and progress moves on every frame of each stage."""
    import tracemalloc

    import cv2

    from capture_helpers import real_frames

    n, size = 6, (3840, 2160)
    frame_mb = size[0] * size[1] * 3 / 2**20  # one decoded frame: ~24 MB
    clip = write_video(tmp_path / "uhd.mp4", [cv2.resize(f, size, interpolation=cv2.INTER_LINEAR)
                                              for f in real_frames(SELFIE, 0, n)])
    held, peaks, progress = [], [], []

    def on_progress(done, total, stage):
        progress.append((done, total, stage))
        if stage == "tracking":  # numpy buffers (decoded frames included) are traced; MediaPipe's own are not
            current, peak = tracemalloc.get_traced_memory()
            held.append(current / 2**20)
            peaks.append(peak / 2**20)
            tracemalloc.reset_peak()
        elif tracemalloc.is_tracing():  # the fit holds no frames; tracing would only slow it
            tracemalloc.stop()

    tracemalloc.start()
    try:
        perf = run(clip, CaptureOptions(use_cache=False), progress=on_progress, asset=head_asset)
    finally:
        tracemalloc.stop()
    assert len(perf) == n and perf.found.all()
    for stage in ("tracking", "fitting"):
        assert [(d, t) for d, t, s in progress if s == stage] == [(k, n) for k in range(1, n + 1)]
    assert held[-1] - held[1] < 0.25 * frame_mb  # keeping each frame would add ~24 MB per frame
    assert max(peaks) < 5 * frame_mb  # a window of a few frame buffers, not the clip
