"""``make demo``: every step of the product on a built-in miniature ImageNet, as a user runs it.

Each step is the real command line, printed before it runs, so the demo doubles as a tutorial.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from imagenet_convert.trainer import quiet
from imagenet_convert.trainer.flags import add_verbose_flag

MODEL = ["--model_name", "resnet_v1_50", "--labels_offset", "1"]
IMAGE_SIZE = "64"
STEPS = 100
QUIETED = ("train", "cluster", "evaluate", "export")
"""Steps that hide TensorFlow's logging unless ``--verbose`` is passed on to them."""


SHEET_STEPS = ("fake", "run", "show")
"""What ``--sheet`` runs: the miniature, its conversion and its contact sheet."""


def training(dataset: Path, run: Path, workers: int) -> tuple[str, list[str]]:
    """The train step: one process, or 1 ps + ``workers`` synchronous workers on this machine, taking
    as many images (a step then aggregates one batch from each worker)."""
    flags = [
        "--dataset_dir", str(dataset), *MODEL, "--train_dir", str(run), "--train_image_size", IMAGE_SIZE,
        "--batch_size", "16", "--max_number_of_steps", str(STEPS // max(workers, 1)),
        # Slim's default --opt_epsilon (1.0) suits RMSProp; Adam wants a small one. A short run
        # needs batch-norm statistics that follow quickly (the nets' own decay is 0.997).
        "--optimizer", "adam", "--learning_rate", "0.001", "--opt_epsilon", "1e-8",
        "--batch_norm_decay", "0.9", "--seed", "1", "--log_every_n_steps", str(20 // max(workers, 1)),
    ]  # fmt: skip
    if not workers:
        return "Train a TF-Slim ResNet-v1-50 for a few steps (CPU)", ["train", *flags]
    sync = ["--sync_replicas", "--replicas_to_aggregate", str(workers)]
    return (
        f"Train it on a cluster here: 1 ps and {workers} synchronous workers, processes on loopback ports",
        ["cluster", "--workers", str(workers), "--", *flags, *sync],
    )


def steps(work: Path, sheet: Path | None = None, workers: int = 0) -> list[tuple[str, list[str]]]:
    """(what, command arguments after ``python -m imagenet_convert``) for each step."""
    download, dataset, run, exported = work / "imagenet", work / "tfrecord", work / "train", work / "exported"
    sheet = sheet or work / "train-sheet.png"
    return [
        ("Generate a miniature ILSVRC2012 download (10 classes, real names and quirks)",
         ["fake", "--output", str(download), "--train-per-class", "40-50", "--val-images", "100"]),
        ("Convert it to TF-Slim TFRecords (Apache Beam, all cores)",
         ["run", "--input", str(download), "--output", str(dataset), "--train-shards", "8",
          "--validation-shards", "2"]),
        ("Verify the output (CRCs, counts, sha256, Slim format, every image decoded)",
         ["verify", str(dataset), "--decode"]),
        ("Look at a contact sheet of the train split: images, class words, labels, WNIDs, boxes",
         ["show", str(dataset), "--count", "12", "--output", str(sheet)]),
        training(dataset, run, workers),
        ("Evaluate it on the validation split (top-1, top-5, loss; chance is 10% top-1)",
         ["evaluate", "--dataset_dir", str(dataset), *MODEL, "--checkpoint_path", str(run),
          "--eval_image_size", IMAGE_SIZE, "--batch_size", "25"]),
        ("Export a SavedModel that takes JPEG bytes",
         ["export", "--dataset_dir", str(dataset), *MODEL, "--checkpoint_path", str(run),
          "--image_size", IMAGE_SIZE, "--output_dir", str(exported)]),
    ]  # fmt: skip


def predict_one(work: Path) -> None:
    """One prediction through the exported model, on a validation image straight from the tar."""
    from imagenet_convert.trainer.export import predict

    with tarfile.open(work / "imagenet" / "ILSVRC2012_img_val.tar") as tar:
        member = min((m for m in tar if m.isfile()), key=lambda m: m.name)
        jpeg = tar.extractfile(member).read()
    expected = json.loads((work / "imagenet" / "expected.json").read_text())
    truth = expected["images"]["validation"][member.name]["text"]
    print(f"\n== Predict {member.name} (true class: {truth}) with the exported model")
    for text, probability in predict(str(work / "exported"), jpeg):
        print(f"  {probability:6.1%}  {text}")


def shrink(sheet: Path) -> None:
    """64 colours, no dithering: a sixth of the bytes for a picture checked into the repository."""
    from PIL import Image

    with Image.open(sheet) as image:
        small = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(sheet, optimize=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagenet_convert demo", description=__doc__)
    parser.add_argument(
        "--workdir", default="demo", help="folder for everything the demo makes (wiped first)"
    )
    parser.add_argument(
        "--sheet",
        type=Path,
        metavar="PNG",
        help="only generate, convert and draw the contact sheet, as a small PNG (docs/demo-sheet.png)",
    )
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        metavar="WORKERS",
        help="train on 1 ps and this many workers, processes on this machine (make train-cluster)",
    )
    add_verbose_flag(parser)
    options = parser.parse_args(argv)
    work = Path(options.workdir)
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    chosen = steps(work, options.sheet, options.cluster)
    if options.sheet:
        chosen = [step for step in chosen if step[1][0] in SHEET_STEPS]
    if options.verbose:
        chosen = [(what, [*args, "--verbose"] if args[0] in QUIETED else args) for what, args in chosen]
    for number, (what, args) in enumerate(chosen, start=1):
        command = [sys.executable, "-m", "imagenet_convert", *args]
        print(f"\n== {number}. {what}\n$ python -m imagenet_convert {shlex.join(args)}", flush=True)
        if subprocess.run(command).returncode != 0:
            print(f"demo: step {number} failed", file=sys.stderr)
            return 1
    if options.sheet:
        shrink(options.sheet)
        print(f"\n{options.sheet}: {options.sheet.stat().st_size / 1e3:.0f} kB")
        return 0
    quiet.load_tensorflow(options.verbose)
    predict_one(work)
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s; everything it made is in {work}/")
    return 0
