"""What the object-store tests (S3, GCS) share: a miniature big enough to show read amplification, and a
bucket seen two ways, by a direct client for the test and through a counting proxy for the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_convert.fake import ARCHIVES, FakeOptions
from imagenet_convert.format import filenames
from tests.support.cli import convert, output_files
from tests.support.services import CountingProxy, Traffic

BIG = FakeOptions(
    classes=3,
    train_per_class=(70, 70),
    val_images=12,
    min_side=600,
    max_side=800,
    pool_size=4,
    box_fraction=0.3,
)
"""Over 64 MiB of archives in seconds: few, larger images, encoded once per pool slot and reused."""
LATENCY = 0.025
"""A cloud store's first-byte latency, added by the proxy to every request of the latency test."""
BUCKET = "bucket"
WORK = ".imagenet-convert/"


def archive_bytes(folder: Path) -> int:
    return sum((folder / name).stat().st_size for name in ARCHIVES if (folder / name).exists())


@dataclass
class Bucket:
    """``BUCKET`` on a server: the test reaches it directly, the CLI through ``proxy``."""

    scheme: str
    client: Any
    """The store's own client library's (boto3, google-cloud-storage)."""
    proxy: CountingProxy
    keys: Callable[[str], list[str]]
    """The object names under a prefix."""
    read: Callable[[str], bytes]
    upload: Callable[[Path, str], None]
    """A local file to an object name."""
    cli_options: list[str] = field(default_factory=list)
    cli_environment: dict[str, str] = field(default_factory=dict)

    def output_files(self, prefix: str) -> dict[str, bytes]:
        """Like ``tests.support.cli.output_files``: the visible files (no work folder, no run report), by
        name."""
        visible = [key for key in self.keys(prefix) if not key[len(prefix) :].startswith(WORK)]
        return {
            key[len(prefix) :]: self.read(key)
            for key in sorted(visible)
            if not key.endswith("/run_report.json")
        }

    def convert(self, output: str, *extra: str, source: str = "in") -> Traffic:
        """A conversion of what was uploaded under ``SOURCE/`` (the archives) into ``OUTPUT/``, measured."""
        source, target = f"{self.scheme}://{BUCKET}/{source}", f"{self.scheme}://{BUCKET}/{output}"
        with self.proxy.measure() as traffic:
            result = convert(
                source,
                target,
                *extra,
                *self.cli_options,
                env=self.cli_environment,  # type: ignore[arg-type]
            )
        assert result.returncode == 0, result.stderr
        return traffic

    def kill_once_a_shard_is_done(self, output: str) -> set[str]:
        """A one-worker conversion into ``OUTPUT/``, SIGKILLed after its first shard; the shards it wrote."""
        command = [
            sys.executable, "-m", "imagenet_convert", "run", "--input", f"{self.scheme}://{BUCKET}/in",
            "--output", f"{self.scheme}://{BUCKET}/{output}", "--train-shards", "4",
            "--validation-shards", "2", "--workers", "1", *self.cli_options,
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, **self.cli_environment},
        )
        deadline = time.monotonic() + 120
        try:
            while not self.keys(f"{output}/{WORK}done/"):
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.02)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        return {key.rsplit("/", 1)[-1].removesuffix(".json") for key in self.keys(f"{output}/{WORK}done/")}

    def check_resume(self, local_output: Path) -> None:
        """A run killed mid-way resumes to the local bytes, reading only the images of unfinished shards."""
        done = self.kill_once_a_shard_is_done("resume")
        assert 1 <= len(done) < 6, done
        traffic = self.convert("resume", "--workers", "2")
        assert self.output_files("resume/") == output_files(local_output)
        assert json.loads(self.read("resume/run_report.json"))["resumed_shards"] == len(done)
        plan = json.loads(self.read(f"resume/{WORK}plan.json"))
        redone = sum(shard["image_bytes"] for shard in plan["shards"] if shard["name"] not in done)
        assert traffic.bytes_from_server < 1.1 * redone + (1 << 20), "read more than the unfinished shards"

    def check_folder_layout(self, folder: Path, local_output: Path) -> None:
        """An extracted tree under a prefix converts to the local bytes: listed, not walked, and every
        image read by exactly one request for its object. The output lies inside the input's prefix,
        which the listing leaves out: the same command then finds the conversion complete."""
        files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
        for path in files:
            self.upload(path, f"extracted/{path.relative_to(folder)}")
        traffic = self.convert("extracted/tfrecords", "--workers", "1", source="extracted")
        self.convert("extracted/tfrecords", "--workers", "1", source="extracted")  # refused if listed
        got, want = self.output_files("extracted/tfrecords/"), output_files(local_output)
        assert got.pop(filenames.INFO) != want.pop(filenames.INFO)  # its inputs say folders, not archives
        assert got == want
        images = {
            f"{BUCKET}/extracted/{p.relative_to(folder)}"
            for p in files
            if p.suffix == ".JPEG" and not p.name.startswith("._")  # AppleDouble junk is never read
        }
        gets = [path for path in traffic.object_reads() if path in images]
        assert sorted(gets) == sorted(images), "each image read by exactly one request"

    def check_reads_in_flight(self, folder: Path, local_output: Path) -> dict[str, Any]:
        """``folder``'s archives converted through a proxy adding ``LATENCY`` to every request, one read
        at a time (``--reads_in_flight 1 --read_window_bytes 1``: each image's range requested when it is
        used, as before reads in flight) and with the defaults: both give the local bytes, the defaults
        with fewer requests for the archives (neighbouring ranges merged). Returns the figures."""
        for name in ARCHIVES:
            if (folder / name).exists():
                self.upload(folder / name, f"latency/{name}")
        runs = {"one_at_a_time": ["--reads_in_flight", "1", "--read_window_bytes", "1"], "defaults": []}
        figures: dict[str, Any] = {}
        with self.proxy.delayed(LATENCY):
            for run, flags in runs.items():
                traffic = self.convert(f"latency-{run}", "--workers", "2", *flags, source="latency")
                assert self.output_files(f"latency-{run}/") == output_files(local_output), run
                report = json.loads(self.read(f"latency-{run}/run_report.json"))
                figures[run] = {
                    "write_seconds": report["seconds"]["write"],
                    "archive_reads": sum(p.startswith(f"{BUCKET}/latency/") for p in traffic.object_reads()),
                    "requests": len(traffic.requests),
                    "ranged_reads": report["totals"].get("ranged_reads", 0),
                    "gap_bytes": report["totals"].get("gap_bytes", 0),
                }
        slow, fast = figures["one_at_a_time"], figures["defaults"]
        images = sum(
            json.loads((local_output / filenames.INFO).read_text())["splits"][s]["num_examples"]
            for s in ("train", "validation")
        )
        assert slow["ranged_reads"] == images, figures  # one request per image
        assert fast["ranged_reads"] < slow["ranged_reads"], figures
        assert fast["archive_reads"] < slow["archive_reads"], figures
        assert fast["gap_bytes"] > 0, figures
        return figures
