"""A conversion killed with SIGKILL at any point resumes to byte-identical output; two at once are refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from imagenet_convert.fake import FakeOptions, generate
from tests.cli import output_files

pytestmark = pytest.mark.slow

SHARDS = ["--train-shards", "12", "--validation-shards", "3", "--workers", "1"]


@pytest.fixture(scope="module")
def many_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thousands of tiny images: indexing takes long enough to be interrupted."""
    folder = tmp_path_factory.mktemp("many_members")
    generate(folder, FakeOptions(classes=60, train_per_class=(90, 110), val_images=60, tiny_images=True))
    return folder


def _command(input_dir: Path, output_dir: Path) -> list[str]:
    run = ["run", "--input", str(input_dir), "--output", str(output_dir), *SHARDS]
    return [sys.executable, "-m", "imagenet_convert", *run]


def _complete(input_dir: Path, output_dir: Path) -> None:
    result = subprocess.run(_command(input_dir, output_dir), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def _work(output_dir: Path) -> Path:
    return output_dir / ".imagenet-convert"


def _indexing(out: Path) -> bool:
    return (_work(out) / "lock").exists() and not (_work(out) / "plan.json").exists()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # published (renamed) between listing and looking
        return 0


def _mid_shard(out: Path) -> bool:
    """A shard's temporary file (not a plan or marker file's) holds some records."""
    tmp = _work(out) / "tmp"
    shards = [p for p in tmp.iterdir() if ".json." not in p.name] if tmp.is_dir() else []
    return any(_size(p) > 0 for p in shards)


def _between_shards(out: Path) -> bool:
    done, tmp = _work(out) / "done", _work(out) / "tmp"
    return done.is_dir() and any(done.iterdir()) and not any(tmp.iterdir())


def _kill_when(command: list[str], moment: Callable[[], bool]) -> None:
    """Start the command in its own process group and SIGKILL all of it once ``moment()`` holds."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    try:
        while not moment():
            assert process.poll() is None, "the run ended before the moment to kill it came"
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("moment", [_indexing, _mid_shard, _between_shards], ids=lambda f: f.__name__[1:])
def test_killed_run_resumes_to_identical_output(
    moment: Callable[[Path], bool], many_members: Path, tmp_path: Path
) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    _complete(many_members, reference)
    _kill_when(_command(many_members, killed), lambda: moment(killed))
    assert all(not p.name.endswith(".tmp") for p in killed.glob("*")), "no partial file under a final name"
    _complete(many_members, killed)
    assert output_files(killed) == output_files(reference)


def test_second_conversion_on_the_same_folder_is_refused(many_members: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = subprocess.Popen(
        _command(many_members, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while not (_work(out) / "plan.json").exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.01)
        second = subprocess.run(_command(many_members, out), capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "another conversion" in second.stderr and "pid" in second.stderr
    finally:
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
