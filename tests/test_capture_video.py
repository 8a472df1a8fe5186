"""Decoding (video, still, image sequence, EXR) and MediaPipe tracking on the real clips, and their bad inputs."""
import numpy as np
import pytest

from capture_helpers import GROUP, SELFIE, SERGEY, blank_frames, ffmpeg, real_frames, write_video
from models.video.errors import Cancelled, CaptureError
from models.video.frames import open_frames
from models.video.track import TrackOptions, fill_gaps, track_faces


def test_video_metadata_range_and_streaming():
    f = open_frames(SELFIE, 10, 20)
    assert (f.fps, f.size, f.count, f.kind) == (25.0, (640, 360), 10, "video")
    items = list(f)
    assert [i for i, _, _ in items] == list(range(10, 20))
    assert items[0][1] == pytest.approx(0.4)
    assert items[0][2].shape == (360, 640, 3) and items[0][2].dtype == np.uint8
    assert open_frames(SELFIE).count == 225


def test_rotation_metadata_is_applied(tmp_path):
    import subprocess

    frames = blank_frames(3, (64, 32))
    frames[0][:8, :8] = (0, 0, 255)  # a blue corner: where it lands shows which way the frames were turned
    src = write_video(tmp_path / "src.mp4", frames)
    rotated = tmp_path / "rot.mp4"
    subprocess.run([ffmpeg(), "-loglevel", "error", "-display_rotation", "90", "-i", str(src), "-c", "copy",
                    str(rotated)], check=True)
    f = open_frames(rotated)
    assert f.rotation_deg in (90, 270) and f.size == (32, 64)
    image = next(iter(f))[2]
    assert image.shape[:2] == (64, 32)
    assert image[-4:, :4, 2].mean() > 200 and image[:4, :4, 2].mean() < 150  # turned 90° anticlockwise


def test_unsupported_codec_is_a_one_line_error(tmp_path):
    import subprocess

    # AV1: the container opens and names the stream, but OpenCV's FFmpeg has no software AV1 decoder
    path = tmp_path / "phone.mp4"
    subprocess.run([ffmpeg(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10",
                    "-frames:v", "3", "-c:v", "libaom-av1", "-cpu-used", "8", str(path)], check=True)
    with pytest.raises(CaptureError) as err:
        open_frames(path)
    message = str(err.value)
    assert message.startswith(f"{path}: its AV01 video stream cannot be decoded") and "\n" not in message
    assert "ffmpeg -i IN -c:v libx264" in message


def test_still_image_and_sequences(tmp_path):
    import cv2

    still = open_frames(SERGEY)
    assert still.kind == "image" and still.count == 1 and next(iter(still))[2].shape == (600, 600, 3)
    frames = real_frames(SELFIE, 0, 3)
    for i, im in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"shot_{i + 8:04d}.png"), im[..., ::-1])
    (tmp_path / "notes.txt").write_text("not a frame")
    seq = open_frames(tmp_path, fps=30)
    assert seq.kind == "sequence" and seq.count == 3 and seq.fps == 30
    assert np.array_equal(next(iter(seq))[2], frames[0])
    assert open_frames(tmp_path / "shot_%04d.png").count == 3
    exr = tmp_path / "exr"
    exr.mkdir()
    linear = (frames[0].astype(np.float32) / 255) ** 2.2
    assert cv2.imwrite(str(exr / "f_0001.exr"), linear[..., ::-1].copy())
    img = next(iter(open_frames(exr)))[2]
    assert img.dtype == np.uint8 and np.abs(img.astype(int) - frames[0]).mean() < 8


@pytest.mark.parametrize("kind", ["text", "truncated", "empty", "zero_frames", "missing", "range"])
def test_bad_video_inputs_are_one_line_errors(tmp_path, kind):
    path = tmp_path / "clip.mp4"
    start = 0
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "truncated":
        path.write_bytes(SELFIE.read_bytes()[:4000])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "zero_frames":
        import cv2

        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 64))
        w.release()
    elif kind == "range":
        path = SELFIE
        start = 500
    with pytest.raises(CaptureError) as err:
        f = open_frames(path, start)
        list(f)
    message = str(err.value)
    assert str(path) in message and "\n" not in message and ";" in message


def test_tracks_the_real_clip():
    track = track_faces(open_frames(SELFIE, 0, 8))
    assert track.found.all() and track.landmarks.shape == (8, 478, 2)
    x0, y0, x1, y1 = track.box[0]
    assert 250 < x0 < x1 < 420 and 20 < y0 < y1 < 200  # her face, top-centre of the frame


def test_several_faces_follow_one_and_say_so():
    logs = []
    track = track_faces(open_frames(GROUP, 0, 8), log=logs.append)
    assert track.n_faces.max() > 1 and track.found.sum() >= 6
    centres = (track.box[track.found, :2] + track.box[track.found, 2:]) / 2
    assert np.abs(np.diff(centres, axis=0)).max() < 20  # the same face throughout, no jumps between people
    assert any("faces in view" in m for m in logs)


def test_small_face_is_found_through_the_detector_crop(tmp_path):
    import cv2

    face = real_frames(SERGEY, 0, 1)[0]
    small = cv2.resize(face, (70, 70), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[300:370, 420:490] = small
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), canvas[..., ::-1])
    track = track_faces(open_frames(path))
    assert track.found[0]
    x0, y0, x1, y1 = track.box[0]
    assert 410 < x0 < x1 < 500 and 290 < y0 < y1 < 380


def test_no_face_and_few_faces_are_errors(tmp_path):
    blank = write_video(tmp_path / "blank.mp4", blank_frames(6))
    with pytest.raises(CaptureError, match="no face found"):
        track_faces(open_frames(blank))
    face = real_frames(SELFIE, 0, 1)[0]
    frames = [face] + [np.full_like(face, 90)] * 19
    few = write_video(tmp_path / "few.mp4", frames)
    with pytest.raises(CaptureError, match="only 1 of 20 frames"):
        track_faces(open_frames(few), TrackOptions(min_found_fraction=0.2))


def test_gaps_short_interpolated_long_flagged():
    lm = np.zeros((12, 478, 2), np.float32)
    found = np.ones(12, bool)
    found[[3, 4]] = False  # short gap
    found[7:11] = False  # long gap
    lm[found] = np.arange(12, dtype=np.float32)[found, None, None]
    filled = fill_gaps(lm, found, 2)
    assert filled.tolist() == [False] * 3 + [True, True] + [False] * 7
    assert lm[3, 0, 0] == pytest.approx(3.0) and lm[4, 0, 0] == pytest.approx(4.0)
    assert (lm[7:11] == 0).all()


def test_cancel_stops_tracking():
    calls = iter([False, False, True])
    with pytest.raises(Cancelled, match="cancelled"):
        track_faces(open_frames(SELFIE, 0, 10), cancel=lambda: next(calls))


def test_main_face_choice_largest_central_or_the_given_box():
    from models.video.track import choose_main

    def face(x, y, size):
        pts = np.linspace([x, y], [x + size, y + size], 478).astype(np.float32)
        return pts

    faces = [face(10, 10, 90), face(280, 150, 50), face(500, 300, 20)]
    assert choose_main(faces, (640, 480)) == 0  # the largest wins over the more central one
    assert choose_main([face(10, 10, 55)] + faces[1:], (640, 480)) == 1  # a near-equal size: the central one
    assert choose_main(faces, (640, 480), face_box=(495, 290, 530, 330)) == 2


def test_real_domain_pseudo_labels_are_the_tracker_mesh_landmarks_and_cached(tmp_path):
    from models.capture.train import real
    from models.video.track import FaceMesh

    logs = []
    out = real.analyse_file(SELFIE, tmp_path, max_frames=3, log=logs.append)
    assert out["frame"].tolist() == [0, 75, 150] and out["images"].shape == (3, 256, 256, 3)
    frames = real_frames(SELFIE, 0, 151)
    with FaceMesh(video=True) as mesh:  # the capture path's mesh, on the same sampled frames in order
        expected = [real.loose_crop(frames[i], mesh(frames[i]))[1] for i in (0, 75, 150)]
    assert np.array_equal(out["landmarks"], np.array(expected, np.float32))
    assert len(logs) == 1
    again = real.analyse_file(SELFIE, tmp_path, max_frames=3, log=logs.append)
    assert len(logs) == 1 and all(np.array_equal(again[k], out[k]) for k in out)  # read from the real cache
