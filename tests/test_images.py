"""Content sniffing and re-encoding of images built with Pillow (and compared with TensorFlow)."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imagenet_convert.inputs.images import BadImageError, ImageInfo, reencode_rgb_jpeg, sniff
from tests.support.bounds import cheap

WIDTH, HEIGHT = 64, 48  # not square, so a swapped width/height shows

# Slim re-encodes with TensorFlow; we with Pillow. Both are libjpeg-turbo, but TF's decode_jpeg
# defaults to the fast integer IDCT while Pillow uses the accurate one, and the result goes through
# one more JPEG round trip: allow small differences against Slim's exact path.
SLIM_MEAN_ABS, SLIM_MAX_ABS = 2.0, 40
# Against TF with dct_method="INTEGER_ACCURATE" the pixels should agree (0 measured): any
# systematic colour-conversion difference (rounding, CMYK polarity) shows up here.
ACCURATE_MEAN_ABS, ACCURATE_MAX_ABS = 0.25, 2


def pixels(channels: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth, photo-like test pattern (uint8, HxWxC) that JPEG keeps close to the original."""
    y, x = np.mgrid[0:height, 0:width]
    bands = [128 + 100 * np.sin(x / (7 + i) + y / (11 + 2 * i) + i) for i in range(channels)]
    return np.stack(bands, axis=-1).astype(np.uint8)


def picture(mode: str) -> Image.Image:
    """A Pillow image of ``mode`` with the test pattern."""
    if mode == "CMYK":
        return Image.fromarray(pixels(4), "CMYK")
    if mode == "P":
        return Image.fromarray(pixels(3), "RGB").quantize(32)
    return Image.fromarray(pixels(4), "RGBA").convert(mode)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def jpeg(mode: str = "RGB", **options) -> bytes:
    return encode(picture(mode), "JPEG", quality=90, **options)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, color_type: int, depth: int, rows: bytes, iend: bool = True) -> bytes:
    """A PNG assembled chunk by chunk (any header, including ones Pillow refuses to write)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + chunks + (png_chunk(b"IEND", b"") if iend else b"")


def gray16_png() -> bytes:
    """A 16-bit grayscale PNG (Pillow reads it as mode I;16)."""
    values = (pixels(1)[..., 0].astype(np.uint16) * 257 + np.arange(WIDTH)).astype(">u2")  # low byte varies
    return raw_png(WIDTH, HEIGHT, 0, 16, b"".join(b"\x00" + row.tobytes() for row in values))


def without_adobe_marker(data: bytes) -> bytes:
    """Drop the APP14 'Adobe' segment, leaving a CMYK JPEG whose values are not inverted."""
    start = data.index(b"\xff\xee")
    length, signature = struct.unpack_from(">H5s", data, start + 2)
    assert signature == b"Adobe"
    return data[:start] + data[start + 2 + length :]


def scan_start(data: bytes) -> int:
    """Byte offset of the JPEG SOS marker."""
    return data.index(b"\xff\xda")


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its SOF0 header patched to claim another size."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


# --- sniff: accepted images ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (jpeg("RGB"), ImageInfo("jpeg", WIDTH, HEIGHT, 3)),
        (jpeg("L"), ImageInfo("jpeg", WIDTH, HEIGHT, 1)),
        (jpeg("CMYK"), ImageInfo("jpeg", WIDTH, HEIGHT, 4)),
        (jpeg("RGB", progressive=True), ImageInfo("jpeg", WIDTH, HEIGHT, 3, progressive=True)),
        (jpeg("L", progressive=True), ImageInfo("jpeg", WIDTH, HEIGHT, 1, progressive=True)),
        (encode(picture("RGB"), "PNG"), ImageInfo("png", WIDTH, HEIGHT, 3)),
        (encode(picture("RGBA"), "PNG"), ImageInfo("png", WIDTH, HEIGHT, 3)),
        (encode(picture("P"), "PNG"), ImageInfo("png", WIDTH, HEIGHT, 3)),
        (encode(picture("L"), "PNG"), ImageInfo("png", WIDTH, HEIGHT, 1)),
    ],
    ids=["rgb", "gray", "cmyk", "progressive", "gray-progressive", "png-rgb", "png-rgba", "png-p", "png-l"],
)
def test_sniff_reads_the_header(data: bytes, expected: ImageInfo) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    ("data", "reencode", "quirk"),
    [
        (jpeg("RGB"), False, None),
        (jpeg("L"), False, "grayscale"),
        (jpeg("CMYK"), True, "cmyk"),
        (encode(picture("RGB"), "PNG"), True, "png"),
        (encode(picture("L"), "PNG"), True, "png"),
    ],
    ids=["rgb", "gray", "cmyk", "png-rgb", "png-gray"],
)
def test_needs_reencoding_exactly_png_and_cmyk(data: bytes, reencode: bool, quirk: str | None) -> None:
    info = sniff(data)
    assert (info.needs_reencoding, info.quirk) == (reencode, quirk)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_leaves_header_dimensions_unrotated(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation  # rotated by 90 degrees on display
    data = jpeg("RGB", exif=exif)
    assert Image.open(io.BytesIO(data)).getexif()[0x0112] == orientation
    assert (sniff(data).width, sniff(data).height) == (WIDTH, HEIGHT)


# --- sniff: rejected data -----------------------------------------------------------------------

JPEG = jpeg("RGB")
PNG = encode(picture("RGB"), "PNG")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (JPEG[: scan_start(JPEG) + (len(JPEG) - scan_start(JPEG)) // 2], "end-of-image"),
        (jpeg("RGB", progressive=True)[:-200], "end-of-image"),
        (JPEG[:-2], "end-of-image"),
        (JPEG[: scan_start(JPEG) - 10], "truncated"),
        (JPEG[:3], "truncated"),
        (JPEG[: scan_start(JPEG)] + b"\xff\xd9", "truncated|EOI"),
        (encode(picture("RGB"), "GIF"), "format this converter does not handle"),
        (encode(picture("RGB"), "BMP"), "format this converter does not handle"),
        (encode(picture("RGB"), "WEBP"), "format this converter does not handle"),
        (encode(picture("RGB"), "TIFF"), "format this converter does not handle"),
        (np.random.default_rng(0).bytes(4096), "not an image"),
        (PNG[: -len(png_chunk(b"IEND", b""))], "IEND"),
        (PNG[:-6], "truncated"),
        (PNG[:20], "truncated"),
        (raw_png(WIDTH, HEIGHT, 2, 8, b"", iend=True).replace(b"IHDR", b"xxxx"), "IHDR"),
        (with_jpeg_size(JPEG, 60_000, 60_000), "absurd dimensions"),
        (with_jpeg_size(JPEG, 0, HEIGHT), "empty image"),
        (raw_png(100_000, 100_000, 2, 8, b"\x00" * 64), "absurd dimensions"),
    ],
    ids=[
        "empty", "jpeg-cut-in-scan", "progressive-cut-in-scan", "jpeg-no-eoi", "jpeg-cut-in-header",
        "jpeg-soi-only", "jpeg-eoi-before-scan", "gif", "bmp", "webp", "tiff", "random-bytes",
        "png-no-iend", "png-cut-in-iend", "png-cut-in-ihdr", "png-no-ihdr", "jpeg-absurd-size",
        "jpeg-zero-width", "png-absurd-size",
    ],
)  # fmt: skip
def test_sniff_rejects(data: bytes, message: str) -> None:
    with pytest.raises(BadImageError, match=message):
        sniff(data)


def test_absurd_png_rejected_from_header_alone() -> None:
    """A 10^10-pixel PNG header costs neither time nor memory: nothing is decoded."""
    data = raw_png(100_000, 100_000, 2, 8, b"\x00" * 64)
    with cheap(max_seconds=0.05), pytest.raises(BadImageError, match="absurd"):
        sniff(data)


@settings(max_examples=150, deadline=None)
@given(
    source=st.sampled_from([JPEG, PNG, jpeg("L", progressive=True)]),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 10**6),
)
def test_sniff_raises_only_bad_image_error_on_damaged_data(source: bytes, edits: list, cut: int) -> None:
    """Corrupt or truncated data gives BadImageError (never struct.error, IndexError...)."""
    data = bytearray(source)
    for position, value in edits:
        data[position % len(data)] = value
    try:
        info = sniff(bytes(data[: cut % (len(data) + 1)]))
    except BadImageError:
        return
    assert info.format in ("jpeg", "png")


# --- re-encoding --------------------------------------------------------------------------------

REENCODED = {
    "cmyk": jpeg("CMYK"),
    "cmyk-no-adobe-marker": without_adobe_marker(jpeg("CMYK")),
    "png-rgb": encode(picture("RGB"), "PNG"),
    "png-rgba": encode(picture("RGBA"), "PNG"),
    "png-palette": encode(picture("P"), "PNG"),
    "png-gray16": gray16_png(),
}


@pytest.mark.parametrize("name", REENCODED)
def test_reencode_gives_baseline_rgb_jpeg(name: str) -> None:
    data, height, width = reencode_rgb_jpeg(REENCODED[name])
    assert (height, width) == (HEIGHT, WIDTH)
    assert sniff(data) == ImageInfo("jpeg", WIDTH, HEIGHT, 3, progressive=False)
    assert Image.open(io.BytesIO(data)).mode == "RGB"


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported only by the tests that compare with it (~5 s)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return pytest.importorskip("tensorflow")


def slim_reencode(tf, data: bytes, dct_method: str = "") -> bytes:
    """What TF-Slim's ``build_imagenet_data.py`` does to PNG and CMYK data."""
    if data.startswith(b"\x89PNG"):
        image = tf.io.decode_png(data, channels=3)
    else:
        image = tf.io.decode_jpeg(data, channels=0, dct_method=dct_method)
    return tf.io.encode_jpeg(image, format="rgb", quality=100).numpy()


@pytest.mark.parametrize("name", REENCODED)
def test_reencode_matches_tensorflow_slim_path(tf, name: str) -> None:
    ours, _, _ = reencode_rgb_jpeg(REENCODED[name])

    def decoded(data: bytes) -> np.ndarray:
        return tf.io.decode_jpeg(data, channels=3).numpy().astype(int)

    for dct_method, mean_bound, max_bound in (
        ("", SLIM_MEAN_ABS, SLIM_MAX_ABS),
        ("INTEGER_ACCURATE", ACCURATE_MEAN_ABS, ACCURATE_MAX_ABS),
    ):
        diff = np.abs(decoded(ours) - decoded(slim_reencode(tf, REENCODED[name], dct_method)))
        assert diff.shape == (HEIGHT, WIDTH, 3)
        assert diff.mean() < mean_bound and diff.max() < max_bound, (dct_method, diff.mean(), diff.max())
