"""A supersampled painter's canvas: every paint sets a class id and a colour; downsampling gives an
anti-aliased image and an exact per-pixel class map (the majority class of each pixel's sub-samples).

Appearance `consistent` (the world's design) paints what the renderer asks: parts have a typical look (skin tones,
hair colours, white eyes) with moderately varied global colour. Appearance `random` keeps every shape, texture and
shading pattern but gives each painted shape a uniformly random colour, from a random stream of its own, so a sample's
geometry and class map are identical under both (a control: parts that differ only by shape and position).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from benchmark.data.names import APPEARANCES
from klish.errors import ConfigError

__all__ = ["APPEARANCES", "Canvas"]


class Canvas:
    """Square canvas in normalised coordinates (x right, y down, both in [0, 1]) at `resolution * supersample`."""

    def __init__(self, resolution: int, supersample: int, rng: np.random.Generator,
                 appearance: str = "consistent") -> None:
        if appearance not in APPEARANCES:
            raise ConfigError(f"appearance must be one of {', '.join(APPEARANCES)}, got {appearance!r}")
        self.appearance = appearance
        # Spawned, not drawn: the shape stream (self.rng) is the same under both appearances.
        self._colour_rng = rng.spawn(1)[0] if appearance == "random" else None
        self.resolution = resolution
        self.supersample = supersample
        self.rng = rng
        n = resolution * supersample
        self.size = n
        coords = (np.arange(n, dtype=np.float32) + 0.5) / n
        self.Y, self.X = np.meshgrid(coords, coords, indexing="ij")  # [n, n] each
        self.labels = np.zeros((n, n), dtype=np.uint8)
        self.rgb = np.zeros((n, n, 3), dtype=np.float32)

    # ----------------------------------------------------------------------------------------------- shapes
    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Mask of a rotated ellipse and the normalised squared radius r2 (0 at the centre, 1 on the rim)."""
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = self.X - cx, self.Y - cy
        u = (c * dx + s * dy) / max(rx, 1e-6)
        v = (-s * dx + c * dy) / max(ry, 1e-6)
        r2 = u * u + v * v
        return r2 <= 1.0, r2

    def superellipse(self, cx: float, cy: float, rx: float, ry: float, power: float = 4.0) -> np.ndarray:
        """Mask of an axis-aligned rounded rectangle |x/rx|^p + |y/ry|^p <= 1."""
        u = np.abs((self.X - cx) / max(rx, 1e-6))
        v = np.abs((self.Y - cy) / max(ry, 1e-6))
        return u**power + v**power <= 1.0

    def polygon(self, points: list[tuple[float, float]] | np.ndarray) -> np.ndarray:
        """Mask of a simple polygon (even-odd rule), vertices in normalised coordinates."""
        pts = np.asarray(points, dtype=np.float32)
        inside = np.zeros_like(self.X, dtype=bool)
        x0, y0 = pts[-1]
        for x1, y1 in pts:
            crosses = (y1 > self.Y) != (y0 > self.Y)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_at = (x0 - x1) * (self.Y - y1) / (y0 - y1) + x1
            inside ^= crosses & (self.X < x_at)
            x0, y0 = x1, y1
        return inside

    def band(self, x0: float, y0: float, x1: float, y1: float, width: float) -> np.ndarray:
        """Mask of the points within `width / 2` of the segment (x0, y0)-(x1, y1)."""
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((self.X - x0) * dx + (self.Y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
        return (self.X - x0 - t * dx) ** 2 + (self.Y - y0 - t * dy) ** 2 <= (width / 2) ** 2

    # ---------------------------------------------------------------------------------------------- textures
    def noise(self, cells_y: int, cells_x: int | None = None) -> np.ndarray:
        """Smooth value noise in about [-1, 1] with `cells` random values across the canvas (anisotropic if two)."""
        cells_x = cells_y if cells_x is None else cells_x
        grid = self.rng.standard_normal((cells_y + 3, cells_x + 3)).astype(np.float32)
        # Separable cubic B-spline interpolation as two small matrix products (much faster than ndimage.zoom).
        return np.clip(_spline_matrix(self.size, cells_y) @ grid @ _spline_matrix(self.size, cells_x).T, -1.5, 1.5)

    def grain(self) -> np.ndarray:
        """Per-sub-pixel white noise (high frequency texture), standard normal."""
        return self.rng.standard_normal((self.size, self.size)).astype(np.float32)

    def fill(self, colour: np.ndarray | list[float], *, low: float = 0.0, high: float = 0.0,
             cells: int = 4, field: np.ndarray | None = None) -> np.ndarray:
        """A colour field [n, n, 3]: `colour` modulated by low-frequency noise (amplitude `low`, or the given
        `field`) and high-frequency grain (amplitude `high`)."""
        colour = np.asarray(colour, dtype=np.float32)
        mod = np.ones((self.size, self.size), dtype=np.float32)
        if field is not None:
            mod = mod + field
        elif low:
            mod = mod + low * self.noise(cells)
        if high:
            mod = mod + high * self.grain()
        return colour[None, None, :] * mod[..., None]

    # ------------------------------------------------------------------------------------------------ paint
    def paint(self, mask: np.ndarray, label: int, colour: np.ndarray | list[float],
              shade: np.ndarray | None = None) -> None:
        """Paint `mask` with class `label` and `colour` (a 3-vector or an [n, n, 3] field), times `shade`."""
        if not mask.any():
            return
        colour = np.asarray(colour, dtype=np.float32)
        value = colour if colour.ndim == 3 else np.broadcast_to(colour, self.rgb.shape)
        if shade is not None:
            value = value * shade[..., None]
        if self._colour_rng is not None:
            value = self._random_colour(value, mask)
        self.labels[mask] = label
        self.rgb[mask] = value[mask]

    def recolour(self, mask: np.ndarray, colour: np.ndarray | list[float], alpha: float = 1.0) -> None:
        """Change the colour (not the class) of `mask`: texture such as stripes, highlights or text."""
        colour = np.asarray(colour, dtype=np.float32)
        value = colour if colour.ndim == 3 else np.broadcast_to(colour, self.rgb.shape)
        if self._colour_rng is not None and mask.any():
            value = self._random_colour(value, mask)
        self.rgb[mask] = (1 - alpha) * self.rgb[mask] + alpha * value[mask]

    def _random_colour(self, value: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A uniformly random colour carrying `value`'s brightness pattern (texture and shading) over `mask`."""
        colour = self._colour_rng.uniform(0.05, 0.95, 3).astype(np.float32)
        brightness = value.mean(axis=-1)  # [n, n]
        relative = brightness / max(float(brightness[mask].mean()), 1e-3)
        return colour[None, None, :] * relative[..., None]

    def light(self, strength: float, angle: float, tint: np.ndarray | list[float] | None = None) -> None:
        """Global directional lighting: a linear brightness ramp across the canvas, optionally tinted."""
        ramp = 1.0 + strength * ((self.X - 0.5) * np.cos(angle) + (self.Y - 0.5) * np.sin(angle))
        self.rgb *= ramp[..., None]
        if tint is not None:
            self.rgb *= np.asarray(tint, dtype=np.float32)[None, None, :]

    # --------------------------------------------------------------------------------------------- finalise
    def finish(self, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Downsample: image uint8 [R, R, 3] (box-filtered sub-samples) and mask uint8 [R, R] (majority class)."""
        r, s = self.resolution, self.supersample
        rgb = np.clip(self.rgb, 0.0, 1.0).reshape(r, s, r, s, 3).mean(axis=(1, 3))
        image = np.round(rgb * 255.0).astype(np.uint8)
        blocks = self.labels.reshape(r, s, r, s)
        counts = np.stack([(blocks == k).sum(axis=(1, 3)) for k in range(n_classes)], axis=-1)
        mask = counts.argmax(axis=-1).astype(np.uint8)
        return image, mask


@lru_cache(maxsize=64)
def _spline_matrix(size: int, cells: int) -> np.ndarray:
    """[size, cells + 3] weights of the uniform cubic B-spline through `cells + 3` control values, scaled so the
    output of unit-variance control values has about unit variance."""
    t = (np.arange(size, dtype=np.float64) + 0.5) / size * cells  # position in cell units
    i = np.floor(t).astype(int)
    f = t - i
    basis = np.stack([(1 - f) ** 3, 3 * f**3 - 6 * f**2 + 4, -3 * f**3 + 3 * f**2 + 3 * f + 1, f**3], axis=1) / 6
    weights = np.zeros((size, cells + 3))
    for k in range(4):
        weights[np.arange(size), i + k] = basis[:, k]
    weights /= np.sqrt((weights**2).sum(axis=1, keepdims=True)).mean()
    return weights.astype(np.float32)


def jitter(rng: np.random.Generator, colour: list[float] | np.ndarray, amount: float) -> np.ndarray:
    """A colour with independent per-channel jitter of standard deviation `amount`, clipped to [0, 1]."""
    colour = np.asarray(colour, dtype=np.float32)
    return np.clip(colour + rng.normal(0.0, amount, 3).astype(np.float32), 0.0, 1.0)


def pick(rng: np.random.Generator, palette: list[list[float]], amount: float = 0.05) -> np.ndarray:
    """One palette colour chosen uniformly, jittered."""
    return jitter(rng, palette[int(rng.integers(len(palette)))], amount)


def clutter(canvas: Canvas, label: int, count: int, palette: list[list[float]] | None = None) -> None:
    """Random background shapes (ellipses and bars) painted with class `label`: distractors for the GAN."""
    rng = canvas.rng
    for _ in range(count):
        colour = rng.uniform(0.1, 0.9, 3) if palette is None else pick(rng, palette, 0.08)
        field = canvas.fill(colour, low=0.15, cells=3)
        if rng.random() < 0.5:
            mask, _ = canvas.ellipse(*rng.uniform(0, 1, 2), *rng.uniform(0.04, 0.25, 2), rng.uniform(0, np.pi))
        else:
            x0, y0 = rng.uniform(0, 1, 2)
            angle = rng.uniform(0, np.pi)
            length = rng.uniform(0.2, 0.8)
            mask = canvas.band(x0, y0, x0 + length * np.cos(angle), y0 + length * np.sin(angle),
                               rng.uniform(0.02, 0.08))
        canvas.paint(mask, label, field)
