"""Where a worker's time goes: the shard writer in-process, plain, under cProfile, and stage by stage.

The plain timing is the reference; cProfile names the hot functions (with its own overhead on
every call); the stage timings repeat the shard writer's per-image steps one by one with the
converter's own functions, so each step's cost per image can be read without profiler overhead.
Beam itself is not involved: its share is the write phase minus the shards' own seconds.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import pstats
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import datasets, steps
from bench.measure import wait_for_quiet
from bench.steps import Workspace

SHARDS = 100
"""Train shards profiled: ~4,900 images of the standard set (~0.5 GB), a few seconds per pass."""


def _plan(folder: Path, output: Path, profiler: cProfile.Profile) -> tuple[Any, dict[str, float]]:
    """Build (profiled) and save the default plan; returns it and the seconds of each part."""
    from imagenet_convert.inputs.layouts import open_layout
    from imagenet_convert.plan import build, model, store
    from imagenet_convert.storage.output import OutputDir

    options = model.PlanOptions()
    started = time.monotonic()
    layout = open_layout(str(folder))
    built = profiler.runcall(build.build_plan, layout, options, build.find_inputs(layout, options))
    middle = time.monotonic()
    store.save_plan(OutputDir(str(output)), built)
    seconds = {"build_plan_profiled": middle - started, "save_plan": time.monotonic() - middle}
    return built, {key: round(value, 3) for key, value in seconds.items()}


def _write_shards(output: Path, folder: Path, shards: list, classes: dict) -> None:
    from imagenet_convert.run.stages import write_shard
    from imagenet_convert.storage.output import OutputDir

    out = OutputDir(str(output))
    for shard in shards:
        write_shard(out, str(folder), shard, classes, False)


def _framed(chunks: list[bytes]) -> bytes:
    from imagenet_convert.format.records import frame_chunks

    return b"".join(frame_chunks(chunks))


class _Clock:
    """Accumulates seconds per stage name."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()

    def __call__(self, stage: str, function: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        result = function(*args)
        self.seconds[stage] += time.perf_counter() - started
        return result


def stage_seconds(folder: Path, sink: Path, shards: list, classes: dict) -> tuple[Counter, Counter]:
    """Seconds per stage over the shards' images, and how many images went through each stage."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from imagenet_convert.format import filenames
    from imagenet_convert.format.records import SlimRecord
    from imagenet_convert.inputs import images
    from imagenet_convert.inputs.layouts import locators
    from imagenet_convert.plan import store
    from imagenet_convert.storage.output import OutputDir, json_bytes

    clock, counts = _Clock(), Counter()
    out = OutputDir(str(sink))
    for shard in shards:
        line = json_bytes(shard.to_json(), compact=True)  # the shard's line of the saved plan
        saved = out.path(filenames.PLAN_SHARDS)
        clock("launcher: save shard plan (per shard)", out.write_atomic, saved, line)
        clock("load shard plan (per shard)", store.load_shard, out, (0, len(line)))
        located = [image.locator for image in shard.images]
        source = clock("open archive + create shard file", locators.Reader, str(folder), located)
        target = clock(
            "open archive + create shard file",
            FileSystems.create,
            str(sink / "shard.tmp"),
            "application/octet-stream",
            CompressionTypes.UNCOMPRESSED,
        )
        digest = hashlib.sha256()
        with source, target:
            for image in shard.images:
                data = clock("read byte range", source.read, image.locator)
                info = clock("sniff header", images.sniff, data)
                height, width = info.height, info.width
                if info.needs_reencoding:
                    data, height, width = clock("re-encode PNG/CMYK", images.reencode_rgb_jpeg, data)
                    counts["re-encode PNG/CMYK"] += 1
                synset, text = classes[image.label]
                record = SlimRecord(
                    data, image.filename, height, width, image.label, synset, text, list(image.boxes)
                )
                example = clock("serialize Example", record.to_example_chunks)
                framed = clock("frame (CRC-32C + join)", _framed, example)
                clock("sha256", digest.update, framed)
                clock("write to shard file", target.write, framed)
        clock("publish + marker (per shard)", out.publish, str(sink / "shard.tmp"), out.path(shard.name))
        clock(
            "publish + marker (per shard)",
            out.write_atomic,
            out.path(filenames.marker(shard.name)),
            json_bytes({"name": shard.name}),
        )
    images_total = sum(shard.num_images for shard in shards)
    for stage in clock.seconds:
        counts.setdefault(stage, images_total)
    return clock.seconds, counts


def profile_text(profiler: cProfile.Profile, title: str, limit: int = 30) -> str:
    """Top functions of a finished profile by own time and by cumulative time."""
    text = io.StringIO()
    text.write(f"=== {title} ===\n")
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return text.getvalue()


def run(ws: Workspace, bench_set: datasets.BenchSet = datasets.STANDARD, shard_count: int = SHARDS) -> dict:
    """Profile the plan, and the write of the first ``shard_count`` train shards, of a set (warm cache).

    Results go to ``profile.txt`` (``profile-scale.txt`` for the tiny-image set, whose per-image
    costs are the fixed ones: everything but the bytes).
    """
    from imagenet_convert.plan.model import class_table

    folder, _ = datasets.ensure(ws.workdir, bench_set)
    archives = datasets.image_archives(folder)
    output = ws.scratch("profile output")
    steps.prepare_cache(ws, archives, cold=False)
    plan_profiler = cProfile.Profile()
    built, plan_seconds = _plan(folder, output, plan_profiler)
    classes = class_table(built.classes)
    shards = built.split_shards("train")[:shard_count]
    images = sum(len(shard.images) for shard in shards)
    image_bytes = sum(shard.image_bytes for shard in shards)
    wait_for_quiet(ws.quiet_wait_s)
    started = time.monotonic()
    _write_shards(output, folder, shards, classes)
    plain_s = time.monotonic() - started
    stages_folder = ws.scratch("profile stages")
    wait_for_quiet(ws.quiet_wait_s)
    seconds, counts = stage_seconds(folder, stages_folder, shards, classes)
    write_profiler = cProfile.Profile()  # into a fresh folder: replacing files makes ext4 flush on rename
    write_profiler.runcall(_write_shards, ws.scratch("profile cprofile"), folder, shards, classes)
    text = profile_text(write_profiler, f"write_shard x {len(shards)} train shards") + profile_text(
        plan_profiler, "build_plan (index + devkit + boxes + sharding)"
    )
    for name in ("profile output", "profile stages", "profile cprofile"):
        steps.remove(ws.workdir / "scratch" / steps.slug(name))
    stages = {
        stage: {
            "us_per_image": round(seconds[stage] / images * 1e6, 2),
            "calls_on": counts[stage],
            "share": round(seconds[stage] / sum(seconds.values()), 3),
        }
        for stage in sorted(seconds, key=seconds.get, reverse=True)
    }
    text_path = ws.results / (
        "profile.txt" if bench_set is datasets.STANDARD else f"profile-{bench_set.name}.txt"
    )
    text_path.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no results folder yet
    text_path.write_text(text)
    result = {
        "shards": len(shards),
        "images": images,
        "mean_image_bytes": round(image_bytes / images),
        "in_process_plan_s": plan_seconds,
        "write_shard_us_per_image": round(plain_s / images * 1e6, 2),
        "write_shard_images_per_s": round(images / plain_s, 1),
        "stages_us_per_image": stages,
        "stages_total_us_per_image": round(sum(seconds.values()) / images * 1e6, 2),
        "set": bench_set.name,
        "cprofile": str(text_path),
    }
    print(
        f"write_shard, one process, {images} images in {len(shards)} shards: "
        f"{result['write_shard_us_per_image']} us/image ({result['write_shard_images_per_s']} images/s)"
    )
    for stage, cost in stages.items():
        print(f"  {stage:<38} {cost['us_per_image']:>9.1f} us/image  {cost['share']:>6.1%}")
    print(f"cProfile: {result['cprofile']}")
    return result
