"""Command line: ``python -m imagenet_convert COMMAND [options]``.

Each command lives in its own module and is imported only when used, so ``run --help`` never
pays for TensorFlow and ``train`` never pays for Beam. A command raises what went wrong; its error
family (``errors.py``) becomes one line and the exit status here, for every command alike.
"""

from __future__ import annotations

import importlib
import logging
import sys

from imagenet_convert.errors import Failed, UsageError, exit_status

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("imagenet_convert.run.convert", "convert ILSVRC2012 archives to TF-Slim TFRecords (Apache Beam)"),
    "verify": ("imagenet_convert.verify.command", "check a converted folder against its metadata"),
    "show": ("imagenet_convert.show", "draw a contact sheet of converted records (PNG) to look at"),
    "fake": ("imagenet_convert.fake.cli", "generate a faithful miniature ILSVRC2012 download"),
    "train": ("imagenet_convert.trainer.train", "train a TF-Slim model on converted shards"),
    "cluster": (
        "imagenet_convert.trainer.loopback",
        "train on a cluster of processes here: 1 ps + N workers",
    ),
    "evaluate": ("imagenet_convert.trainer.evaluate", "evaluate a checkpoint: top-1, top-5, loss"),
    "export": ("imagenet_convert.trainer.export", "export a checkpoint as a SavedModel taking JPEG bytes"),
    "demo": ("imagenet_convert.demo", "generate, convert, train, evaluate and predict on a miniature"),
}
TENSORFLOW_COMMANDS = ("train", "evaluate", "export")
"""Commands whose module imports TensorFlow, which therefore loads quietly first (``trainer.quiet``)."""


def _usage() -> str:
    lines = ["usage: python -m imagenet_convert COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run 'python -m imagenet_convert COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the command's own ``main(argv)``; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if command in TENSORFLOW_COMMANDS:
        from imagenet_convert.trainer import quiet

        quiet.load_tensorflow(quiet.verbose_requested(rest))
    root = logging.getLogger()
    root.setLevel(logging.ERROR)  # Beam warns at import about optional GCP clients we do not use
    module = importlib.import_module(COMMANDS[command][0])
    root.setLevel(logging.WARNING)
    try:
        return int(module.main(rest) or 0)
    except (UsageError, Failed) as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_status(error)


if __name__ == "__main__":
    sys.exit(main())
