"""Structured progress of a long command for the process that started it: one JSON object per stdout line.

    {"event": "progress", "done": int, "total": int, "stage": str}
    {"event": "log", "message": str}
    {"event": "error", "message": str}
    {"event": "done", "result": {...}}

A CLI given `--progress-json` makes a `ProgressWriter.claim_stdout()`: from then on stdout carries only these
lines, and anything else written to file descriptor 1 (print, Blender, a C library) goes to stderr. The
reading side is `blender_addon/jobs.py`; `parse_event` is the one definition of a valid line for both.
"""
from __future__ import annotations

import json
import os
import sys
from typing import TextIO

EVENTS = {"progress": {"done": int, "total": int, "stage": str}, "log": {"message": str},
          "error": {"message": str}, "done": {"result": dict}}


def add_argument(parser) -> None:
    parser.add_argument("--progress-json", action="store_true",
                        help="print progress as JSON lines on stdout (for the add-on's job runner); logs go to stderr")


class ProgressWriter:
    """Writes protocol lines to `stream`, flushed one by one."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    @classmethod
    def claim_stdout(cls) -> "ProgressWriter":
        """Take file descriptor 1 for the protocol; point fd 1 (and sys.stdout) at stderr for everything else."""
        sys.stdout.flush()
        protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return cls(protocol)

    def _emit(self, event: str, **fields) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()

    def progress(self, done: int, total: int, stage: str) -> None:
        self._emit("progress", done=int(done), total=int(total), stage=str(stage))

    def log(self, message: str) -> None:
        self._emit("log", message=str(message))

    def error(self, message: str) -> None:
        self._emit("error", message=str(message))

    def done(self, result: dict) -> None:
        self._emit("done", result=result)


def parse_event(line: str) -> dict | None:
    """The event a protocol line holds, or None when the line is not one (then it is plain output)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") not in EVENTS:
        return None
    fields = EVENTS[event["event"]]
    if any(not isinstance(event.get(key), kind) or isinstance(event.get(key), bool) for key, kind in fields.items()):
        return None
    return event
