"""python -m models.head {build,check,sheet,shapes-bench}: build the head asset, measure it, draw its contact sheet,
measure the fast identity shapes against the exact construction."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .asset import AssetError
from .build.build import asset_path, load_head_asset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.head", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("build", "build (or rebuild) the head asset"),
                            ("check", "measure the asset against its quality targets"),
                            ("sheet", "write a contact sheet of every shape on three identities"),
                            ("shapes-bench", "error and time of the identity shapes against the exact construction")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--flame", type=Path, help="flame2023_open_subset.npz or the full flame2023_Open.pkl")
        p.add_argument("--landmarks", type=Path, help="landmarks68_embedding.npz")
        p.add_argument("--ict", type=Path, help="ict_facekit_light.npz")
        p.add_argument("--cache", type=Path, help="folder for the built asset (default .cache/)")
        if name == "build":
            p.add_argument("--force", action="store_true", help="rebuild even if a cached asset exists")
        if name in ("check", "shapes-bench"):
            p.add_argument("--json", action="store_true", help="print one JSON object")
            p.add_argument("--identities", type=int, default=100, help="random identities to measure (default 100)")
        if name == "sheet":
            p.add_argument("--out", type=Path, default=Path("out/contact_sheet.png"))
    args = parser.parse_args(argv)
    quiet = args.command in ("check", "shapes-bench") and args.json
    log = (lambda *a: print(*a, file=sys.stderr)) if quiet else print
    try:
        asset = load_head_asset(args.flame, args.landmarks, args.ict, args.cache,
                                rebuild=getattr(args, "force", False), log=log)
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "build":
        print(asset_path(args.flame, args.landmarks, args.ict, args.cache))
    elif args.command == "check":
        from .build.quality import check

        report = check(asset, identities=args.identities)
        if args.json:
            print(json.dumps(report))
        else:
            for key, value in report.items():
                print(f"{key}: {value}")
    elif args.command == "shapes-bench":
        from .build.shapes_bench import bench_identity_shapes

        report = bench_identity_shapes(asset, args.identities, log=log)
        print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    else:
        from .build.sheet import write_contact_sheet

        print(write_contact_sheet(asset, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
