"""Synthetic images whose look depends on the class, encoded with the real archive's quirks.

Each class gets its own hue and stripe orientation and period, so a small CNN can tell classes
apart through random crops, flips and resizing; per-image jitter and noise keep images distinct
and give JPEGs the size of real photos. Pixels come from a seeded generator keyed by
``ImageKey``, so an image's size is known without rendering it and equal keys give equal bytes.
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

KINDS = ("rgb", "grayscale", "progressive", "exif_orientation", "cmyk", "png")
"""How an image is encoded; every kind but ``rgb`` is also the name of its quirk in expected.json."""

REENCODED_KINDS = frozenset({"png", "cmyk"})
"""Kinds a correct converter must decode and re-encode as RGB JPEG (the rest are stored as is)."""

EXIF_ORIENTATION = 6
"""'Rotate 90 CW' as cameras write it; TensorFlow's decoder ignores it, so sizes are the stored ones."""

_ASPECTS = (1.0, 1.25, 4 / 3, 4 / 3, 1.5, 1.5, 1.6, 16 / 9)
_NOISE_MARGIN = 64
_NOISE_STREAM = 7
"""Second seed word of the noise field's generator; image keys have five words, so never collide."""
_GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class ImageProfile:
    """Pixel dimensions and compression of the generated JPEGs."""

    min_side: int
    max_side: int
    quality: int
    noise: float
    optimize: bool = False


TINY = ImageProfile(min_side=8, max_side=32, quality=75, noise=0.0, optimize=True)
"""A few hundred bytes per image: for full-cardinality scale tests where pixels don't matter."""


@dataclass(frozen=True, slots=True)
class ImageKey:
    """Everything an image's pixels depend on (besides the run's seed and profile)."""

    split: int
    class_index: int
    kind: str
    slot: int


@dataclass(frozen=True)
class _ClassStyle:
    light: np.ndarray
    dark: np.ndarray
    angle: float
    period: float


@functools.cache
def _class_style(class_index: int, num_classes: int) -> _ClassStyle:
    # Hues spread evenly over the classes; orientation and period follow low-discrepancy
    # sequences so that classes with neighbouring hues still differ in texture.
    hue = class_index / num_classes
    light = np.array(colorsys.hsv_to_rgb(hue, 0.85, 0.95), np.float32) * 255
    dark = np.array(colorsys.hsv_to_rgb(hue, 0.6, 0.3), np.float32) * 255
    angle = math.pi * ((class_index * _GOLDEN) % 1.0)
    period = 0.06 + 0.2 * ((class_index * 0.7548776662) % 1.0)
    return _ClassStyle(light, dark, angle, period)


def _draw_size(rng: np.random.Generator, profile: ImageProfile) -> tuple[int, int]:
    """(width, height) like real photos: mostly a full long side, common aspect ratios, some portrait."""
    low, high = profile.min_side, profile.max_side
    long_side = high if rng.random() < 0.6 else int(rng.integers((low + high) // 2, high + 1))
    short_side = max(low, round(long_side / _ASPECTS[rng.integers(len(_ASPECTS))]))
    return (short_side, long_side) if rng.random() < 0.25 else (long_side, short_side)


def _render(
    style: _ClassStyle,
    size: tuple[int, int],
    rng: np.random.Generator,
    noise: np.ndarray | None,
    sigma: float,
) -> np.ndarray:
    width, height = size
    angle = style.angle + rng.normal(0.0, 0.05)
    period = style.period * min(width, height) * rng.uniform(0.85, 1.15)
    phase = rng.uniform(0.0, 2 * math.pi)
    tint = rng.uniform(0.92, 1.08, 3).astype(np.float32)
    offset_y, offset_x = rng.integers(0, _NOISE_MARGIN + 1, 2)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    wave = np.sin((xs * math.cos(angle) + ys * math.sin(angle)) * np.float32(2 * math.pi / period) + phase)
    mix = (0.5 + 0.5 * wave)[..., None]
    pixels = style.dark * tint + (style.light - style.dark) * tint * mix
    if noise is not None:
        pixels += sigma * noise[offset_y : offset_y + height, offset_x : offset_x + width]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _exif_orientation() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = EXIF_ORIENTATION
    return exif.tobytes()


def encode(pixels: np.ndarray, kind: str, profile: ImageProfile) -> bytes:
    """RGB pixels saved as ``kind``: CMYK the way Pillow writes it (Adobe marker), PNG under a .JPEG name."""
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if kind == "png":
        image.save(buffer, "PNG")
        return buffer.getvalue()
    options: dict[str, object] = {"quality": profile.quality, "optimize": profile.optimize}
    if kind == "grayscale":
        image = image.convert("L")
    elif kind == "cmyk":
        image = image.convert("CMYK")
    elif kind == "progressive":
        options["progressive"] = True
    elif kind == "exif_orientation":
        options["exif"] = _exif_orientation()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


class ImageFactory:
    """Sizes and encoded bytes by key; with ``cache`` (a pooled run) each key is rendered once."""

    def __init__(self, seed: int, num_classes: int, profile: ImageProfile, cache: bool) -> None:
        self._seed = seed
        self._num_classes = num_classes
        self._profile = profile
        self._noise: np.ndarray | None = None
        if cache:
            # Pooled keys repeat: remember each answer (bounded by classes x kinds x pool size).
            self.size = functools.cache(self.size)  # type: ignore[method-assign]
            self.encode = functools.cache(self.encode)  # type: ignore[method-assign]

    def _rng(self, key: ImageKey) -> np.random.Generator:
        return np.random.default_rng(
            [self._seed, key.split, key.class_index, KINDS.index(key.kind), key.slot]
        )

    def size(self, key: ImageKey) -> tuple[int, int]:
        """(width, height) of the image, without rendering it."""
        return _draw_size(self._rng(key), self._profile)

    def _noise_field(self) -> np.ndarray | None:
        # One standard-normal field per run; each image takes a window of it at a random offset,
        # which costs nothing per image and still compresses like sensor noise.
        if self._profile.noise <= 0:
            return None
        if self._noise is None:
            side = self._profile.max_side + _NOISE_MARGIN
            rng = np.random.default_rng([self._seed, _NOISE_STREAM])
            self._noise = rng.standard_normal((side, side, 3), dtype=np.float32)
        return self._noise

    def encode(self, key: ImageKey) -> bytes:
        """The file bytes of the image named by ``key``."""
        rng = self._rng(key)
        size = _draw_size(rng, self._profile)
        style = _class_style(key.class_index, self._num_classes)
        pixels = _render(style, size, rng, self._noise_field(), self._profile.noise)
        return encode(pixels, key.kind, self._profile)
