"""Wall-clock timing of layers and models under steady conditions (OHQ measures every operator)."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from typing import Callable

import numpy as np
import torch

_ALLOCATOR: str | None = None


def steady_allocator() -> str:
    """Keep freed heap memory for reuse (glibc mallopt), so timings see a warmed allocator.

    By default glibc serves blocks over its mmap threshold (128 KiB at first) with fresh mmaps and
    trims the heap top on free, so an fp32 conv writing a 3 MB output page-faults on every call.
    Measured here (1->16 conv, batch 64, 28x28): ~1500 minor faults and 3.9 ms per call vs 0.2 ms
    with memory reused; and interleaving made the int8 layer pay for fp32's faults. A deployed
    runtime preallocates (or runs jemalloc / tcmalloc), so the steady state is what OHQ should see.
    Process-wide and idempotent; returns a description for the profile's metadata.
    """
    global _ALLOCATOR
    if _ALLOCATOR is None:
        _ALLOCATOR = "default (mallopt unavailable)"
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
            if libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024) and libc.mallopt(m_trim_threshold, 1 << 30):
                _ALLOCATOR = "glibc mallopt: mmap threshold 32 MiB, no trim (freed memory reused)"
        except (OSError, AttributeError):
            pass
    return _ALLOCATOR


def _sync(x) -> Callable[[], None]:
    if isinstance(x, torch.Tensor) and x.is_cuda:
        return torch.cuda.synchronize
    return lambda: None


def _stats(times_s: list[float], warmup: int) -> dict:
    ms = np.asarray(times_s) * 1e3
    return {"median_ms": float(np.median(ms)), "p10_ms": float(np.percentile(ms, 10)),
            "p90_ms": float(np.percentile(ms, 90)), "repeats": len(ms), "warmup": int(warmup)}


def time_interleaved(cases: dict, warmup: int = 10, repeats: int = 50, steady_alloc: bool = True,
                     keep_times: bool = False) -> dict:
    """Time several (fn, x) cases in alternating rounds, so drift (clocks, caches, neighbours) hits all alike.

    Each round calls every case once, timed alone; the order reverses every round so no case always
    follows the same one. Puts `steady_allocator()` in force unless `steady_alloc` is False (to show
    the default allocator's cost). Returns time_module's dict per case name; with `keep_times`, each
    also has "times_ms": every timed round, in order (round r of every case ran in the same round).
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    if steady_alloc:
        steady_allocator()
    names = list(cases)
    times = {n: [] for n in names}
    syncs = {n: _sync(cases[n][1]) for n in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed call would be charged to whichever layer ran then
    try:
        with torch.inference_mode():
            for r in range(warmup + repeats):
                order = names if r % 2 == 0 else names[::-1]
                for n in order:
                    fn, x = cases[n]
                    syncs[n]()
                    t0 = time.perf_counter()
                    fn(x)
                    syncs[n]()
                    if r >= warmup:
                        times[n].append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    out = {n: _stats(times[n], warmup) for n in names}
    if keep_times:
        for n in names:
            out[n]["times_ms"] = [round(s * 1e3, 6) for s in times[n]]
    return out


def time_module(fn, x, warmup: int = 10, repeats: int = 50) -> dict:
    """Median / p10 / p90 wall time of fn(x) in ms (inference mode, CUDA synchronised)."""
    return time_interleaved({"_": (fn, x)}, warmup, repeats)["_"]
