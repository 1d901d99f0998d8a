"""Image content sniffing: format, size and colour model from the header, never a full decode.

The converter stores ordinary JPEGs byte for byte, so all it needs per image is a cheap
structural check and the header fields. Only PNG data and CMYK/YCCK JPEGs are decoded, to be
re-encoded as RGB JPEGs the way TF-Slim's ``build_imagenet_data.py`` does.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_PIXELS = 89_478_485
"""Pillow's decompression-bomb limit: larger headers are rejected before any allocation."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


class BadImageError(ValueError):
    """The bytes are not an image this converter can store (empty, truncated, unknown format...)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header says about an image."""

    format: str  # "jpeg" or "png"
    width: int
    height: int
    components: int
    progressive: bool = False

    @property
    def needs_reencoding(self) -> bool:
        """PNG data and 4-component (CMYK/YCCK) JPEGs: Slim re-encodes exactly these."""
        return self.format == "png" or self.components == 4

    @property
    def quirk(self) -> str | None:
        """The quirk name used in reports and ``expected.json``."""
        if self.format == "png":
            return "png"
        return {4: "cmyk", 1: "grayscale"}.get(self.components)


def _check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise BadImageError(f"header claims an empty image ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise BadImageError(f"header claims absurd dimensions {width}x{height} (limit {MAX_PIXELS} pixels)")


def _sniff_jpeg(data: bytes) -> ImageInfo:
    pos, frame = 2, None
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise BadImageError(f"JPEG marker segments broken at byte {pos} (truncated or corrupt)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE_MARKERS:
            pos += 2
            continue
        if marker == 0xD9:
            raise BadImageError("JPEG ends before its image data (EOI before SOS)")
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segment_end = pos + 2 + length
        if length < 2 or segment_end > len(data):
            raise BadImageError(f"JPEG segment at byte {pos} runs past the end of the data (truncated)")
        if marker in _SOF_MARKERS:
            if length < 8:
                raise BadImageError("JPEG frame header too short")
            height, width = struct.unpack_from(">HH", data, pos + 5)
            frame = (width, height, data[pos + 9], marker == 0xC2 or marker == 0xCA)
        elif marker == 0xDA:
            break
        pos = segment_end
    if frame is None:
        raise BadImageError("JPEG has no frame header (SOF) before its scan")
    if data.rfind(b"\xff\xd9", segment_end) < 0:
        raise BadImageError("JPEG has no end-of-image marker after its scan (truncated)")
    width, height, components, progressive = frame
    _check_dimensions(width, height)
    if components not in (1, 3, 4):
        raise BadImageError(f"JPEG with {components} components is not supported")
    return ImageInfo("jpeg", width, height, components, progressive)


def _sniff_png(data: bytes) -> ImageInfo:
    pos, header, end_seen = 8, None, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if pos + 12 + length > len(data):
            raise BadImageError(f"PNG chunk {kind!r} at byte {pos} runs past the end of the data (truncated)")
        if kind == b"IHDR" and length >= 13:
            width, height = struct.unpack_from(">II", data, pos + 8)
            header = (width, height, data[pos + 17])
        pos += 12 + length
        if kind == b"IEND":
            end_seen = True
            break
    if header is None:
        raise BadImageError("PNG without an IHDR chunk")
    if not end_seen:
        raise BadImageError("PNG without an IEND chunk (truncated)")
    width, height, color_type = header
    _check_dimensions(width, height)
    return ImageInfo("png", width, height, {0: 1, 4: 1}.get(color_type, 3))


def sniff(data: bytes) -> ImageInfo:
    """Identify and structurally check one image by content; raises :class:`BadImageError`."""
    if not data:
        raise BadImageError("empty file")
    if data[:3] == b"\xff\xd8\xff":
        return _sniff_jpeg(data)
    if data.startswith(_PNG_SIGNATURE):
        return _sniff_png(data)
    kind = {b"GIF8": "GIF", b"BM": "BMP", b"RIFF": "RIFF/WebP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}
    for magic, name in kind.items():
        if data.startswith(magic):
            raise BadImageError(f"{name} data: an image format this converter does not handle")
    raise BadImageError("not an image (neither JPEG nor PNG data)")


def _cmyk_to_rgb(cmyk: np.ndarray, adobe: bool) -> Image.Image:
    """TensorFlow's CMYK -> RGB (``decode_jpeg``), from Pillow's CMYK values.

    Pillow always assumes Adobe polarity (stored values inverted) and rounds; TensorFlow inverts
    only when the JPEG has an Adobe APP14 marker and truncates. Reproduce TensorFlow exactly.
    """
    # Pillow's values are 255 - stored; TF's RGB is (stored C * stored K) // 255 with an Adobe
    # marker, else (255 - stored C) * (255 - stored K) // 255.
    ink = 255 - cmyk if adobe else cmyk
    rgb = ink[..., :3] * ink[..., 3:] // 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def reencode_rgb_jpeg(data: bytes) -> tuple[bytes, int, int]:
    """Decode PNG or CMYK/YCCK data and encode an RGB JPEG at quality 100, as Slim does.

    Slim uses TensorFlow's ``encode_jpeg(format='rgb', quality=100)``; libjpeg through Pillow gives
    the same pixels within JPEG rounding, without importing TensorFlow in every worker.
    """
    with Image.open(io.BytesIO(data)) as image:
        if image.mode == "CMYK":
            rgb = _cmyk_to_rgb(np.asarray(image, dtype=np.uint16), adobe="adobe" in image.info)
        elif image.mode in ("I", "I;16", "I;16B"):  # 16-bit grayscale PNG: keep the high byte, as libpng
            rgb = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L").convert("RGB")
        else:
            rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=100, subsampling="4:2:0")
    return out.getvalue(), rgb.height, rgb.width
