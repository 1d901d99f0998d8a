"""Where Beam's own output goes on a local run: its workers' log lines to a file, its temporaries to
the output's work folder."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import TextIO

from imagenet_convert.format import filenames
from imagenet_convert.storage.output import OutputDir, absolute
from imagenet_convert.storage.paths import is_local


def _drain(pipe: int, path: str) -> None:
    """Copy the pipe into the log until every writer closed it; drop what the disk cannot take."""
    try:
        log = open(path, "ab")  # noqa: SIM115 (closed below, or dropped when the disk is full)
    except OSError:
        log = None
    with open(pipe, "rb", buffering=0) as source:
        for chunk in iter(lambda: source.read(1 << 16), b""):
            try:
                if log:
                    log.write(chunk)
                    log.flush()
            except OSError:
                log.close()
                log = None
    if log:
        log.close()


@contextlib.contextmanager
def beam_logs_to(out: OutputDir) -> Iterator[TextIO]:
    """Send the worker processes' chatter to a log file; yield the real stderr for our own output.

    The log is fed through a pipe that a thread drains: when a write to stderr fails (a log on a
    full disk), Beam's runner waits forever for the bundle, so stderr itself must never fail.
    """
    if not is_local(out.root):
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    reader, writer = os.pipe()
    drain = threading.Thread(target=_drain, args=(reader, out.path(filenames.BEAM_LOG)), daemon=True)
    drain.start()
    os.dup2(writer, 2)
    os.close(writer)
    try:
        with os.fdopen(os.dup(saved), "w") as real_stderr:
            yield real_stderr
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        drain.join(timeout=5)  # ends once the workers, which share the pipe, are gone


@contextlib.contextmanager
def temporary_files_in(out: OutputDir) -> Iterator[None]:
    """Beam's own temporary folders go to the output's work folder, not $TMPDIR, where a killed run
    would leave them among other programs' files; the next run clears that folder."""
    if not is_local(out.root):
        yield
        return
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    # Workers inherit TMPDIR.
    tempfile.tempdir = os.environ["TMPDIR"] = absolute(out.path(filenames.TMP_FOLDER))
    try:
        yield
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
