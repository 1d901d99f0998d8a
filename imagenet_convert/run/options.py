"""The ``run`` command's options: its help text, their parsing and checks, and the configuration they give."""

from __future__ import annotations

import argparse
import os

from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.inputs.layouts import LAYOUTS
from imagenet_convert.inputs.layouts.locators import ReadAhead
from imagenet_convert.plan.model import PlanOptions
from imagenet_convert.run import resume
from imagenet_convert.run.beam_args import parse_with_beam_options
from imagenet_convert.run.config import ResumePolicy, RunConfig, Runner

DESCRIPTION = """\
Convert the ILSVRC2012 downloads, as downloaded, into sharded TFRecords in exactly TF-Slim's
format (train-00000-of-01024 ..., validation-00000-of-00128 ..., labels.txt), plus
imagenet_convert.json and run_report.json. Nothing is extracted to disk. The same folder also
serves TFDS (tfds.builder_from_directory reads its dataset_info.json, features.json) and NVIDIA
DALI (an index file per shard in index/).

--input is the folder holding ILSVRC2012 in any of the layouts below (detected and printed;
--layout forces one). Files keep their official names.
{layouts}

Runs on a local Beam runner with --workers processes by default. Any other Apache Beam
option is passed through under Beam's own (underscore) name, e.g.
  --runner DataflowRunner --project P --region R --temp_location gs://B/tmp
  --runner DaskRunner --dask_client_address tcp://HOST:8786     (the dask extra; SLURM, Kubernetes)
A killed or failed run resumes where it stopped when started again with the same options.
"""


def parser() -> argparse.ArgumentParser:
    """Our own options; Beam's are added by ``parse_with_beam_options``."""
    p = argparse.ArgumentParser(
        prog="python -m imagenet_convert run",
        description=DESCRIPTION.format(
            layouts="\n".join(f"  {name:<12} {layout.key_files}" for name, layout in LAYOUTS.items())
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "--input",
        required=True,
        help="folder (or gs://, s3:// prefix) holding the downloads; for Kaggle also the ZIP itself",
    )
    p.add_argument(
        "--layout", choices=sorted(LAYOUTS), help="read --input as this layout (default: detect it)"
    )
    p.add_argument("--output", required=True, help="folder for the shards and metadata")
    p.add_argument("--splits", default="train,validation", help="comma-separated: train, validation")
    p.add_argument("--train-shards", type=int, default=1024, help="number of train shards (1024)")
    p.add_argument("--validation-shards", type=int, default=128, help="number of validation shards (128)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the shard permutation (12345)")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes (default: all cores); ignored by remote runners",
    )
    p.add_argument(
        "--validation-labels",
        metavar="FILE",
        help="Slim's 50,000-line WNID file; must agree with the devkit ground truth",
    )
    p.add_argument(
        "--validation-boxes",
        action="store_true",
        help="also write validation boxes from ILSVRC2012_bbox_val_v3.tgz (Slim writes none)",
    )
    p.add_argument(
        "--allow-missing-classes",
        action="store_true",
        help="go on when the train tar lacks some devkit classes (an incomplete download)",
    )
    p.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="leave damaged images out (listed in run_report.json) instead of stopping",
    )
    p.add_argument("--strict", action="store_true", help="stop at a malformed box XML instead of skipping it")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="discard an earlier run's plan and shards in --output (only files this tool wrote)",
    )
    p.add_argument(
        resume.ACCEPT_CHANGED,
        action="store_true",
        help="resume although an input's modification time changed since it was planned (after a plain cp)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and free space; write nothing")
    reads = p.add_argument_group(
        "reading from gs:// or s3:// (Beam-style names: the workers' settings; local files ignore them)"
    )
    reads.add_argument(
        "--reads_in_flight",
        type=int,
        default=ReadAhead.in_flight,
        metavar="N",
        help=f"ranged read requests a worker keeps in flight ({ReadAhead.in_flight})",
    )
    reads.add_argument(
        "--read_window_bytes",
        type=int,
        default=ReadAhead.window_bytes,
        metavar="BYTES",
        help=f"most image bytes a worker holds fetched ahead of use ({ReadAhead.window_bytes >> 20} MiB)",
    )
    return p


def parse_args(argv: list[str]) -> RunConfig:
    """Our options (hyphens) and Beam's (underscores); anything else is an error."""
    p = parser()
    args, beam_args = parse_with_beam_options(p, argv)
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if not splits or any(s not in SPLITS for s in splits):
        p.error(f"--splits takes train, validation or both, not {args.splits!r}")
    args.splits = tuple(s for s in SPLITS if s in splits)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    for split in args.splits:
        if getattr(args, f"{split}_shards") < 1:
            p.error(f"--{split}-shards must be at least 1")
    if args.reads_in_flight < 1 or args.read_window_bytes < 1:
        p.error("--reads_in_flight and --read_window_bytes must be at least 1")
    return RunConfig(
        input=args.input,
        output=args.output,
        layout=args.layout,
        plan=_plan_options(args),
        resume=ResumePolicy(args.overwrite, args.accept_changed_inputs, args.dry_run),
        runner=Runner.of(args.workers, beam_args),
        read_ahead=ReadAhead(args.reads_in_flight, args.read_window_bytes),
    )


def _plan_options(args: argparse.Namespace) -> PlanOptions:
    """The options that shape the plan (and so its fingerprint)."""
    return PlanOptions(
        splits=args.splits,
        seed=args.seed,
        train_shards=args.train_shards,
        validation_shards=args.validation_shards,
        validation_boxes=args.validation_boxes,
        allow_missing_classes=args.allow_missing_classes,
        skip_bad_images=args.skip_bad_images,
        strict=args.strict,
        validation_labels=args.validation_labels,
    )
