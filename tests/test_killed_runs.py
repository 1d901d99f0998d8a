"""A conversion killed at any point resumes to byte-identical output; two at once are refused.

SIGKILL (nothing can be tidied), Ctrl-C and SIGTERM (one line, no traceback, nothing left running),
a worker lost to ``kill -9``, and inputs that change under a resume.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from imagenet_convert.fake import FakeOptions, generate
from tests.support import damage
from tests.support.cli import output_files

pytestmark = pytest.mark.slow

SHARDS = ["--train-shards", "12", "--validation-shards", "3", "--workers", "1"]


@pytest.fixture(scope="module")
def many_members(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thousands of tiny images: indexing takes long enough to be interrupted."""
    folder = tmp_path_factory.mktemp("many_members")
    generate(folder, FakeOptions(classes=60, train_per_class=(90, 110), val_images=60, tiny_images=True))
    return folder


RESUME_LINE = "interrupted; run the same command again to resume"


def _command(input_dir: Path, output_dir: Path, *extra: str) -> list[str]:
    run = ["run", "--input", str(input_dir), "--output", str(output_dir), *SHARDS, *extra]
    return [sys.executable, "-m", "imagenet_convert", *run]


def _complete(input_dir: Path, output_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = _command(input_dir, output_dir, *extra)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def reference(many_members: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The visible files of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    _complete(many_members, out)
    return output_files(out)


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


def _start(command: list[str], **options: object) -> subprocess.Popen[str]:
    """The command in its own process group, as a terminal runs it."""
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **options,  # type: ignore[call-overload]
    )


def _wait_for(process: subprocess.Popen[str], moment: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 120
    while not moment():
        assert process.poll() is None, f"the run ended before the moment came: {process.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.002)


def _kill_when(command: list[str], moment: Callable[[], bool], **options: object) -> None:
    """Start the command in its own process group and SIGKILL all of it once ``moment()`` holds."""
    process = _start(command, **options)
    try:
        _wait_for(process, moment)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.mark.parametrize("moment", [_indexing, _mid_shard, _between_shards], ids=lambda f: f.__name__[1:])
def test_killed_run_resumes_to_identical_output(
    moment: Callable[[Path], bool], many_members: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    killed, tmpdir = tmp_path / "killed", tmp_path / "tmpdir"
    tmpdir.mkdir()
    environment = {**os.environ, "TMPDIR": str(tmpdir)}
    _kill_when(_command(many_members, killed), lambda: moment(killed), env=environment)
    assert all(not p.name.endswith(".tmp") for p in killed.glob("*")), "no partial file under a final name"
    assert not list(tmpdir.iterdir()), "Beam's temporary folders belong in the output's work folder"
    _complete(many_members, killed)
    assert output_files(killed) == reference


INTERRUPTS = {
    "ctrl-c-while-indexing": (signal.SIGINT, True, _indexing),
    "ctrl-c-mid-shard": (signal.SIGINT, True, _mid_shard),
    "sigterm-to-the-launcher-mid-shard": (signal.SIGTERM, False, _mid_shard),
}


@pytest.mark.parametrize("case", sorted(INTERRUPTS))
def test_interrupt_stops_with_one_line_and_resumes(
    case: str, many_members: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    """Ctrl-C reaches the whole process group; batch schedulers and ``docker stop`` signal the launcher."""
    signum, to_group, moment = INTERRUPTS[case]
    out = tmp_path / "out"
    process = _start(_command(many_members, out))
    _wait_for(process, lambda: moment(out))
    ours = psutil.Process(process.pid).children(recursive=True)
    (os.killpg if to_group else os.kill)(process.pid, signum)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    assert time.monotonic() - sent < 10, "the run took long to stop"
    assert process.returncode == 128 + signum, stderr
    assert stderr.strip().splitlines()[-1] == RESUME_LINE and "Traceback" not in stderr, stderr
    _, alive = psutil.wait_procs(ours, timeout=0)
    assert not alive, f"still there when the command returned: {alive}"
    work = out / ".imagenet-convert"
    markers = sorted((work / "done").glob("*.json")) if (work / "done").is_dir() else []
    if markers:
        markers[0].unlink()  # its shard was written, its marker lost: the rerun writes it again
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    (work / "tmp" / "train-00001-of-00012.stale.tmp").write_bytes(b"half a shard")
    _complete(many_members, out)
    assert output_files(out) == reference


def _workers(process: subprocess.Popen[str]) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "apache_beam.runners.worker.sdk_worker_main" in child.cmdline():
                found.append(child)
    return found


def test_a_worker_killed_mid_run_ends_the_run_clearly(
    many_members: Path, reference: dict[str, bytes], tmp_path: Path
) -> None:
    """What the out-of-memory killer does: the run completes, or fails within seconds with one line."""
    out = tmp_path / "out"
    process = _start(_command(many_members, out, "--workers", "2"))
    _wait_for(process, lambda: _mid_shard(out) and len(_workers(process)) == 2)
    time.sleep(1)  # the killer strikes a worker that has been running (and watched) for a while
    ours = psutil.Process(process.pid).children(recursive=True)
    _workers(process)[0].kill()
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert time.monotonic() - sent < 30, "the run took long to notice"
    if process.returncode:
        assert process.returncode == 1 and "Traceback" not in stderr, stderr
        assert "worker process" in stderr and "run the same command again to resume" in stderr, stderr
    _, alive = psutil.wait_procs(ours, timeout=5)
    assert not alive, f"left running: {alive}"
    _complete(many_members, out)
    assert output_files(out) == reference


def _replace_keeping_size(path: Path) -> None:
    """Other bytes of the same length, and a newer modification time (a re-download, say)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.unlink()  # the test's input is a hard-linked clone: never write through the link
    path.write_bytes(bytes(data))
    os.utime(path, (time.time() + 10, time.time() + 10))


def test_inputs_changed_under_a_resume_are_refused(many_members: Path, tmp_path: Path) -> None:
    inputs, out = damage.clone(many_members, tmp_path / "in"), tmp_path / "out"
    _kill_when(_command(inputs, out), lambda: _between_shards(out))
    _replace_keeping_size(inputs / damage.VAL)
    refused = subprocess.run(_command(inputs, out), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert f"{inputs / damage.VAL} was modified since this conversion was planned" in refused.stderr
    assert "--overwrite" in refused.stderr and "--accept-changed-inputs" in refused.stderr
    _complete(inputs, out, "--accept-changed-inputs")
    os.utime(inputs / damage.VAL)  # a finished run says the same instead of reporting success
    again = subprocess.run(_command(inputs, out), capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "was modified since" in again.stderr, again.stdout
    with (inputs / damage.VAL).open("ab") as grown:
        grown.write(bytes(512))
    grown_run = subprocess.run(_command(inputs, out), capture_output=True, text=True, timeout=300)
    assert grown_run.returncode == 1 and f"{damage.VAL}: " in grown_run.stderr, grown_run.stderr


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
