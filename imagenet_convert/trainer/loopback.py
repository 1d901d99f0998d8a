"""``cluster``: a training cluster on this machine, 1 ps + N workers of the real ``train`` command.

Each task is a process of its own on a free loopback port with its ``TF_CONFIG``, as Kubeflow's TFJob
starts them on a real cluster (``docs/cluster.md``): the way to try distributed training, and to
measure it, before renting machines. ``make train-cluster``, the tests and the benchmarks start
clusters through ``Loopback``. Its output is each task's, prefixed with the task's name.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (the kernel's choice; all held until all are chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class TaskProcess:
    """One running task: its process and every line it printed (stdout and stderr)."""

    name: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    echo: bool = False

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"read-{self.name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.echo:
                print(f"{self.name:>8}| {self.lines[-1]}", flush=True)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, found: Callable[[str], bool], timeout: float) -> None:
        """Until a line is ``found``; TimeoutError (with the output) if the task ends or time runs out."""
        deadline = time.monotonic() + timeout
        while not any(found(line) for line in self.lines):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self._reader.join(1)
                raise TimeoutError(f"{self.name} printed no line looked for:\n{self.output}")
            time.sleep(0.1)

    def finish(self, timeout: float | None) -> int:
        """The exit code, once the process and its output have ended."""
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code


class Loopback:
    """ps tasks and workers running ``train`` with ``argv``; those still running end with the context.

    Each task learns the cluster from ``TF_CONFIG``, or with ``host_flags`` from ``--ps_hosts``,
    ``--worker_hosts``, ``--job_name`` and ``--task``.
    """

    def __init__(
        self, argv: list[str], workers: int = 2, ps: int = 1, echo: bool = False, host_flags: bool = False
    ) -> None:
        ports = [f"127.0.0.1:{port}" for port in free_ports(ps + workers)]
        self.cluster = {"ps": ports[:ps], "worker": ports[ps:]}
        self.argv, self.echo, self.host_flags = list(argv), echo, host_flags
        self.tasks: dict[str, TaskProcess] = {}

    def start(self, job: str, index: int) -> TaskProcess:
        """Start (or start again) one task."""
        command = [sys.executable, "-m", "imagenet_convert", "train", *self.argv]
        # the workers share this machine's GPUs: each takes memory as it needs it, not all at start
        environment = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", **os.environ}
        if self.host_flags:
            hosts = [f"--{name}_hosts={','.join(self.cluster[name])}" for name in ("ps", "worker")]
            command += [*hosts, f"--job_name={job}", f"--task={index}"]
        else:
            environment["TF_CONFIG"] = json.dumps(
                {"cluster": self.cluster, "task": {"type": job, "index": index}}
            )
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        task = TaskProcess(f"{job}{index}", process, echo=self.echo)
        self.tasks[task.name] = task
        return task

    def __enter__(self) -> Loopback:
        for job, hosts in self.cluster.items():
            for index in range(len(hosts)):
                self.start(job, index)
        return self

    def wait(self, timeout: float | None) -> dict[str, int]:
        """Every task's exit code; TimeoutError naming those still running after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        codes = {}
        for name, task in self.tasks.items():
            try:
                codes[name] = task.finish(None if deadline is None else max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                running = [n for n, t in self.tasks.items() if t.process.poll() is None]
                raise TimeoutError(f"still running after {timeout:.0f} s: {', '.join(running)}") from None
        return codes

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for task in self.tasks.values():
            if task.process.poll() is None:
                task.process.kill()
            task.finish(10)


def main(argv: list[str]) -> int:
    """``python -m imagenet_convert cluster [--workers N] [--ps N] -- TRAIN FLAGS``."""
    parser = argparse.ArgumentParser(
        prog="python -m imagenet_convert cluster",
        description="Train on a cluster of processes on this machine: ps tasks and workers running "
        "'train' with the flags after '--', each with its TF_CONFIG on a free loopback port.",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker tasks (worker 0 is the chief)")
    parser.add_argument("--ps", type=int, default=1, help="parameter-server tasks")
    parser.add_argument("train_flags", nargs=argparse.REMAINDER, help="-- then the train command's flags")
    options = parser.parse_args(argv)
    train_flags = options.train_flags[1:] if options.train_flags[:1] == ["--"] else options.train_flags
    with Loopback(train_flags, options.workers, options.ps, echo=True) as cluster:
        print(f"cluster: {json.dumps(cluster.cluster)}", flush=True)
        codes = cluster.wait(timeout=None)
    failed = [name for name, code in codes.items() if code]
    if failed:
        print(f"error: {', '.join(failed)} failed", file=sys.stderr)
    return 1 if failed else 0
