"""The conversion on the local runner: `python -m pipelines.convert_imagenet --input ... --output ...`.

Same options as `python -m imagenet_convert run`; any Beam option (`--runner ...`) passes through.
"""

from __future__ import annotations

import sys

from pipelines.presets import run_with_preset


def run(argv: list[str] | None = None) -> int:
    return run_with_preset("local", argv)


if __name__ == "__main__":
    sys.exit(run())
