"""``python -m imagenet_convert verify OUTPUT``: check a converted folder against its metadata.

A conversion reads 150 GB and runs for hours; its user must be able to trust the result before
training on it for days. This re-reads every shard (TFRecord CRCs, sha256, record counts), parses
every record as TF-Slim's format, and compares the totals and per-class counts with the metadata
the run wrote. ``--decode`` also decodes every image (slow, so shards are spread over processes);
``--check-archives`` compares the input downloads with the official ILSVRC2012 sizes and md5 sums.
"""

from __future__ import annotations

import argparse
import os

from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.run.beam_args import parse_with_beam_options
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.verify.folder import (
    check_labels,
    check_listing,
    check_synsets,
    check_tfds,
    check_unlisted,
    shard_files,
)
from imagenet_convert.verify.inputs import check_archives, find_archives
from imagenet_convert.verify.metadata import load_info
from imagenet_convert.verify.record_checks import Rules
from imagenet_convert.verify.report import Problems, Report
from imagenet_convert.verify.shards import run_scans
from imagenet_convert.verify.splits import SplitSummary, summarize_split


def verify(
    output: str,
    decode: bool = False,
    workers: int = 1,
    archives: str | None = None,
    max_problems: int = 50,
    beam_args: list[str] | None = None,
) -> Report:
    """Check the output folder; raises VerifyError only when there is nothing to check."""
    out = OutputDir(output)
    info = load_info(out)
    general = Problems(max_problems)
    inputs = info.get("inputs") or {}
    layout = inputs.get("layout", "official")
    input_folder = find_archives(archives, layout, output) if archives else None
    texts = check_labels(out, info, general)
    files = shard_files(out, info["splits"])
    check_unlisted(info, files, general)
    splits, present = {}, []
    for split, entry in info["splits"].items():
        splits[split] = SplitSummary(split, len(entry["shards"]), Problems(max_problems))
        present += check_listing(split, entry, files, splits[split].problems)
    rules = Rules(info["num_leaf_classes"], texts, decode, max_problems)
    sizes = {name: files[name][1] for name in files}
    bare = bool(info.get("bare"))
    scans = run_scans(out, present, sizes, rules, workers, beam_args or [], bare)
    synsets = check_synsets(scans.values(), info["num_leaf_classes"], general)
    tfds_line = "TFDS metadata: not checked (no metadata of ours)"
    if not bare:
        tfds_line = check_tfds(out, info, synsets, general)
    # After the shard scans: the worker processes fork before any progress bar thread exists.
    converted = tuple((info.get("options") or {}).get("splits", SPLITS))
    archive_lines = check_archives(input_folder, inputs, general, converted) if input_folder else []
    lines = [f"verify {out.root}: {info.get('name')} ({info.get('format')}), {info['num_classes']} classes"]
    for split, summary in splits.items():
        summarize_split(summary, info["splits"][split], scans)
        lines.append(summary.line())
        general.extend(summary.problems)
    lines += [s.mixing.warning(s.split) for s in splits.values() if s.mixing and s.mixing.sorted_inside]
    if texts is not None:
        lines.append(f"labels.txt: {len(texts) + 1} lines")
    lines.append(tfds_line)
    lines += [f"   archive {line}" for line in archive_lines]
    return Report(lines, general)


def folder_parser(command: str, doc: str, exit_status: str) -> argparse.ArgumentParser:
    """The parser of a command that reads a converted folder (``verify``, ``show``): OUTPUT first,
    the module docstring's body as description, Beam's filesystem options allowed."""
    p = argparse.ArgumentParser(
        prog=f"python -m imagenet_convert {command}",
        description=doc.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog=f"Exit status: {exit_status}. Apache Beam's filesystem options, as --name=value "
        "(e.g. --s3_endpoint_url=URL), apply to gs:// and s3:// folders.",
    )
    p.add_argument(
        "output", metavar="OUTPUT", help="the --output folder of a conversion (or gs://, s3:// prefix)"
    )
    return p


def parser() -> argparse.ArgumentParser:
    p = folder_parser("verify", __doc__, "0 all is well, 1 problems found (listed), 2 nothing to verify")
    p.add_argument("--decode", action="store_true", help="also decode every image with Pillow (slow)")
    p.add_argument(
        "--check-archives",
        metavar="INPUT_DIR",
        help="compare the downloads in INPUT_DIR with the official ILSVRC2012 sizes and md5 sums (for "
        "other layouts: which files have none, and whether the input is still what was converted)",
    )
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes reading shards (all cores)"
    )
    p.add_argument(
        "--max-problems", type=int, default=50, help="problems listed in full (50); the rest are counted"
    )
    return p


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and Apache Beam's filesystem options (anything else is an error)."""
    p = parser()
    args, beam_args = parse_with_beam_options(p, argv)
    if args.workers < 1 or args.max_problems < 1:
        p.error("--workers and --max-problems must be at least 1")
    return args, beam_args


def main(argv: list[str]) -> int:
    args, beam_args = parse_args(argv)
    report = verify(args.output, args.decode, args.workers, args.check_archives, args.max_problems, beam_args)
    print(report.text())
    return 0 if report.ok else 1
