"""The page-cache-free writer: exactly the bytes written, at any size, after a fork too."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from imagenet_convert.storage.direct_file import BLOCK, DirectFile

SMALL = 2 * BLOCK
"""A buffer this small makes every test cross buffers and hand them to the helper thread."""


def _chunks(total: int, seed: int) -> list[bytes]:
    rng, chunks, left = random.Random(seed), [], total
    while left:
        size = min(left, rng.choice([1, 12, 300, BLOCK - 1, BLOCK, 3 * BLOCK + 5]))
        chunks.append(rng.randbytes(size))
        left -= size
    return chunks


@pytest.mark.parametrize("total", [0, 1, BLOCK - 1, BLOCK, SMALL, SMALL + 1, 7 * SMALL + 123])
@pytest.mark.parametrize("direct", [True, False])
def test_the_file_holds_exactly_the_bytes_written(tmp_path, total, direct):
    chunks = _chunks(total, seed=total)
    with DirectFile(str(tmp_path / "out"), SMALL, direct=direct) as sink:
        for chunk in chunks:
            assert sink.write(chunk) == len(chunk)
    assert (tmp_path / "out").read_bytes() == b"".join(chunks)


def test_a_file_that_exists_is_not_overwritten(tmp_path):
    (tmp_path / "out").write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        DirectFile(str(tmp_path / "out"))
    assert (tmp_path / "out").read_bytes() == b"kept"


def test_an_error_in_the_body_stops_without_writing_the_rest(tmp_path):
    with pytest.raises(RuntimeError), DirectFile(str(tmp_path / "out"), SMALL) as sink:
        sink.write(b"x" * (SMALL + 10))  # one buffer handed over, ten bytes still buffered
        raise RuntimeError("the image could not be read")
    assert (tmp_path / "out").stat().st_size == SMALL  # the caller deletes it (OutputDir.atomic)


def _write_in_child(path: str) -> None:
    with DirectFile(path, SMALL) as sink:
        sink.write(b"c" * (3 * SMALL + 1))


def test_a_forked_child_writes_with_its_own_helper_thread(tmp_path):
    with DirectFile(str(tmp_path / "parent"), SMALL) as sink:
        sink.write(b"p" * (3 * SMALL))  # the parent's helper thread now exists
    forking = multiprocessing.get_context("fork")
    child = forking.Process(target=_write_in_child, args=(str(tmp_path / "child"),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert (tmp_path / "child").read_bytes() == b"c" * (3 * SMALL + 1)
