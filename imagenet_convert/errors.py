"""The exit statuses every command shares, and the error that asks for another command line.

0: done (for ``verify``, nothing wrong found). 1: the command line is fine, but what it names refused
or failed the run: damaged or incomplete input, an output folder that holds another conversion, is
locked by another run or lacks the space, a full disk, a killed worker; for ``verify``, problems found.
2: a usage error, raised as :class:`UsageError` (argparse's own errors exit 2 too): the command line
cannot work as written. docs/design.md ("Exit statuses") has the whole convention.
"""

from __future__ import annotations

import os


class UsageError(Exception):
    """The command line cannot work as written: options that cannot work together (or with this
    TensorFlow or runner), or a path that names nothing of the kind its option takes. One line, exit 2."""


class DatasetError(Exception):
    """The trainer's command line is fine but its dataset folder is incomplete (shards missing): exit 1."""


def shown(path: str) -> str:
    """A file name as one printable line: unchanged when it prints as it is, else quoted with its bytes
    escaped (a name that is not UTF-8, from a Windows share, or one holding a newline)."""
    if path.isprintable():
        return path
    return repr(os.fsencode(path))[1:]
