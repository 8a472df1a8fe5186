"""Background jobs for the add-on: a command in its own process, read without blocking Blender's UI.

The command reports on stdout in the JSON-lines protocol of `models/progress.py` (progress, log, error,
done); its stderr is kept as the log. `Job.poll()` is meant for a timer or a modal operator: it never
blocks, it applies whatever arrived and returns the exit code once the process has ended. A failure is
never lost: `error_message()` gives the error event, else the last error line on stderr, else the exit code.
No bpy here, so the runner is tested on its own.
"""
from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import threading
from pathlib import Path

from .deps import progress

LOG_LINES = 50


class Job:
    def __init__(self, command: list[str], cwd: Path | None = None, env: dict | None = None):
        env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        self.command = list(command)
        self.proc = subprocess.Popen(self.command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, env=env, start_new_session=True)
        self.done, self.total, self.stage = 0, 0, ""
        self.result: dict | None = None
        self.errors: list[str] = []
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.returncode: int | None = None
        self._queue: queue.Queue = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, is_protocol: bool) -> None:
        for line in stream:
            line = line.rstrip("\n")
            event = progress.parse_event(line) if is_protocol else None
            self._queue.put(event if event is not None else {"event": "output", "message": line})

    def _apply(self, event: dict) -> None:
        kind = event["event"]
        if kind == "progress":
            self.done, self.total, self.stage = event["done"], event["total"], event["stage"]
        elif kind == "done":
            self.result = event["result"]
        elif kind == "error":
            self.errors.append(event["message"])
            self.log.append("error: " + event["message"])
        elif event["message"].strip():  # log events and plain output
            self.log.append(event["message"])

    def poll(self) -> int | None:
        """Apply what arrived; the exit code once the process has ended (and all its output is read), else None."""
        if self.returncode is None and self.proc.poll() is not None:
            for reader in self._readers:
                reader.join()
            self.returncode = self.proc.returncode
        while True:
            try:
                self._apply(self._queue.get_nowait())
            except queue.Empty:
                return self.returncode

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def error_message(self) -> str:
        if self.errors:
            return self.errors[-1]
        lines = [line for line in self.log if line.strip()]
        flagged = [line for line in lines if line.startswith("error:") or "Error" in line]
        if flagged or lines:
            return (flagged or lines)[-1]
        return f"{self.command[0]} exited with code {self.returncode}"

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the command and its children (one process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.poll()
