"""`sheet`: a grid of samples with the labels drawn: 68 landmarks (green visible, red hidden), face box."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from . import labels
from .config import ConfigError

TILE = 256


def _draw(image: np.ndarray, arrays: dict, mediapipe: bool) -> np.ndarray:
    scale = TILE / image.shape[1]
    img = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0, x1, y1 = (arrays["face_box"] * scale).astype(int)
    cv2.rectangle(img, (x0, y0), (x1, y1), (255, 200, 0), 1)
    if mediapipe:
        for (x, y), vis in zip(arrays["mp478_2d"] * scale, arrays["mp478_visible"]):
            if vis:
                cv2.circle(img, (int(x), int(y)), 0, (255, 255, 0), -1)
    for (x, y), vis in zip(arrays["lmk68_2d"] * scale, arrays["lmk68_visible"]):
        cv2.circle(img, (int(round(x)), int(round(y))), 2, (0, 220, 0) if vis else (0, 0, 255), -1)
    return img


def contact_sheet(folder: Path, out: Path | None = None, count: int = 16, mediapipe: bool = False,
                  log=print) -> Path:
    """Draw the first `count` readable samples; unreadable ones are skipped and reported through `log`."""
    folder = Path(folder)
    found = sorted((folder / labels.LABEL_DIR).glob("[0-9]" * 6 + ".npz"))  # not a render's temporary files
    if not found:
        raise ConfigError(f"{folder} holds no labels/*.npz; render a dataset first")
    tiles, skipped = [], []
    for path in found:
        if len(tiles) == count:
            break
        try:
            arrays, meta = labels.read_label(path)
            image = cv2.imread(str(folder / meta["image"]), cv2.IMREAD_COLOR)
        except Exception as exc:  # any failure to open or parse means a damaged file
            skipped.append(f"{path.stem} (unreadable label: {type(exc).__name__})")
            continue
        if image is None:
            skipped.append(f"{path.stem} (unreadable image)")
            continue
        tile = _draw(image, arrays, mediapipe)
        caption = f"{meta['index']} {meta['expression_kind'].replace('template:', '')[:18]}"
        cv2.putText(tile, caption, (3, TILE - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    if skipped:
        log(f"[synthetic] skipped {len(skipped)} unreadable sample(s): {', '.join(skipped)}; "
            "`verify` lists every problem, `render` with the same command renders them again")
    if not tiles:
        raise ConfigError(f"{folder} holds no readable sample; render it again with the same command")
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    sheet = np.zeros((rows * TILE, cols * TILE, 3), np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = tile
    out = Path(out) if out else folder / "contact_sheet.png"
    labels.atomic_write(out, lambda f: f.write(cv2.imencode(".png", sheet)[1].tobytes()))
    return out
