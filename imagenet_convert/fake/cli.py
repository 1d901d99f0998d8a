"""``python -m imagenet_convert fake``: write a faithful miniature ILSVRC2012 download."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from imagenet_convert.fake import FakeOptions, generate
from imagenet_convert.fake.options import LAYOUTS

DEFAULTS = FakeOptions()

FULL_CARDINALITY: dict[str, Any] = {
    "classes": 1000,
    "imagenet_counts": True,
    "val_images": 50_000,
    "tiny_images": True,
    "pool_size": 16,
}
"""The real counts (1,281,167 train, 50,000 validation) with tiny pooled images: a scale test in minutes."""

EPILOG = """\
examples:
  python -m imagenet_convert fake --output demo/raw
      the default miniature: 10 classes, 20-30 train and 5 validation images per class, ~110 KB JPEGs
  python -m imagenet_convert fake --output bench --classes 100 --train-per-class 550 \\
      --val-images 5000 --pool-size 16
      60,000 realistic ~110 KB images for a throughput benchmark (pooled: pixels repeat within a class)
  python -m imagenet_convert fake --output scale --full-cardinality
      1000 classes, 1,281,167 train + 50,000 validation tiny images (a few hundred bytes each)

Besides the five archives the folder gets expected.json (what a correct conversion must produce) and
imagenet_2012_validation_synset_labels.txt (Slim's WNID form of the validation ground truth).
"""


def _count_range(text: str) -> tuple[int, int]:
    """``25`` or ``20-30`` (inclusive)."""
    low, _, high = text.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """Options left out stay out of the namespace, so presets and FakeOptions defaults fill them."""
    parser = argparse.ArgumentParser(
        prog="python -m imagenet_convert fake",
        description="Generate a faithful miniature ILSVRC2012 download: the five archives with their real "
        "names, layouts and quirks, real WNIDs, class-dependent images, and expected.json. "
        "The same options always give byte-identical files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--output", type=Path, required=True, help="folder to write into (created if missing)")
    add(
        "--seed",
        type=int,
        help=f"chooses classes, names, sizes, quirk files, pixels (default {DEFAULTS.seed})",
    )
    add("--classes", type=int, help=f"number of real classes, 1-1000 (default {DEFAULTS.classes})")
    add(
        "--train-per-class",
        type=_count_range,
        metavar="N|LOW-HIGH",
        help="train images per class, fixed or an inclusive range (default {}-{})".format(
            *DEFAULTS.train_per_class
        ),
    )
    add(
        "--imagenet-counts",
        action="store_true",
        help="real-like per-class counts in 732-1300, summing to 1,281,167 for 1000 classes",
    )
    add("--val-images", type=int, help=f"validation images (default {DEFAULTS.val_images})")
    add(
        "--box-fraction",
        type=float,
        help=f"share of train images with a bounding-box XML (default {DEFAULTS.box_fraction}; real ~0.42)",
    )
    add("--tiny-images", action="store_true", help="8-32 px images of a few hundred bytes, for scale tests")
    add("--min-side", type=int, help=f"smallest image side in px (default {DEFAULTS.min_side})")
    add("--max-side", type=int, help=f"largest image side in px (default {DEFAULTS.max_side})")
    add("--quality", type=int, help=f"JPEG quality (default {DEFAULTS.quality})")
    add(
        "--noise",
        type=float,
        help=f"pixel noise std-dev, the main knob of the mean file size (default {DEFAULTS.noise}: "
        "~110 KB with the default sides and quality, like the real archive)",
    )
    add(
        "--pool-size",
        type=int,
        help="encode only this many distinct images per class and kind and reuse them: much faster for "
        "benchmarks where pixels don't matter (default 0: every image unique)",
    )
    add(
        "--layout",
        choices=LAYOUTS,
        help="how the download is laid out (default official: the five archives); the others hold the very "
        "same images: extracted folders, valprep'd validation, Kaggle's ZIP or its unzipped tree",
    )
    add(
        "--full-cardinality",
        action="store_true",
        help="preset: "
        + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in FULL_CARDINALITY.items()
        )
        + " (explicit options override it)",
    )
    return parser


def _size(count: float) -> str:
    units = ("B", "KiB", "MiB", "GiB")
    power = 0
    while count >= 1024 and power < len(units) - 1:
        count /= 1024
        power += 1
    return f"{count:.0f} B" if power == 0 else f"{count:.1f} {units[power]}"


def describe(summary: dict[str, Any], seconds: float) -> str:
    """A short human summary of what ``generate`` made."""
    lines = [
        f"made a miniature ILSVRC2012 in {summary['output']} ({seconds:.1f} s)",
        f"  {summary['classes']} classes; train {summary['train_images']} images "
        f"({summary['train_xml_files']} XML files, {summary['train_boxes']} boxes); validation "
        f"{summary['validation_images']} images ({summary['validation_xml_files']} XML files, "
        f"{summary['validation_boxes']} boxes); mean image {_size(summary['mean_image_bytes'])}",
    ]
    width = max(map(len, summary["files"]))
    lines += [f"  {name:<{width}}  {_size(size):>10}" for name, size in summary["files"].items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Parse ``argv``, generate, print the summary; returns the exit code."""
    parser = build_parser()
    values = vars(parser.parse_args(argv))
    output = values.pop("output")
    if values.pop("full_cardinality", False):
        values = {**FULL_CARDINALITY, **values}
    try:
        options = FakeOptions(**values)
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    summary = generate(output, options, progress=True)
    print(describe(summary, time.perf_counter() - started))
    return 0
