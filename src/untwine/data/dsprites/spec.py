"""The dSprites factor grid (Matthey et al. 2017), shared by the renderer and the file reader.

737,280 binary 64x64 images: every combination of shape (square, ellipse, heart), 6 scales,
40 orientations and 32 x 32 positions exactly once, in row-major order (posY fastest). The
official colour factor has a single value and is dropped.
"""

from __future__ import annotations

import numpy as np

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
OBSERVATION_SHAPE = (1, 64, 64)
NUM_IMAGES = 737_280
SIZE = 64
PACKED_BYTES = SIZE * SIZE // 8

#: Official factor values (Matthey et al. 2017); shapes are square, ellipse, heart.
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
