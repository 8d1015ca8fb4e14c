"""Where and how fast to run: device choice and CPU thread settings."""

from __future__ import annotations

import os

import torch

from untwine.errors import ConfigError


def select_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available")
    return torch.device(name)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(threads: int | None = None) -> int:
    """Use ``threads`` intra-op threads (default: every core this process may run on)."""
    n = threads or available_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Keep large tensor buffers in the heap instead of mmap/munmap-ing them every step.

    With glibc's defaults each activation buffer of a few MB is served by a fresh mmap and
    returned with munmap, so every training step pays page faults on memory it just freed.
    Raising the mmap and trim thresholds (the effect of MALLOC_MMAP_THRESHOLD_ and
    MALLOC_TRIM_THRESHOLD_) lets freed buffers be reused; ``bench/train_throughput.py
    --levers`` measures it (2 cores, conv net, batch 64: 892 -> 1197 images/s, 1.34x), so
    :func:`untwine.train` applies it to its process. 32 MiB is glibc's largest allowed mmap
    threshold on 64-bit systems. Returns False where glibc is not the allocator.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(mmap_threshold))
    ok_trim = mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(trim_threshold))
    return bool(ok_mmap and ok_trim)
