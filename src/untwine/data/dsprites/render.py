"""The dSprites renderer (Matthey et al. 2017): images from factor indices, bit for bit.

The renderer follows the published specification: centre at ``(16 + 32 * posX, 16 + 32 *
posY)`` pixels with ``posX, posY = linspace(0, 1, 32)`` (x right, y down), orientation
``linspace(0, 2 * pi, 40)`` turning the shape counter-clockwise on screen (so indices 0 and 39
draw the same image), scale ``linspace(0.5, 1, 6)`` acting about the centre, and a binary
point-in-shape test at pixel centres (pixel ``i`` covers ``[i, i + 1)`` and is sampled at
``i + 0.5``). The outlines, at scale 1 in pixels:

* square: side 0.3 of the canvas (19.2 px);
* ellipse: semi-axes 12.76 x 7.22 px, long axis horizontal at orientation 0;
* heart: the classic parametric heart ``x = 16 sin^3 t``, ``y = 13 cos t - 5 cos 2t - 2 cos 3t
  - cos 4t`` (lobes up), 0.3 of the canvas wide and tall (see :class:`Heart`).

The authors published the square's size but neither the ellipse's nor the heart's outline;
both were fitted to the authors' animation of the dataset (320 frames that are dataset
images), which ``tests/data/test_dsprites.py`` checks frame by frame: of 64 square frames two
differ, by 4 pixels each; of 64 ellipse frames eight differ, by 2 pixels each; of 192 heart
frames two differ, by 2 pixels each.

How it renders 737,280 images in seconds: each image row meets a shape in a few intervals of
x, which depend on the row's offset from the centre only. So intervals are computed once per
(sprite, posY, row) and shifted for each of the 32 posX values, and an interval becomes a row
of 64 pixels by one lookup in a table of 64-bit masks whose big-endian bytes are exactly
``np.packbits`` of the row. Rows are written straight into the bit-packed array, so rendering
never holds unpacked images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from untwine.data.dsprites.spec import (
    FACTOR_SIZES,
    NUM_IMAGES,
    OBSERVATION_SHAPE,
    ORIENTATIONS,
    PACKED_BYTES,
    POSITIONS,
    SCALES,
    SHAPES,
    SIZE,
)
from untwine.errors import DataError

__all__ = ["HEART", "Heart", "render", "render_all", "render_packed"]

# Square: side 0.3 of the canvas at scale 1 (Matthey et al. 2017).
SQUARE_HALF_SIDE = 0.5 * 0.3 * SIZE
# Ellipse semi-axes at scale 1 (pixels), measured from the authors' animation.
ELLIPSE_SEMI_AXES = (12.76, 7.22)


@dataclass(frozen=True)
class Heart:
    """The heart outline at scale 1 in pixels, x right and y down, centred on the sprite.

    The curve is ``x = x_scale * 16 sin^3 t`` and ``y = y_shift - y_scale * (13 cos t -
    5 cos 2t - 2 cos 3t - cos 4t)``, drawn as a polygon of ``vertices`` points evenly spaced
    in ``t``. ``x_scale = 0.6`` makes it 0.3 of the canvas wide (19.2 px, like the square) and
    ``y_scale = 19.2 / 29`` as tall if the curve is taken to span 29 units (it spans 28.92).
    ``y_shift`` (where the sprite's centre sits, and so what it turns about) and the number of
    vertices were fitted to the authors' animation: over its 192 heart frames the outline
    mismatches 4 pixels in all; any count from 120 to 400 vertices stays within 36. For
    comparison, two discs joined to the tip by straight tangents fit no better than 1,282.
    """

    x_scale: float = 0.6
    y_scale: float = 19.2 / 29.0
    y_shift: float = -1.44
    vertices: int = 150

    def polygon(self) -> np.ndarray:
        """Vertices (vertices, 2) of the outline, (x, y) in pixels at scale 1."""
        t = np.linspace(0.0, 2.0 * np.pi, self.vertices, endpoint=False)
        x = 16.0 * np.sin(t) ** 3
        y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
        return np.stack([self.x_scale * x, self.y_shift - self.y_scale * y], axis=1)


#: The heart of the official set, as fitted (the authors never published its outline).
HEART = Heart()


# -- geometry ---------------------------------------------------------------------------------
# Shapes are given in body coordinates (p right, q down at orientation 0; pixels at scale 1)
# as ("convex", atoms): the intersection of atoms, each ("half", n_p, n_q, d) meaning
# n_p p + n_q q <= d, or ("ellipse", a, b) with semi-axes a along p and b along q; or as
# ("polygon", vertices): a simple polygon, filled by the even-odd rule.
# A body point turned by theta lands at u = p c + q s, v = -p s + q c on the y-down screen
# (c, s = cos, sin theta), which is counter-clockwise as seen.


def _square() -> tuple:
    h = SQUARE_HALF_SIDE
    edges = [("half", 1.0, 0.0, h), ("half", -1.0, 0.0, h)]
    edges += [("half", 0.0, 1.0, h), ("half", 0.0, -1.0, h)]
    return ("convex", edges)


def _shape_geometry(shape: int, heart: Heart) -> tuple:
    if shape == 0:
        return _square()
    if shape == 1:
        return ("convex", [("ellipse", *ELLIPSE_SEMI_AXES)])
    return ("polygon", heart.polygon())


def _cos_sin(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Snap rounding noise to exact zeros so that orientation 2*pi draws exactly the pixels of
    # orientation 0 (as in the official set) and axis-aligned edges stay axis-aligned.
    c, s = np.cos(theta), np.sin(theta)
    return np.where(np.abs(c) < 1e-12, 0.0, c), np.where(np.abs(s) < 1e-12, 0.0, s)


def _atom_interval(atom: tuple, scale, c, s, v) -> tuple[np.ndarray, np.ndarray]:
    """Interval ``[lo, hi]`` of screen x (relative to the centre) where the row at screen
    offset ``v`` meets the atom; ``lo > hi`` where it misses."""
    if atom[0] == "half":
        _, n_p, n_q, d = atom
        # n . (p, q) <= d becomes a u + b v <= d on screen.
        a = n_p * c + n_q * s
        b = -n_p * s + n_q * c
        rhs = d * scale - b * v
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = rhs / a
        # a == 0 is an edge parallel to the rows: it keeps or drops the whole row.
        lo = np.where(a < 0, bound, np.where((a == 0) & (rhs < 0), np.inf, -np.inf))
        hi = np.where(a > 0, bound, np.inf)
        return lo, hi
    _, semi_a, semi_b = atom
    inv_a2 = 1.0 / (semi_a * scale) ** 2
    inv_b2 = 1.0 / (semi_b * scale) ** 2
    # (u c - v s)^2 / a^2 + (u s + v c)^2 / b^2 <= 1, as A u^2 + B u + C <= 0.
    qa = c * c * inv_a2 + s * s * inv_b2
    qb = 2.0 * v * c * s * (inv_b2 - inv_a2)
    qc = v * v * (s * s * inv_a2 + c * c * inv_b2) - 1.0
    disc = qb * qb - 4.0 * qa * qc
    root = np.sqrt(np.maximum(disc, 0.0))
    lo = np.where(disc < 0, np.inf, (-qb - root) / (2.0 * qa))
    hi = np.where(disc < 0, -np.inf, (-qb + root) / (2.0 * qa))
    return lo, hi


def _polygon_intervals(vertices: np.ndarray, scale, c, s, v) -> list[tuple[np.ndarray, ...]]:
    """Intervals of screen x where rows at offsets ``v`` are inside the polygon (even-odd).

    A row at v crosses an edge when exactly one end has ``v_end <= v``; sorted crossings
    pair up into inside intervals. As many pairs are returned as the worst row needs.
    """
    scale, c, s = (np.asarray(x)[..., None] for x in (scale, c, s))
    p, q = vertices[:, 0] * scale, vertices[:, 1] * scale
    u0, v0 = p * c + q * s, -p * s + q * c  # (..., 1, N) vertices on screen
    u1, v1 = np.roll(u0, -1, axis=-1), np.roll(v0, -1, axis=-1)
    v = np.asarray(v)[..., None]  # (..., rows, 1)
    crosses = (v0 <= v) != (v1 <= v)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = u0 + (v - v0) * ((u1 - u0) / (v1 - v0))
    x = np.where(crosses, x, np.inf)
    pairs = int(crosses.sum(axis=-1).max(initial=0)) // 2
    if pairs == 0:
        return []
    x = np.sort(x, axis=-1)[..., : 2 * pairs]
    return [(x[..., 2 * k], x[..., 2 * k + 1]) for k in range(pairs)]


def _intervals(geometry: tuple, scale, c, s, v) -> list[tuple[np.ndarray, ...]]:
    if geometry[0] == "polygon":
        return _polygon_intervals(geometry[1], scale, c, s, v)
    atoms = geometry[1]
    lo, hi = _atom_interval(atoms[0], scale, c, s, v)
    for atom in atoms[1:]:
        a_lo, a_hi = _atom_interval(atom, scale, c, s, v)
        lo, hi = np.maximum(lo, a_lo), np.minimum(hi, a_hi)
    return [(lo, hi)]


def _mask_table() -> np.ndarray:
    """Flat ``table[start * 65 + stop]``: a uint64 with pixels ``start .. stop - 1`` of a row
    set, pixel 0 the most significant bit (its big-endian bytes are ``np.packbits``)."""
    table = np.zeros((SIZE + 1, SIZE + 1), dtype=np.uint64)
    for start in range(SIZE + 1):
        for stop in range(start + 1, SIZE + 1):
            table[start, stop] = ((1 << (stop - start)) - 1) << (SIZE - stop)
    return table.reshape(-1)


_MASKS = _mask_table()


def _row_masks(geometry: tuple, scale, c, s, cx, cy) -> np.ndarray:
    """Rows (..., 64) uint64 of sprites of one shape, pixel 0 the top bit of each row.

    ``scale, c, s, cy`` broadcast to the batch shape with a trailing axis of 1 for rows, and
    so does ``cx``. Intervals are computed before ``cx`` is added, so a batch with posX on an
    axis of its own pays for them once rather than 32 times.
    """
    v = np.arange(SIZE) + 0.5 - cy  # screen y of each row's pixel centres, from the centre
    out = np.zeros(np.broadcast_shapes(np.shape(v), np.shape(cx), np.shape(c)), np.uint64)
    for lo, hi in _intervals(geometry, scale, c, s, v):
        # Pixel i is inside when lo <= i + 0.5 - cx <= hi; clipping first keeps infinities
        # (empty rows) out of the integer conversion.
        start = np.ceil(np.clip(lo + (cx - 0.5), -1.0, SIZE + 1.0))
        stop = np.floor(np.clip(hi + (cx - 0.5), -2.0, SIZE + 1.0)) + 1.0
        start = np.clip(start, 0, SIZE).astype(np.intp)
        stop = np.maximum(np.clip(stop, 0, SIZE).astype(np.intp), start)
        out |= _MASKS[start * (SIZE + 1) + stop]
    return out


def _centre(position_index: np.ndarray) -> np.ndarray:
    return 16.0 + 32.0 * POSITIONS[position_index]


def _pack_rows(rows: np.ndarray) -> np.ndarray:
    """uint64 rows (N, 64) -> bytes (N, 512) in ``np.packbits`` layout."""
    return rows.astype(">u8").view(np.uint8).reshape(len(rows), PACKED_BYTES)


def render_packed(factors: np.ndarray, heart: Heart = HEART) -> np.ndarray:
    """Bit-packed dSprites images (N, 512) uint8 (``np.packbits`` of each flattened image)
    for factor indices (N, 5); see :func:`render`."""
    factors = _check_factors(factors)
    rows = np.zeros((len(factors), SIZE), dtype=np.uint64)
    for shape in range(len(SHAPES)):
        geometry = _shape_geometry(shape, heart)
        where = np.flatnonzero(factors[:, 0] == shape)
        if where.size == 0:
            continue
        # Chunks bound the temporaries (a heart row tests every polygon edge).
        for chunk in np.array_split(where, max(1, len(where) // 1024)):
            f = factors[chunk]
            c, s = _cos_sin(ORIENTATIONS[f[:, 2]])
            rows[chunk] = _row_masks(
                geometry,
                SCALES[f[:, 1], None],
                c[:, None],
                s[:, None],
                _centre(f[:, 3])[:, None],
                _centre(f[:, 4])[:, None],
            )
    return _pack_rows(rows)


def render(factors: np.ndarray, heart: Heart = HEART) -> np.ndarray:
    """dSprites images (N, 1, 64, 64) uint8 in {0, 1} for factor indices (N, 5).

    Factors index (shape, scale, orientation, posX, posY) with sizes (3, 6, 40, 32, 32), as
    in Matthey et al. (2017) with colour dropped. The pixels are exactly those of
    :func:`render_all` at the same flat index.
    """
    packed = render_packed(factors, heart)
    return np.unpackbits(packed, axis=1).reshape(len(packed), *OBSERVATION_SHAPE)


def render_all(heart: Heart = HEART) -> np.ndarray:
    """All 737,280 dSprites images bit-packed, (737280, 512) uint8, in the official order
    (Matthey et al. 2017, colour dropped).

    Works through a few orientations of one (shape, scale) at a time, written straight into
    the packed array, so peak memory stays a few tens of MB above the 377 MB result.
    """
    out = np.empty((NUM_IMAGES, PACKED_BYTES), dtype=np.uint8)
    rows = out.view(">u8").reshape(*FACTOR_SIZES, SIZE)
    centres = _centre(np.arange(32))
    cx = centres[None, :, None, None]  # axes: orientation, posX, posY, row
    cy = centres[None, None, :, None]
    step = 4
    for shape in range(len(SHAPES)):
        geometry = _shape_geometry(shape, heart)
        for scale_index, scale in enumerate(SCALES):
            for first in range(0, len(ORIENTATIONS), step):
                c, s = _cos_sin(ORIENTATIONS[first : first + step, None, None, None])
                rows[shape, scale_index, first : first + step] = _row_masks(
                    geometry, scale, c, s, cx, cy
                )
    return out


def _check_factors(factors: np.ndarray) -> np.ndarray:
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
        raise DataError(f"dsprites factors must have shape (N, 5), got {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        raise DataError(f"dsprites factors must be integer indices, got dtype {factors.dtype}")
    if factors.size and ((factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any()):
        raise DataError(f"dsprites factor indices out of range; sizes are {FACTOR_SIZES}")
    return factors.astype(np.intp)
