"""Reading Shapes3D and MPI3D from full-size files: resident memory and images/s in training.

The official files cannot be downloaded here, so this writes files of the same shape and
layout: ``3dshapes.h5`` (``images`` (480000, 64, 64, 3) uint8, contiguous as h5py writes by
default, and ``labels`` (480000, 6) float64 in grid order; 5.9 GB) and ``mpi3d_toy.npz``
(``images`` (1036800, 64, 64, 3) uint8 stored uncompressed as ``np.savez`` does; 12.7 GB).
Then, for each, it loads the file with ``untwine.data.load`` and draws batches of 64 in
training order through the training loop's ``BatchStream`` (random permutation), and prints
the process's resident size (current and peak, interpreter and torch included) and the
images read per second. Target: resident size < 1 GB, >= 5,000 images/s.

    python bench/data_throughput.py                      # full size, ~19 GB of disk
    python bench/data_throughput.py --fraction 0.01      # a smoke run, ~0.2 GB

``--fraction`` shrinks the grids by setting leading factors to 1 until at most that share of
the images is left. Files go to ``--dir`` (default: a temporary folder, removed afterwards
unless ``--keep``). Freshly written files sit in the page cache when memory allows, so the
rate is that of warm reads; on a cold cache it is bounded by the disk's random-read rate.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

import untwine.data
from untwine.data import mpi3d, shapes3d
from untwine.train.data import BatchStream

BLOCK = 8192  # images written per step


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB (Linux)."""
    current = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1e3
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def shrink(sizes: tuple[int, ...], fraction: float) -> tuple[int, ...]:
    out = list(sizes)
    for k in range(len(out)):
        if np.prod(out) <= fraction * np.prod(sizes):
            break
        out[k] = 1
    return tuple(out)


def image_blocks(n: int):
    """``n`` images (64, 64, 3) in blocks; one random block reused (content is irrelevant to
    the reading rate, and generating 19 GB of random bytes would dominate the run)."""
    block = np.random.default_rng(0).integers(0, 256, (BLOCK, 64, 64, 3), dtype=np.uint8)
    for first in range(0, n, BLOCK):
        yield block[: min(BLOCK, n - first)]


def write_shapes3d(path: Path, sizes: tuple[int, ...]) -> None:
    import h5py

    n = int(np.prod(sizes))
    values = [np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10)]
    values += [np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]
    cells = np.unravel_index(np.arange(n), sizes)
    labels = np.stack([values[k][cells[k]] for k in range(6)], axis=1)
    with h5py.File(path, "w") as f:
        images = f.create_dataset("images", shape=(n, 64, 64, 3), dtype=np.uint8)
        first = 0
        for block in image_blocks(n):
            images[first : first + len(block)] = block
            first += len(block)
        f.create_dataset("labels", data=labels)


def write_mpi3d(path: Path, sizes: tuple[int, ...]) -> None:
    n = int(np.prod(sizes))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (n, 64, 64, 3)}
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            for block in image_blocks(n):
                f.write(memoryview(block).cast("B"))


def measure(name: str, data, seconds: float) -> dict:
    stream = BatchStream(data, 64, seed=0, device=torch.device("cpu"))
    stream.batch(0)  # opens the file
    start, step = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        stream.batch(step)
        step += 1
    elapsed = time.perf_counter() - start
    current, peak = rss_mb()
    return {
        "dataset": name,
        "images": len(data),
        "images/s": 64 * step / elapsed,
        "RSS now (MB)": current,
        "RSS peak (MB)": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the full size")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--seconds", type=float, default=10.0, help="reading time per file")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (as training)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="untwine-data-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    s_sizes = shrink(shapes3d.FACTOR_SIZES, args.fraction)
    m_sizes = shrink(mpi3d.FACTOR_SIZES, args.fraction)
    need = (np.prod(s_sizes) + np.prod(m_sizes)) * 64 * 64 * 3
    free = shutil.disk_usage(folder).free
    if need > 0.95 * free:
        raise SystemExit(f"{folder}: {need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
    print(f"before loading: RSS {rss_mb()[0]:.0f} MB (interpreter, numpy, torch)")
    rows = []
    try:
        t = time.perf_counter()
        write_shapes3d(folder / "3dshapes.h5", s_sizes)
        print(f"wrote 3dshapes.h5 {s_sizes} in {time.perf_counter() - t:.0f} s")
        data = untwine.data.load(
            "shapes3d", path=folder / "3dshapes.h5", factor_sizes=list(s_sizes)
        )
        rows.append(measure("shapes3d", data, args.seconds))
        del data
        t = time.perf_counter()
        write_mpi3d(folder / "mpi3d_toy.npz", m_sizes)
        print(f"wrote mpi3d_toy.npz {m_sizes} in {time.perf_counter() - t:.0f} s")
        data = untwine.data.load("mpi3d", path=folder / "mpi3d_toy.npz", factor_sizes=list(m_sizes))
        rows.append(measure("mpi3d", data, args.seconds))
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"cores: {os.cpu_count()}; batches of 64 in training order (BatchStream)")
    keys = list(rows[0])
    print("  ".join(f"{k:>14}" for k in keys))
    for row in rows:
        print(
            "  ".join(
                f"{v:>14,.0f}" if not isinstance(v, str) else f"{v:>14}" for v in row.values()
            )
        )
    ok = all(r["RSS peak (MB)"] < 1000 and r["images/s"] >= 5000 for r in rows)
    print("targets (RSS < 1 GB, >= 5,000 images/s):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
