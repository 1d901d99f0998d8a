"""The conversion on a Dask cluster: a real ``dask scheduler`` and ``dask worker --nworkers 2`` on loopback,
each a separate process, as on SLURM or Kubernetes (docs/scale-out.md), driven by ``--runner DaskRunner``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagenet_convert.run.beam_args import DASK_RUNNER
from imagenet_convert.run.options import parse_args
from tests.support.cli import convert, output_files

pytest.importorskip("distributed", reason="needs the dask extra: pip install -c constraints.txt '.[dask]'")
from tests.support.services import dask_cluster, dask_worker_pids  # noqa: E402

SHARDS = ["--train-shards", "16", "--validation-shards", "4"]
"""More shards than the miniature's default: tasks enough for both workers, and a run to kill mid-way."""


def _dask(address: str) -> list[str]:
    return ["--runner", "DaskRunner", "--dask_client_address", address]


def _report(folder: Path) -> dict:
    return json.loads((folder / "run_report.json").read_text())


@pytest.mark.parametrize("name", ["DaskRunner", "dask", DASK_RUNNER])
def test_the_dask_runner_and_its_options_are_accepted(name: str) -> None:
    argv = ["--input", "/in", "--output", "/out", "--runner", name, "--dask_client_address", "tcp://h:8786"]
    options = parse_args(argv).runner.options.get_all_options()
    assert options["runner"] == DASK_RUNNER and options["address"] == "tcp://h:8786"
    assert options["partition_size"] == 1, "each shard is a task of its own"
    options = parse_args([*argv, "--dask_npartitions", "3"]).runner.options.get_all_options()
    assert options["npartitions"] == 3 and options["partition_size"] is None, "the user's choice wins"


def test_dask_options_without_the_dask_runner_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--input", "/in", "--output", "/out", "--dask_client_address=tcp://h:8786"])
    assert "--dask_client_address: Dask's options need --runner DaskRunner" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


@pytest.fixture(scope="module")
def local_output(mini_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    result = convert(mini_imagenet, out, *SHARDS, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
def test_dask_output_is_byte_identical_and_written_by_both_workers(
    mini_imagenet: Path, scheduler: str, local_output: Path, tmp_path: Path
) -> None:
    on_dask = convert(mini_imagenet, tmp_path, *SHARDS, *_dask(scheduler))
    assert on_dask.returncode == 0, on_dask.stderr
    assert output_files(tmp_path) == output_files(local_output)
    assert f"(DaskRunner, {scheduler})" in on_dask.stdout, "the summary names the runner"
    writers = {int(worker.rsplit(":", 1)[1]) for worker in _report(tmp_path)["shard_workers"].values()}
    assert writers == dask_worker_pids(scheduler), "each worker process writes shards, the launcher none"


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_no_bytes(
    mini_imagenet: Path, scheduler: str, local_output: Path, tmp_path: Path
) -> None:
    """Dask's nanny restarts the worker and the scheduler reruns its task elsewhere; should the run fail
    instead, it says so in one line, and the rerun resumes to the same bytes."""
    out = tmp_path / "dask"
    victim = min(dask_worker_pids(scheduler))
    command = [
        sys.executable, "-m", "imagenet_convert", "run", "--input", str(mini_imagenet), "--output", str(out),
        *SHARDS, *_dask(scheduler),
    ]  # fmt: skip
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = out / ".imagenet-convert" / "done"
    deadline = time.monotonic() + 120
    while not (done.is_dir() and any(done.iterdir())):  # the first shard is written: others are under way
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(victim, signal.SIGKILL)
    _, stderr = run.communicate(timeout=300)
    if run.returncode:
        assert stderr.strip().splitlines()[-1].startswith("error: "), stderr
    rerun = convert(mini_imagenet, out, *SHARDS, *_dask(scheduler))
    assert rerun.returncode == 0, rerun.stderr
    assert output_files(out) == output_files(local_output)
    assert victim not in dask_worker_pids(scheduler), "a new worker process replaced the killed one"
