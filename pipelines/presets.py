"""Per-runner defaults: each is a list of Beam options put before the user's own (which win)."""

from __future__ import annotations

import sys

from imagenet_convert.convert import main as convert_main

PRESETS: dict[str, list[str]] = {
    # Local: several worker processes on this machine (the CLI's own default).
    "local": [],
    # Google Cloud Dataflow: workers install the wheel given with --extra_package (see docs/scale-out.md).
    "dataflow": ["--runner=DataflowRunner", "--experiments=use_runner_v2", "--max_num_workers=32"],
    # A Flink cluster through its Beam job server; SDK workers as containers next to the task managers.
    "flink": ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"],
    # A Spark cluster through its Beam job server.
    "spark": ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"],
}


def run_with_preset(preset: str, argv: list[str] | None = None) -> int:
    """Run the conversion with a preset's options, then the caller's (the later option wins)."""
    return convert_main(PRESETS[preset] + (sys.argv[1:] if argv is None else argv))
