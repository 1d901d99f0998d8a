"""The launcher's steps in this process: resume or refuse a saved plan, the lock, the output checks.

Each is what ``run`` does around the Beam pipeline; tests/test_convert_e2e.py and
tests/test_killed_runs.py check the same through the real command line, once each.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagenet_convert.errors import UsageError
from imagenet_convert.format import filenames
from imagenet_convert.plan.model import Plan, class_table
from imagenet_convert.plan.store import SavedPlan, manifest
from imagenet_convert.run import faults, pipeline, resume
from imagenet_convert.run.checks import OutputError, check_free_space, output_lock, prepare_output
from imagenet_convert.run.config import RunConfig
from imagenet_convert.run.markers import done_shards
from imagenet_convert.run.options import parse_args
from imagenet_convert.run.planning import discard_previous, load_or_build_plan
from imagenet_convert.run.report import RunReport
from imagenet_convert.run.stages import write_shard
from imagenet_convert.run.survey import survey
from imagenet_convert.storage.output import OutputDir


def arguments(folder: Path, out: Path, *extra: str) -> RunConfig:
    shards = ["--train-shards", "4", "--validation-shards", "2"]
    return parse_args(["--input", str(folder), "--output", str(out), *shards, *extra])


def planned(config: RunConfig, out: Path) -> tuple[Plan | None, RunReport]:
    """``load_or_build_plan`` as ``run`` calls it, after the survey of the input."""
    report = RunReport()
    return load_or_build_plan(config, survey(config), OutputDir(str(out)), report), report


def test_a_saved_plan_is_resumed_and_other_options_are_refused(small_imagenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, report = planned(arguments(small_imagenet, out), out)
    assert first is not None and "index_and_plan" in report.seconds
    again, report = planned(arguments(small_imagenet, out), out)
    assert again is not None and "load_plan" in report.seconds
    assert again.shards == [shard.summary() for shard in first.shards]  # summaries: no shard file read
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    for changed in (["--seed", "7"], ["--train-shards", "3"]):
        with pytest.raises(resume.ResumeError, match="other inputs or options") as refused:
            planned(arguments(small_imagenet, out, *changed), out)
        assert changed[0] in str(refused.value) and "--overwrite" in str(refused.value)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    overwritten, _ = planned(arguments(small_imagenet, out, "--seed", "7", "--overwrite"), out)
    assert overwritten is not None and overwritten.fingerprint != first.fingerprint


def test_a_dry_run_saves_no_plan(small_imagenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan, _ = planned(arguments(small_imagenet, out, "--dry-run"), out)
    assert plan is not None and not out.exists()


def _write_all(folder: Path, plan: Plan, out: Path) -> None:
    for shard in plan.shards:
        write_shard(OutputDir(str(out)), str(folder), shard, class_table(plan.classes), False)


def test_done_means_marker_shard_and_index(small_imagenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan, _ = planned(arguments(small_imagenet, out), out)
    assert plan is not None
    _write_all(small_imagenet, plan, out)
    names = [shard.name for shard in plan.shards]
    assert done_shards(OutputDir(str(out))) == set(names)
    (out / names[0]).unlink()
    (out / filenames.index_file(names[1])).unlink()
    assert done_shards(OutputDir(str(out))) == set(names[2:])


def test_overwrite_discards_only_what_the_tool_wrote(small_imagenet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan, _ = planned(arguments(small_imagenet, out), out)
    assert plan is not None
    _write_all(small_imagenet, plan, out)
    (out / "notes.txt").write_text("the user's own file")
    (out / filenames.LABELS).write_text("0:background\n")
    discard_previous(OutputDir(str(out)), SavedPlan.of(manifest(plan)))
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == ["notes.txt"]


def test_one_conversion_at_a_time_per_folder(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    held = rf"another conversion \(pid {os.getpid()}\) is writing here"
    with output_lock(out), pytest.raises(OutputError, match=held), output_lock(out):
        pass
    with output_lock(out):  # released when the first run ends
        pass


def test_an_output_that_cannot_be_written_is_said_before_anything_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UsageError, match="output folder is not writable.*choose another --output"):
        prepare_output(OutputDir(str(blocker / "out")))
    prepare_output(OutputDir(str(tmp_path / "fine")))
    assert not list((tmp_path / "fine" / filenames.TMP_FOLDER).iterdir()), "the probe is removed"


def test_too_little_free_space_stops_before_the_pipeline(tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    assert check_free_space(out, 1) is not None
    with pytest.raises(OutputError, match="needs about .* but only .* are free"):
        check_free_space(out, 1 << 62)


@pytest.mark.parametrize("option", ["--train-shards", "--validation-shards"])
def test_a_shard_count_below_one_is_a_usage_error(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--input", "in", "--output", "out", option, "0"])
    assert stopped.value.code == 2 and f"{option} must be at least 1" in capsys.readouterr().err


def test_a_failed_pipeline_says_the_workers_line_else_a_vanished_worker(tmp_path: Path) -> None:
    """Beam may report a killed worker itself ("Channel closed prematurely") before the watcher does."""
    out = OutputDir(str(tmp_path))
    lost = RuntimeError("Traceback (most recent call last):\n...\nChannel closed prematurely.")
    died = str(pipeline._pipeline_failure(out, lost, [], dead_worker=4321))
    assert "worker process 4321 ended" in died and "Beam said: Channel closed prematurely." in died
    assert died.endswith(faults.RESUME)
    failed = str(pipeline._pipeline_failure(out, lost, [], dead_worker=None))
    assert failed.startswith("the Beam pipeline failed: Channel closed prematurely.")
    own = "train-00000-of-00004: n01440764_1.JPEG: not an image"
    out.write_atomic(out.path(filenames.error("train-00000-of-00004")), f"{own}\n".encode())
    assert str(pipeline._pipeline_failure(out, lost, [], dead_worker=4321)) == own
