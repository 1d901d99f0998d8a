"""The knobs of ``imagenet-convert fake``."""

from __future__ import annotations

from dataclasses import dataclass

from imagenet_convert.fake.images import TINY, ImageProfile

LAYOUTS = ("official", "extracted", "valprep", "kaggle-zip", "kaggle-tree")
"""See imagenet_convert.fake.layouts."""

DEFAULT_NOISE = 35.0
"""Noise std-dev (0-255 scale) that, with quality 90 and 200-500 px sides, gives the real ~110 KB mean."""


@dataclass(frozen=True)
class FakeOptions:
    """What miniature to generate. The defaults are the small test miniature with realistic images."""

    seed: int = 0
    classes: int = 10
    """How many of the 1000 real classes (chosen by seed; the PNG class and two CMYK classes first)."""
    train_per_class: tuple[int, int] = (20, 30)
    """Inclusive range of train images per class, drawn per class by seed."""
    imagenet_counts: bool = False
    """Ignore ``train_per_class``: real-like counts in [732, 1300], summing to 1,281,167 for 1000 classes."""
    val_images: int = 50
    box_fraction: float = 0.4
    """Share of train images with a bounding-box XML (the real archive: ~42%)."""
    tiny_images: bool = False
    """8-32 px images of a few hundred bytes (``min_side``, ``max_side``, ``quality``, ``noise`` unused)."""
    min_side: int = 200
    max_side: int = 500
    quality: int = 90
    noise: float = DEFAULT_NOISE
    """Pixel noise std-dev: the main knob of the mean JPEG size."""
    pool_size: int = 0
    """Distinct encoded images per class, kind and split, reused round-robin (0: every image unique)."""
    layout: str = "official"
    """How the download is laid out: official, extracted, valprep, kaggle-zip or kaggle-tree."""

    def __post_init__(self) -> None:
        low, high = self.train_per_class
        checks = {
            "classes must be in 1..1000": 1 <= self.classes <= 1000,
            "train_per_class must be a range 1 <= low <= high": 1 <= low <= high,
            "val_images must be >= 0": self.val_images >= 0,
            "box_fraction must be in [0, 1]": 0.0 <= self.box_fraction <= 1.0,
            "sides must satisfy 8 <= min_side <= max_side": 8 <= self.min_side <= self.max_side,
            "quality must be in 1..100": 1 <= self.quality <= 100,
            "noise and pool_size must be >= 0": self.noise >= 0 and self.pool_size >= 0,
            f"layout must be one of {', '.join(LAYOUTS)}": self.layout in LAYOUTS,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("; ".join(failed))

    def image_profile(self) -> ImageProfile:
        """How images are sized and compressed."""
        if self.tiny_images:
            return TINY
        return ImageProfile(self.min_side, self.max_side, self.quality, self.noise)
