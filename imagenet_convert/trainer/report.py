"""What a benchmarker measures of a training run: images/s, step times, input waits, memory.

Users run the trainer as a workload (deep VGGs, memory studies, CPU training), so each log line
carries the global images/s and each task ends by printing and writing ``train_report.json``
(``train_report.<job><index>.json`` for the other tasks of a cluster) in ``--train_dir``.
"""

from __future__ import annotations

import json
import os
import posixpath
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

FILE = "train_report.json"
WARMUP_SHARE, MIN_WARMUP = 0.1, 2
"""Steps left out of the steady state: the first tenth, at least two (graph optimisation, first
allocations and kernel choices make them slow)."""


def timed_input(next_batch: Callable[[], tuple]) -> tuple[Callable[[], tuple], list[tf.Tensor]]:
    """``next_batch`` with the seconds each call waits for its batch measured in the graph.

    Two timestamps bracket the iterator's ``get_next``: what a step waits for input is what the
    prefetched pipeline had not ready. Returns the wrapped function and the list its waits go to.
    """
    waits: list[tf.Tensor] = []

    def timed() -> tuple:
        start = tf.timestamp()
        with tf.control_dependencies([start]):
            batch = next_batch()
        with tf.control_dependencies(batch):
            waits.append(tf.timestamp() - start)
        return batch

    return timed, waits


def parameter_count(variables: list[tf.Variable]) -> int:
    return int(sum(np.prod(v.shape.as_list(), dtype=np.int64) for v in variables))


def peak_memory_bytes() -> int:
    """The process's peak resident memory (Linux reports kibibytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def devices() -> list[str]:
    """This machine's devices as TensorFlow sees them, GPUs with their names."""
    names = []
    for device in tf.config.list_physical_devices():
        name = device.name.removeprefix("/physical_device:")
        model = tf.config.experimental.get_device_details(device).get("device_name")
        names.append(f"{name} ({model})" if model else name)
    return names


@dataclass
class Meter:
    """Step times, input waits and the global step as the loop sees them.

    ``images_per_step`` counts one global step over all replicas (a synchronous step aggregates
    ``--replicas_to_aggregate`` batches), so rates computed from the global step's progress are the
    cluster's, whichever worker measures them.
    """

    images_per_step: int
    started: float = field(default_factory=time.monotonic)
    times: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    stamps: list[tuple[float, int]] = field(default_factory=list)  # (time after the step, global step)
    first_global_step: int | None = None
    _last_log: tuple[float, int] | None = None

    def begin(self, global_step: int) -> int:
        """Start from ``global_step`` (returned)."""
        self.first_global_step = global_step
        self._last_log = (time.monotonic(), global_step)
        return global_step

    def record(self, global_step: int, seconds: float, input_wait: float) -> None:
        self.times.append(seconds)
        self.waits.append(input_wait)
        self.stamps.append((time.monotonic(), global_step))

    def images_per_sec_since_last_log(self) -> float:
        """Global images/s since the previous call (or the first step): for Slim's log line."""
        now, step = self.stamps[-1]
        then, before = self._last_log or (self.started, step)
        self._last_log = (now, step)
        return (step - before) * self.images_per_step / max(now - then, 1e-9)

    def summary(self) -> dict[str, object]:
        """The steady-state figures: steps after the warm-up."""
        warmup = max(MIN_WARMUP, int(len(self.times) * WARMUP_SHARE))
        times, waits = self.times[warmup:], self.waits[warmup:]
        figures: dict[str, object] = {
            "steps": len(self.times),
            "last_global_step": self.stamps[-1][1] if self.stamps else self.first_global_step,
            "warmup_steps": min(warmup, len(self.times)),
            "images_per_step": self.images_per_step,
            "images_per_sec": None,
            "step_time_median_s": None,
            "step_time_p90_s": None,
            "input_wait_share": None,
        }
        if times:  # one step after the warm-up is enough for the slowest nets (VGG-416: a minute a step)
            (start, first), (end, last) = self.stamps[warmup - 1], self.stamps[-1]
            figures["images_per_sec"] = float(f"{(last - first) * self.images_per_step / (end - start):.4g}")
            figures["step_time_median_s"] = round(statistics.median(times), 4)
            figures["step_time_p90_s"] = round(float(np.percentile(times, 90)), 4)
            figures["input_wait_share"] = round(sum(waits) / sum(times), 4)
        return figures


def build(task: str, started: float, **figures: object) -> dict[str, object]:
    """A task's report: its figures, with memory, TensorFlow and the devices it ran on."""
    return {
        "task": task,
        **figures,
        "wall_time_s": round(time.monotonic() - started, 1),
        "peak_memory_bytes": peak_memory_bytes(),
        "tensorflow_version": tf.__version__,
        "devices": devices(),
        "cpu_count": os.cpu_count(),
    }


def file_name(task: str) -> str:
    """``train_report.json`` for the chief (or a local run), ``train_report.ps0.json`` for ps task 0."""
    return FILE if task in ("local", "worker0") else FILE.replace(".json", f".{task}.json")


def write(train_dir: str, report: dict[str, object]) -> str:
    """Write the report into ``train_dir`` (local or an object store); returns its path."""
    tf.io.gfile.makedirs(train_dir)
    path = posixpath.join(train_dir, file_name(str(report["task"])))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    return path


def describe(report: dict[str, object]) -> str:
    """One line for the end of a run."""
    parts = []
    if report.get("images_per_sec") is not None:
        parts += [
            f"{report['images_per_sec']:.3g} images/s after {report['warmup_steps']} warm-up steps",
            f"step time median {report['step_time_median_s']:.3f} s, p90 {report['step_time_p90_s']:.3f} s",
            f"input wait {report['input_wait_share']:.0%}",
        ]
    parts.append(f"peak memory {int(report['peak_memory_bytes']) / 2**30:.2f} GiB")
    if report.get("parameters") is not None:
        parts.append(f"{int(report['parameters']) / 1e6:.2f}M parameters")
    return f"{report['task']}: " + "; ".join(parts)
