"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from imagenet_convert.format import filenames


def run_cli(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m imagenet_convert ARGS``, with ``env`` added to the environment; returns the finished
    process (never raises on failure)."""
    command = [sys.executable, "-m", "imagenet_convert", *map(str, args)]
    environment = {**os.environ, **env} if env else None
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def _largest_rss(process: psutil.Process) -> int:
    """The resident memory of the largest process of ``process``'s tree now (0 once it is gone)."""
    sizes = [0]
    for member in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            sizes.append(member.memory_info().rss)
    return max(sizes)


def run_cli_measured(*args: str | Path, timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], int]:
    """``run_cli``, and the peak resident memory in bytes of the largest process of its tree (the
    command or one of its workers), polled every 20 ms. Not ``wait4``'s figure: a child started by
    ``vfork`` keeps its parent's high-water mark through ``exec``, so it reports this test session's own
    memory when that is larger."""
    command = [sys.executable, "-m", "imagenet_convert", *map(str, args)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        watched, peak = psutil.Process(process.pid), 0
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise subprocess.TimeoutExpired(command, timeout)
            peak = max(peak, _largest_rss(watched))
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    return result, peak


def convert(
    input_dir: Path, output_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A conversion with shard counts that suit the test miniature."""
    return run_cli(
        "run", "--input", input_dir, "--output", output_dir,
        "--train-shards", "4", "--validation-shards", "2", *extra, env=env,
    )  # fmt: skip


def convert_once(input_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh folder holding ``input_dir`` converted with two workers (for shared fixtures)."""
    out = tmp_path_factory.mktemp(name)
    result = convert(input_dir, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out


def output_files(folder: Path) -> dict[str, bytes]:
    """The visible files of an output folder (what readers and users see, index files included) by
    relative name; not the run report, whose timings differ from run to run."""
    files = (path.relative_to(folder) for path in sorted(folder.rglob("*")) if path.is_file())
    return {
        str(name): (folder / name).read_bytes()
        for name in files
        if name.parts[0] != filenames.WORK and str(name) != filenames.RUN_REPORT
    }
