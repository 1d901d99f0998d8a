"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m imagenet_convert ARGS``, with ``env`` added to the environment; returns the finished
    process (never raises on failure)."""
    command = [sys.executable, "-m", "imagenet_convert", *map(str, args)]
    environment = {**os.environ, **env} if env else None
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)


def convert(
    input_dir: Path, output_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A conversion with shard counts that suit the test miniature."""
    return run_cli(
        "run", "--input", input_dir, "--output", output_dir,
        "--train-shards", "4", "--validation-shards", "2", *extra, env=env,
    )  # fmt: skip


def output_files(folder: Path) -> dict[str, bytes]:
    """The visible files of an output folder (what a Slim reader or user sees), by name."""
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != "run_report.json"
    }
