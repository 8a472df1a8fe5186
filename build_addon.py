"""Pack the installable Blender extension: python build_addon.py [--out dist/facecap.zip] [--wheels DIR] [--no-wheels]

The zip holds the add-on, the bpy-free runtime of the models package (the video analysis included; the head
asset's builder, the trainers and their command lines stay out), the shipped network weights, the built head
asset with its attribution and licences, the add-on's own licence (GPL-3.0-or-later), and wheels for this
platform (cp311, manylinux x86_64) of what Blender lacks. Blender installs the wheels the manifest lists as
they are, without resolving their dependencies, so the list below is the whole import closure of the analysis.
MediaPipe ships as a repacked wheel (`repack_mediapipe`): its face mesh without the dependencies it never
imports (jax, jaxlib, sounddevice), without matplotlib (only its 3-D plotting helper uses it) and without the
other solutions' models.
"""
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# What importing the analysis loads, numpy aside (Blender ships it): Blender has no OpenCV (the decoding
# and MediaPipe import cv2), MediaPipe needs protobuf and attrs (absl-py and flatbuffers, which its
# metadata and ONNX Runtime's name, are never imported).
RUNTIME_WHEELS = ("scipy==1.15.3", "onnxruntime==1.31.1", "opencv-python-headless==4.11.0.86",
                  "mediapipe==0.10.14", "protobuf==4.25.8", "attrs==26.1.0")
PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux2014_x86_64", "--platform", "any"]
# package -> the modules shipped from it (None: all but __main__); subpackages not named here stay out
# (models/head/build, models/capture/train, models/semantic/train). tests/test_packed_addon.py runs the
# packed analysis in isolation, so a module missing here fails there.
MODEL_PACKAGES = {
    "models": ["__init__", "atomic_io", "blas_threads", "expressions", "geometry", "model_files", "paths", "progress",
               "raster"],
    "models/vocab": None, "models/head": None, "models/video": None,
    "models/retarget": [m.stem for m in sorted((ROOT / "models/retarget").glob("*.py"))
                        if m.stem != "preview"],  # the CLI's preview video needs the head builder's colours
    "models/capture": ["__init__", "crop", "mirror", "runtime"],
    "models/semantic": ["__init__", "runtime"],
}
DEV_ONLY = ("main.py", "capture_bench.py")  # command lines of the repository (they build the head asset)
SEMANTIC_WEIGHTS = ("semantic.json", "semantic_decoder.onnx", "semantic_expression_encoder.onnx",
                    "semantic_identity_encoder.onnx", "semantic_model_card.md")

# The repacked MediaPipe wheel: a local version label says it is not the published wheel (Blender, which keeps
# the higher version of two wheels of one name, prefers it to a published 0.10.14 another extension ships: README).
MEDIAPIPE_LABEL = "facecap1"
MEDIAPIPE_REQUIRES = ("attrs >=19.1.0", "numpy", "opencv-python-headless", "protobuf <5,>=4.25.3")
MEDIAPIPE_KEEP_MODELS = ("mediapipe/modules/face_detection/", "mediapipe/modules/face_landmark/")
# drawing_utils imports matplotlib at the top for plot_landmarks alone; the repack imports it there
MEDIAPIPE_PATCHES = {"mediapipe/python/solutions/drawing_utils.py": [
    ("import matplotlib.pyplot as plt\n", ""),
    ("  plt.figure(figsize=(10, 10))\n", "  import matplotlib.pyplot as plt\n  plt.figure(figsize=(10, 10))\n")]}


class WheelError(RuntimeError):
    """A wheel could not be downloaded or repacked (one line: what and why)."""


def _wheel_name(spec: str) -> tuple[str, str]:
    name, version = spec.split("==")
    return name.replace("-", "_").lower(), version


def download_wheels(dest: Path) -> list[Path]:
    """The runtime wheels, downloaded into `dest` once (a cache across builds)."""
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for spec in RUNTIME_WHEELS:
        name, version = _wheel_name(spec)
        pattern = f"{name}-{version}-*.whl"
        found = sorted(p for p in dest.iterdir() if p.name.lower().startswith(f"{name}-{version}-"))
        if not found:
            run = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                  "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                                  *PLATFORM, "-d", str(dest), spec], capture_output=True, text=True)
            found = sorted(p for p in dest.iterdir() if p.name.lower().startswith(f"{name}-{version}-"))
            if run.returncode != 0 or not found:
                last = (run.stderr.strip().splitlines() or ["no output"])[-1]
                raise WheelError(f"pip could not download {spec} into {dest} ({last}); check the network, or "
                                 f"put {pattern} there by hand")
        wheels.append(found[-1])
    return [repack_mediapipe(w, dest) if w.name.startswith("mediapipe-") else w for w in wheels]


def _record_row(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def _repacked_metadata(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith("Requires-Dist:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("Requires-Python") or not line.strip())
    version = next(line for line in lines if line.startswith("Version:"))
    lines[lines.index(version)] = f"{version}+{MEDIAPIPE_LABEL}"
    return "\n".join(lines[:at] + [f"Requires-Dist: {r}" for r in MEDIAPIPE_REQUIRES] + lines[at:]) + "\n"


def repack_mediapipe(source: Path, dest: Path) -> Path:
    """MediaPipe's wheel for the face mesh alone (cached in `dest`): Requires-Dist trimmed to what its import
    loads, the other solutions' .tflite models left out, matplotlib imported only where it plots."""
    name, version, *tags = source.name.removesuffix(".whl").split("-")
    out = dest / ("-".join([name, f"{version}+{MEDIAPIPE_LABEL}", *tags]) + ".whl")
    if out.is_file():
        return out
    old_info, new_info = f"{name}-{version}.dist-info", f"{name}-{version}+{MEDIAPIPE_LABEL}.dist-info"
    patches = {path: list(edits) for path, edits in MEDIAPIPE_PATCHES.items()}
    rows = []
    from models.atomic_io import atomic_path

    with zipfile.ZipFile(source) as src, atomic_path(out) as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            path = info.filename
            if path.endswith(".tflite") and path.startswith("mediapipe/modules/") \
                    and not path.startswith(MEDIAPIPE_KEEP_MODELS):
                continue
            if path == f"{old_info}/RECORD":
                continue
            data = src.read(info)
            if path in patches:
                text = data.decode()
                for old, new in patches.pop(path):
                    if text.count(old) != 1:
                        raise WheelError(f"{source.name}: {path} no longer holds {old.strip()!r}; update "
                                         "MEDIAPIPE_PATCHES in build_addon.py for this MediaPipe version")
                    text = text.replace(old, new)
                data = text.encode()
            if path == f"{old_info}/METADATA":
                data = _repacked_metadata(data.decode()).encode()
            if path.startswith(old_info + "/"):
                path = new_info + path[len(old_info):]
            entry = zipfile.ZipInfo(path, info.date_time)
            entry.external_attr = info.external_attr  # file modes
            dst.writestr(entry, data, zipfile.ZIP_DEFLATED)
            rows.append(_record_row(path, data))
        if patches:
            raise WheelError(f"{source.name} lacks {', '.join(patches)}; update MEDIAPIPE_PATCHES in build_addon.py")
        record = io.StringIO()
        csv.writer(record, lineterminator="\n").writerows(rows + [[f"{new_info}/RECORD", "", ""]])
        dst.writestr(f"{new_info}/RECORD", record.getvalue())
    return out


def runtime_files() -> list[str]:
    """The models package's modules the packed add-on runs on, relative to the repository root."""
    files = []
    for package, modules in MODEL_PACKAGES.items():
        names = modules if modules is not None else [p.stem for p in sorted((ROOT / package).glob("*.py"))
                                                     if p.stem != "__main__"]
        files += [f"{package}/{m}.py" for m in names]
    return files


def weight_files(weights: Path) -> list[Path]:
    """The shipped semantic weights, and the capture model's metadata, fp32 ONNX file and card when it exists (its
    torch checkpoint is for training only, its fp16 file for CUDA)."""
    import json

    from models.capture.card import card_file
    from models.capture.runtime import DEFAULT_NAME, file_names

    files = [weights / name for name in SEMANTIC_WEIGHTS]
    names = file_names(DEFAULT_NAME)
    meta = weights / names["meta"]
    if meta.is_file():
        recorded = json.loads(meta.read_text()).get("sha256", {})
        # the fp32 file only: the packed onnxruntime wheel is the CPU build, which never picks the fp16 one
        files += [meta] + ([weights / names["fp32"]] if names["fp32"] in recorded else [])
        card = weights / card_file(DEFAULT_NAME)
        files += [card] if card.is_file() else []
    return files


def build(out: Path, with_wheels: bool = True, wheel_dir: Path | None = None) -> Path:
    sys.path.insert(0, str(ROOT))
    from models.atomic_io import atomic_path
    from models.head.build.build import asset_path, load_head_asset
    from models.paths import cache_dir, shared_dir, weights_dir

    load_head_asset()
    asset_file = asset_path()
    wheels = download_wheels(wheel_dir or cache_dir() / "wheels") if with_wheels else []
    manifest = (ROOT / "blender_addon" / "blender_manifest.toml").read_text()
    if wheels:
        manifest += "wheels = [\n" + "".join(f'  "./wheels/{w.name}",\n' for w in wheels) + "]\n"
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("blender_manifest.toml", manifest)
        for path in sorted((ROOT / "blender_addon").glob("*.py")):
            if path.name not in DEV_ONLY:
                z.write(path, path.name)
        for rel in runtime_files():
            z.write(ROOT / rel, rel)
        for path in weight_files(weights_dir()):
            z.write(path, f"models/weights/{path.name}")
        z.write(asset_file, "data/head_asset.npz")
        z.write(ROOT / "LICENSE", "licenses/LICENSE")  # the add-on's own: GPL-3.0-or-later, as the manifest says
        z.write(shared_dir() / "assets/ict_facekit/LICENSE", "licenses/ICT-FaceKit-LICENSE.txt")
        z.writestr("licenses/ATTRIBUTION.txt", (ROOT / "ATTRIBUTION.md").read_text())
        for wheel in wheels:
            z.write(wheel, f"wheels/{wheel.name}", zipfile.ZIP_STORED)  # already compressed
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "facecap.zip")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="the folder the wheels are downloaded into and reused from (default: .cache/wheels)")
    parser.add_argument("--no-wheels", action="store_true", help="skip the bundled wheels (for a quick local test)")
    args = parser.parse_args()
    try:
        out = build(args.out, not args.no_wheels, args.wheels)
    except WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
