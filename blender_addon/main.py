"""The main job (for now): build the head asset and the Blender rig, write out/head_rig.blend and the contact sheet.

    python -m blender_addon.main [--out out] [--identity-seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blender_addon.main", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--identity-seed", type=int, default=0, help="0: mean face, else a random identity")
    args = parser.parse_args(argv)

    import numpy as np

    from models.atomic_io import atomic_path
    from models.head import AssetError
    from models.head.build.build import load_head_asset
    from models.head.build.sheet import write_contact_sheet

    try:
        asset = load_head_asset()
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot write to {args.out} ({exc}); pass --out DIR", file=sys.stderr)
        return 2
    import bpy

    from blender_addon import rig

    bpy.ops.wm.read_factory_settings(use_empty=True)
    beta = np.zeros(asset.n_identity)
    if args.identity_seed:
        beta = np.random.default_rng(args.identity_seed).normal(size=asset.n_identity)
    t0 = time.perf_counter()
    obj, _ = rig.build_head_rig(asset, beta)
    print(f"rig {obj.name}: {len(asset.shape_names)} shape keys, built in {time.perf_counter() - t0:.2f} s")
    blend = (args.out / "head_rig.blend").resolve()
    with atomic_path(blend) as tmp:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), compress=True)
    print(blend)
    print(write_contact_sheet(asset, args.out / "contact_sheet.png").resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
