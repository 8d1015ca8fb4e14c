"""dSprites (Matthey et al. 2017): rendered procedurally, or read from the official file.

Matthey, Higgins, Hassabis and Lerchner (2017), *dSprites: Disentanglement testing Sprites
dataset*, https://github.com/deepmind/dsprites-dataset. 737,280 binary 64x64 images of a
square, an ellipse or a heart at 6 scales, 40 orientations and 32 x 32 positions: every
combination exactly once, in row-major order (shape, scale, orientation, posX, posY; posY
fastest). The official colour factor has a single value and is dropped here.

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

import os
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from untwine.data.base import ArrayData, cache_dir
from untwine.errors import DataError
from untwine.registry import register_dataset

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "HEART",
    "Heart",
    "load_dsprites",
    "read_official",
    "render",
    "render_all",
    "render_packed",
]

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

#: Bump whenever rendered pixels change, so that a stale cache is never reused.
RENDER_VERSION = 1
CACHE_NAME = f"dsprites-v{RENDER_VERSION}.npy"

#: The official file, and the flat-index strides of its ``latents_classes`` after colour.
OFFICIAL_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
STRIDES = np.array([245_760, 40_960, 1_024, 32, 1], dtype=np.int64)

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


# -- the dataset ------------------------------------------------------------------------------
@register_dataset("dsprites")
def load_dsprites(path: str | os.PathLike[str] | None = None, cache: bool = True) -> ArrayData:
    """dSprites (Matthey et al. 2017) as a bit-packed :class:`ArrayData` of 737,280 images.

    Factors (shape, scale, orientation, posX, posY) with sizes (3, 6, 40, 32, 32); images
    uint8 (1, 64, 64) in {0, 1}; flat index = official order with colour dropped. With
    ``path``, reads the official ``.npz`` (see :func:`read_official`); without, renders the
    set (:func:`render_all`), reusing or writing ``cache_dir() / CACHE_NAME`` when ``cache``.
    Either way it holds 377 MB (512 bytes an image).
    """
    if path is not None:
        store = read_official(path)
    elif cache:
        store = _cached_render()
    else:
        store = render_all()
    return ArrayData(
        "dsprites", FACTOR_NAMES, FACTOR_SIZES, OBSERVATION_SHAPE, store, packed=True, max_value=1
    )


def _cached_render() -> np.ndarray:
    """The rendered set from the cache if it is intact, else rendered and cached."""
    path = cache_dir() / CACHE_NAME
    if path.exists():
        store = _read_cache(path)
        if store is not None:
            return store
        warnings.warn(f"{path}: damaged dSprites cache; rendering again", stacklevel=3)
    store = render_all()
    try:
        _write_atomically(path, store)
    except OSError as err:  # a read-only cache must not stop anyone from using the data
        warnings.warn(f"{path}: could not write the dSprites cache ({err})", stacklevel=3)
    return store


def _read_cache(path: Path) -> np.ndarray | None:
    """The cached array, or None when the file is truncated, of the wrong shape or type, or
    disagrees with the renderer on a spot check."""
    try:
        store = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if store.shape != (NUM_IMAGES, PACKED_BYTES) or store.dtype != np.uint8:
        return None
    # A handful of images spread over the file, the last included, catch a cache written by
    # another renderer under the same name or damaged in place.
    probe = np.linspace(0, NUM_IMAGES - 1, 61).astype(np.int64)
    factors = np.stack(np.unravel_index(probe, FACTOR_SIZES), axis=1)
    if not np.array_equal(store[probe], render_packed(factors)):
        return None
    return store


def _write_atomically(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so that os.replace is an atomic rename: readers see the
    # old file or the complete new one, never a partial write. No fsync: a cache lost to a
    # crash fails the checks in _read_cache and is simply rendered again.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the official file ------------------------------------------------------------------------
_CHUNK = 8192  # images per read while packing the official file: 32 MB unpacked


def read_official(path: str | os.PathLike[str]) -> np.ndarray:
    """Bit-packed images (737280, 512) uint8 from the official dSprites ``.npz``
    (Matthey et al. 2017), in the official order with colour dropped.

    Reads only ``imgs`` and ``latents_classes`` and never unpickles anything (``metadata``
    holds a pickle). ``imgs`` (3 GB unpacked) is streamed out of the archive in chunks and
    packed as it goes, so memory stays near the 377 MB result. ``latents_classes`` must
    cover the factor grid exactly once; rows in another order are put in the official one.

    Raises :class:`DataError` naming the file and array when anything is off.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected the official dSprites {OFFICIAL_FILE})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    with archive:
        members = set(archive.namelist())
        for key in ("imgs", "latents_classes"):
            if f"{key}.npy" not in members:
                found = ", ".join(sorted(m.removesuffix(".npy") for m in members)) or "none"
                raise DataError(
                    f"{path}: missing array {key!r} (found: {found}); "
                    f"expected the official dSprites {OFFICIAL_FILE}"
                )
        try:
            order = _read_order(path, archive)
            with archive.open("imgs.npy") as f:
                return _read_images(path, f, order)
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            raise DataError(f"{path}: damaged archive member ({err})") from None


def _read_header(path: Path, key: str, f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
    except ValueError as err:
        raise DataError(f"{path}: array {key!r} is not a valid .npy ({err})") from None
    raise DataError(f"{path}: array {key!r} has .npy format {version}; expected 1.0 or 2.0")


def _read_order(path: Path, archive: zipfile.ZipFile) -> np.ndarray:
    """Flat grid index (737280,) int64 of each row of ``latents_classes`` (``arange`` for
    the official order)."""
    expected = (NUM_IMAGES, 1 + len(FACTOR_SIZES))
    with archive.open("latents_classes.npy") as f:
        shape, fortran, dtype = _read_header(path, "latents_classes", f)
        if shape != expected:
            raise DataError(f"{path}: 'latents_classes' has shape {shape}; expected {expected}")
        if dtype.kind not in "iu":
            raise DataError(f"{path}: 'latents_classes' has dtype {dtype}; expected int64")
        raw = f.read()
    classes = np.frombuffer(raw, dtype=dtype)
    if classes.size != NUM_IMAGES * expected[1]:
        raise DataError(f"{path}: 'latents_classes' is truncated; expected shape {expected}")
    classes = classes.reshape(expected[::-1]).T if fortran else classes.reshape(expected)
    if (classes[:, 0] != 0).any():
        raise DataError(f"{path}: 'latents_classes' column 0 (color) must be all 0")
    factors = classes[:, 1:].astype(np.int64)
    if (factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any():
        raise DataError(
            f"{path}: 'latents_classes' columns 1-5 out of range; expected indices below "
            f"{FACTOR_SIZES} (shape, scale, orientation, posX, posY)"
        )
    flat = factors @ STRIDES
    if (np.bincount(flat, minlength=NUM_IMAGES) != 1).any():
        raise DataError(
            f"{path}: 'latents_classes' does not list every factor combination exactly once"
        )
    return flat


def _read_exactly(f: IO[bytes], size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = f.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _read_images(path: Path, f: IO[bytes], order: np.ndarray) -> np.ndarray:
    """Stream ``imgs`` from ``f`` (positioned at its .npy header) into packed rows, row ``i``
    of the file landing at flat index ``order[i]``."""
    expected = (NUM_IMAGES, SIZE, SIZE)
    shape, fortran, dtype = _read_header(path, "imgs", f)
    if shape != expected:
        raise DataError(f"{path}: 'imgs' has shape {shape}; expected {expected}")
    if dtype != np.uint8:
        raise DataError(f"{path}: 'imgs' has dtype {dtype}; expected uint8 with values 0/1")
    if fortran:
        raise DataError(f"{path}: 'imgs' is stored in Fortran order; expected C order")
    out = np.empty((NUM_IMAGES, PACKED_BYTES), dtype=np.uint8)
    pixels = SIZE * SIZE
    for first in range(0, NUM_IMAGES, _CHUNK):
        count = min(_CHUNK, NUM_IMAGES - first)
        raw = _read_exactly(f, count * pixels)
        if len(raw) != count * pixels:
            raise DataError(f"{path}: 'imgs' is truncated at image {first}; expected {shape}")
        chunk = np.frombuffer(raw, dtype=np.uint8).reshape(count, pixels)
        if chunk.max() > 1:
            bad = first + int(np.flatnonzero(chunk.max(axis=1) > 1)[0])
            raise DataError(
                f"{path}: 'imgs' image {bad} has value {int(chunk[bad - first].max())}; "
                "expected binary values 0/1"
            )
        out[order[first : first + count]] = np.packbits(chunk, axis=1)
    return out
