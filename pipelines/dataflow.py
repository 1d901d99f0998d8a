"""The conversion on Google Cloud Dataflow (preset: pipelines/presets.py; how-to: docs/scale-out.md).

    python -m pipelines.dataflow --input gs://B/imagenet --output gs://B/imagenet-tfrecord \\
        --project P --region R --temp_location gs://B/tmp --sdk_container_image IMAGE
"""

from __future__ import annotations

import sys

from pipelines.presets import run_with_preset


def run(argv: list[str] | None = None) -> int:
    return run_with_preset("dataflow", argv)


if __name__ == "__main__":
    sys.exit(run())
