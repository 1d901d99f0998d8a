"""``make bench-scale``: full ImageNet cardinality (1.33 M tiny images) through index, plan and write.

Tiny images make the per-image costs that do not depend on image bytes (tar headers, plan
entries, JSON, records, Beam bookkeeping) dominate, which is what has to stay linear and small.
The index is also timed here, in this process, with the converter's own indexing functions: a
cross-check, and the index time when ``run_report.json`` only has ``index_and_plan``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import batches, datasets, report, steps
from bench.measure import Measurement
from bench.report import MB, Target, ratio
from bench.steps import Workspace

PLAN_PEAK_MB = 2000
WHOLE_RUN_PEAK_MB = 600
INDEX_KEYS = ("index_train", "index_validation")
PLAN_PREFIXES = ("read_devkit", "boxes_", "shard_plan_")
"""``run_report.json`` ``seconds`` keys of the index and of the plan's parts, where it splits them."""


def time_index(folder: Path) -> dict[str, Any]:
    """Seconds to index both image tars (headers only) with ``imagenet_convert.inputs.archives``."""
    from imagenet_convert.inputs import archives

    started = time.monotonic()
    train = dict(archives.index_train(str(folder / datasets.TRAIN_TAR), datasets.TRAIN_TAR))
    middle = time.monotonic()
    with archives.open_input(str(folder / datasets.VAL_TAR)) as stream:
        validation = archives.index_tar(stream, datasets.VAL_TAR)
    finished = time.monotonic()
    return {
        "train_s": round(middle - started, 3),
        "validation_s": round(finished - middle, 3),
        "total_s": round(finished - started, 3),
        "members": sum(map(len, train.values())) + len(validation),
    }


def time_plan_extracted(ws: Workspace) -> dict[str, Any]:
    """From start until the plan is saved, for the extracted layout of the full-cardinality set.

    The CLI's dry run (interpreter start, listing 1.33 M files, devkit, XML, sharding) plus the
    plan's saving timed in this process on the same plan (a dry run saves nothing).
    """
    from imagenet_convert.inputs.layouts import open_layout
    from imagenet_convert.plan import build, model, store
    from imagenet_convert.storage.output import OutputDir

    folder, _ = datasets.ensure(ws.workdir, datasets.SCALE_EXTRACTED)
    dry_run = steps.dry_run(ws, "plan the extracted layout: run --dry-run (warm)", folder, [])
    started = time.monotonic()
    layout = open_layout(str(folder))
    options = model.PlanOptions()
    built = build.build_plan(layout, options, build.find_inputs(layout, options))
    planned = time.monotonic()
    output = ws.scratch("plan extracted")
    store.save_plan(OutputDir(str(output)), built)
    saved = time.monotonic()
    steps.remove(output)
    return {
        "layout": layout.describe(),
        "images": sum(shard.num_images for shard in built.shards),
        "dry_run_wall_s": dry_run.wall_s,
        "dry_run_peak_pss_mb": round(dry_run.peak_pss_bytes / MB, 1),
        "in_process_plan_s": round(planned - started, 3),
        "in_process_plan_seconds": built.seconds,
        "save_plan_s": round(saved - planned, 3),
        "start_to_saved_plan_s": round(dry_run.wall_s + saved - planned, 3),
    }


def _per_image_us(seconds: float | None, images: int) -> float | None:
    return None if seconds is None or not images else round(seconds / images * 1e6, 2)


def index_and_plan(seconds: dict[str, float], index: dict[str, Any]) -> tuple[float, float | None, str]:
    """(index seconds, plan seconds, where they come from): the converter's own split when it reports
    one, else this process's index time and the rest of ``index_and_plan``."""
    if all(key in seconds for key in INDEX_KEYS):
        plan_s = sum(value for key, value in seconds.items() if key.startswith(PLAN_PREFIXES))
        return round(sum(seconds[key] for key in INDEX_KEYS), 3), round(plan_s, 3), "run_report.json"
    total = seconds.get("index_and_plan")
    plan_s = None if total is None else round(total - index["total_s"], 3)
    return index["total_s"], plan_s, "index timed in the benchmark's process; plan = index_and_plan - index"


def figures(index: dict[str, Any], dry_run: Measurement, conversion: Measurement) -> dict[str, Any]:
    """Index, plan, write and total times (and per image), and the peaks."""
    seconds = conversion.extra["seconds"]
    images = conversion.extra["images"]
    index_s, plan_s, source = index_and_plan(seconds, index)
    return {
        "images": images,
        "shards": conversion.extra["shards"],
        "index_s": index_s,
        "plan_s": plan_s,
        "index_and_plan_source": source,
        "index_in_benchmark_process": index,
        "converter_seconds": seconds,
        "plan_counts": conversion.extra["plan_counts"],
        "wall_s": conversion.wall_s,
        "startup_s": round(conversion.wall_s - seconds["total"], 2),
        "start_to_saved_plan_s": round(
            conversion.wall_s
            - seconds["total"]
            + sum(seconds.get(key, 0) for key in ("index_and_plan", "save_plan")),
            2,
        ),
        "first_shard_s": seconds.get("first_shard"),
        "per_image_us": {
            "index": _per_image_us(index_s, images),
            "plan": _per_image_us(plan_s, images),
            "save_plan": _per_image_us(seconds.get("save_plan"), images),
            "write": _per_image_us(seconds.get("write"), images),
            "total": _per_image_us(conversion.wall_s, images),
        },
        "write_images_per_s": ratio(images, seconds.get("write")),
        "peak_pss_mb": round(conversion.peak_pss_bytes / MB, 1),
        "peak_launcher_pss_mb": round(conversion.peak_root_pss_bytes / MB, 1),
        "peak_pss_before_workers_mb": round(conversion.peak_single_process_pss_bytes / MB, 1),
        "dry_run_wall_s": dry_run.wall_s,
        "dry_run_peak_pss_mb": round(dry_run.peak_pss_bytes / MB, 1),
        "extra_disk_mb": round(steps.extra_disk_bytes(conversion) / MB, 2),
    }


def summary_text(values: dict[str, Any]) -> str:
    """Times and peaks under the table."""
    seconds = values["converter_seconds"]
    return "\n".join(
        [
            f"\n{values['images']} images, {values['shards']} shards: index {values['index_s']} s, plan "
            f"{values['plan_s']} s ({values['index_and_plan_source']}), save plan "
            f"{seconds.get('save_plan')} s, write {seconds.get('write')} s, total {values['wall_s']} s "
            f"(start-up {values['startup_s']} s); plan saved {values['start_to_saved_plan_s']} s and first "
            f"shard {values['first_shard_s']} s after start",
            f"converter's seconds: {seconds}",
            f"per image, microseconds: {values['per_image_us']}",
            f"peak PSS: whole run {values['peak_pss_mb']} MB, launcher {values['peak_launcher_pss_mb']} MB, "
            f"dry run {values['dry_run_peak_pss_mb']} MB",
        ]
    )


def run(ws: Workspace) -> dict[str, Any]:
    """Generate (or reuse) the full-cardinality set, time index, plan (dry run) and the conversion."""
    started = time.monotonic()
    folder, summary = datasets.ensure(ws.workdir, datasets.SCALE)
    archives = datasets.image_archives(folder)
    steps.prepare_cache(ws, archives, cold=False)
    index = time_index(folder)
    dry_run = steps.dry_run(ws, "index and plan only: run --dry-run (warm)", folder, archives)
    conversion = steps.conversion(
        ws, "convert full cardinality (warm)", folder, archives, cold=False, inspect=batches.label_spread
    )
    values = figures(index, dry_run, conversion)
    spread = conversion.extra["inspected"]
    extracted = time_plan_extracted(ws)
    goals = [
        Target("official archives: start until the plan is saved, s", values["start_to_saved_plan_s"], 30),
        Target("peak summed PSS of the whole run, MB", values["peak_pss_mb"], WHOLE_RUN_PEAK_MB),
        Target("trainer batches: mean-label std / independent std", spread["ratio"], batches.TARGET_RATIO),
        Target("extracted layout: start until the plan is saved, s", extracted["start_to_saved_plan_s"], 60),
        Target("peak PSS of index + plan (run --dry-run), MB", values["dry_run_peak_pss_mb"], PLAN_PEAK_MB),
        Target("peak PSS before the workers start, MB", values["peak_pss_before_workers_mb"], PLAN_PEAK_MB),
    ]
    print(report.table([report.row(dry_run, values["images"]), report.row(conversion, values["images"])]))
    print(summary_text(values))
    print(
        f"trainer input, {spread['batches']} batches of {spread['batch_size']}: std of the batch mean label "
        f"{spread['std_of_batch_mean_label']}, independent batches {spread['independent_batches_std']}"
    )
    print(f"extracted layout, start until the plan is saved: {extracted}")
    print("targets:\n" + report.targets_text(goals))
    return {
        "machine": report.machine(),
        "set": {"folder": str(folder), "summary": summary},
        "figures": values,
        "trainer_batches": spread,
        "extracted_layout_plan": extracted,
        "targets": {t.name: t.to_json() for t in goals},
        "measurements": {"dry_run": dry_run.to_json(), "convert": conversion.to_json()},
        "notes": [f"index_s and plan_s: {values['index_and_plan_source']}"],
        "bench_seconds": round(time.monotonic() - started, 1),
    }
