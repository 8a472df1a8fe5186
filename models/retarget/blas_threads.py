"""Limit OpenBLAS's threads for a block of small dense solves.

The per-frame fits factor matrices of ~1000 x 50; on a small, busy machine OpenBLAS's threading makes each
SVD ~100x slower than one thread does. numpy and scipy each load their own OpenBLAS, so every loaded copy
is set (what threadpoolctl does, without the dependency), and restored afterwards.
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


@contextlib.contextmanager
def blas_threads(n: int = 1):
    libs = _libraries()
    before = [get() for get, _ in libs]
    for _, put in libs:
        put(n)
    try:
        yield
    finally:
        for (_, put), count in zip(libs, before):
            put(count)
