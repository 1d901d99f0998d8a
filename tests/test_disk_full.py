"""A disk that fills up mid-run: the run stops within seconds with one line, and resumes once space is freed.

The output lives on a small tmpfs the test mounts (CI runs as root); a filler takes the remaining space
as soon as the first shard is being written, i.e. after the launcher's free-space check passed.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.cli import convert, output_files
from tests.test_bad_input import _check_nothing_half_written

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs as root)"),
]


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill_once_writing(out: Path, filler: Path, launcher: list[psutil.Process]) -> None:
    """Wait for a shard's temporary file, note the run's processes, then take every free byte."""
    tmp = out / ".imagenet-convert" / "tmp"
    deadline = time.monotonic() + 120
    while not (tmp.is_dir() and any(p.name.endswith(".tmp") and "-of-" in p.name for p in tmp.iterdir())):
        if time.monotonic() > deadline:
            return
        time.sleep(0.005)
    launcher += [p for p in psutil.process_iter(["cmdline"]) if str(out) in " ".join(p.info["cmdline"] or [])]
    launcher += [child for p in list(launcher) for child in p.children(recursive=True)]
    with filler.open("wb") as sink, contextlib.suppress(OSError):
        while True:
            sink.write(bytes(1 << 18))
            sink.flush()


def test_full_disk_stops_the_run_with_one_line_and_the_rerun_resumes(
    mini_imagenet: Path, converted: Path, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "48m") as disk:
        out, filler, processes = disk / "out", disk / "filler", []
        fill = threading.Thread(target=_fill_once_writing, args=(out, filler, processes), daemon=True)
        fill.start()
        started = time.monotonic()
        result = convert(mini_imagenet, out, "--workers", "2")
        seconds = time.monotonic() - started
        fill.join(timeout=10)
        assert result.returncode == 1, result.stdout + result.stderr
        assert seconds < 60, f"took {seconds:.0f} s to stop"
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        # the free space left varies with what the disk's other files take: B, kB or MB
        assert f"{out}: the disk is full" in errors[0] and re.search(r"\d [kM]?B free", errors[0]), errors[0]
        assert "this run still needs about" in errors[0] and "run the same command again" in errors[0]
        assert processes, "the filler never saw the run write a shard"
        _, alive = psutil.wait_procs(processes, timeout=5)
        assert not alive, f"left running: {alive}"
        _check_nothing_half_written(out)

        filler.unlink()
        resumed = convert(mini_imagenet, out, "--workers", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert output_files(out) == output_files(converted)


def test_too_little_space_is_said_in_a_unit_that_fits(mini_imagenet: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "4m") as disk:
        result = convert(mini_imagenet, disk / "out", "--workers", "1")
    assert result.returncode == 1
    assert "but only 4." in result.stderr and " MB are free" in result.stderr, result.stderr
