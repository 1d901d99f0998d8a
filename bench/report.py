"""Turn measurements into the figures the issue asks for, a printed table, and a JSON file."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import Measurement
from bench.steps import extra_disk_bytes

MB = 1e6


@dataclass(frozen=True)
class Target:
    """A goal from the issue: a measured value, the bound, and which side of it passes."""

    name: str
    value: float | None
    bound: float
    at_most: bool = True

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "bound": self.bound, "at_most": self.at_most, "passed": self.passed}


def machine() -> dict[str, Any]:
    """What the figures were measured on (they mean little without it)."""
    memory = next(
        (
            int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        ),
        None,
    )
    return {
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "note": "shared machine: other users' jobs add noise to every figure",
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def row(measurement: Measurement, images: int, seconds: float | None = None) -> dict:
    """One table line. ``seconds`` replaces the wall time for a phase of the run (e.g. the write phase)."""
    seconds = measurement.wall_s if seconds is None else seconds
    return {
        "step": measurement.name,
        "seconds": seconds,
        "images_per_s": ratio(images, seconds),
        "archive_mb_per_s": ratio(measurement.extra["archive_bytes"] / MB, seconds),
        "peak_pss_mb": round(measurement.peak_pss_bytes / MB, 1),
        "cores": ratio(measurement.cpu_s, measurement.wall_s),
        "others_cores": ratio(measurement.others_cpu_s, measurement.wall_s),
        "kernel_cores": ratio(measurement.kernel_threads_cpu_s, measurement.wall_s),
        "extra_disk_mb": round(extra_disk_bytes(measurement) / MB, 2),
        "fs_used_delta_mb": round(measurement.fs_used_delta_bytes / MB, 1),
    }


COLUMNS = (
    ("step", "step", "{}", 42),
    ("seconds", "seconds", "{:.2f}", 8),
    ("images_per_s", "images/s", "{:.0f}", 9),
    ("archive_mb_per_s", "MB/s", "{:.0f}", 6),
    ("peak_pss_mb", "peak PSS MB", "{:.0f}", 12),
    ("extra_disk_mb", "extra MB", "{:.1f}", 9),
    ("cores", "cores", "{:.2f}", 5),
    ("others_cores", "others", "{:.2f}", 6),
    ("kernel_cores", "kthreads", "{:.2f}", 8),
)
"""(row key, header, format, width) of each printed column. ``cores``: CPU seconds of the step's
processes per wall second; ``others``: the same for other users' processes meanwhile; ``kthreads``:
for kernel threads (mostly writeback of the step's own writes)."""


def _line(cells: list[str]) -> str:
    widths = [width for _, _, _, width in COLUMNS]
    return "  ".join(
        text.ljust(width) if i == 0 else text.rjust(width)
        for i, (text, width) in enumerate(zip(cells, widths, strict=True))
    )


def table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width text table of ``row`` dicts (missing values shown as '-')."""
    lines = [_line([header for _, header, _, _ in COLUMNS])]
    for r in rows:
        lines.append(_line(["-" if r.get(key) is None else fmt.format(r[key]) for key, _, fmt, _ in COLUMNS]))
    return "\n".join(lines)


def targets_text(targets: list[Target]) -> str:
    marks = {True: "PASS", False: "FAIL", None: "n/a "}
    return "\n".join(
        f"  {marks[t.passed]}  {t.name}: {'-' if t.value is None else t.value} "
        f"({'<=' if t.at_most else '>='} {t.bound})"
        for t in targets
    )


def write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, sort_keys=False) + "\n")
