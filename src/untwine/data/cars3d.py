"""Cars3D (Reed, Zhang, Zhang & Lee 2015), read from the official ``car_XXX_mesh.mat`` files.

Reed, Zhang, Zhang and Lee (2015), *Deep Visual Analogy-Making*, data at
http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (folder ``data/cars``): 183
files ``car_001_mesh.mat`` .. , each a MATLAB v5 file (what ``scipy.io.loadmat`` reads, as
disentanglement_lib does) whose variable ``im`` is (128, 128, 3, 24, 4) uint8: height, width,
RGB, 24 azimuths, 4 elevations. Images are resized to 64x64 (Lanczos) and held in memory
(216 MB), as the grid elevation 4 x azimuth 24 x object 183 (object fastest; objects in the
sorted order of the file names).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from untwine.data.base import ArrayData, about
from untwine.data.filestore import resize_images
from untwine.errors import DataError
from untwine.registry import register_dataset

FACTOR_NAMES = ("elevation", "azimuth", "object")
OBJECTS = 183
IM_SHAPE = (128, 128, 3, 24, 4)
SOURCE = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (folder data/cars)"


def _read_mesh(path: Path) -> np.ndarray:
    """``im`` of one file as (elevation 4, azimuth 24, 64, 64, 3) uint8."""
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, variable_names=["im"])
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(
            f"{path}: a MATLAB v7.3 (HDF5) file; expected the MATLAB v5 files of the "
            "official Cars3D release"
        ) from None
    except (ValueError, OSError, TypeError) as err:
        raise DataError(f"{path}: not a readable MATLAB file ({err})") from None
    if "im" not in contents:
        raise DataError(f"{path}: no variable 'im'; expected im {IM_SHAPE} uint8")
    im = contents["im"]
    if im.shape != IM_SHAPE or im.dtype != np.uint8:
        raise DataError(f"{path}: 'im' is {im.dtype} {im.shape}; expected uint8 {IM_SHAPE}")
    views = im.transpose(4, 3, 0, 1, 2).reshape(-1, 128, 128, 3)  # elevation, azimuth
    return resize_images(views, (64, 64)).reshape(4, 24, 3, 64, 64)


@register_dataset("cars3d")
@about(FACTOR_NAMES, (4, 24, OBJECTS), "path= folder of car_XXX_mesh.mat files")
def load_cars3d(path: str | os.PathLike[str] = "cars", objects: int = OBJECTS) -> ArrayData:
    """Cars3D (Reed et al. 2015) from the folder ``path`` of ``car_XXX_mesh.mat`` files.

    Factors (elevation, azimuth, object), sizes (4, 24, 183); images uint8 (3, 64, 64).
    ``objects`` reads a folder with another number of cars (a subset in the same format).
    """
    folder = Path(path).expanduser()
    files = sorted(folder.glob("car_*_mesh.mat")) if folder.is_dir() else []
    if len(files) != objects:
        raise DataError(
            f"{folder}: found {len(files)} car_XXX_mesh.mat files; expected {objects} "
            f"(each im {IM_SHAPE} uint8, 4.7 MB uncompressed, MATLAB v5), published at {SOURCE} "
            "(untwine does not download it)"
        )
    store = np.empty((4, 24, objects, 3, 64, 64), np.uint8)
    for k, file in enumerate(files):
        store[:, :, k] = _read_mesh(file)
    return ArrayData(
        "cars3d", FACTOR_NAMES, (4, 24, objects), (3, 64, 64), store.reshape(-1, 3, 64, 64)
    )
