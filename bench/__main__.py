"""``python -m bench``: the benchmarks behind ``make bench`` and ``make bench-scale``.

Never part of the test suite: they generate gigabytes and take minutes (the scale run much longer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import datasets, report
from bench.steps import BenchError, Workspace


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time the conversion against reading and extracting the same archives (make bench), "
        "or at full ImageNet cardinality (--scale). Input sets are generated once into WORKDIR/sets and "
        "reused; results go to RESULTS/bench.json or bench-scale.json, with each step's log in RESULTS/logs.",
    )
    p.add_argument("--workdir", type=Path, default=Path("bench-data"), help="generated sets and scratch")
    p.add_argument("--results", type=Path, default=Path("bench-results"), help="JSON results and logs")
    p.add_argument("--scale", action="store_true", help="the full-cardinality run (1.33 M tiny images)")
    p.add_argument(
        "--no-memory-scaling",
        dest="memory_scaling",
        action="store_false",
        help="skip the conversion of a second set with ~2x the image bytes (first use generates it: ~5 min)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every step N times, in rounds, and keep each step's fastest (the machine is shared: "
        "other users' jobs slow single runs)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="before each timed step, wait up to SECONDS for other users' processes to use under a "
        "quarter of a core (default 120; 0: don't wait)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="instead: profile the plan and the shard writer in this process (cProfile, per-stage costs); "
        "with --scale, on the full-cardinality set",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    ws = Workspace(args.workdir.resolve(), args.results.resolve(), args.quiet_wait)
    try:
        if args.profile:
            from bench import profile

            if args.scale:
                name, result = "profile-scale.json", profile.run(ws, datasets.SCALE)
            else:
                name, result = "profile.json", profile.run(ws)
        elif args.scale:
            from bench import scale

            name, result = "bench-scale.json", scale.run(ws)
        else:
            from bench import standard

            name, result = "bench.json", standard.run(ws, args.memory_scaling, args.repeat)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report.write_json(ws.results / name, result)
    print(f"results: {ws.results / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
