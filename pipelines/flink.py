"""The conversion on Flink: `python -m pipelines.flink --input ... --output ... [Beam options]`."""

from __future__ import annotations

import sys

from pipelines.presets import run_with_preset


def run(argv: list[str] | None = None) -> int:
    return run_with_preset("flink", argv)


if __name__ == "__main__":
    sys.exit(run())
