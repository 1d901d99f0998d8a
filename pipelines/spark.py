"""The conversion on Spark: `python -m pipelines.spark --input ... --output ... [Beam options]`."""

from __future__ import annotations

import sys

from pipelines.presets import run_with_preset


def run(argv: list[str] | None = None) -> int:
    return run_with_preset("spark", argv)


if __name__ == "__main__":
    sys.exit(run())
