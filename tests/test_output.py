"""The output folder's atomic writes: a file is seen under its final name only once complete."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from imagenet_convert.format import filenames
from imagenet_convert.storage.output import OutputDir, json_bytes


def _temporaries(folder: Path) -> list[Path]:
    tmp = folder / filenames.TMP_FOLDER
    return list(tmp.iterdir()) if tmp.exists() else []


def test_a_temporary_is_hidden_from_slims_patterns(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    first, second = out.temporary("train-00000-of-00004"), out.temporary("train-00000-of-00004")
    assert first != second, "two workers writing one shard never share a temporary"
    relative = Path(first).relative_to(tmp_path).as_posix()
    assert relative.startswith(f"{filenames.TMP_FOLDER}/") and relative.endswith(".tmp")
    assert not fnmatch.fnmatch(relative, filenames.shard_pattern("train"))


def test_publish_creates_the_folder_and_replaces_an_older_file(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    final = out.path(filenames.index_file("train-00000-of-00001"))
    for data in (b"old", b"new"):
        temporary = out.temporary("x")
        Path(temporary).parent.mkdir(parents=True, exist_ok=True)
        Path(temporary).write_bytes(data)
        out.publish(temporary, final)
        assert Path(final).read_bytes() == data
    assert not _temporaries(tmp_path)


def test_write_atomic_leaves_the_file_and_no_temporary(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    out.write_json(out.path(filenames.INFO), {"b": 1, "a": [2]})
    assert out.read_json(out.path(filenames.INFO)) == {"a": [2], "b": 1}
    assert (tmp_path / filenames.INFO).read_bytes() == json_bytes({"a": [2], "b": 1})
    assert not _temporaries(tmp_path)


def test_a_write_that_fails_half_way_leaves_nothing(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    temporary = out.temporary("train-00000-of-00001")
    with pytest.raises(RuntimeError, match="disk on fire"), out.removed_on_failure(temporary):
        Path(temporary).parent.mkdir(parents=True, exist_ok=True)
        Path(temporary).write_bytes(b"half a shard")
        raise RuntimeError("disk on fire")
    assert not _temporaries(tmp_path)
    assert not (tmp_path / "train-00000-of-00001").exists()


def test_sizes_and_delete(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    files = {"train-00000-of-00002": b"ab", "train-00001-of-00002": b"abc", "labels.txt": b""}
    for name, data in files.items():
        out.write_atomic(out.path(name), data)
    found = out.sizes(out.path(filenames.shard_pattern("train")))
    assert {Path(path).name: size for path, size in found.items()} == {
        "train-00000-of-00002": 2,
        "train-00001-of-00002": 3,
    }
    out.delete([*found, out.path("never-written")])
    assert out.sizes(out.path(filenames.shard_pattern("train"))) == {}
    assert (tmp_path / "labels.txt").exists()


def test_canonical_json_is_the_same_bytes_for_the_same_content() -> None:
    assert json_bytes({"b": 1, "a": 2}) == json_bytes({"a": 2, "b": 1})
    assert json_bytes({"b": 1, "a": 2}, compact=True) == b'{"a":2,"b":1}\n'


def test_the_root_keeps_no_trailing_slash(tmp_path: Path) -> None:
    assert OutputDir(f"{tmp_path}/").root == str(tmp_path)
    assert OutputDir("s3://bucket/prefix/").root == "s3://bucket/prefix"
    assert OutputDir("/").root == "/"
