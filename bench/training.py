"""``make bench-train``: seconds per step, images/s and peak memory of Slim models trained on this CPU.

The model collection's figures: VGG-416 at batch 1 and 2 and the largest batch this machine holds
(predicted from the peaks at 1 and 2, then confirmed: that batch trains a step, the next ends with the
trainer's out-of-memory line), and resnet_v1_50, inception_v4, mobilenet_v1 and nasnet_large at batch
8. The cluster trainer's: resnet_v1_50 at batch 32 from the shards against ``--synthetic_input`` (the
input pipeline keeps up when the ratio is at least 0.9), and on a loopback cluster of 1 ps and 1
against 2 workers. Every run is the real ``train`` command on a converted miniature (generated and
converted once into the workdir), measured from outside (wall clock, peak PSS of all its processes)
and by its own ``train_report.json`` (a cluster's chief's).
Results: RESULTS/bench-train.json, a table printed, and docs/performance.md's section between its
``bench-train`` markers. ``--all-models`` instead runs every model name as a user's first run would
(one step at batch 1, ``evaluate`` on one batch, ``export``) and checks each checkpoint's variables
against Slim's (``tests/data/slim-nets-variables.json.gz``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.datasets import BenchSet, ensure
from bench.measure import Measurement, run_measured
from bench.steps import BenchError, Workspace, remove
from imagenet_convert.fake import FakeOptions
from imagenet_convert.trainer import memory, nets_factory

TRAINING_SET = BenchSet(
    "train",
    FakeOptions(classes=10, train_per_class=(100, 100), val_images=100, box_fraction=0.4),
    "1,000 train images over 10 classes, 200-500 px, for training benchmarks",
)
NO_BACKGROUND = ("vgg", "resnet_v1")  # Slim's checkpoints of these have 1000 classes
PERFORMANCE_MD = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
START, END = "<!-- bench-train:start -->", "<!-- bench-train:end -->"
GIB = 1 << 30
SPEC = Path(__file__).resolve().parent.parent / "tests" / "data" / "slim-nets-variables.json.gz"


@dataclass(frozen=True)
class Case:
    """One training run: a model at a batch size for a number of steps (the first ones are warm-up),
    in one process or on a loopback cluster of 1 ps and ``workers`` workers."""

    model: str
    batch: int
    steps: int
    workers: int = 0
    extra: tuple[str, ...] = ()

    @property
    def setup(self) -> str:
        if self.workers:
            return f"cluster: 1 ps, {self.workers} worker{'s' if self.workers > 1 else ''}"
        return " ".join(self.extra) or "one process"

    @property
    def name(self) -> str:
        return f"{self.model} batch {self.batch} {self.setup}"


CASES = (
    Case("resnet_v1_50", 8, 12),
    Case("inception_v4", 8, 8),
    Case("mobilenet_v1", 8, 12),
    Case("nasnet_large", 8, 5),
)
VGG_416_STEPS = 3
INPUT_CASES = (Case("resnet_v1_50", 32, 10), Case("resnet_v1_50", 32, 10, extra=("--synthetic_input",)))
CLUSTER_CASES = (Case("resnet_v1_50", 32, 8, workers=1), Case("resnet_v1_50", 32, 8, workers=2))


def converted_set(ws: Workspace) -> Path:
    """The training set, converted by the real CLI once (a finished conversion is not redone)."""
    archives, _ = ensure(ws.workdir, TRAINING_SET)
    output = ws.workdir / "sets" / "train-tfrecord"
    command = [
        sys.executable, "-m", "imagenet_convert", "run", "--input", str(archives), "--output", str(output),
        "--train-shards", "8", "--validation-shards", "2",
    ]  # fmt: skip
    converted = subprocess.run(command, capture_output=True, text=True)
    if converted.returncode:
        raise BenchError(f"converting {archives} failed: {converted.stderr.strip()}")
    return output


def train_command(dataset: Path, train_dir: Path, case: Case) -> list[str]:
    """The ``train`` command line of ``case`` (under ``cluster`` for a loopback cluster)."""
    offset = "1" if case.model.startswith(NO_BACKGROUND) else "0"
    launcher = (
        [
            "cluster",
            "--ps",
            "1",
            "--workers",
            str(case.workers),
            "--",
        ]
        if case.workers
        else ["train"]
    )
    return [
        sys.executable, "-m", "imagenet_convert", *launcher, "--dataset_dir", str(dataset),
        "--train_dir", str(train_dir), "--model_name", case.model, "--batch_size", str(case.batch),
        "--max_number_of_steps", str(case.steps), "--labels_offset", offset, "--log_every_n_steps", "1",
        "--save_interval_secs", "100000", "--save_summaries_secs", "100000", *case.extra,
    ]  # fmt: skip


def measure(ws: Workspace, dataset: Path, case: Case) -> dict[str, Any]:
    """Train ``case`` once; its figures, or its exit status and last line when it failed."""
    train_dir = ws.scratch(case.name)
    print(f"training {case.name} for {case.steps} steps ...", flush=True)
    measured: Measurement = run_measured(
        case.name, train_command(dataset, train_dir, case), filesystem=ws.workdir, log_path=ws.log(case.name)
    )
    row: dict[str, Any] = {
        "model": case.model,
        "setup": case.setup,
        "batch": case.batch,
        "image_size": nets_factory.architecture(case.model).default_image_size,
        "exit_status": measured.returncode,
        "wall_s": measured.wall_s,
        "peak_pss_gib": round(measured.peak_pss_bytes / GIB, 2),
        "others_cpu_s": measured.others_cpu_s,
    }
    report_path = train_dir / "train_report.json"
    if measured.returncode == 0 and report_path.exists():
        figures = json.loads(report_path.read_text())
        row.update(
            steps=figures["steps"],
            warmup_steps=figures["warmup_steps"],
            step_time_median_s=figures["step_time_median_s"],
            images_per_sec=figures["images_per_sec"],
            peak_rss_gib=round(figures["peak_memory_bytes"] / GIB, 2),
            parameters=figures.get("parameters"),
        )
    else:
        lines = ws.log(case.name).read_text(errors="replace").strip().splitlines()
        row["last_line"] = lines[-1] if lines else ""
    remove(train_dir)  # a VGG-416 checkpoint is 13 GB: the disk would fill before the table does
    return row


def largest_batch(peak_1: float, peak_2: float) -> int:
    """The largest batch whose predicted peak stays above the memory guard's reserve.

    A training step's memory is the weights, slots and gradients plus activations per image, so the
    peak grows by ``peak_2 - peak_1`` per image of the batch.
    """
    per_image = peak_2 - peak_1
    fixed = peak_1 - per_image
    usable = (psutil.virtual_memory().total - memory.reserve_bytes()) / GIB
    return max(1, int((usable - fixed) / per_image)) if per_image > 0 else 2


def vgg_416(ws: Workspace, dataset: Path) -> list[dict[str, Any]]:
    """Batch 1 and 2, then the largest batch that fits: from the prediction, up while batches train and
    down while they run out of memory, until one trains and the next ends with the out-of-memory line.

    Every probe runs as many steps as batches 1 and 2 (the second and third steps hold more memory than
    the first).
    """
    rows = {batch: measure(ws, dataset, Case("vgg_416", batch, VGG_416_STEPS)) for batch in (1, 2)}
    if all(row["exit_status"] == 0 for row in rows.values()):
        batch = max(2, largest_batch(rows[1]["peak_pss_gib"], rows[2]["peak_pss_gib"]))
        while True:
            if batch not in rows:
                rows[batch] = measure(ws, dataset, Case("vgg_416", batch, VGG_416_STEPS))
            if rows[batch]["exit_status"] == 0:
                if batch + 1 in rows:
                    break
                batch += 1
            elif "out of memory" not in rows[batch].get("last_line", ""):
                break  # failed for another reason: the table shows it
            else:
                batch -= 1
                if batch in rows:
                    break
    return [rows[batch] for batch in sorted(rows)]


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the runs."""
    lines = [
        "| model | setup | batch | px | s/step (median) | images/s | peak RSS (chief) | peak PSS (all) "
        "| others' CPU s | exit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        outcome = "0" if row["exit_status"] == 0 else f"{row['exit_status']}: {row.get('last_line', '')}"
        cells = [
            f"`{row['model']}`", row["setup"], row["batch"], row["image_size"],
            row.get("step_time_median_s", "-"), row.get("images_per_sec", "-"),
            f"{row.get('peak_rss_gib', '-')} GiB", f"{row['peak_pss_gib']} GiB", row["others_cpu_s"], outcome,
        ]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """images/s from the shards over ``--synthetic_input``'s, and of 2 workers over 1."""
    rate = {(row["model"], row["batch"], row["setup"]): row.get("images_per_sec") for row in rows}
    shards, synthetic, one, two = (
        rate.get(("resnet_v1_50", 32, case.setup)) for case in (*INPUT_CASES, *CLUSTER_CASES)
    )
    return {
        "shards_over_synthetic_input": report.ratio(shards, synthetic),
        "two_workers_over_one": report.ratio(two, one),
    }


def write_section(text: str, path: Path = PERFORMANCE_MD) -> None:
    """Replace docs/performance.md's bench-train section (between its markers) with ``text``."""
    document = path.read_text()
    before, _, rest = document.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(f"{before}{START}\n{text}\n{END}{after}")


def first_run(ws: Workspace, dataset: Path, name: str, spec: dict[str, list[int]]) -> dict[str, Any]:
    """``train`` one step at batch 1, ``evaluate`` one batch, ``export``; the checkpoint against ``spec``."""
    import tensorflow as tf

    folder = ws.scratch(f"{name} first run")
    train_dir, model = folder / "train", ["--model_name", name, "--dataset_dir", str(dataset)]
    commands = {
        # every model at labels_offset 0, the 11 classes of the specification (VGG's and ResNet-v1's too)
        "train": train_command(dataset, train_dir, Case(name, 1, 1, extra=("--labels_offset", "0"))),
        "evaluate": [
            sys.executable, "-m", "imagenet_convert", "evaluate", *model, "--checkpoint_path", str(train_dir),
            "--eval_dir", str(folder / "eval"), "--max_num_batches", "1", "--batch_size", "8",
        ],
        "export": [
            sys.executable, "-m", "imagenet_convert", "export", *model, "--checkpoint_path", str(train_dir),
            "--output_dir", str(folder / "export"),
        ],
    }  # fmt: skip
    row: dict[str, Any] = {"model": name}
    for step, command in commands.items():
        print(f"{name}: {step} ...", flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        row[step] = done.returncode
        if done.returncode:
            row["error"] = (done.stderr.strip().splitlines() or [""])[-1]
            remove(folder)
            return row
    saved = dict(tf.train.list_variables(str(train_dir)))
    remove(folder)  # 33 checkpoints and SavedModels would take over 60 GB
    wanted = {
        key: shape for key, shape in spec.items() if not key.endswith("/global_step")
    }  # NASNet's stray one
    row["missing_or_reshaped"] = sorted(key for key, shape in wanted.items() if saved.get(key) != shape)
    row["extra"] = sorted(
        key
        for key in saved
        if key not in wanted and key != "global_step" and key.rsplit("/", 1)[0] not in wanted
    )
    return row


def every_model(ws: Workspace, dataset: Path) -> list[dict[str, Any]]:
    with gzip.open(SPEC, "rt") as f:
        spec = json.load(f)["variables"]["11"]
    return [first_run(ws, dataset, name, spec[name]) for name in nets_factory.ARCHITECTURES]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("bench-data"), help="generated set and scratch")
    p.add_argument("--results", type=Path, default=Path("bench-results"), help="JSON results and logs")
    p.add_argument("--skip-vgg-416", action="store_true", help="leave out VGG-416 (about an hour here)")
    p.add_argument("--all-models", action="store_true", help="instead: every model's first run, checked")
    args = p.parse_args(argv)
    ws = Workspace(args.workdir, args.results)
    dataset = converted_set(ws)
    if args.all_models:
        rows = every_model(ws, dataset)
        report.write_json(args.results / "bench-all-models.json", {"runs": rows})
        failed = [
            row["model"]
            for row in rows
            if row.get("error") or row.get("missing_or_reshaped") or row.get("extra")
        ]
        print(
            f"{len(rows) - len(failed)} of {len(rows)} models ran and hold Slim's variables; failed: {failed}"
        )
        return 1 if failed else 0
    rows = [] if args.skip_vgg_416 else vgg_416(ws, dataset)
    rows += [measure(ws, dataset, case) for case in (*CASES, *INPUT_CASES, *CLUSTER_CASES)]
    figures = ratios(rows)
    text = table(rows) + "\n\n" + ", ".join(f"{name}: {value}" for name, value in figures.items())
    print(text)
    results = {"machine": report.machine(), "runs": rows, "ratios": figures}
    report.write_json(args.results / "bench-train.json", results)
    write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
