"""Where and how fast to run: device choice, CPU thread settings, the allocator.

What the networks run in (precision) is :mod:`untwine.nets.precision`'s.
"""

from __future__ import annotations

import os

import torch

from untwine.errors import ConfigError
from untwine.nets.precision import CPU_BF16_UNITS


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


def tune_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 30) -> bool:
    """Keep large tensor buffers in the heap instead of mmap/munmap-ing them every call.

    With glibc's defaults each buffer above the (dynamic, at most 32 MiB) mmap threshold is
    served by a fresh mmap and returned with munmap, so every training step or inference batch
    pays page faults on memory it just freed. Raising the mmap and trim thresholds (the effect
    of MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_) lets freed buffers be reused.
    Measured on a 2-core Xeon: training, conv net, batch 64: 892 -> 1197 images/s (1.34x,
    ``bench/train_throughput.py --levers``); inference of 1,024 conv64 images a call (the
    metrics' and the likelihood's batches, whose activations are ~130 MB a layer, above 32
    MiB): CPU time per image fp32 656 -> 396 us, bf16 193 -> 136 us, page faults per image
    171 -> 0 (one thread, shared machine). So :func:`untwine.train` and every run opened for
    inference (:class:`untwine.train.run.Run`) apply it to their process; the codes are
    unchanged (the same kernels run on the same batches). The freed memory stays with the
    process instead of going back to the system. Returns False where glibc is not the
    allocator.
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


def cpu_description() -> str:
    """The CPU's model name and its bfloat16 capability flags, for benchmark headers."""
    name = ""
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115 - read once, closed at exit
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    caps = torch.cpu.get_capabilities()
    flags = ", ".join(f"{f}={bool(caps.get(f, False))}" for f in (*CPU_BF16_UNITS, "avx512_fp16"))
    name = name or str(caps.get("cpu_name", "unknown CPU"))
    return f"{name}; {flags}; torch capability {torch.backends.cpu.get_cpu_capability()}"
