"""Writers of miniature files in each dataset's official format (same keys, dtypes and
header layout as the published files, fewer images), for the loader tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from untwine.data import mpi3d, shapes3d, smallnorb

SHAPES3D_SIZES = (2, 2, 2, 2, 2, 3)
MPI3D_SIZES = (2, 2, 2, 1, 1, 2, 3)
NORB_SIZES = (2, 2, 2, 2)  # category, elevation, azimuth, lighting
NORB_INSTANCES = 2  # one in each set


def shapes3d_labels(sizes=SHAPES3D_SIZES) -> np.ndarray:
    """Label values (N, 6) float64 in grid order, the official value ranges."""
    values = [
        np.linspace(0, 0.9, 10)[: sizes[0]],
        np.linspace(0, 0.9, 10)[: sizes[1]],
        np.linspace(0, 0.9, 10)[: sizes[2]],
        np.linspace(0.75, 1.25, 8)[: sizes[3]],
        np.arange(4.0)[: sizes[4]],
        np.linspace(-30, 30, 15)[: sizes[5]],
    ]
    grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    return np.stack([values[k][grid[:, k]] for k in range(6)], axis=1)


def random_images(n: int, shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def write_shapes3d(path: Path, *, chunked: bool = False, **replace) -> dict:
    import h5py

    n = int(np.prod(SHAPES3D_SIZES))
    arrays = {"images": random_images(n, shapes3d.IMAGE_SHAPE), "labels": shapes3d_labels()}
    arrays.update(replace)
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            if value is None:
                continue
            if chunked and key == "images":
                f.create_dataset(key, data=value, chunks=(4, 64, 64, 3), compression="gzip")
            else:
                f.create_dataset(key, data=value)
    return arrays


def write_mpi3d(path: Path, *, compressed: bool = False, key: str = "images", images=None):
    n = int(np.prod(MPI3D_SIZES))
    images = random_images(n, mpi3d.IMAGE_SHAPE, seed=1) if images is None else images
    (np.savez_compressed if compressed else np.savez)(path, **{key: images})
    return images


def norb_matrix(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    """The NORB binary matrix format: int32 magic, int32 ndim, max(3, ndim) int32 dims."""
    if magic is None:
        magic = 0x1E3D4C55 if array.dtype == np.uint8 else 0x1E3D4C54
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = np.array([magic, array.ndim, *dims], "<i4").tobytes()
    data = array.astype("<u1" if array.dtype == np.uint8 else "<i4").tobytes()
    path.write_bytes(header + data)


def write_smallnorb(folder: Path) -> dict[tuple[int, ...], np.ndarray]:
    """Both sets, pairs shuffled; returns the left 96x96 image of each (cat, elev, azim,
    light, instance) cell."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    cells = np.stack(np.unravel_index(np.arange(16), NORB_SIZES), axis=1)
    truth = {}
    for instance, prefix in enumerate(smallnorb.SETS):
        order = rng.permutation(len(cells))
        c = cells[order]
        dat = random_images(len(c), (2, 96, 96), seed=10 + instance)
        info = np.stack([np.full(len(c), instance), c[:, 1], 2 * c[:, 2], c[:, 3]], axis=1)
        norb_matrix(folder / f"{prefix}-dat.mat", dat)
        norb_matrix(folder / f"{prefix}-cat.mat", c[:, 0].astype(np.int32))
        norb_matrix(folder / f"{prefix}-info.mat", info.astype(np.int32))
        for row, cell in enumerate(c):
            truth[(*cell.tolist(), instance)] = dat[row, 0]
    return truth


def write_cars3d(folder: Path, objects: int = 2) -> list[np.ndarray]:
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    ims = []
    for k in range(objects):
        im = random_images(1, (128, 128, 3, 24, 4), seed=20 + k)[0]
        scipy.io.savemat(folder / f"car_{k + 1:03d}_mesh.mat", {"im": im})
        ims.append(im)
    return ims
