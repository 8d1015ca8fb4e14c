"""Latent traversals: a PNG grid and an animated GIF (Higgins et al. 2017, fig. 7 style).

A traversal varies one latent dimension at a time while the others stay at a base code — a
seed image's code (the model's representation: the Gaussian posterior mean), or the prior
mean (zero) — and decodes each point. One row per dimension, rows ordered by the dimension's
average KL (informative dimensions first, collapsed ones last); for families whose dimensions
can be off (IBP), one row per active dimension, most used first. Each row is labelled
with that KL and, when the dataset has factors, the factor the dimension explains best with
its share of the factor's entropy and its MIG gap
(see :mod:`untwine.viz.latents`).

The range of a row is either a fixed ``interval`` of the latent value (``[-limit, limit]``,
in prior standard deviations, as in Higgins et al. and Chen et al.) or the ``quantile``
range of that dimension's posterior means over the data (default 5%-95%, evenly spaced),
which shows what the model actually uses and keeps every row inside the aggregate posterior.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from untwine.errors import ConfigError, UntwineError
from untwine.files import atomic_write_bytes
from untwine.viz._figure import mosaic, picture_axes, save_figure
from untwine.viz.latents import FactorMatch, LatentSummary, random_indices, summarize_latents

Mode = Literal["interval", "quantile"]

#: GIF layout, in pixels: the label strip left of the rows, the band on top that shows where
#: in the traversal a frame is, the padding after each tile and between seed columns.
GIF_LABEL_WIDTH = 132
GIF_HEADER = 14
PAD = 2
SEED_GAP = 10


@dataclass
class Traversal:
    """Decoded traversals and what each row shows.

    ``images`` (S, R, V, C, H, W) in [0, 1]: seed s, row r, value v. Row r varies dimension
    ``dims[r]`` over ``values[r]`` (V latent values); ``kl[r]`` is that dimension's average KL
    (nats) and ``matches[r]`` the factor it explains best (or None). ``seeds`` names each
    seed's base code.
    """

    images: np.ndarray
    values: np.ndarray
    dims: np.ndarray
    kl: np.ndarray
    matches: list[FactorMatch | None]
    seeds: list[str]
    mode: Mode
    column_labels: list[str]
    title: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(seeds, rows, values)."""
        s, r, v = self.images.shape[:3]
        return s, r, v

    def row_label(self, r: int, lines: int = 2) -> str:
        """``z3  KL 2.31`` and, with factors, ``posX 0.71 gap +0.52`` (newline-separated)."""
        head = f"z{self.dims[r]}  KL {self.kl[r]:.2f}"
        match = self.matches[r]
        tail = match.label() if match is not None else ""
        if lines == 1:
            return f"{head}  {tail}".rstrip()
        return f"{head}\n{tail}" if tail else head


def traversal_codes(base: np.ndarray, dims: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Codes (S, R, V, D): ``base`` (S, D) with dimension ``dims[r]`` set to ``values[r]``."""
    s, d = base.shape
    r, v = values.shape
    z = np.broadcast_to(base[:, None, None, :], (s, r, v, d)).copy()
    for row, dim in enumerate(dims):
        z[:, row, :, dim] = values[row]
    return z


def compute_traversal(
    run,
    summary: LatentSummary | None = None,
    *,
    seed_indices: list[int] | None = None,
    num_seeds: int = 2,
    prior: bool = False,
    mode: Mode = "quantile",
    limit: float = 2.0,
    quantiles: tuple[float, float] = (0.05, 0.95),
    num_values: int = 9,
    seed: int = 0,
) -> Traversal:
    """Traverse the latent dimensions of ``run`` in ``summary.order`` (by average KL, largest
    first; only the active ones, most used first, where the family switches them off).

    Args:
        run: a :class:`untwine.Run` (anything with ``encode``, ``decode``, ``dataset``).
        summary: the run's :class:`LatentSummary` (computed here when not given).
        seed_indices: dataset indices of the seed images; by default ``num_seeds`` drawn with
            ``numpy.random.default_rng(seed)``. Ignored when ``prior`` is set.
        prior: traverse around the prior mean (the zero code) instead of seed images.
        mode: ``"interval"`` (``linspace(-limit, limit)``) or ``"quantile"`` (between the
            ``quantiles`` of each dimension's posterior means).
        num_values: columns per row.
    """
    check_options(mode, num_values, quantiles)
    if summary is None:
        summary = summarize_latents(run, seed=seed)
    notes = []
    if mode == "quantile" and summary.mu.shape[0] == 0:
        notes.append("no posterior sample (dataset unavailable): fixed interval used")
        mode = "interval"
    data = None
    if not prior:
        try:
            data = run.dataset()
        except UntwineError as e:  # a viewer shows what it can
            notes.append(f"dataset unavailable ({e}); traversing the prior mean")
            prior = True

    z_dim = summary.z_dim
    if prior:
        base = np.zeros((1, z_dim), np.float32)
        seeds = ["prior mean"]
    else:
        if seed_indices is None:
            seed_indices = random_indices(len(data), num_seeds, seed)
        seed_indices = [int(i) for i in seed_indices]
        base = run.representation(data.images(seed_indices)).astype(np.float32)
        seeds = [f"image {i}" for i in seed_indices]

    dims = summary.order
    if mode == "interval":
        row = np.linspace(-limit, limit, num_values, dtype=np.float32)
        values = np.broadcast_to(row, (len(dims), num_values)).copy()
        column_labels = [f"{v:+.1f}" for v in row]
    else:
        lo, hi = summary.quantiles(*quantiles)
        values = np.stack([np.linspace(lo[d], hi[d], num_values) for d in dims]).astype(np.float32)
        column_labels = [""] * num_values
        column_labels[0] = f"{100 * quantiles[0]:g}%"
        column_labels[-1] = f"{100 * quantiles[1]:g}%"

    codes = traversal_codes(base, dims, values)
    decoded = run.decode(codes.reshape(-1, z_dim))
    images = decoded.reshape(*codes.shape[:3], *decoded.shape[1:])
    method = run.config.method.name
    return Traversal(
        images=images,
        values=values,
        dims=dims,
        kl=summary.kl[dims],
        matches=[summary.best_factor(int(d)) for d in dims],
        seeds=seeds,
        mode=mode,
        column_labels=column_labels,
        title=f"latent traversals ({method}, step {run.step})",
        notes=notes,
    )


def check_options(mode: str, num_values: int, quantiles: tuple[float, float]) -> None:
    """Validate traversal options at the boundary (one ConfigError naming the option)."""
    if mode not in ("interval", "quantile"):
        raise ConfigError(f"mode: expected 'interval' or 'quantile' (got {mode!r})")
    if not isinstance(num_values, int) or num_values < 2:
        raise ConfigError(f"num_values: expected an integer >= 2 (got {num_values!r})")
    low, high = quantiles
    if not 0.0 <= low < high <= 1.0:
        raise ConfigError(f"quantiles: expected 0 <= low < high <= 1 (got {low}, {high})")


# -- pictures ---------------------------------------------------------------------------------
def plot_traversal(traversal: Traversal, path: str | Path) -> Path:
    """Write the traversal as one PNG: a block per seed (side by side), one row per dimension.

    Rows are labelled on the left (dimension, KL in nats, best factor, its share and MIG gap);
    columns by their latent value (interval mode) or the quantile range (quantile mode).
    """
    s, r, v = traversal.shape
    h, w = traversal.images.shape[-2:]
    blocks = [mosaic(traversal.images[i], pad=PAD) for i in range(s)]
    gap = np.ones((blocks[0].shape[0], SEED_GAP, blocks[0].shape[2]), np.float32)
    parts = []
    for i, block in enumerate(blocks):
        parts += [gap, block] if i else [block]
    picture = np.concatenate(parts, axis=1)

    fig, ax = picture_axes(picture)
    ax.set_yticks([i * (h + PAD) + h / 2 for i in range(r)])
    ax.set_yticklabels([traversal.row_label(i) for i in range(r)], fontsize=7)
    block_w = v * (w + PAD) + SEED_GAP
    ax.set_xticks([b * block_w + c * (w + PAD) + w / 2 for b in range(s) for c in range(v)])
    ax.set_xticklabels(traversal.column_labels * s, fontsize=6)
    for b, name in enumerate(traversal.seeds):
        ax.text(b * block_w + (v * (w + PAD)) / 2, -4, name, ha="center", va="bottom", fontsize=7)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    where = "posterior-mean quantiles" if traversal.mode == "quantile" else "fixed interval"
    ax.set_title(f"{traversal.title}; {where}; rows by KL", fontsize=9, pad=14)
    return save_figure(fig, path)


def _font(size: int = 11) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow's built-in font: no font file is looked up on the system.
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def gif_frame_size(traversal: Traversal) -> tuple[int, int]:
    """(width, height) in pixels of every GIF frame."""
    s, r, _ = traversal.shape
    h, w = traversal.images.shape[-2:]
    return GIF_LABEL_WIDTH + s * (w + PAD) + (s - 1) * SEED_GAP, GIF_HEADER + r * (h + PAD)


def gif_frame_order(num_values: int) -> list[int]:
    """Column index of each frame: forward then back, the ends shown once per sweep."""
    forward = list(range(num_values))
    return forward + forward[-2:0:-1]


def gif_frames(traversal: Traversal) -> list[Image.Image]:
    """One frame per column of :func:`gif_frame_order`: every row at one traversal value,
    seeds side by side, row labels on the left and a position marker on top."""
    s, r, v = traversal.shape
    c, h, w = traversal.images.shape[-3:]
    width, height = gif_frame_size(traversal)
    mode = "L" if c == 1 else "RGB"
    ink = 0 if mode == "L" else (0, 0, 0)
    font = _font(11)
    # Labels and the track are the same in every frame: draw them once.
    template = Image.new(mode, (width, height), 255 if mode == "L" else (255, 255, 255))
    draw = ImageDraw.Draw(template)
    for i in range(r):
        draw.multiline_text(
            (4, GIF_HEADER + i * (h + PAD) + h / 2 - 12),
            traversal.row_label(i),
            fill=ink,
            font=font,
            spacing=2,
        )
    track_y = GIF_HEADER // 2
    draw.line([(GIF_LABEL_WIDTH, track_y), (width - 4, track_y)], fill=128 if c == 1 else ink)

    frames = []
    pixels = (np.clip(traversal.images, 0, 1) * 255 + 0.5).astype(np.uint8)
    for col in gif_frame_order(v):
        frame = template.copy()
        for seed in range(s):
            x0 = GIF_LABEL_WIDTH + seed * (w + PAD + SEED_GAP)
            for i in range(r):
                tile = pixels[seed, i, col].transpose(1, 2, 0)
                tile = Image.fromarray(tile[..., 0] if c == 1 else tile, mode)
                frame.paste(tile, (x0, GIF_HEADER + i * (h + PAD)))
        # The marker moves every frame, so no two neighbouring frames are identical and
        # Pillow never merges them (the frame count stays 2V - 2 even for a static grid).
        span = width - 4 - GIF_LABEL_WIDTH
        x = GIF_LABEL_WIDTH + span * (col / max(v - 1, 1))
        ImageDraw.Draw(frame).ellipse(
            [(x - 4, track_y - 4), (x + 4, track_y + 4)], fill=ink, outline=ink
        )
        frames.append(frame)
    return frames


def save_traversal_gif(traversal: Traversal, path: str | Path, frame_ms: int = 150) -> Path:
    """Write the traversal as an animated GIF (looping forever, ``frame_ms`` per frame)."""
    frames = gif_frames(traversal)
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=frame_ms,
        loop=0,
        disposal=1,
    )
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def draw_traversals(
    run,
    out_dir: str | Path | None = None,
    summary: LatentSummary | None = None,
    **options,
) -> tuple[Path, Path, Traversal]:
    """Compute the traversal of ``run`` and write ``traversals.png`` and ``traversals.gif``
    into ``out_dir`` (default: the run directory). ``options`` go to :func:`compute_traversal`.
    """
    out = Path(run.path if out_dir is None else out_dir)
    traversal = compute_traversal(run, summary, **options)
    png = plot_traversal(traversal, out / "traversals.png")
    gif = save_traversal_gif(traversal, out / "traversals.gif")
    return png, gif, traversal


def traverse_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    num_points: int = 10_000,
    seed: int = 0,
    **options,
) -> tuple[Path, Path]:
    """``untwine traverse``: load the run at ``run_dir``, summarise ``num_points`` of its
    images and write ``traversals.png`` and ``traversals.gif`` (into ``out_dir``, default the
    run directory). ``options`` go to :func:`compute_traversal`."""
    from untwine.train.run import load_run

    check_options(
        options.get("mode", "quantile"),
        options.get("num_values", 9),
        options.get("quantiles", (0.05, 0.95)),
    )
    run = load_run(run_dir)
    summary = summarize_latents(run, num_points=num_points, seed=seed)
    png, gif, _ = draw_traversals(run, out_dir, summary=summary, seed=seed, **options)
    return png, gif
