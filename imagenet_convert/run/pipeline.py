"""Running the shard-writing pipeline on the configured runner, with a progress bar, and the one
line that says why it failed."""

from __future__ import annotations

import apache_beam as beam

from imagenet_convert.format import filenames
from imagenet_convert.inputs.layouts.locators import ReadAhead
from imagenet_convert.plan.model import Shard, bytes_to_write
from imagenet_convert.run import faults
from imagenet_convert.run.beam_logs import beam_logs_to, temporary_files_in
from imagenet_convert.run.checks import OutputError, free_bytes
from imagenet_convert.run.config import Runner
from imagenet_convert.run.markers import done_markers
from imagenet_convert.run.progress import ERROR_GRACE, ProgressMonitor
from imagenet_convert.run.stages import ConversionError, WriteShards
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.storage.paths import is_local


def _worker_died(pid: int | None, beam_said: str = "") -> faults.WorkerDied:
    said = f"; Beam said: {beam_said}" if beam_said else ""
    return faults.WorkerDied(
        f"worker process {pid} ended while shards were left (killed from outside, e.g. by the "
        f"out-of-memory killer: fewer --workers use less memory{said}); {faults.RESUME}"
    )


def _pipeline_failure(
    out: OutputDir, exc: Exception, pending: list[Shard], dead_worker: int | None
) -> BaseException:
    """One line for a failed pipeline: a full disk, the worker's own error line, a worker that
    vanished without one, or Beam's last line."""
    errors = sorted(out.sizes(out.path(filenames.error("*"))))
    line = out.read_bytes(errors[0]).decode().strip() if errors else ""
    if faults.is_disk_full(line or exc):
        left = [shard for shard in pending if shard.name not in done_markers(out)]
        return OutputError(faults.disk_full_message(out.root, bytes_to_write(left), free_bytes(out)))
    if line:
        return ConversionError(line)
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if dead_worker is not None:
        return _worker_died(dead_worker, last)
    details = out.path(filenames.BEAM_LOG) if is_local(out.root) else "the log above and the workers' logs"
    return ConversionError(f"the Beam pipeline failed: {last} (details in {details})")


def run_pipeline(
    runner: Runner,
    skip_bad_images: bool,
    out: OutputDir,
    pending: list[Shard],
    input_root: str,
    read_ahead: ReadAhead | None = None,
) -> None:
    """Write the pending shards on Beam, with a progress bar; raise one clear error when it fails."""
    names = [shard.name for shard in pending]
    with beam_logs_to(out) as stream, temporary_files_in(out):
        monitor = ProgressMonitor(out, pending, stream, runner.is_local)
        monitor.start()
        try:
            with beam.Pipeline(options=runner.options) as pipeline:
                _ = (
                    pipeline
                    | "ShardNames" >> beam.Create(names)
                    | "WriteShards"
                    >> WriteShards(out.root, input_root, skip_bad_images, list(runner.beam_args), read_ahead)
                )
        except faults.StopWaiting:
            if not monitor.stopped_after_error:
                raise _worker_died(monitor.dead_worker) from None
            monitor.halt()
            stuck = RuntimeError(f"a shard failed and Beam had not ended the run {ERROR_GRACE:.0f} s later")
            raise faults.EndedByWatcher(_pipeline_failure(out, stuck, pending, None)) from None
        except Exception as exc:
            monitor.halt()
            raise _pipeline_failure(out, exc, pending, monitor.vanished_worker()) from None
        finally:
            monitor.stop()
