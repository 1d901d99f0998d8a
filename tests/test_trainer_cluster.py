"""Training across processes: 1 ps + 2 workers of the real ``train`` command on 127.0.0.1.

Each cluster run is a few steps of Inception v2 at 32 px on a tiny generated dataset: what is checked
is that every task ends by itself (the ps too), at the step asked for, with checkpoints ``evaluate``
reads, and that a task that cannot reach the cluster says which address instead of hanging.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from pathlib import Path

import pytest
import tensorflow as tf
import yaml

from imagenet_convert.errors import UsageError
from imagenet_convert.trainer import cluster, evaluate, flags, train
from imagenet_convert.trainer.loopback import Loopback, free_ports
from tests.support.cli import run_cli
from tests.support.trainer import Shape, train_argv, write_dataset

MODEL, SIZE = "inception_v2", "32"
STEPS = 6
TIMEOUT = 400  # seconds for a whole cluster run on a loaded 2-core machine (about a minute when idle)
SYNC = ["--sync_replicas", "--replicas_to_aggregate", "2"]
# Every line a quiet task prints is one of these (no TensorFlow start-up lines, warnings or logging).
OURS = re.compile(
    r"(ps\d: serving at |ps\d: the chief has finished; |global step \d+: loss = |Finished training at |"
    r"worker\d: |Evaluated |eval/)"
)


@pytest.fixture(autouse=True)
def _tensorflow_log_level_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks run as a user's would: quiet because the trainer is, not because of the environment."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("cluster"), Shape(num_classes=2, train_per_class=8))


def _argv(dataset: Path, train_dir: Path, *extra: str) -> list[str]:
    size = ["--train_image_size", SIZE, "--batch_size", "4", "--optimizer", "sgd", "--log_every_n_steps", "1"]
    return train_argv(dataset, train_dir, MODEL, *size, "--cluster_timeout_secs", "120", *extra)


def _checkpoint_step(train_dir: Path) -> int:
    return int(tf.train.load_checkpoint(str(train_dir)).get_tensor("global_step"))


def _step(line: str) -> int:
    """The global step of a log line, -1 for other lines."""
    logged = re.match(r"global step (\d+):", line)
    return int(logged[1]) if logged else -1


def _not_ours(output: str) -> list[str]:
    return [line for line in output.splitlines() if not OURS.match(line)]


def _run(loopback: Loopback) -> Loopback:
    """Wait for every task; each must end by itself, successfully and quietly."""
    codes = loopback.wait(TIMEOUT)
    outputs = {name: task.output for name, task in loopback.tasks.items()}
    assert codes == {"ps0": 0, "worker0": 0, "worker1": 0}, outputs
    assert "ps0: the chief has finished" in outputs["ps0"]
    assert {name: _not_ours(output) for name, output in outputs.items()} == dict.fromkeys(outputs, [])
    return loopback


@pytest.mark.slow
def test_synchronous_cluster_from_tf_config(dataset: Path, tmp_path: Path) -> None:
    with Loopback(_argv(dataset, tmp_path, "--max_number_of_steps", str(STEPS), *SYNC)) as loopback:
        _run(loopback)
    assert _checkpoint_step(tmp_path) == STEPS
    evaluated = run_cli(
        "evaluate", "--dataset_dir", dataset, "--checkpoint_path", tmp_path, "--eval_dir", tmp_path / "eval",
        "--model_name", MODEL, "--eval_image_size", SIZE, "--batch_size", "4",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"(global step {STEPS}) on 12 validation examples" in evaluated.stdout
    assert _not_ours(evaluated.stdout + evaluated.stderr) == []
    chief = (tmp_path / "train_report.json").read_text()
    assert '"sync_replicas": true' in chief and '"images_per_step": 8' in chief  # 2 replicas of 4
    assert {p.name for p in tmp_path.glob("train_report*.json")} == {
        "train_report.json",
        "train_report.worker1.json",
        "train_report.ps0.json",
    }


@pytest.mark.slow
def test_asynchronous_cluster_from_host_flags(dataset: Path, tmp_path: Path) -> None:
    argv = _argv(dataset, tmp_path, "--max_number_of_steps", str(STEPS))
    with Loopback(argv, host_flags=True) as loopback:
        _run(loopback)
    # a worker stops once a step has seen the last step; steps in flight (one per worker, a slow one
    # spanning several of the other's) still land after it, as in Slim
    assert STEPS <= _checkpoint_step(tmp_path) <= STEPS + 2


@pytest.mark.slow
def test_a_killed_chief_restarts_from_its_checkpoint_and_the_run_finishes(
    dataset: Path, tmp_path: Path
) -> None:
    steps = 3 * STEPS
    argv = _argv(dataset, tmp_path, "--max_number_of_steps", str(steps), "--save_interval_secs", "1", *SYNC)
    with Loopback(argv) as loopback:
        first = loopback.tasks["worker0"]
        first.wait_for(lambda line: _step(line) >= STEPS, TIMEOUT)  # a sync chief may not see every step
        first.process.kill()
        assert first.finish(30) != 0
        restarted = loopback.start("worker", 0)
        _run(loopback)
    resumed = [_step(line) for line in restarted.lines if _step(line) >= 0]
    assert resumed[0] > 1 and resumed[-1] == steps  # from a checkpoint, not from scratch
    assert _checkpoint_step(tmp_path) == steps


@pytest.mark.slow
def test_tasks_that_cannot_reach_the_cluster_say_which_address(dataset: Path, tmp_path: Path) -> None:
    """A worker whose ps never starts, and a ps whose chief never starts: both end within the timeout."""
    ps, chief, other = (f"127.0.0.1:{port}" for port in free_ports(3))
    hosts = ["--ps_hosts", ps, "--worker_hosts", f"{chief},{other}", "--cluster_timeout_secs", "3"]
    started = time.monotonic()
    worker = run_cli("train", *_argv(dataset, tmp_path, *hosts, "--job_name", "worker", "--task", "1"))
    lone_ps = run_cli("train", *hosts, "--job_name", "ps", "--task", "0", "--train_dir", tmp_path)
    assert time.monotonic() - started < TIMEOUT
    assert worker.returncode == 1 and f"worker1: cannot reach ps task 0 at {ps}" in worker.stderr
    assert lone_ps.returncode == 1 and f"ps0: cannot reach the chief (worker 0) at {chief}" in lone_ps.stderr


@pytest.mark.slow
def test_slims_master_flag_trains_on_servers_started_elsewhere(dataset: Path, tmp_path: Path) -> None:
    """Slim's own set-up: --master, --num_ps_tasks and --task, the servers being someone else's."""
    ps, worker = (f"localhost:{port}" for port in free_ports(2))
    spec = tf.train.ClusterSpec({"ps": [ps], "worker": [worker]})
    servers = [tf.distribute.Server(spec, job_name=job, task_index=0) for job in ("ps", "worker")]
    master = ["--master", servers[1].target]
    argv = _argv(dataset, tmp_path, *master, "--num_ps_tasks", "1", "--max_number_of_steps", "2")
    assert train.main(argv) == 0
    model = ["--model_name", MODEL, "--eval_image_size", SIZE, "--eval_dir", str(tmp_path / "eval")]
    args = flags.eval_parser().parse_args(
        ["--dataset_dir", str(dataset), "--checkpoint_path", str(tmp_path), *model, *master]
    )
    assert evaluate.evaluate(args).global_step == 2


def _task(argv: list[str], tf_config: str = "") -> cluster.Task | None:
    return cluster.resolve(
        flags.train_parser().parse_args(argv), {"TF_CONFIG": tf_config} if tf_config else {}
    )


CLUSTER = '"cluster": {"ps": ["h0:1"], "worker": ["h1:1", "h2:1"]}'


def test_tf_config_and_host_flags_describe_the_same_task() -> None:
    from_config = _task([], f'{{{CLUSTER}, "task": {{"type": "worker", "index": 1}}}}')
    from_flags = _task(
        ["--ps_hosts", "h0:1", "--worker_hosts", "h1:1,h2:1", "--job_name", "worker", "--task", "1"]
    )
    assert from_config == from_flags == cluster.Task("worker", 1, 1, 2, ("h0:1",), ("h1:1", "h2:1"))
    assert not from_config.is_chief and _task([], f'{{{CLUSTER}, "task": {{"type": "ps"}}}}').name == "ps0"


def test_a_chief_job_is_worker_0_and_a_lone_worker_trains_locally() -> None:
    jobs = '"cluster": {"chief": ["c:1"], "worker": ["w:1"], "ps": ["p:1"]}'
    config = f'{{{jobs}, "task": {{"type": "%s", "index": 0}}}}'
    assert _task([], config % "chief").is_chief
    assert _task([], config % "worker") == cluster.Task("worker", 1, 1, 2, ("p:1",), ("c:1", "w:1"))
    assert _task([], '{"cluster": {"worker": ["w:1"]}, "task": {"type": "worker", "index": 0}}') is None
    assert _task([]) is None


@pytest.mark.parametrize(
    ("argv", "tf_config", "says"),
    [(["--ps_hosts", "h0:1"], f'{{{CLUSTER}, "task": {{"type": "ps"}}}}', "keep one"),
     ([], f'{{{CLUSTER}, "task": {{"type": "evaluator"}}}}', "evaluate separately"),
     ([], f'{{{CLUSTER}}}', "not a TensorFlow cluster description"),
     ([], "{not json", "not a TensorFlow cluster description"),
     ([], f'{{{CLUSTER}, "task": {{"type": "worker", "index": 2}}}}', "is not in the cluster"),
     (["--num_ps_tasks", "2"], f'{{{CLUSTER}, "task": {{"type": "ps"}}}}', "--num_ps_tasks=2, but"),
     (["--task", "1"], f'{{{CLUSTER}, "task": {{"type": "worker"}}}}', "--task=1, but"),
     (["--worker_hosts", "h1:1,h2:1"], "", "need --job_name"),
     (["--worker_hosts", "h1:1,h2:1", "--job_name", "worker"], "", "at least one ps task"),
     (["--master", "grpc://h:1"], "", "go together")],
)  # fmt: skip
def test_cluster_descriptions_that_cannot_work_are_refused(
    argv: list[str], tf_config: str, says: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(says)):
        _task(argv, tf_config)


def test_variables_go_to_the_ps_cpus_round_robin_and_the_rest_to_the_worker() -> None:
    task = cluster.Task("worker", 1, 2, 2, ("h0:1", "h1:1"), ("h2:1", "h3:1"))
    with tf.Graph().as_default(), cluster.device_function(task):
        variables = [tf.compat.v1.get_variable(f"v{i}", [1]) for i in range(3)]
        total = tf.add_n(variables)
    assert [v.device for v in variables] == [f"/job:ps/task:{i}/device:CPU:0" for i in (0, 1, 0)]
    assert total.device == "/job:worker/task:1"


def test_a_synchronous_step_aggregates_batches_so_decay_counts_fewer_steps() -> None:
    args = argparse.Namespace(
        batch_size=4, num_epochs_per_decay=2.0, sync_replicas=True, replicas_to_aggregate=4
    )
    assert train.decay_steps(args, 100) == 12.5  # Slim: int(100 * 2 / 4) / 4


DOC = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_docs_tfjob_runs_train_with_flags_it_accepts() -> None:
    (manifest,) = (yaml.safe_load(block) for block in _blocks("yaml"))
    for replicas in manifest["spec"]["tfReplicaSpecs"].values():
        (container,) = replicas["template"]["spec"]["containers"]
        assert container["command"][:4] == ["python", "-m", "imagenet_convert", "train"]
        args = flags.train_parser().parse_args(container["command"][4:])
        assert args.sync_replicas and args.dataset_dir.startswith("/data/")
    (example,) = _blocks("json")
    assert cluster.resolve(args, {"TF_CONFIG": example}).is_chief


def test_the_docs_slurm_script_gives_each_task_its_tf_config(tmp_path: Path) -> None:
    """Run with stand-ins for ``scontrol`` (the node list) and the project's Python (prints TF_CONFIG)."""
    (script,) = (block for block in _blocks("sh") if block.startswith("#!/bin/bash"))
    (tmp_path / "train-task.sh").write_text(script)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "scontrol").write_text("#!/bin/sh\nprintf 'n0\\nn1\\nn2\\n'\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").write_text('#!/bin/sh\necho "$TF_CONFIG"\n')
    for path in (tmp_path / "bin" / "scontrol", tmp_path / ".venv" / "bin" / "python"):
        path.chmod(0o755)
    tasks = []
    for procid in range(3):
        environment = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "SLURM_PROCID": str(procid)}
        printed = subprocess.run(
            ["bash", "train-task.sh"],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tasks.append(cluster.resolve(flags.train_parser().parse_args([]), {"TF_CONFIG": printed}))
    assert [(task.job, task.index) for task in tasks] == [("ps", 0), ("worker", 0), ("worker", 1)]
    assert tasks[0].ps_hosts == ("n0:2222",) and tasks[0].worker_hosts == ("n1:2222", "n2:2222")
