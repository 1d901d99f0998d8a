"""What a miniature contains: classes, IDs, file names and which file carries which quirk.

Every decision is drawn from the seed in a fixed order, so a plan is a pure function of the
options. Quirks are dealt by quota (a rate with a minimum), so that a small miniature still has
every one of them and a full-size one has them at realistic rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imagenet_convert.fake.images import ImageKey
from imagenet_convert.fake.options import FakeOptions
from imagenet_convert.inputs.classes import imagenet1k_classes

TRAIN, VALIDATION = 0, 1
SPLITS = ("train", "validation")
"""Split names by ``ImageKey.split``."""

PNG_NAME = "n02105855_2933.JPEG"
"""The one PNG file with a .JPEG name in the real train archive."""

CMYK_NAMES = (
    "n01739381_1309.JPEG",
    "n02077923_14822.JPEG",
    "n02447366_23489.JPEG",
    "n02492035_15739.JPEG",
    "n02747177_10752.JPEG",
    "n03018349_4028.JPEG",
    "n03062245_4620.JPEG",
    "n03347037_9675.JPEG",
    "n03467068_12171.JPEG",
    "n03529860_11437.JPEG",
    "n03544143_17228.JPEG",
    "n03633091_5218.JPEG",
    "n03710637_5125.JPEG",
    "n03961711_5286.JPEG",
    "n04033995_2932.JPEG",
    "n04258138_17003.JPEG",
    "n04264628_27969.JPEG",
    "n04336792_7448.JPEG",
    "n04371774_5854.JPEG",
    "n04596742_4225.JPEG",
    "n07583066_647.JPEG",
    "n13037406_4650.JPEG",
)
"""The 22 CMYK JPEGs of the real train archive, one per class."""

REAL_TRAIN_TOTAL, MIN_PER_CLASS, MAX_PER_CLASS = 1_281_167, 732, 1300

Quota = tuple[float, int]
"""(rate, minimum): how many of the candidates get a quirk."""

TRAIN_KIND_QUOTAS: dict[str, Quota] = {
    "grayscale": (0.02, 2),
    "progressive": (0.005, 1),
    "exif_orientation": (0.005, 1),
}
VALIDATION_KIND_QUOTAS: dict[str, Quota] = {"cmyk": (0.0005, 1), "grayscale": (0.02, 1)}
TRAIN_XML_QUOTAS: dict[str, Quota] = {
    "box_past_border": (0.01, 1),
    "box_min_gt_max": (0.005, 1),
    "wrong_size": (0.01, 1),
    "multiple_objects": (0.1, 2),
    "foreign_wnid": (0.002, 1),
    "human_name": (0.01, 1),
    "percent_s_filename": (0.002, 1),
}
VALIDATION_XML_QUOTAS: dict[str, Quota] = {"multiple_objects": (0.1, 1), "box_past_border": (0.01, 1)}
ORPHAN_RATE = 0.001
"""XML files (per XML file) whose image is not in the train archive; at least one when any XML exists."""
BLACKLIST_RATE = 1762 / 50000


def _split_stem(name: str) -> tuple[str, int]:
    wnid, number = name.removesuffix(".JPEG").split("_")
    return wnid, int(number)


RESERVED = dict(_split_stem(name) for name in (PNG_NAME, *CMYK_NAMES))
"""WNID -> the number of its real quirk file."""


@dataclass(frozen=True)
class MiniClass:
    """A chosen class; ``label`` is Slim's (1 + index in sorted-WNID order)."""

    wnid: str
    words: str
    label: int
    ilsvrc_id: int
    numbers: list[int]
    """Its train images' numbers, ascending."""

    @property
    def reserved_kind(self) -> str | None:
        """``png`` or ``cmyk`` when this class has one of the real quirk files."""
        if self.wnid not in RESERVED:
            return None
        return "png" if f"{self.wnid}_{RESERVED[self.wnid]}.JPEG" == PNG_NAME else "cmyk"


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One image file: its name, what its pixels are, and its XML recipe (None: no XML)."""

    name: str
    key: ImageKey
    xml: str | None


def choose_wnids(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` real WNIDs, sorted; the PNG's class and two CMYK classes are always in when they fit."""
    png_class = _split_stem(PNG_NAME)[0]
    cmyk_classes = sorted(_split_stem(name)[0] for name in CMYK_NAMES)
    forced = [png_class, *(str(wnid) for wnid in rng.choice(cmyk_classes, 2, replace=False))][:count]
    rest = [wnid for wnid, _ in imagenet1k_classes() if wnid not in forced]
    extra = rng.choice(len(rest), count - len(forced), replace=False)
    return sorted([*forced, *(rest[i] for i in extra)])


def imagenet_counts(count: int, rng: np.random.Generator) -> list[int]:
    """Per-class train counts in [732, 1300] like the real ones; for 1000 classes they sum to 1,281,167.

    Most classes keep the full 1300; the shortfall (scaled to ``count`` classes) is cut from a few
    random classes, the first of which drops to exactly 732, the real minimum.
    """
    counts = np.full(count, MAX_PER_CLASS)
    shortfall = round(count * (1000 * MAX_PER_CLASS - REAL_TRAIN_TOTAL) / 1000)
    largest = MAX_PER_CLASS - MIN_PER_CLASS
    for position, index in enumerate(rng.permutation(count)):
        cut = min(shortfall, largest if position == 0 else int(rng.integers(1, largest + 1)))
        counts[index] -= cut
        shortfall -= cut
    return [int(c) for c in counts]


def unsorted_permutation(count: int, rng: np.random.Generator) -> list[int]:
    """1..count shuffled and never ascending (leaf IDs vs sorted WNIDs; the validation tar's order)."""
    order = rng.permutation(count) + 1
    if count > 1 and bool(np.all(np.diff(order) > 0)):
        order = order[::-1]
    return [int(i) for i in order]


def image_numbers(count: int, reserved: int | None, rng: np.random.Generator) -> list[int]:
    """``count`` distinct numbers for ``<wnid>_<n>.JPEG``: unpadded, scattered, ``reserved`` among them."""
    keep = [] if reserved is None else [reserved]
    drawn = rng.choice(20 * count + 10_000, size=count + 1, replace=False) + 1
    free = [int(n) for n in drawn if n != reserved][: count - len(keep)]
    return sorted([*keep, *free])


def deal(candidates: np.ndarray, quotas: dict[str, Quota], rng: np.random.Generator) -> dict[int, str]:
    """Give each quirk to its quota of distinct random candidates, while candidates last."""
    order = rng.permutation(candidates)
    dealt: dict[int, str] = {}
    start = 0
    for quirk, (rate, minimum) in quotas.items():
        stop = min(len(order), start + max(minimum, round(rate * len(candidates))))
        dealt.update((int(position), quirk) for position in order[start:stop])
        start = stop
    return dealt


class Plan:
    """Everything decided up front; per-class image lists are built on demand to keep memory small."""

    def __init__(self, options: FakeOptions) -> None:
        rng = np.random.default_rng(options.seed)
        self._seed, self._pool_size = options.seed, options.pool_size
        k = options.classes
        wnids = choose_wnids(k, rng)
        low, high = options.train_per_class
        counts = (
            imagenet_counts(k, rng) if options.imagenet_counts else rng.integers(low, high + 1, k).tolist()
        )
        ids = unsorted_permutation(k, rng)
        words = dict(imagenet1k_classes())
        self.classes = tuple(
            MiniClass(wnid, words[wnid], i + 1, ids[i], image_numbers(counts[i], RESERVED.get(wnid), rng))
            for i, wnid in enumerate(wnids)
        )
        self._offsets = np.cumsum([0, *counts]).tolist()
        self.train_total = self._offsets[-1]
        self._train_kinds = {
            self._offsets[c.label - 1] + c.numbers.index(RESERVED[c.wnid]): c.reserved_kind
            for c in self.classes
            if c.reserved_kind
        }
        ordinary = np.setdiff1d(np.arange(self.train_total), list(self._train_kinds))
        self._train_kinds.update(deal(ordinary, TRAIN_KIND_QUOTAS, rng))
        self._has_xml = rng.random(self.train_total) < options.box_fraction
        xml_quotas = {q: v for q, v in TRAIN_XML_QUOTAS.items() if k > 1 or q != "foreign_wnid"}
        self._train_xml = deal(np.flatnonzero(self._has_xml), xml_quotas, rng)
        xml_count = int(self._has_xml.sum())
        orphans = max(1, round(ORPHAN_RATE * xml_count)) if xml_count else 0
        self._orphans = np.bincount(rng.integers(0, k, orphans), minlength=k).tolist()
        m = options.val_images
        self._validation_classes = rng.permutation(np.arange(m) % k).tolist()
        self._validation_kinds = deal(np.arange(m), VALIDATION_KIND_QUOTAS, rng)
        self._validation_xml = deal(np.arange(m), VALIDATION_XML_QUOTAS, rng)
        self.validation_order = unsorted_permutation(m, rng)
        blacklisted = rng.choice(m, min(m, max(1, round(BLACKLIST_RATE * m))), replace=False)
        self.blacklist = sorted(int(i) + 1 for i in blacklisted)

    def _slot(self, index: int) -> int:
        return index % self._pool_size if self._pool_size else index

    def train_images(self, class_index: int) -> list[PlannedImage]:
        """The class's images in ascending number order."""
        cls, offset = self.classes[class_index], self._offsets[class_index]
        return [
            PlannedImage(
                f"{cls.wnid}_{number}.JPEG",
                ImageKey(TRAIN, class_index, self._train_kinds.get(offset + i, "rgb"), self._slot(i)),
                self._train_xml.get(offset + i, "clean") if self._has_xml[offset + i] else None,
            )
            for i, number in enumerate(cls.numbers)
        ]

    def train_member_order(self, class_index: int) -> list[int]:
        """Indices into ``train_images`` in the order the class tar stores them (not name order)."""
        count = len(self.classes[class_index].numbers)
        return np.random.default_rng([self._seed, TRAIN, class_index]).permutation(count).tolist()

    def orphan_images(self, class_index: int) -> list[PlannedImage]:
        """Images that have an XML file but are NOT in the train archive (numbers past the last one)."""
        cls = self.classes[class_index]
        numbers = (cls.numbers[-1] + 3 * (j + 1) for j in range(self._orphans[class_index]))
        return [
            PlannedImage(f"{cls.wnid}_{n}.JPEG", ImageKey(TRAIN, class_index, "rgb", n), "clean")
            for n in numbers
        ]

    def annotation_rng(self, split: int, class_index: int) -> np.random.Generator:
        """The random source of a class's XML files (validation: of the whole split), used in name order."""
        return np.random.default_rng([self._seed, 2 + split, class_index])

    def validation_images(self) -> list[PlannedImage]:
        """Validation images in name order (index 1..M); every one has an XML file."""
        return [
            PlannedImage(
                f"ILSVRC2012_val_{i + 1:08d}.JPEG",
                ImageKey(VALIDATION, c, self._validation_kinds.get(i, "rgb"), self._slot(i)),
                self._validation_xml.get(i, "clean"),
            )
            for i, c in enumerate(self._validation_classes)
        ]
