"""Commands take their own options (hyphens) plus Apache Beam's, under Beam's own (underscore) names."""

from __future__ import annotations

import argparse
import logging

from apache_beam.options.pipeline_options import PipelineOptions

from imagenet_convert.storage import filesystems

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DASK_EXTRA = "pip install -c constraints.txt 'imagenet-convert[dask]'"


def parse_with_beam_options(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and the rest as Beam options; anything that is neither is an error, not a warning.

    The Beam options also configure ``FileSystems`` here (``--s3_endpoint_url``...), so the command
    can read and write ``s3://`` and ``gs://`` paths before any pipeline starts.
    """
    args, beam_args = parser.parse_known_args(argv)
    options_logger = logging.getLogger("apache_beam.options.pipeline_options")
    level = options_logger.level
    options_logger.setLevel(logging.ERROR)  # Beam would only warn about what we reject below
    try:
        beam_args = _with_dask_runner(parser, beam_args)
        options = PipelineOptions(beam_args)
        unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    finally:
        options_logger.setLevel(level)
    # A bare word is the value of the option before it (--runner DataflowRunner), or a stray.
    strays = [
        arg
        for before, arg in zip(["", *beam_args], beam_args, strict=False)
        if not arg.startswith("-") and not (before.startswith("-") and "=" not in before)
    ]
    if unknown or strays:
        names = ", ".join([f"--{name}" for name in sorted(unknown)] + strays)
        parser.error(
            f"unrecognized argument(s) {names}: neither this command's nor Apache Beam's "
            "(Beam's options use underscores)"
        )
    filesystems.configure(options)
    return args, beam_args


def _with_dask_runner(parser: argparse.ArgumentParser, beam_args: list[str]) -> list[str]:
    """``--runner DaskRunner`` and the ``--dask_*`` options, which Beam knows only by the runner's full
    class path and once its module is imported (which needs the ``dask`` extra)."""
    runner = PipelineOptions(beam_args).get_all_options(retain_unknown_options=True).get("runner") or ""
    is_dask = runner.lower() in ("dask", "daskrunner", DASK_RUNNER.lower())
    dask_options = [arg.split("=")[0] for arg in beam_args if arg.startswith("--dask_")]
    if not is_dask:
        if dask_options:  # else they would be ignored, and the run would stay on this machine
            parser.error(f"{', '.join(dask_options)}: Dask's options need --runner DaskRunner")
        return beam_args
    try:
        import apache_beam.runners.dask.dask_runner  # noqa: F401 (registers DaskOptions)
    except ImportError:
        parser.error(f"--runner DaskRunner needs the dask extra: {DASK_EXTRA}")
    return [*beam_args, f"--runner={DASK_RUNNER}"]
