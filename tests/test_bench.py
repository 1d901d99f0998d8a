"""Smoke tests of the benchmark's helpers (the benchmarks themselves never run in the test suite)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench import batches, report, standard
from bench.measure import Measurement, MemoryPeak, descendants, pss_bytes, run_measured
from bench.report import Target


def test_descendants_walks_the_whole_tree_root_first() -> None:
    parents = {10: 1, 11: 10, 12: 10, 13: 11, 20: 1}
    tree = descendants(10, parents)
    assert tree[0] == 10
    assert sorted(tree) == [10, 11, 12, 13]


def test_pss_of_this_process_is_positive_and_of_a_missing_one_zero() -> None:
    assert pss_bytes(os.getpid()) > 1 << 20
    assert pss_bytes(2**22 + 1) == 0


def test_memory_peak_sums_each_poll_and_keeps_the_largest() -> None:
    peak = MemoryPeak()
    peak.add([100])
    peak.add([50, 70, 30])
    peak.add([60, 10])
    assert (peak.peak_pss, peak.peak_root_pss, peak.peak_processes) == (150, 100, 3)
    assert peak.peak_single_process_pss == 100


def test_run_measured_sees_a_child_of_the_command(tmp_path: Path) -> None:
    script = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(0.6)'])"
    measured = run_measured("child", [sys.executable, "-c", script], filesystem=tmp_path)
    assert measured.returncode == 0
    assert measured.peak_processes == 2
    assert measured.peak_pss_bytes > measured.peak_root_pss_bytes > 0


def test_table_and_targets_print_missing_values_as_dashes() -> None:
    text = report.table([{"step": "convert (warm)", "seconds": 12.5, "images_per_s": None}])
    assert "convert (warm)" in text and "12.50" in text and " -" in text
    targets = [Target("ratio", 0.8, 1.0), Target("speed-up", 1.5, 1.7, at_most=False), Target("x", None, 1)]
    assert [t.passed for t in targets] == [True, False, None]
    assert "PASS" in report.targets_text(targets) and "FAIL" in report.targets_text(targets)


def _measurement(name: str, wall: float, **extra: object) -> Measurement:
    return Measurement(
        name=name,
        command=[name],
        wall_s=wall,
        returncode=0,
        peak_pss_bytes=400_000_000,
        peak_root_pss_bytes=150_000_000,
        peak_single_process_pss_bytes=150_000_000,
        peak_processes=5,
        write_bytes=6_600_000_000,
        fs_used_delta_bytes=0,
        cpu_s=wall,
        extra={"archive_bytes": 6_600_000_000, **extra},
    )


def _conversion(name: str, wall: float, write: float, workers: int = 2) -> Measurement:
    seconds = {"index_and_plan": 2.0, "write": write, "total": wall - 1.5, "first_shard": 3.0}
    return _measurement(
        name,
        wall,
        seconds=seconds,
        images=60_000,
        image_bytes=6_500_000_000,
        shard_seconds_sum=write * workers,
        shard_cpu_seconds_sum=9.0,
        workers=workers,
        output_allocated_bytes=6_599_000_000,
    )


def test_standard_figures_table_and_targets_from_made_up_runs() -> None:
    runs = {
        "read_floor": _measurement("read floor (warm)", 2.5),
        "write_floor": _measurement("write floor", 12.0),
        "write_floor_direct": _measurement("write floor, direct", 4.0),
        "extract_warm": _measurement("extract (warm)", 24.0),
        "convert_warm": _conversion("convert (warm)", 10.0, 7.0),
        "read_floor_cold": _measurement("read floor (cold)", 30.0),
        "extract_cold": _measurement("extract (cold)", 50.0, all_tries_s=[70.0, 50.0, 90.0]),
        "convert_cold": _conversion("convert (cold)", 45.0, 30.0),
        "workers_1": _conversion("convert --workers 1", 30.0, 24.0, workers=1),
        "workers_2": _conversion("convert --workers 2", 20.0, 13.0),
        "convert_warm_2x": _conversion("convert 2x", 40.0, 30.0),
    }
    runs["convert_cold"].extra["all_tries_s"] = [45.0, 60.0, 80.0]
    values = standard.figures(runs)
    assert values["warm_convert_over_extract"] == round(10 / 24, 3)
    assert values["warm_convert_over_direct_write_floor"] == 2.5
    assert values["cold_convert_over_extract_median"] == round(80 / 90, 3)  # pairs: 0.64, 1.2, 0.89
    assert values["shard_cpu_us_per_image_2_workers"] == 150.0
    assert values["write_speedup_2_over_1"] == round(24 / 13, 3)
    assert values["extra_disk_mb"]["convert_warm"] == 1.0
    assert values["peak_pss_growth_2x"] == 0.0
    assert [t.passed for t in standard.targets(values)] == [True] * 9
    assert "warm: conversion/extraction 0.417" in standard.summary_text(values)
    assert "write phase" in report.table(standard._rows(runs, 60_000))


def test_independent_batch_spread_is_the_label_std_over_the_root_of_the_batch() -> None:
    assert batches.independent_std({1: 3, 2: 3}, batch_size=4) == 0.25
    uniform = batches.independent_std(dict.fromkeys(range(1, 1001), 1281), batch_size=32)
    assert round(uniform, 1) == 51.0  # 288.7 / sqrt(32), the figure


@pytest.mark.slow
def test_label_spread_runs_the_trainers_input_on_a_converted_folder(converted: Path) -> None:
    spread = batches.label_spread(converted, batches=6, batch_size=4)
    assert spread["batches"] == 6 and spread["independent_batches_std"] > 0
    measured, independent = spread["std_of_batch_mean_label"], spread["independent_batches_std"]
    assert spread["ratio"] == pytest.approx(measured / independent, abs=0.01)
