"""A contact sheet of the capture model's predictions (`python -m models.capture sheet`): per held-out render the
crop with predicted (green) and true (red) landmarks, the decoded mesh and the true mesh; per real frame the crop
with predicted and MediaPipe (red) landmarks and the code decoded on the template identity."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.atomic_io import atomic_write
from models.capture.crop import apply_affine, make_crop
from models.vocab import capture64

TILE = 192
SKIN = (0.85, 0.68, 0.58)


def _points(img: np.ndarray, pts: np.ndarray, colour) -> None:
    for x, y in pts:
        cv2.circle(img, (int(x), int(y)), 2, colour, -1, cv2.LINE_AA)


def _crop_tile(crop_img: np.ndarray, predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    s = TILE / crop_img.shape[0]
    img = cv2.resize(crop_img, (TILE, TILE), interpolation=cv2.INTER_LINEAR)
    _points(img, truth * s, (255, 60, 60))
    _points(img, predicted * s, (60, 255, 60))
    return img


def _mesh_tile(asset, vertices: np.ndarray, label: str) -> np.ndarray:
    from models.raster import look_at_camera, shade

    centre = vertices[asset.head_vertices].mean(0) * [0, 1, 0] + [0, -0.01, 0.0]
    cam = look_at_camera(centre, 0.42, yaw_deg=15, pitch_deg=-4, fov_deg=30, size=(TILE, TILE))
    img = shade(vertices, asset.faces, cam, np.tile(SKIN, (len(vertices), 1)))
    cv2.putText(img, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def write_sheet(runtime, semantic, data_dir: Path | None, real, out: Path, count: int = 12, cache: Path | None = None,
                log=print) -> Path:
    from models.capture.train.data import read_rgb
    from models.capture.train.targets import head_model, label_paths, unposed
    from models.dataset import read_label

    model = head_model(log)
    asset = model.asset
    rows = []
    if data_dir is not None:
        for path in label_paths(data_dir)[:count]:
            arrays, meta = read_label(path)
            crop = make_crop(read_rgb(Path(data_dir) / meta["image"]), runtime.resolution, arrays["mp478_2d"])
            res = runtime.run_crops(crop.image[None], crop.affine[None])
            truth, neutral = unposed(model, arrays["identity"][None], arrays["arkit_weights"][None])
            decoded = semantic.decode(res.z_exp, semantic.encode_identity(neutral), neutral)
            rows.append([_crop_tile(crop.image, res.landmarks64[0], crop.to_crop(capture64.from_mp478(arrays["mp478_2d"]))),
                         _mesh_tile(asset, decoded[0], "decoded"), _mesh_tile(asset, truth[0], "truth")])
    if real is not None and len(real):
        template = asset.template[None].astype(np.float32)
        z_id = semantic.encode_identity(template)
        for i in np.linspace(0, len(real) - 1, min(count, len(real))).astype(int):
            crop = make_crop(real.images[i], runtime.resolution, real.landmarks[i])
            res = runtime.run_crops(crop.image[None], crop.affine[None])
            decoded = semantic.decode(res.z_exp, z_id, template)
            mp = apply_affine(crop.affine, capture64.from_mp478(real.landmarks[i]))
            rows.append([_crop_tile(crop.image, res.landmarks64[0], mp), _mesh_tile(asset, decoded[0], "decoded"),
                         np.zeros((TILE, TILE, 3), np.uint8)])
    if not rows:
        raise ValueError("nothing to draw: give --data with renders or real media")
    cells = [np.hstack(r) for r in rows]
    columns = 2
    cells += [np.zeros_like(cells[0])] * (-len(cells) % columns)
    sheet = np.vstack([np.hstack(cells[k:k + columns]) for k in range(0, len(cells), columns)])
    out = Path(out)
    ok, png = cv2.imencode(".png", sheet[..., ::-1])
    atomic_write(out, lambda h: h.write(png.tobytes()))
    log(f"wrote {out} ({len(rows)} predictions)")
    return out
