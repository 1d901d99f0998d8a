"""``python -m imagenet_convert show OUTPUT``: a contact sheet of converted records, to look at them.

Counts and checksums cannot tell that boxes sit on the wrong objects or that the images are of
another class than their label says; a look can. This draws records chosen deterministically
across the split's shards (the same sheet every time), each with its class words, label, WNID and
size, and its boxes as outlines, into one PNG. With ``--class WNID`` the sheet shows one class.
Records are parsed by the project's own reader (no TensorFlow), shards read through Beam's
filesystems (local folders, gs://, s3://), and only as far as needed.
"""

from __future__ import annotations

import argparse
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from PIL import Image, ImageDraw, ImageFont

from imagenet_convert.errors import UsageError
from imagenet_convert.format import filenames
from imagenet_convert.format.index import parse_index
from imagenet_convert.format.records import BOX_KEYS, parse_example, read_records
from imagenet_convert.run.beam_args import parse_with_beam_options
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.storage.paths import is_local
from imagenet_convert.verify.command import folder_parser
from imagenet_convert.verify.metadata import load_info

THUMB = 180
"""Largest side of an image on the sheet, in pixels."""
PAD = 6
LINE = 14
CAPTION = 3 * LINE
CELL = (THUMB + 2 * PAD, THUMB + CAPTION + 2 * PAD)
"""(width, height) of one image's cell: the image, then three lines of caption."""
BOX_COLOUR = (255, 0, 255)
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
DIM = (160, 160, 160)


@dataclass
class Sheet:
    """The drawn sheet, and where its box outlines are (left, top, right, bottom), for checks."""

    image: Image.Image
    records: int
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def grid(count: int) -> tuple[int, int]:
    """(columns, rows) of a sheet of ``count`` images: as square as it gets, wider than tall."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return columns, max(1, math.ceil(count / columns))


def positions(sizes: list[int], count: int) -> dict[int, list[int]]:
    """{shard number: record numbers in it} of ``count`` records evenly spaced over the whole split,
    so the sheet samples every part of every shard whatever order the records were written in."""
    total, picked = sum(sizes), {}
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    for i in range(min(count, total)):
        position = (2 * i + 1) * total // (2 * min(count, total))
        shard = max(j for j, start in enumerate(starts) if start <= position)
        picked.setdefault(shard, []).append(position - starts[shard])
    return picked


def _open(out: OutputDir, name: str) -> BinaryIO:
    return FileSystems.open(out.path(name), compression_type=CompressionTypes.UNCOMPRESSED)


def _records(out: OutputDir, shard: str) -> Iterator[dict[str, list]]:
    with _open(out, shard) as stream:
        for record in read_records(stream):
            yield parse_example(record)


def _records_at(out: OutputDir, shard: str, numbers: list[int]) -> list[dict[str, list]]:
    """Those records of a shard: read where its index file says they are, or in one pass up to the
    last of them in a folder written before index files existed."""
    if not out.exists(out.path(filenames.index_file(shard))):
        head = islice(_records(out, shard), max(numbers) + 1)
        return [ex for number, ex in enumerate(head) if number in numbers]
    with _open(out, filenames.index_file(shard)) as stream:
        spans = parse_index(stream.read())
    found = []
    with _open(out, shard) as stream:
        for number in numbers:
            offset, length = spans[number]
            stream.seek(offset)
            found += [parse_example(record) for record in read_records(io.BytesIO(stream.read(length)))]
    return found


def choose(out: OutputDir, shards: list[dict], count: int, wnid: str | None) -> list[dict[str, list]]:
    """``count`` records evenly spaced over the split; for one class, its first ``count`` records."""
    if wnid is None:
        picked = positions([shard["num_records"] for shard in shards], count)
        return [ex for n, at in sorted(picked.items()) for ex in _records_at(out, shards[n]["name"], at)]
    chosen = []
    for shard in shards:
        chosen += [ex for ex in _records(out, shard["name"]) if ex["image/class/synset"][0].decode() == wnid]
        if len(chosen) >= count:
            break
    return chosen[:count]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def _fit(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    """``text``, cut with an ellipsis where it would overflow ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _thumbnail(encoded: bytes) -> Image.Image:
    """The image decoded at about sheet size (JPEG's draft mode skips most of the work), EXIF
    orientation ignored as TensorFlow's decoders (and so Slim's training) ignore it."""
    image = Image.open(io.BytesIO(encoded))
    image.draft("RGB", (THUMB, THUMB))
    image = image.convert("RGB")
    image.thumbnail((THUMB, THUMB))
    return image


def draw(examples: list[dict[str, list]]) -> Sheet:
    """One cell per record: image centred, box outlines, then words, ``label WNID``, ``WxH``."""
    columns, rows = grid(len(examples))
    sheet = Sheet(Image.new("RGB", (columns * CELL[0], rows * CELL[1]), BACKGROUND), len(examples))
    pen, font = ImageDraw.Draw(sheet.image), _font(11)
    for index, ex in enumerate(examples):
        left, top = (index % columns) * CELL[0] + PAD, (index // columns) * CELL[1] + PAD
        thumb = _thumbnail(ex["image/encoded"][0])
        x, y = left + (THUMB - thumb.width) // 2, top + (THUMB - thumb.height) // 2
        sheet.image.paste(thumb, (x, y))
        for xmin, ymin, xmax, ymax in zip(*(ex[key] for key in BOX_KEYS), strict=True):
            box = (
                x + round(xmin * (thumb.width - 1)),
                y + round(ymin * (thumb.height - 1)),
                x + round(xmax * (thumb.width - 1)),
                y + round(ymax * (thumb.height - 1)),
            )
            pen.rectangle(box, outline=BOX_COLOUR, width=2)
            sheet.boxes.append(box)
        label, wnid = ex["image/class/label"][0], ex["image/class/synset"][0].decode()
        size = f"{ex['image/width'][0]}x{ex['image/height'][0]}"
        boxes = len(ex[BOX_KEYS[0]])
        lines = (
            (ex["image/class/text"][0].decode(errors="replace"), TEXT),
            (f"{label}  {wnid}", TEXT),
            (size + (f", {boxes} box{'es' if boxes > 1 else ''}" if boxes else ""), DIM),
        )
        for number, (text, colour) in enumerate(lines):
            pen.text((left, top + THUMB + 2 + number * LINE), _fit(text, font, THUMB), fill=colour, font=font)
    return sheet


def _class_names(out: OutputDir) -> list[str] | None:
    """The WNIDs TFDS's class names file lists (None for folders without one)."""
    path = out.path(filenames.TFDS_CLASS_NAMES)
    return out.read_bytes(path).decode().split() if out.exists(path) else None


def check_destination(output: str, sheet: str) -> None:
    """Never into the converted folder: a ``train-sheet.png`` there would be read as a shard."""
    if not is_local(output):
        return
    folder, target = os.path.realpath(output), os.path.realpath(os.path.dirname(os.path.abspath(sheet)))
    if os.path.commonpath([folder, target]) == folder:
        raise UsageError(
            f"{sheet}: inside {output}, where Slim's <split>-* patterns would read it as a shard; "
            "pass --output with a path outside it"
        )


def show(output: str, split: str, count: int, sheet_path: str, wnid: str | None = None) -> Sheet:
    out = OutputDir(output)
    info = load_info(out)
    if split not in info["splits"]:
        raise UsageError(f"{output} has no split {split!r}; it has {', '.join(info['splits'])}")
    names = _class_names(out)
    if wnid is not None and names is not None and wnid not in names:
        raise UsageError(
            f"{wnid}: not one of the {len(names) - 1} classes of {output} (give a WNID, like n01440764)"
        )
    examples = choose(out, info["splits"][split]["shards"], count, wnid)
    if not examples:
        raise UsageError(f"{split} of {output} has no records" + (f" of class {wnid}" if wnid else ""))
    sheet = draw(examples)
    sheet.image.save(sheet_path, format="PNG", optimize=True)
    return sheet


def parser() -> argparse.ArgumentParser:
    p = folder_parser("show", __doc__, "0 sheet written, 2 nothing to show or a bad option")
    p.add_argument("--split", default="train", help="split to show (train)")
    p.add_argument("--count", type=int, default=36, help="images on the sheet (36)")
    p.add_argument("--class", dest="wnid", metavar="WNID", help="show only this class, e.g. n01440764")
    p.add_argument(
        "--output",
        dest="sheet",
        metavar="PNG",
        help="where to write the sheet (default: <split>-sheet.png here; never inside OUTPUT)",
    )
    return p


def main(argv: list[str]) -> int:
    p = parser()
    args, _ = parse_with_beam_options(p, argv)  # which also configures the filesystems
    if args.count < 1:
        p.error("--count must be at least 1")
    sheet_path = args.sheet or f"{args.split}-sheet.png"
    check_destination(args.output, sheet_path)
    sheet = show(args.output, args.split, args.count, sheet_path, args.wnid)
    columns, rows = grid(sheet.records)
    print(f"{sheet_path}: {sheet.records} {args.split} records ({columns}x{rows}), {len(sheet.boxes)} boxes")
    return 0
