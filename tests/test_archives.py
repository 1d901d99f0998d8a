"""In-place tar indexing on archives built with ``tarfile``: offsets, byte ranges and damage."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from imagenet_convert.inputs.archives import (
    ArchiveError,
    Member,
    _checksum,
    _index_with_tarfile,
    _plain_headers,
    index_tar,
    index_train,
    iter_small_members,
    read_member,
)
from tests.support.bounds import cheap

TRAIN = "ILSVRC2012_img_train.tar"
VAL = "ILSVRC2012_val.tar"
FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}


def image_bytes(name: str, size: int) -> bytes:
    """Distinct content per member, with sizes that are not multiples of 512."""
    seed = name.encode()
    return (seed * (size // len(seed) + 1))[:size]


def entry(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **attrs) -> tarfile.TarInfo:
    """A tar header of any type; regular files get ``data``'s size."""
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def make_tar(
    files: dict[str, bytes], specials: tuple[tarfile.TarInfo, ...] = (), fmt: int = tarfile.GNU_FORMAT
) -> bytes:
    """An uncompressed tar of regular ``files`` followed by special (link, device...) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in files.items():
            tar.addfile(entry(name, data), io.BytesIO(data))
        for info in specials:
            tar.addfile(info)
    return out.getvalue()


def class_images(wnid: str, count: int) -> dict[str, bytes]:
    return {f"{wnid}_{n * 7 + 3}.JPEG": image_bytes(f"{wnid}/{n}", 300 + 611 * n) for n in range(count)}


CLASSES = {
    "n01440764": class_images("n01440764", 3),
    "n01443537": class_images("n01443537", 1),
    "n15075141": class_images("n15075141", 4),
}
LONG_NAME_CLASS = {"n02085620": {"n02085620_" + "9" * 120 + ".JPEG": b"needs a GNU or pax long-name header"}}


def train_tar(
    fmt: int = tarfile.GNU_FORMAT, classes: dict[str, dict[str, bytes]] = CLASSES, **inner_tars: bytes
) -> bytes:
    """The train download's layout: an outer tar of ``<wnid>.tar`` class tars (some given ready-made)."""
    inner = {wnid: make_tar(files, fmt=fmt) for wnid, files in classes.items()} | inner_tars
    return make_tar({f"{wnid}.tar": data for wnid, data in inner.items()}, fmt=fmt)


def write(tmp_path: Path, data: bytes, name: str = TRAIN) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def index_bytes(data: bytes, archive: str = VAL) -> list[Member]:
    return index_tar(io.BytesIO(data), archive)


def member_offsets(data: bytes) -> dict[str, tuple[int, int]]:
    """{name: (header offset, data offset)} as ``tarfile`` itself sees them."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {info.name: (info.offset, info.offset_data) for info in tar}


def corrupt_block(data: bytes, offset: int) -> bytes:
    """``data`` with the 512-byte header block at ``offset`` overwritten by garbage."""
    return data[:offset] + b"\x17" * 512 + data[offset + 512 :]


# --- indexing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS.values(), ids=FORMATS.keys())
def test_index_train_offsets_read_exact_member_bytes(tmp_path: Path, fmt: int) -> None:
    classes = CLASSES if fmt == tarfile.USTAR_FORMAT else CLASSES | LONG_NAME_CLASS
    path = write(tmp_path, train_tar(fmt, classes))
    seen: list[tuple[str, int]] = []
    index = dict(index_train(path, TRAIN, on_class=lambda wnid, count, total: seen.append((wnid, count))))
    assert seen == [(wnid, len(files)) for wnid, files in classes.items()]
    assert {wnid: [m.name for m in members] for wnid, members in index.items()} == {
        wnid: list(files) for wnid, files in classes.items()
    }
    with open(path, "rb") as stream:
        for wnid, members in index.items():
            for member in members:
                assert member.size == len(classes[wnid][member.name])
                assert read_member(stream, member) == classes[wnid][member.name]


def test_index_flat_tar(tmp_path: Path) -> None:
    files = {f"ILSVRC2012_val_{n:08d}.JPEG": image_bytes(str(n), 100 * n + 1) for n in (3, 1, 2)}
    data = make_tar(files, specials=(entry("subdir", kind=tarfile.DIRTYPE),))
    members = index_bytes(data)
    assert [m.name for m in members] == list(files)  # tar order, directories skipped
    stream = io.BytesIO(data)
    assert {m.name: read_member(stream, m) for m in members} == files


def test_index_accepts_dot_slash_names_and_empty_tar() -> None:
    assert [m.name for m in index_bytes(make_tar({"./a.JPEG": b"a"}))] == ["a.JPEG"]
    assert index_bytes(make_tar({})) == []


def test_read_member_reports_short_read() -> None:
    with pytest.raises(ArchiveError, match="'x.JPEG': read 3 of 10 bytes"):
        read_member(io.BytesIO(b"abcdef"), Member("x.JPEG", 3, 10))


# --- damage -------------------------------------------------------------------------------------


def flat_damage(kind: str) -> bytes:
    """A flat tar of two members, damaged in one way."""
    data = make_tar({"a.JPEG": image_bytes("a", 1000), "b.JPEG": image_bytes("b", 1000)})
    _, (b_header, b_data) = member_offsets(data).values()
    return {
        "cut-in-data": data[: b_data + 500],
        "cut-in-padding": data[: b_data + 1000],
        "cut-at-boundary": data[: b_data + 1024],
        "cut-in-header": data[: b_header + 100],
        "corrupt-header": corrupt_block(data, b_header),
        "corrupt-first-header": corrupt_block(data, 0),
        "not-a-tar": b"this is not a tar at all" * 100,
    }[kind]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("cut-in-data", "member 'b.JPEG' claims 1000 bytes but the archive ends 500 bytes after its header"),
        ("cut-in-padding", "truncated or damaged after member 'b.JPEG'"),
        ("cut-at-boundary", "ends without an end-of-archive block"),
        ("cut-in-header", "ends without an end-of-archive block"),
        ("corrupt-header", "corrupt header at byte 1536"),
        ("corrupt-first-header", "not a readable tar"),
        ("not-a-tar", "not a readable tar"),
    ],
)
def test_index_rejects_damaged_tar(kind: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=f"^{VAL}: .*{message}"):
        index_bytes(flat_damage(kind))


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (entry("../evil.JPEG"), "'../evil.JPEG' is not a plain file name"),
        (entry(".."), "'..' is not a plain file name"),
        (entry("/etc/passwd"), "'/etc/passwd' is not a plain file name"),
        (entry("sub/dir.JPEG"), "'sub/dir.JPEG' is not a plain file name"),
        (entry("link.JPEG", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "'link.JPEG' is a link or device"),
        (entry("hard.JPEG", kind=tarfile.LNKTYPE, linkname="a.JPEG"), "'hard.JPEG' is a link or device"),
        (entry("tty.JPEG", kind=tarfile.CHRTYPE, devmajor=4, devminor=1), "'tty.JPEG' is a link or device"),
        (entry("sda.JPEG", kind=tarfile.BLKTYPE, devmajor=8), "'sda.JPEG' is a link or device"),
        (entry("fifo.JPEG", kind=tarfile.FIFOTYPE), "'fifo.JPEG' is a link or device"),
    ],
    ids=lambda value: value.name if isinstance(value, tarfile.TarInfo) else None,
)
def test_index_rejects_unsafe_members(info: tarfile.TarInfo, message: str) -> None:
    with pytest.raises(ArchiveError, match=f"^{VAL}: member {message}"):
        index_bytes(make_tar({"a.JPEG": b"a"}, specials=(info,)))


@pytest.mark.parametrize("name", ["README.txt", "n0144076.tar", "n01440764.tar.gz", "n01440764"])
def test_index_train_rejects_outer_member_not_a_class_tar(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, make_tar({"n01443537.tar": make_tar(CLASSES["n01443537"]), name: make_tar({})}))
    with pytest.raises(ArchiveError, match=f"^{TRAIN}: member '{name}' is not a class tar"):
        dict(index_train(path, TRAIN))


def test_index_train_rejects_outer_cut_inside_a_class_tar(tmp_path: Path) -> None:
    data = train_tar()
    _, inner_data = member_offsets(data)["n01443537.tar"]
    path = write(tmp_path, data[: inner_data + 700])
    with pytest.raises(ArchiveError, match=f"^{TRAIN}: member 'n01443537.tar' claims .* truncated"):
        dict(index_train(path, TRAIN))


@pytest.mark.parametrize(("header", "message"), [(0, "not a readable tar"), (1, "corrupt header")])
def test_index_train_rejects_corrupt_class_tar_header(tmp_path: Path, header: int, message: str) -> None:
    wnid = "n15075141"
    inner = make_tar(CLASSES[wnid])
    inner = corrupt_block(inner, list(member_offsets(inner).values())[header][0])
    path = write(tmp_path, train_tar(**{wnid: inner}))
    with pytest.raises(ArchiveError, match=f"^{TRAIN}/{wnid}.tar: .*{message}"):
        dict(index_train(path, TRAIN))


def absurd_member_tar(name: str, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A small member, then a header for ``name`` claiming 10**12 bytes, 8 KiB of data and no end."""
    header = entry(name)
    header.size = 10**12  # beyond ustar's 8 GiB: base-256 in GNU format, a size record in pax
    first_member = make_tar({"n01440764_1.JPEG": b"ok"}, fmt=fmt)[:1024]  # header + one data block
    return first_member + header.tobuf(fmt) + b"\x00" * 8192


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT], ids=["gnu-base256", "pax"])
def test_absurd_member_size_rejected_without_reading_it(fmt: int) -> None:
    data = absurd_member_tar("n01440764_2.JPEG", fmt)
    with (
        cheap(max_seconds=0.5),
        pytest.raises(ArchiveError, match="member 'n01440764_2.JPEG' claims 1000000000000 bytes"),
    ):
        index_bytes(data)


def test_absurd_class_tar_size_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, absurd_member_tar("n01440764.tar"))
    with pytest.raises(ArchiveError, match=f"^{TRAIN}: member 'n01440764.tar' claims 1000000000000 bytes"):
        dict(index_train(path, TRAIN))


# --- small archives -----------------------------------------------------------------------------


def gzipped_tar(files: dict[str, bytes]) -> bytes:
    """A .tar.gz like the devkit's: a directory, the ``files`` and a symlink (both skipped)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.addfile(entry("ILSVRC2012_devkit_t12/data", kind=tarfile.DIRTYPE))
        for name, data in files.items():
            tar.addfile(entry(name, data), io.BytesIO(data))
        tar.addfile(entry("ILSVRC2012_devkit_t12/link", kind=tarfile.SYMTYPE, linkname="data"))
    return out.getvalue()


SMALL = {
    "ILSVRC2012_devkit_t12/data/meta.mat": image_bytes("meta", 5000),
    "ILSVRC2012_devkit_t12/readme.txt": b"readme",
    "ILSVRC2012_devkit_t12/empty": b"",
    **{f"val/ILSVRC2012_val_{n:08d}.xml": random.Random(n).randbytes(700) for n in range(1, 9)},
}


def test_iter_small_members_of_tar_gz(tmp_path: Path) -> None:
    path = write(tmp_path, gzipped_tar(SMALL), "devkit.tar.gz")
    assert dict(iter_small_members(path, "devkit.tar.gz")) == SMALL
    plain = write(tmp_path, make_tar(SMALL), "plain.tar")
    assert dict(iter_small_members(plain, "plain.tar")) == SMALL


def gzip_cut_at(extra: int) -> bytes:
    """A download of a gzipped tar cut where the decompressed data ends ``extra`` bytes into the
    header of the first XML member (a sync flush puts a compressed-byte boundary exactly there)."""
    tar = make_tar(SMALL)
    cut = member_offsets(tar)["val/ILSVRC2012_val_00000001.xml"][0] + extra
    compressor = zlib.compressobj(wbits=31)  # gzip container
    return compressor.compress(tar[:cut]) + compressor.flush(zlib.Z_SYNC_FLUSH)


GZ = gzipped_tar(SMALL)
DAMAGED_GZ = {
    "cut-at-member-boundary": gzip_cut_at(0),
    "cut-in-header": gzip_cut_at(100),
    "cut-in-data": gzip_cut_at(600),
    "cut-30%": GZ[: len(GZ) * 3 // 10],
    "cut-in-gzip-trailer": GZ[:-4],
    "flipped-bit": GZ[:200] + bytes([GZ[200] ^ 0x10]) + GZ[201:],
}


@pytest.mark.parametrize("kind", DAMAGED_GZ)
def test_iter_small_members_rejects_damaged_tar_gz(tmp_path: Path, kind: str) -> None:
    """Any damage is an error: ``tarfile`` alone stops silently at a header cut short."""
    path = write(tmp_path, DAMAGED_GZ[kind], "devkit.tar.gz")
    with pytest.raises(ArchiveError, match="^devkit.tar.gz: cannot read"):
        dict(iter_small_members(path, "devkit.tar.gz"))


def test_iter_small_members_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="absent.tar.gz"):
        dict(iter_small_members(str(tmp_path / "absent.tar.gz"), "absent.tar.gz"))


# --- the fast header reader against tarfile -----------------------------------------------------

names = st.one_of(
    st.from_regex(r"(\./)?[A-Za-z0-9_]{1,20}\.JPEG", fullmatch=True),
    st.text(min_size=1, max_size=120),  # long names (GNU/pax headers), "..", slashes, any text
)
KINDS = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE]
members = st.lists(
    st.tuples(names, st.integers(0, 3000), st.sampled_from(KINDS)),
    max_size=8,
)


def index_or_error(read: Callable[[], list[Member]]) -> list[Member] | str:
    try:
        return read()
    except ArchiveError as exc:
        return str(exc)


@settings(max_examples=200, deadline=None)
@given(members=members, fmt=st.sampled_from(list(FORMATS.values())), cut=st.integers(0, 600))
def test_fast_index_is_tarfiles(members: list[tuple[str, int, bytes]], fmt: int, cut: int) -> None:
    """Any tar, whole or cut short: the same members, or the same error, as reading it with tarfile."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, size, kind in members:
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, 0 if kind == tarfile.DIRTYPE else size
            try:
                tar.addfile(info, io.BytesIO(image_bytes(name, info.size)))
            except ValueError:  # a name this format cannot hold: no such tar exists
                reject()
    data = out.getvalue()[: len(out.getvalue()) - cut * 7]
    fast = index_or_error(lambda: index_tar(io.BytesIO(data), "a.tar"))
    slow = index_or_error(lambda: _index_with_tarfile(io.BytesIO(data), "a.tar", 0, len(data)))
    assert fast == slow
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.tar.gz"
        path.write_bytes(gzip.compress(out.getvalue()))
        streamed = list(iter_small_members(str(path), "a.tar.gz"))
        with tarfile.open(path) as tar:
            assert streamed == [(m.name, tar.extractfile(m).read()) for m in tar if m.isreg()]


def test_the_generators_archives_take_the_fast_path(mini_imagenet: Path) -> None:
    """The official downloads are plain GNU headers with flat names, as the generator writes them."""
    with open(mini_imagenet / TRAIN, "rb") as stream:
        outer = _plain_headers(stream, TRAIN, 0, (mini_imagenet / TRAIN).stat().st_size)
        assert outer and all(_plain_headers(stream, m.name, m.offset, m.size) for m in outer)


@settings(max_examples=300, deadline=None)
@given(header=st.binary(min_size=512, max_size=512), zeros=st.integers(0, 512))
def test_header_checksum_is_exact(header: bytes, zeros: int) -> None:
    header = bytes(zeros) + header[zeros:]  # from all bytes set to all zeros
    assert _checksum(header) == sum(header[:148]) + 8 * 32 + sum(header[156:])
