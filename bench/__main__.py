"""`python -m bench capture --data DIR --json OUT [--small] [--model-dir DIR] ...`"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.atomic_io import write_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("capture", help="the MultiREX-protocol capture benchmark (renders its sequences first)")
    c.add_argument("--data", type=Path, required=True, help="the benchmark sequence set (rendered there if missing)")
    c.add_argument("--json", type=Path, required=True, help="the report; a markdown table is written beside it")
    c.add_argument("--small", action="store_true", help="1 identity, 2 views, 8 frames at 128 px (the CI size)")
    c.add_argument("--identities", type=int, help="evaluate only the set's first N identities")
    c.add_argument("--no-render", action="store_true", help="evaluate DIR as it is (a set of another size)")
    c.add_argument("--model-dir", type=Path, help="the capture models' folder (default: models/weights)")
    c.add_argument("--model", default="capture_light", help="the neural row's model name")
    c.add_argument("--convnext", default="capture_convnext", help="the ConvNeXt row's model name")
    c.add_argument("--semantic-dir", type=Path, help="the SEREP model's folder (default: models/weights)")
    c.add_argument("--adapt-data", type=Path,
                   help="synthetic training data: adds the per-actor adaptation row (slow: minutes per identity)")
    c.add_argument("--adapt-minutes", type=float, default=5.0)
    c.add_argument("--work", type=Path, help="analysis cache and adapted models (default: .cache/bench)")
    c.add_argument("--overlay", type=Path, help="PNG: the predicted mesh drawn over frames of every view")
    return parser


def main(argv=None) -> int:
    from synthetic.config import ConfigError

    from .capture import BenchOptions, run
    from .capture_table import markdown

    a = build_parser().parse_args(argv)
    options = BenchOptions(data=a.data, small=a.small, identities=a.identities, render=not a.no_render,
                           model_dir=a.model_dir, model=a.model, convnext=a.convnext, semantic_dir=a.semantic_dir,
                           adapt_data=a.adapt_data, adapt_minutes=a.adapt_minutes, work=a.work, overlay=a.overlay)
    if a.identities is not None and a.identities < 1:
        print(f"error: --identities {a.identities}: must be at least 1", file=sys.stderr)
        return 2
    if a.adapt_data is not None and not a.adapt_data.is_dir():
        print(f"error: --adapt-data {a.adapt_data}: not a folder (a synthetic dataset)", file=sys.stderr)
        return 2
    try:
        report = run(options, log=lambda *x, **k: print(*x, file=sys.stderr, **k))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown(report)
    write_text(a.json, json.dumps(report, indent=1))
    write_text(a.json.with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
