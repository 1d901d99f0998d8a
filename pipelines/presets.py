"""Per-runner defaults: each is a list of Beam options put before the user's own (which win).

Remote workers share nothing with the launcher, so a preset also refuses to start a job whose workers
could not import ``imagenet_convert`` (Beam's stock SDK image lacks it); docs/scale-out.md has the how-to.
"""

from __future__ import annotations

import sys
from typing import Any

from imagenet_convert.__main__ import main as cli
from imagenet_convert.run.options import parse_args

PORTABLE = ["--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=DOCKER"]
"""A job server on this machine; SDK workers in containers of the project's image (--environment_config)."""

PRESETS: dict[str, list[str]] = {
    # Local: several worker processes on this machine (the CLI's own default).
    "local": [],
    # Google Cloud Dataflow. Workers need no scratch disk (shards stream to gs://): 30 GB instead of 250.
    "dataflow": [
        "--runner=DataflowRunner",
        "--max_num_workers=16",
        "--machine_type=n2-standard-4",
        "--disk_size_gb=30",
    ],
    # A Flink cluster through its Beam job server (docs/scale-out.md).
    "flink": PORTABLE,
    # A Spark cluster through its Beam job server.
    "spark": PORTABLE,
}

CONTAINER_HINT = "an image built from this project's Dockerfile (see docs/scale-out.md)"


def worker_package_problem(options: dict[str, Any]) -> str | None:
    """Why remote workers would not find ``imagenet_convert`` with these Beam options, or None."""
    if options.get("runner") == "DataflowRunner":
        if not any(options.get(name) for name in ("sdk_container_image", "extra_packages", "setup_file")):
            return (
                "Dataflow workers need the imagenet_convert package: pass --sdk_container_image with "
                f"{CONTAINER_HINT}, or --extra_package with a wheel of it (pip wheel --no-deps -w dist .)"
            )
    elif (options.get("environment_type") or "").upper() == "DOCKER" and not options.get(
        "environment_config"
    ):
        return f"--environment_type DOCKER needs --environment_config IMAGE: {CONTAINER_HINT}"
    return None


def run_with_preset(preset: str, argv: list[str] | None = None) -> int:
    """Run the conversion with a preset's options, then the caller's (the later option wins)."""
    argv = PRESETS[preset] + (sys.argv[1:] if argv is None else argv)
    problem = worker_package_problem(parse_args(argv).runner.options.get_all_options())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return cli(["run", *argv])
