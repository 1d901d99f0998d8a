"""Whether the output folder can take this run: one run at a time (a lock), writable, with the space.

Object stores have no locks and do not fill up, so each check applies to a local folder only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator

from imagenet_convert.errors import Failed, UsageError, shown
from imagenet_convert.format import filenames
from imagenet_convert.run import faults
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.storage.paths import is_local


class OutputError(Failed):
    """The output folder cannot take this run: another run holds it, or its disk lacks the space."""


@contextlib.contextmanager
def output_lock(out: OutputDir) -> Iterator[None]:
    """One conversion per local output folder; object stores have no locks (see README)."""
    if not is_local(out.root):
        yield
        return
    import fcntl

    os.makedirs(out.path(filenames.WORK), exist_ok=True)
    with open(out.path(filenames.LOCK), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise OutputError(
                f"{out.root}: another conversion ({holder}) is writing here; wait for it to finish "
                "or choose another --output"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield


def check_apart(input_path: str, output: str) -> None:
    """--output may lie inside --input (the input's listing leaves it out) but must not be it: the
    shards and metadata would be written among the downloads."""
    if is_local(input_path) and is_local(output):
        same = os.path.realpath(input_path) == os.path.realpath(output)
    else:
        same = input_path.rstrip("/") == output.rstrip("/")
    if same:
        raise UsageError(
            f"{shown(output)}: --output is the --input folder, so the shards and metadata would be written "
            "among the downloads; choose another folder (one inside --input is fine)"
        )


def prepare_output(out: OutputDir) -> None:
    """Create the output folder, or say clearly why it cannot be written (a usage error: --output
    names a place this run cannot write to)."""
    if not is_local(out.root):
        return
    try:
        os.makedirs(out.path(filenames.TMP_FOLDER), exist_ok=True)
        probe = out.path(filenames.tmp(".write-probe"))
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise UsageError(
            f"{out.root}: output folder is not writable ({exc.strerror}); choose another --output"
        ) from None


def _existing_parent(path: str) -> str:
    while not os.path.isdir(path) and os.path.dirname(os.path.abspath(path)) != os.path.abspath(path):
        path = os.path.dirname(os.path.abspath(path))
    return path


def check_free_space(out: OutputDir, needed: int) -> int | None:
    """Free bytes at a local output (None for object stores); stop early when short."""
    if not is_local(out.root):
        return None
    free = shutil.disk_usage(out.root).free
    if needed > free:
        raise OutputError(
            f"{out.root}: needs about {faults.size(needed)} but only {faults.size(free)} are free; "
            "free some space or choose another --output"
        )
    return free


def free_bytes(out: OutputDir) -> int | None:
    """Free bytes where a local output lives (None on object stores, which do not fill up)."""
    return shutil.disk_usage(_existing_parent(out.root)).free if is_local(out.root) else None
