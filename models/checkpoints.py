"""When a trainer writes its checkpoints (both trainers share it): ``last.pt`` every few seconds and at the end,
``best.pt`` at each new best validation score, and a ``best.pt`` at the end even if no score was ever taken."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable


class Checkpoints:
    def __init__(self, run_dir: Path, save: Callable[[Path], None], every_s: float, best: float = math.inf):
        """`save(path)` writes the trainer's state (atomically); `best` is the score a resumed run had reached."""
        self.run_dir, self.save, self.every_s, self.best = Path(run_dir), save, every_s, best
        self.last = self.run_dir / "last.pt"
        self._saved_at = time.monotonic()

    def score(self, value: float) -> None:
        """A validation score (lower is better): a new best is written as best.pt."""
        if value < self.best:
            self.best = value
            self.save(self.run_dir / "best.pt")

    def tick(self, final: bool = False) -> None:
        """After each step: last.pt when `every_s` have passed since the last write, or on the final step."""
        if final or time.monotonic() - self._saved_at > self.every_s:
            self.save(self.last)
            self._saved_at = time.monotonic()

    def close(self) -> None:
        self.save(self.last)
        if not (self.run_dir / "best.pt").exists():
            self.save(self.run_dir / "best.pt")
