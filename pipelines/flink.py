"""The conversion on a Flink cluster through its Beam job server (preset: pipelines/presets.py).

    python -m pipelines.flink --input s3://B/imagenet --output s3://B/imagenet-tfrecord \\
        --job_endpoint HOST:8099 --environment_config IMAGE

See docs/scale-out.md for the job server and the worker image.
"""

from __future__ import annotations

import sys

from pipelines.presets import run_with_preset


def run(argv: list[str] | None = None) -> int:
    return run_with_preset("flink", argv)


if __name__ == "__main__":
    sys.exit(run())
