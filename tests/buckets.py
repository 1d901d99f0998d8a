"""What the object-store tests (S3, GCS) share: a miniature big enough to show read amplification, and a
bucket seen two ways, by a direct client for the test and through a counting proxy for the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagenet_convert.fake import ARCHIVES, FakeOptions
from tests.cli import convert
from tests.services import CountingProxy, Traffic

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
    cli_options: list[str] = field(default_factory=list)
    cli_environment: dict[str, str] = field(default_factory=dict)

    def output_files(self, prefix: str) -> dict[str, bytes]:
        """Like ``tests.cli.output_files``: the visible files (no work folder, no run report), by name."""
        visible = [key for key in self.keys(prefix) if not key[len(prefix) :].startswith(WORK)]
        return {
            key[len(prefix) :]: self.read(key)
            for key in sorted(visible)
            if not key.endswith("/run_report.json")
        }

    def convert(self, output: str, *extra: str) -> Traffic:
        """A conversion of the archives uploaded under ``in/`` into ``OUTPUT/``, measured."""
        source, target = f"{self.scheme}://{BUCKET}/in", f"{self.scheme}://{BUCKET}/{output}"
        with self.proxy.measure() as traffic:
            result = convert(
                source, target, *extra, *self.cli_options, env=self.cli_environment  # type: ignore[arg-type]
            )
        assert result.returncode == 0, result.stderr
        return traffic
