"""Limit OpenBLAS's threads for a block of small dense solves.

The per-frame fits factor matrices of ~1000 x 50, the identity shapes a few banded systems; on a small, busy
machine OpenBLAS's threading makes each ~10-100x slower than one thread does. numpy and scipy each load their
own OpenBLAS, so every loaded copy is set (what threadpoolctl does, without the dependency), and restored
afterwards. Finding the copies reads the process's memory map (a few milliseconds): `BlasThreads` does it once
for code that limits the threads on every call.
"""
from __future__ import annotations

import contextlib
import ctypes

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


def _libraries():
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return []
    out = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    out.append((get, put))
    return out


class BlasThreads:
    """The OpenBLAS copies loaded when it is made; `limit(n)` sets their threads for a block."""

    def __init__(self):
        self.libraries = _libraries()

    @contextlib.contextmanager
    def limit(self, n: int = 1):
        before = [get() for get, _ in self.libraries]
        for _, put in self.libraries:
            put(n)
        try:
            yield
        finally:
            for (_, put), count in zip(self.libraries, before):
                put(count)


def blas_threads(n: int = 1):
    """Every OpenBLAS loaded now limited to n threads for a block (`with blas_threads(1): ...`)."""
    return BlasThreads().limit(n)
