"""The Beam stages of the conversion: each worker writes whole shards from their saved plans.

Image bytes never pass through a Beam shuffle: the only elements are shard names. A worker reads
its shard's plan, queues every image's byte range with the kernel in offset order, then reads each
image's bytes wherever its locator points (a tar member, an extracted file, a ZIP member) in the
plan's (shuffled) order and writes them to a temporary file that is renamed into place once
complete, then the shard's index file (DALI's format, from the offsets noted while writing); a
marker file with the shard's counts and sha256 is written last, so a shard is done exactly when its
marker is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections import Counter

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.errors import Failed, shown
from imagenet_convert.format import filenames
from imagenet_convert.format.index import index_bytes
from imagenet_convert.format.records import SlimRecord, frame_chunks
from imagenet_convert.inputs import archives, images
from imagenet_convert.inputs.layouts import locators
from imagenet_convert.plan.model import PlannedImage, Shard, class_table
from imagenet_convert.plan.store import load_saved, load_shard
from imagenet_convert.run.markers import ShardMarker, write_marker
from imagenet_convert.storage import filesystems
from imagenet_convert.storage.direct_file import DirectFile
from imagenet_convert.storage.output import OutputDir, absolute


class ConversionError(Failed):
    """An input image the run cannot convert; the message names archive, member and remedy."""


def _record(
    data: bytes, image: PlannedImage, classes: dict[int, tuple[str, str]], stats: Counter
) -> SlimRecord:
    info = images.sniff(data)
    if info.quirk:
        stats[info.quirk] += 1
    if info.needs_reencoding:
        data, height, width = images.reencode_rgb_jpeg(data)
        stats["reencoded"] += 1
    else:
        height, width = info.height, info.width
    synset, text = classes[image.label]
    return SlimRecord(data, image.filename, height, width, image.label, synset, text, list(image.boxes))


def _where(image: PlannedImage) -> str:
    """The archive and member of an image, or its own file's path when it was extracted (printable:
    a member's name may hold a newline)."""
    if image.locator.path.rsplit("/", 1)[-1] == image.filename:
        return shown(image.locator.path)
    return f"{shown(image.locator.path)}: member {shown(image.filename)}"


def write_shard(
    out: OutputDir,
    input_dir: str,
    shard: Shard,
    classes: dict[int, tuple[str, str]],
    skip_bad: bool,
    read_ahead: locators.ReadAhead | None = None,
) -> ShardMarker:
    """Write one shard and its index atomically and return its marker (counts, sha256, quirks, skipped;
    on an object store the read requests made and the bytes read between images)."""
    started, cpu = time.monotonic(), time.thread_time()
    digest, stats, class_counts = hashlib.sha256(), Counter(), Counter()
    skipped: list[dict[str, str]] = []
    spans: list[tuple[int, int]] = []
    size = 0
    with (
        locators.Reader(input_dir, (image.locator for image in shard.images), read_ahead) as source,
        out.atomic(out.path(shard.name), direct=True) as sink,
    ):
        created = time.time()  # when the shard's temporary file appeared (run_report.json's first_shard)
        for image in shard.images:
            try:
                record = _record(source.read(image.locator, image.filename), image, classes, stats)
            except (images.BadImageError, OSError, archives.ArchiveError) as exc:
                problem = f"{_where(image)}: {exc}"
                if not skip_bad:
                    raise ConversionError(
                        f"{problem}; pass --skip-bad-images to leave such images out and list them "
                        "in run_report.json"
                    ) from None
                skipped.append({"image": image.filename, "problem": str(exc)})
                continue
            length = 0
            for chunk in frame_chunks(record.to_example_chunks()):  # the image's one copy: into the sink
                sink.write(chunk)
                digest.update(chunk)
                length += len(chunk)
            spans.append((size, length))
            size += length
            class_counts[image.label] += 1
            stats["boxes"] += len(image.boxes)
        stats.update(source.stats)
    # a local shard's writes ran in its helper thread, all finished once it was closed
    helper_cpu = sink.helper_cpu_seconds if isinstance(sink, DirectFile) else 0.0
    out.write_atomic(out.path(filenames.index_file(shard.name)), index_bytes(spans))
    marker = ShardMarker(
        name=shard.name,
        split=shard.split,
        num_records=sum(class_counts.values()),
        bytes=size,
        sha256=digest.hexdigest(),
        class_counts=dict(class_counts),
        stats=dict(stats),
        skipped=skipped,
        seconds=round(time.monotonic() - started, 3),
        created=round(created, 3),
        cpu_seconds=round(time.thread_time() - cpu + helper_cpu, 3),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    write_marker(out, marker)
    return marker


class WriteShardFn(beam.DoFn):
    """Shard name in, shard file out; the class table is loaded once per worker."""

    def __init__(
        self,
        output_dir: str,
        input_dir: str,
        skip_bad_images: bool,
        filesystem_flags: list[str],
        read_ahead: locators.ReadAhead | None = None,
    ):
        # Workers do not run in the launcher's folder: relative local paths would point elsewhere there.
        self._output_dir, self._input_dir = absolute(output_dir), absolute(input_dir)
        self._skip_bad = skip_bad_images
        self._filesystem_flags = filesystem_flags
        self._read_ahead = read_ahead or locators.ReadAhead()
        self._written = beam.metrics.Metrics.counter("imagenet_convert", "images_written")

    def setup(self) -> None:
        # Workers share nothing with the launcher: configure s3://, gs:// access here too.
        filesystems.configure(PipelineOptions(self._filesystem_flags))
        self._out = OutputDir(self._output_dir)
        saved = load_saved(self._out)
        assert saved is not None, "the plan is saved before the pipeline starts"
        plan = saved.plan()
        self._classes = class_table(plan.classes)
        self._spans = {shard.name: shard.plan_span for shard in plan.shards}

    def process(self, shard_name: str):
        shard = load_shard(self._out, self._spans[shard_name])
        try:
            marker = write_shard(
                self._out, self._input_dir, shard, self._classes, self._skip_bad, self._read_ahead
            )
        except Exception as exc:
            # Remote runners only show a traceback; the launcher reads this one line back (if the
            # disk still takes it: the launcher recognises a full disk without it).
            with contextlib.suppress(Exception):
                self._out.write_atomic(self._out.path(filenames.error(shard_name)), f"{exc}\n".encode())
            raise
        self._written.inc(marker.num_records)
        yield marker


class WriteShards(beam.PTransform):
    """Shard names -> written shards (and their markers)."""

    def __init__(
        self,
        output_dir: str,
        input_dir: str,
        skip_bad_images: bool,
        filesystem_flags: list[str],
        read_ahead: locators.ReadAhead | None = None,
    ):
        super().__init__()
        self._fn = WriteShardFn(output_dir, input_dir, skip_bad_images, filesystem_flags, read_ahead)

    def expand(self, shard_names):
        return shard_names | "WriteShard" >> beam.ParDo(self._fn)
