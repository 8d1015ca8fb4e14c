"""A tiny ground-truth dataset registered the way a user registers one.

Importable as a plugin (``UNTWINE_PLUGINS=squares_plugin`` with ``tests/`` on the path) so
that subprocesses running the CLI or the training loop can use it too.
"""

from __future__ import annotations

import numpy as np

from untwine.data import ArrayData, register_dataset


def render_squares() -> np.ndarray:
    """Binary 64x64 squares: factors x (8), y (8), side (2) -> 128 images in grid order."""
    images = np.zeros((8, 8, 2, 1, 64, 64), np.uint8)
    for i in range(8):
        for j in range(8):
            for s in range(2):
                side = 8 + 8 * s
                x0, y0 = 4 + 6 * i, 4 + 6 * j
                images[i, j, s, 0, y0 : y0 + side, x0 : x0 + side] = 1
    return images.reshape(128, 1, 64, 64)


@register_dataset("test-squares", overwrite=True)
def load_squares() -> ArrayData:
    images = render_squares()
    return ArrayData(
        "test-squares",
        ("x", "y", "side"),
        (8, 8, 2),
        (1, 64, 64),
        np.packbits(images.reshape(len(images), -1), axis=1),
        packed=True,
        max_value=1,
    )
