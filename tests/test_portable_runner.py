"""The portable runner contract: the conversion through Beam's Job API, with SDK workers in processes that
share nothing with the launcher (not its memory, not its working folder), as on Flink, Spark or Dataflow.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import convert, output_files
from tests.support.services import beam_portable_services

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def portable_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(job endpoint, worker pool endpoint, their folder): a job service and a worker pool on loopback."""
    workdir = tmp_path_factory.mktemp("beam_services")
    with beam_portable_services(workdir) as (job_endpoint, worker_pool):
        yield job_endpoint, worker_pool, workdir


def test_portable_runner_output_is_byte_identical_to_the_local_runner(
    mini_imagenet: Path, portable_services: tuple[str, str, Path], tmp_path: Path
) -> None:
    job_endpoint, worker_pool, workdir = portable_services
    local = convert(mini_imagenet, tmp_path / "local", "--workers", "2")
    assert local.returncode == 0, local.stderr
    # Relative paths: the workers run in the services' folder, not in this process's.
    portable = convert(
        Path(os.path.relpath(mini_imagenet)), Path(os.path.relpath(tmp_path / "portable")),
        "--runner", "PortableRunner", "--job_endpoint", job_endpoint,
        "--environment_type", "EXTERNAL", "--environment_config", worker_pool,
    )  # fmt: skip
    assert portable.returncode == 0, portable.stderr
    assert output_files(tmp_path / "portable") == output_files(tmp_path / "local")
    assert (tmp_path / "portable" / "run_report.json").is_file()
    assert [p.name for p in (tmp_path / "portable" / ".imagenet-convert").iterdir()] == ["plan.json"]
    assert "Starting worker" in (workdir / "worker_pool.log").read_text(), "no SDK worker process was started"
