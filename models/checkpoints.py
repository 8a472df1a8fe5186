"""When a trainer writes its checkpoints (both trainers share it): ``last.pt`` every few seconds and at the end,
``best.pt`` at each new best validation score, and a ``best.pt`` at the end even if no score was ever taken.

Under torchrun every rank runs the same calls: the decisions are rank 0's (its clock, its score), so all ranks
call `save` together (it may gather from them) and the trainer's `save` writes on rank 0 only."""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

from models.distributed import World


class Checkpoints:
    def __init__(self, run_dir: Path, save: Callable[[Path], None], every_s: float, best: float = math.inf,
                 world: World = World()):
        """`save(path)` writes the trainer's state (atomically); `best` is the score a resumed run had reached."""
        self.run_dir, self.save, self.every_s, self.best, self.world = Path(run_dir), save, every_s, best, world
        self.last = self.run_dir / "last.pt"
        self._saved_at = time.monotonic()

    def score(self, value: float) -> None:
        """A validation score (lower is better): a new best is written as best.pt."""
        value = self.world.agree(value)
        if value < self.best:
            self.best = value
            self.save(self.run_dir / "best.pt")

    def tick(self, final: bool = False) -> None:
        """After each step: last.pt when `every_s` have passed since the last write, or on the final step."""
        if self.world.agree(final or time.monotonic() - self._saved_at > self.every_s):
            self.save(self.last)
            self._saved_at = time.monotonic()

    def close(self) -> None:
        self.save(self.last)
        if not self.world.agree((self.run_dir / "best.pt").exists()):
            self.save(self.run_dir / "best.pt")
