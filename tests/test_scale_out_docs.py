"""docs/scale-out.md and the Dockerfile stay true: every command line in the doc is accepted by the CLI's
own parser (and by the runner presets), and the worker image is built from what the launcher runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from imagenet_convert.run.options import parse_args
from pipelines.presets import PRESETS, worker_package_problem

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "scale-out.md"
COMMAND = re.compile(r"python -m (imagenet_convert run|pipelines\.\w+)\s(.*)")


def doc_commands() -> list[tuple[str, list[str]]]:
    """(entry point, arguments) of every conversion command in the doc's shell blocks."""
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [(m[1], shlex.split(m[2], comments=True)) for line in lines if (m := COMMAND.search(line))]


COMMANDS = doc_commands()


@pytest.fixture(autouse=True)
def _keep_filesystem_options() -> Iterator[None]:
    """``parse_args`` configures Beam's FileSystems for the whole process (the doc's endpoints): undo it."""
    saved = FileSystems._pipeline_options
    yield
    FileSystems.set_options(saved)


def test_the_doc_shows_every_entry_point() -> None:
    shown = {entry for entry, _ in COMMANDS}
    assert {"imagenet_convert run", "pipelines.dataflow", "pipelines.flink", "pipelines.spark"} <= shown
    assert any("DaskRunner" in argv for _, argv in COMMANDS)


@pytest.mark.parametrize(("entry", "argv"), COMMANDS, ids=[" ".join(a[:1] + a[-2:]) for _, a in COMMANDS])
def test_every_command_in_the_doc_is_accepted(entry: str, argv: list[str]) -> None:
    if entry.startswith("pipelines."):
        argv = PRESETS[entry.removeprefix("pipelines.")] + argv
    try:
        config = parse_args(argv)
    except SystemExit:
        pytest.fail(f"the CLI rejects: python -m {entry} {shlex.join(argv)}")
    shared = [path for path in (config.input, config.output) if "://" in path or path.startswith("/")]
    assert len(shared) == 2, "a cluster run needs shared storage: a bucket, or a file system all nodes mount"
    assert worker_package_problem(config.runner.options.get_all_options()) is None


def test_the_worker_image_runs_the_launchers_beam_and_the_pinned_install() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-beam==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.MULTILINE)
    assert pinned and f"ARG BEAM_VERSION={pinned[1]}\n" in dockerfile
    assert re.search(r"pip install .*-c constraints\.txt", dockerfile)
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
