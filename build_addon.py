"""Pack the installable Blender extension: python build_addon.py [--out dist/facecap.zip] [--no-wheels]

The zip holds the add-on, the bpy-free models package it runs on, the built head asset with its
attribution and licences, the add-on's own licence (GPL-3.0-or-later), and wheels for this platform
(cp311, manylinux x86_64) of what Blender lacks.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RUNTIME_WHEELS = ("scipy==1.15.3", "onnxruntime==1.31.1")  # numpy ships with Blender
PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux2014_x86_64"]
# the runtime only: the head asset's builder (models/head/build/) and the trainers stay out
MODEL_FILES = ["models/__init__.py", "models/atomic_io.py", "models/geometry.py", "models/paths.py",
               "models/progress.py", "models/raster.py"]
MODEL_PACKAGES = ["models/vocab", "models/head"]


def download_wheels(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for spec in RUNTIME_WHEELS:
        name = spec.split("==")[0].replace("-", "_")
        found = sorted(dest.glob(f"{name}-{spec.split('==')[1]}-*.whl"))
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.11", "--implementation", "cp", *PLATFORM, "-d", str(dest), spec],
                           check=True)
            found = sorted(dest.glob(f"{name}-{spec.split('==')[1]}-*.whl"))
        if not found:
            raise SystemExit(f"error: no wheel for {spec} was downloaded into {dest}")
        wheels.append(found[-1])
    return wheels


def build(out: Path, with_wheels: bool = True) -> Path:
    sys.path.insert(0, str(ROOT))
    from models.atomic_io import atomic_path
    from models.head.build.build import asset_path, load_head_asset
    from models.paths import cache_dir, shared_dir

    load_head_asset()
    asset_file = asset_path()
    wheels = download_wheels(cache_dir() / "wheels") if with_wheels else []
    manifest = (ROOT / "blender_addon" / "blender_manifest.toml").read_text()
    if wheels:
        manifest += "wheels = [\n" + "".join(f'  "./wheels/{w.name}",\n' for w in wheels) + "]\n"
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("blender_manifest.toml", manifest)
        for path in sorted((ROOT / "blender_addon").glob("*.py")):
            z.write(path, path.name)
        packaged = [str(p.relative_to(ROOT)) for d in MODEL_PACKAGES for p in sorted((ROOT / d).glob("*.py"))
                    if p.name != "__main__.py"]
        for rel in MODEL_FILES + packaged:
            z.write(ROOT / rel, rel)
        z.write(asset_file, "data/head_asset.npz")
        z.write(ROOT / "LICENSE", "licenses/LICENSE")  # the add-on's own: GPL-3.0-or-later, as the manifest says
        z.write(shared_dir() / "assets/ict_facekit/LICENSE", "licenses/ICT-FaceKit-LICENSE.txt")
        z.writestr("licenses/ATTRIBUTION.txt", (ROOT / "ATTRIBUTION.md").read_text())
        for wheel in wheels:
            z.write(wheel, f"wheels/{wheel.name}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "facecap.zip")
    parser.add_argument("--no-wheels", action="store_true", help="skip the bundled wheels (for a quick local test)")
    args = parser.parse_args()
    print(build(args.out, not args.no_wheels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
