"""The error families every command shares, each with its exit status, mapped once in ``__main__``.

0: done (for ``verify``, nothing wrong found). 1 (:class:`Failed`): the command line is fine, but
what it names refused or failed the run: damaged or incomplete input, an output folder that holds
another conversion, is locked by another run or lacks the space, a full disk, a killed worker,
memory run out; for ``verify``, problems found (its report, not an error). 2 (:class:`UsageError`,
and argparse's own errors): the command line cannot work as written. docs/design.md ("Exit
statuses") has the whole convention.
"""

from __future__ import annotations

import os


class UsageError(Exception):
    """The command line cannot work as written: options that cannot work together (or with this
    TensorFlow or runner), or a path that names nothing of the kind its option takes. One line, exit 2."""


class Failed(Exception):
    """The command line is fine, but what it names refused or failed the run. One line, exit 1.

    Each module's own errors derive from it (``ArchiveError``, ``PlanError``, ``ResumeError``...),
    so a command raises what went wrong and ``__main__`` alone turns it into a line and a status."""


def exit_status(error: UsageError | Failed) -> int:
    """2 for a usage error, even one that is also a failure of its family (an ``--input`` that holds
    no download is a ``LayoutError`` too); else 1."""
    return 2 if isinstance(error, UsageError) else 1


class DatasetError(Failed):
    """The trainer's command line is fine but its dataset folder is incomplete (shards missing)."""


def shown(path: str) -> str:
    """A file name as one printable line: unchanged when it prints as it is, else quoted with its bytes
    escaped (a name that is not UTF-8, from a Windows share, or one holding a newline)."""
    if path.isprintable():
        return path
    return repr(os.fsencode(path))[1:]
