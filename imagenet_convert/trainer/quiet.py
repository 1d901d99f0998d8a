"""TensorFlow without its start-up chatter: what the trainer commands print is theirs, unless ``--verbose``.

TensorFlow 2.21 writes a dozen lines on every start (oneDNN, CUDA stubs, CPU features, a ``cuInit``
"error" on machines without a GPU), and TF-Slim's graph code raises deprecation warnings. Most of
those C++ lines obey ``TF_CPP_MIN_LOG_LEVEL`` only if it is set before TensorFlow loads, and the
lines logged while its libraries load ignore it altogether (they come before absl's logging is
initialised), so they are filtered out of stderr during the import itself.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence

from imagenet_convert.trainer import flags

LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# absl's pre-initialisation notice, info and warning lines (I0000 00:00:..., W0000 ...), and the second
# line of the CPU-feature notice; error and fatal lines pass.
NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} "
    r"|To enable the following instructions"
)
_PACKAGES = r"(tensorflow|tf_slim|tf_keras|keras)(\.|$)"


def verbose_requested(argv: Sequence[str]) -> bool:
    """Whether a command line asks for ``--verbose``, read before the command's own parser runs."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    flags.add_verbose_flag(parser)
    return bool(parser.parse_known_args(list(argv))[0].verbose)


def load_tensorflow(verbose: bool) -> None:
    """Import TensorFlow, hushed unless ``verbose``: a ``TF_CPP_MIN_LOG_LEVEL`` the user set is kept
    (and then its start-up lines too), otherwise errors only; Python warnings from TensorFlow and
    TF-Slim and the ``tensorflow`` logger's deprecation notices are hidden either way."""
    if verbose or "tensorflow" in sys.modules:
        return
    warnings.filterwarnings("ignore", module=_PACKAGES)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if LEVEL in os.environ:
        import tensorflow  # noqa: F401

        return
    os.environ[LEVEL] = "3"  # the child processes a command starts are quiet too
    with _stderr_filtered():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_filtered() -> Iterator[None]:
    """Send file descriptor 2 (C++ writes there directly) to a file meanwhile; pass on what is not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines()
                if not NOISE.match(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)
