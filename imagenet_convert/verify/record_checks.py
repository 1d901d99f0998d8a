"""One record against TF-Slim's format: keys, dtypes, constants, label, boxes, and (``--decode``) the image.

The schema is ``imagenet_convert.format.records``'s; each check adds its problem through ``add`` and goes on,
so one record reports every way it differs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from PIL import Image

from imagenet_convert.format.records import BOX_KEYS, CONSTANTS, KINDS, LISTS, SCALARS, parse_features


@dataclass(frozen=True)
class Rules:
    """What every record is checked against; sent once per shard to the worker processes."""

    num_leaf_classes: int
    texts: dict[int, str] | None
    decode: bool
    max_problems: int


def _typed(features: dict[str, tuple[str | None, list]], key: str, kind: str, add: Callable) -> list | None:
    """The values of ``key`` when it holds ``kind``, else None (and a problem)."""
    actual, values = features[key]
    if actual is None and not values and key not in SCALARS:
        return []  # an empty list written without a kind still parses as an empty VarLenFeature
    if actual != kind:
        add(f"{key} is a {actual or 'feature without values'}, Slim expects a {kind}")
        return None
    if key in SCALARS and len(values) != 1:
        add(f"{key} has {len(values)} values, Slim expects 1")
        return None
    return values


def _box_problems(values: dict[str, list | None], label: int | None, add: Callable) -> int:
    """Slim's box lists: equal lengths, normalized, non-empty, each labelled with the image label."""
    lists = [values[key] for key in (*BOX_KEYS, "image/object/bbox/label")]
    if any(v is None for v in lists):
        return 0
    lengths = {len(v) for v in lists}
    if len(lengths) > 1:
        add(f"box lists have different lengths {[len(v) for v in lists]} (xmin, ymin, xmax, ymax, label)")
        return 0
    for index, (xmin, ymin, xmax, ymax) in enumerate(zip(*lists[:4], strict=True)):
        if not all(0.0 <= v <= 1.0 for v in (xmin, ymin, xmax, ymax)):
            add(f"box {index} ({xmin:.4f}, {ymin:.4f}, {xmax:.4f}, {ymax:.4f}) is not within [0, 1]")
        elif not (xmin < xmax and ymin < ymax):
            add(f"box {index} ({xmin:.4f}, {ymin:.4f}, {xmax:.4f}, {ymax:.4f}) is empty or inverted")
    if label is not None and any(v != label for v in lists[4]):
        add(f"image/object/bbox/label {lists[4]} is not the image label {label} repeated")
    object_labels = values.get("image/object/class/label")
    if object_labels is not None and object_labels != lists[4]:
        add("image/object/class/label differs from image/object/bbox/label")
    return lengths.pop()


def _decode_problem(encoded: bytes, height: int, width: int) -> str | None:
    """Decode fully (header checks miss truncated scans) and compare with the recorded size."""
    try:
        with Image.open(io.BytesIO(encoded)) as image:
            image.load()
            kind = image.format
            size = image.convert("RGB").size
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return f"image/encoded does not decode: {exc}"
    if kind != "JPEG":
        return f"image/encoded is {kind}, but image/format says JPEG (Slim decodes it with decode_jpeg)"
    if size != (width, height):
        return f"image decodes to {size[0]}x{size[1]}, but the record says {width}x{height}"
    return None


def _schema(record: bytes, add: Callable[[str], None]) -> dict[str, list | None] | None:
    """Slim's keys, each with its values when it has the dtype Slim parses it with (else None)."""
    try:
        features = parse_features(record)
    except DecodeError:
        add("not a tf.train.Example")
        return None
    for key in sorted(set(features) - set(KINDS)):
        add(f"unexpected key {key}")
    for key in sorted((set(SCALARS) | set(LISTS)) - set(features)):
        add(f"missing key {key}")
    return {key: _typed(features, key, kind, add) if key in features else None for key, kind in KINDS.items()}


def check_record(record: bytes, rules: Rules, add: Callable[[str], None]) -> dict[str, Any] | None:
    """Check one serialized example as Slim's format; returns its scalar values and box count."""
    values = _schema(record, add)
    if values is None:
        return None
    value = {key: v[0] for key, v in values.items() if key in SCALARS and v}
    for key, constant in CONSTANTS.items():
        if key in value and value[key] != constant:
            add(f"{key} is {value[key]!r}, Slim's format has {constant!r}")
    label, text = value.get("image/class/label"), value.get("image/class/text")
    if label is not None and not 1 <= label <= rules.num_leaf_classes:
        add(f"label {label} is outside 1..{rules.num_leaf_classes}")
    expected_text = (rules.texts or {}).get(label)
    if expected_text is not None and text is not None and text.decode(errors="replace") != expected_text:
        add(f"image/class/text {text!r} differs from labels.txt's {expected_text!r} for label {label}")
    value["boxes"] = _box_problems(values, label, add)
    height, width = value.get("image/height"), value.get("image/width")
    if height is not None and width is not None and (height < 1 or width < 1):
        add(f"image size {width}x{height} is not positive")
    elif rules.decode and "image/encoded" in value and height and width:
        problem = _decode_problem(value["image/encoded"], height, width)
        if problem:
            add(problem)
    return value
