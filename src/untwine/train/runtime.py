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


# -- precision ------------------------------------------------------------------------------
#: Where bfloat16 matrix products run on dedicated units of a CPU (torch.cpu.get_capabilities):
#: Intel AMX tiles or AVX512-BF16 dot products. Without them oneDNN emulates bfloat16 and
#: the step is slower than in float32.
CPU_BF16_UNITS = ("amx_bf16", "avx512_bf16")


def bf16_units(device: torch.device) -> bool:
    """Whether ``device`` has hardware for bfloat16 matrix products (torch's own queries)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        caps = torch.cpu.get_capabilities()
        return any(caps.get(flag, False) for flag in CPU_BF16_UNITS)
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """The precision a run on ``device`` trains in: ``auto`` is ``bf16`` where the device has
    bfloat16 units (:func:`bf16_units`) and ``fp32`` elsewhere; an explicit value is kept.

    ``bf16`` is allowed without the units (a run trained in bf16 elsewhere keeps its numerics
    here, only slower). ``fp16`` is refused: float16 training needs loss scaling, which the
    loop does not do, and on a CPU autocast float16 has no matrix units to run on: the bare
    conv loop ran at 0.07x of float32 on an Intel Xeon with AMX-BF16 and AVX512-FP16
    (bench/train_throughput.py).
    """
    if requested == "auto":
        return "bf16" if bf16_units(device) else "fp32"
    if requested == "fp16":
        why = (
            "CPUs have no float16 matrix units torch uses (autocast float16 on a CPU is slower "
            "than fp32)"
            if device.type == "cpu"
            else "float16 training needs loss scaling, which untwine does not do"
        )
        raise ConfigError(
            f"precision: 'fp16' is not supported on {device.type}: {why}; use bf16 or auto"
        )
    return requested


def channels_last(precision: str) -> bool:
    """Whether convolutional networks run in NHWC layout: in bfloat16, where oneDNN's
    convolutions prefer it (bench/train_throughput.py, Intel Xeon with AMX: the bare bf16 loop
    1.93x fp32 in NHWC, 1.48x in NCHW); float32 keeps NCHW (0.96x with NHWC on an AVX2 CPU),
    the layout its reference digests were recorded in."""
    return precision == "bf16"


def recorded_precision(value: str) -> str:
    """The precision a run's ``config.yaml`` says it trained in. Training always records the
    resolved value; ``auto`` there means a run written before precision was a setting, all of
    which trained in float32."""
    return "fp32" if value == "auto" else value


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
