"""The ``run`` command's configuration: its command line as one typed, frozen value, built once.

Every later step reads what it needs from here (the plan's options, the resume policy, the runner)
instead of the parsed command line, and Beam's ``PipelineOptions`` are built once, with the defaults
our local runs need (``Runner.of``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.inputs.layouts.locators import ReadAhead
from imagenet_convert.plan.model import PlanOptions
from imagenet_convert.run.beam_args import DASK_RUNNER

LOCAL_RUNNER = "FnApiRunner"


@dataclass(frozen=True)
class ResumePolicy:
    """What a rerun may do to a folder holding an earlier run (``resume.py`` says when it may go on)."""

    overwrite: bool = False
    """Discard an earlier run that does not fit, with every file it wrote."""
    accept_changed_inputs: bool = False
    """Resume although an input's modification time changed since it was planned."""
    dry_run: bool = False
    """Decide and print, but write nothing."""


@dataclass(frozen=True)
class Runner:
    """The Beam runner and its options; ``beam_args`` also travel to the workers (their filesystems)."""

    beam_args: tuple[str, ...]
    workers: int
    options: PipelineOptions = field(compare=False, repr=False)

    @classmethod
    def of(cls, workers: int, beam_args: list[str]) -> Runner:
        """A local multi-process runner unless the user chose a runner (never Prism's download).

        On Dask every shard is a task of its own unless the user says otherwise: Beam's Dask runner
        would put 128 shards in each task, leaving all but a few workers idle.
        """
        if not any(arg.startswith("--runner") for arg in beam_args):
            beam_args = [
                f"--runner={LOCAL_RUNNER}", "--direct_running_mode=multi_processing",
                f"--direct_num_workers={workers}", *beam_args,
            ]  # fmt: skip
        elif PipelineOptions(beam_args).get_all_options()["runner"] == DASK_RUNNER and not any(
            arg.startswith(("--dask_npartitions", "--dask_partition_size")) for arg in beam_args
        ):
            beam_args = ["--dask_partition_size=1", *beam_args]
        options = PipelineOptions(["--default_sdk_harness_log_level=WARNING", *beam_args])
        return cls(tuple(beam_args), workers, options)

    @property
    def runner(self) -> str:
        return str(self.options.get_all_options()["runner"])

    @property
    def is_local(self) -> bool:
        """This machine's multi-process runner, whose workers the launcher watches and ends."""
        return self.runner == LOCAL_RUNNER

    @property
    def name(self) -> str:
        """How run_report.json and the summary name the runner (and its workers or Dask cluster)."""
        if self.is_local:
            return f"{self.runner}, {self.workers} workers"
        if self.runner == DASK_RUNNER:
            options = self.options.get_all_options()
            where = options.get("address") or options.get("scheduler_file") or "a local Dask cluster"
            return f"DaskRunner, {where}"
        return self.runner


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run`` was asked to do."""

    input: str
    output: str
    layout: str | None
    """A layout's name, or None to detect it."""
    plan: PlanOptions
    resume: ResumePolicy
    runner: Runner
    read_ahead: ReadAhead = ReadAhead()
    """How workers read images from an object store (``--reads_in_flight``, ``--read_window_bytes``)."""
