"""Slim's between-graph replication on TensorFlow 2: parameter servers, workers, a chief.

Variables live on the ps tasks (round-robin), each worker builds the whole graph and trains on its own
batches, worker 0 (the chief) initialises, restores, saves checkpoints and summaries. The cluster comes
from ``TF_CONFIG`` (Kubeflow's TFJob, Vertex AI, TensorFlow itself), from ``--ps_hosts``/``--worker_hosts``
with ``--job_name``/``--task``, or, as in Slim, from ``--master`` and ``--num_ps_tasks`` naming servers
started elsewhere. TensorFlow 2 still runs all of it in graph mode (``tf.compat.v1``).

Two things TensorFlow leaves to its users are done here. A ps task serves until the chief has
finished and then exits (a ps that serves forever hangs every batch system's job): each worker leaves
its index in a queue on every ps when it is done. And nothing waits for an address that does not
answer: a watchdog names it and ends the process after ``--cluster_timeout_secs`` (TensorFlow's
session creation would wait forever).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import tensorflow as tf

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import report

ENV = "TF_CONFIG"
POLL_SECS = 1.0


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster."""

    job: str  # "ps" or "worker"
    index: int
    num_ps: int
    num_workers: int
    ps_hosts: tuple[str, ...] = ()  # empty when servers started elsewhere are reached through --master
    worker_hosts: tuple[str, ...] = ()
    master: str = ""  # the session target; this task's own server's unless --master says otherwise

    @property
    def name(self) -> str:
        return f"{self.job}{self.index}"

    @property
    def is_chief(self) -> bool:
        return self.job == "worker" and self.index == 0

    @property
    def described(self) -> bool:
        """Whether the addresses are known (this process then starts its own server)."""
        return bool(self.worker_hosts)

    def cluster_spec(self) -> tf.train.ClusterSpec:
        return tf.train.ClusterSpec({"ps": list(self.ps_hosts), "worker": list(self.worker_hosts)})


def _hosts(text: str | None) -> tuple[str, ...]:
    return tuple(host.strip() for host in (text or "").split(",") if host.strip())


def _from_tf_config(text: str) -> tuple[tuple[str, ...], tuple[str, ...], str, int]:
    """ps and worker addresses, job and index from ``TF_CONFIG``; a ``chief`` job becomes worker 0."""
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        chief = tuple(cluster.get("chief", ()))
        job, index = task["type"], int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(f"{ENV} is not a TensorFlow cluster description ({error}): {text}") from None
    if job == "chief":
        job = "worker"
    elif job == "worker":
        index += len(chief)
    if job not in ("ps", "worker"):
        raise UsageError(
            f"{ENV} task type {job!r}: train runs ps, chief and worker tasks (evaluate separately)"
        )
    return tuple(cluster.get("ps", ())), chief + tuple(cluster.get("worker", ())), job, index


def _agree(args: argparse.Namespace, name: str, default: int, value: int) -> None:
    """A Slim flag given beside a described cluster must say what the cluster says."""
    given = getattr(args, name)
    if given != default and given != value:
        raise UsageError(f"--{name}={given}, but the cluster description says {value}")


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Task | None:
    """This process's task, or None for training on this machine alone."""
    config = environ.get(ENV, "").strip()
    has_hosts = bool(args.ps_hosts or args.worker_hosts)
    if has_hosts and config:
        raise UsageError(f"both {ENV} and --ps_hosts/--worker_hosts describe the cluster; keep one")
    if config:
        ps, workers, job, index = _from_tf_config(config)
        _agree(args, "task", 0, index)
    elif has_hosts:
        ps, workers, job, index = _hosts(args.ps_hosts), _hosts(args.worker_hosts), args.job_name, args.task
        if job is None:
            raise UsageError("--ps_hosts/--worker_hosts need --job_name (ps or worker) and --task")
    elif args.master or args.num_ps_tasks:
        if not (args.master and args.num_ps_tasks):
            raise UsageError("without a cluster description, --master and --num_ps_tasks go together")
        return Task("worker", args.task, args.num_ps_tasks, args.worker_replicas, master=args.master)
    else:
        return None
    if not workers:
        raise UsageError("the cluster has no worker (nor chief) task")
    if index >= len(ps if job == "ps" else workers):
        raise UsageError(f"task {job} {index} is not in the cluster ({len(ps)} ps, {len(workers)} workers)")
    if not ps:
        if len(workers) > 1:
            raise UsageError("several workers need at least one ps task to hold the variables")
        return None  # one worker alone: a local run
    _agree(args, "num_ps_tasks", 0, len(ps))
    _agree(args, "worker_replicas", 1, len(workers))
    return Task(job, index, len(ps), len(workers), ps, workers, args.master)


def describe(task: Task | None, args: argparse.Namespace) -> dict[str, object] | None:
    """The cluster as a run's report gives it."""
    if task is None:
        return None
    return {
        "ps_tasks": task.num_ps,
        "workers": task.num_workers,
        "sync_replicas": args.sync_replicas,
        "replicas_to_aggregate": args.replicas_to_aggregate if args.sync_replicas else None,
    }


def device_function(task: Task | None) -> contextlib.AbstractContextManager:
    """Variables on the ps tasks' CPUs round-robin (model_deploy's placement), everything else on this
    worker; nothing for a local run."""
    if task is None:
        return contextlib.nullcontext()
    setter = tf.compat.v1.train.replica_device_setter(
        ps_tasks=task.num_ps, ps_device="/job:ps/device:CPU:0", worker_device=f"/job:worker/task:{task.index}"
    )
    return tf.compat.v1.device(setter)


def session_config(task: Task | None) -> tf.compat.v1.ConfigProto:
    """Soft placement, and for a worker only the tasks it needs: the ps tasks and itself."""
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True)
    if task is not None:
        config.device_filters.extend(["/job:ps", f"/job:worker/task:{task.index}"])
    return config


def _address(target: str) -> str:
    return target.removeprefix("grpc://")


def _reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=POLL_SECS):
            return True
    except (OSError, ValueError):
        return False


class Watchdog:
    """Ends the process, naming the address, when a task it needs has not answered for ``timeout`` s.

    A daemon thread: the main thread may be blocked inside TensorFlow (creating a session, waiting
    for a token), where nothing else would notice.
    """

    def __init__(self, who: str, needed: dict[str, str], timeout: float) -> None:
        self._who, self._needed, self._timeout = who, dict(needed), timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="cluster-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def forget(self, name: str) -> None:
        """Stop watching ``name`` (a task that has finished)."""
        self._needed.pop(name, None)

    def _watch(self) -> None:
        silent_since: dict[str, float] = {}
        while not self._stop.wait(POLL_SECS):
            for name, address in list(self._needed.items()):
                if _reachable(address):
                    silent_since.pop(name, None)
                elif time.monotonic() - silent_since.setdefault(name, time.monotonic()) > self._timeout:
                    print(
                        f"error: {self._who}: cannot reach {name} at {address}: nothing answered for "
                        f"{self._timeout:.0f} s (--cluster_timeout_secs)",
                        file=sys.stderr,
                        flush=True,
                    )
                    os._exit(1)


def _needed_by(task: Task) -> dict[str, str]:
    """The tasks a worker cannot go on without: every ps task and, for the others, the chief."""
    if not task.described:
        return {"the master": _address(task.master)}
    needed = {f"ps task {i}": host for i, host in enumerate(task.ps_hosts)}
    if not task.is_chief:
        needed["the chief (worker 0)"] = task.worker_hosts[0]
    return needed


def _server(task: Task) -> tf.distribute.Server:
    """This task's server; a ps task's sees no GPU (its variables are on the CPU), so that it takes no GPU
    memory from workers on the same machine."""
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0}) if task.job == "ps" else None
    return tf.distribute.Server(task.cluster_spec(), job_name=task.job, task_index=task.index, config=config)


def _done_queue(ps_index: int, num_workers: int) -> tf.queue.FIFOQueue:
    """Where workers leave their index when they are done; shared by name with the ps task serving it."""
    with tf.compat.v1.device(f"/job:ps/task:{ps_index}"):
        return tf.queue.FIFOQueue(
            num_workers, tf.int32, shapes=[[]], shared_name=f"done_{ps_index}", name=f"done_{ps_index}"
        )


@contextlib.contextmanager
def joined(task: Task | None, timeout: float) -> Iterator[Task | None]:
    """A worker's membership: its server and watchdog while it trains, then its "done" to every ps.

    Yields the task with ``master`` set to the session target. A run that fails says nothing to the ps
    tasks: they keep serving for the restarted worker (or give up once the chief is gone for good).
    """
    if task is None:
        yield None
        return
    server = _server(task) if task.described else None
    target = task.master or (server.target if server else "")
    with Watchdog(task.name, _needed_by(task), timeout):
        yield replace(task, master=target)
        with tf.Graph().as_default():
            done = [_done_queue(i, task.num_workers).enqueue(task.index) for i in range(task.num_ps)]
            with tf.compat.v1.Session(target, config=session_config(task)) as session:
                session.run(done)


def wait_for_chief(task: Task) -> None:
    """Until the chief has initialised the variables, on the graph being built (before it is finalised).

    TensorFlow's own wait polls every 30 s; this one every second, and the watchdog bounds it.
    """
    uninitialized = tf.compat.v1.report_uninitialized_variables(tf.compat.v1.global_variables())
    with tf.compat.v1.Session(task.master, config=session_config(task)) as session:
        while len(session.run(uninitialized)):
            time.sleep(POLL_SECS)


def serve(task: Task, timeout: float, train_dir: str) -> dict[str, object]:
    """A ps task's life: serve the variables until the chief is done, then until each other worker is
    done, gone, or ``timeout`` s have passed; then write this task's report."""
    started = time.monotonic()
    server = _server(task)
    chief = "the chief (worker 0)"
    print(f"{task.name}: serving at {task.ps_hosts[task.index]} for {task.num_workers} workers", flush=True)
    with Watchdog(task.name, {chief: task.worker_hosts[0]}, timeout) as watchdog, tf.Graph().as_default():
        dequeue = _done_queue(task.index, task.num_workers).dequeue()
        config = tf.compat.v1.ConfigProto(device_filters=[f"/job:ps/task:{task.index}"])
        poll = tf.compat.v1.RunOptions(timeout_in_ms=int(POLL_SECS * 1000))
        done: set[int] = set()
        chief_done_at = None
        with tf.compat.v1.Session(server.target, config=config) as session:
            while True:
                with contextlib.suppress(tf.errors.DeadlineExceededError):
                    done.add(int(session.run(dequeue, options=poll)))
                if chief_done_at is None and 0 in done:
                    chief_done_at = time.monotonic()
                    watchdog.forget(chief)
                if chief_done_at is not None:
                    running = [
                        i for i, host in enumerate(task.worker_hosts) if i not in done and _reachable(host)
                    ]
                    if not running or time.monotonic() - chief_done_at > timeout:
                        break
    ended = report.build(task.name, started, workers_done=sorted(done))
    print(f"{task.name}: the chief has finished; {report.describe(ended)}", flush=True)
    report.write(train_dir, ended)
    return ended


class SyncReplicasHook(tf.compat.v1.train.SessionRunHook):
    """``SyncReplicasOptimizer``'s own hook, with the chief's queue runner on a coordinator of its own.

    TensorFlow's hook hands the runner to the session's coordinator. At the end of a run that
    coordinator waits 120 s for the runner, which is blocked collecting gradients no replica sends
    anymore, then reports its cancellation as an uncaught exception. Here the chief closes the token
    queue at the end (releasing the workers waiting on it), and the session's close ends the runner.
    """

    def __init__(self, optimizer: tf.compat.v1.train.SyncReplicasOptimizer, is_chief: bool) -> None:
        self._optimizer, self._is_chief = optimizer, is_chief
        self._hook = optimizer.make_session_run_hook(is_chief)
        self._coordinator = tf.compat.v1.train.Coordinator()
        self._close_tokens: tf.Operation | None = None

    def begin(self) -> None:
        self._hook.begin()
        if self._is_chief:
            self._close_tokens = self._optimizer.get_chief_queue_runner().cancel_op

    def after_create_session(
        self, session: tf.compat.v1.Session, coord: tf.compat.v1.train.Coordinator
    ) -> None:
        self._hook.after_create_session(session, self._coordinator)

    def end(self, session: tf.compat.v1.Session) -> None:
        if self._close_tokens is not None:
            session.run(self._close_tokens)
        self._coordinator.request_stop()
