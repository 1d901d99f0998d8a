"""What there is to verify: our ``imagenet_convert.json``, or what a folder of bare Slim shards allows.

Without either there is nothing to verify: a usage error (``VerifyError``), said in one line.
"""

from __future__ import annotations

import fnmatch
import json
import os
from typing import Any

from imagenet_convert.errors import UsageError
from imagenet_convert.format import filenames
from imagenet_convert.format.filenames import SPLITS
from imagenet_convert.format.info import missing_keys
from imagenet_convert.storage.output import OutputDir
from imagenet_convert.storage.paths import is_local
from imagenet_convert.verify.folder import shard_files


class VerifyError(UsageError):
    """Nothing to verify (no output folder, no metadata): a usage error, one line, exit status 2."""


def require_folder(path: str) -> None:
    """A local folder that is not there gets its own message (object stores have no folders)."""
    if is_local(path) and not os.path.isdir(path):
        raise VerifyError(f"{path}: no such folder")


def _require(info: Any, source: str) -> None:
    """Fail early, with the missing key's name, on metadata this tool cannot have written."""
    missing = missing_keys(info)
    if missing:
        raise VerifyError(
            f"{source}: not written by 'imagenet_convert run' (missing {', '.join(missing[:3])})"
        )


def load_info(out: OutputDir) -> dict[str, Any]:
    """Our metadata (``imagenet_convert.json``, or ``dataset_info.json`` from older versions), what a
    folder of bare Slim shards allows, or a VerifyError saying why there is none."""
    for name in filenames.INFO_FILES:
        path = out.path(name)
        if not out.exists(path):
            continue
        try:
            info = json.loads(out.read_bytes(path))
        except (ValueError, OSError) as exc:
            raise VerifyError(f"{path}: cannot be read as JSON ({exc})") from None
        if name == filenames.INFO or filenames.is_ours(info):  # else TFDS's dataset_info.json: look on
            _require(info, path)
            return info
    path = out.path(filenames.INFO)
    require_folder(out.root)
    if out.exists(out.path(filenames.PLAN_MANIFEST)):
        raise VerifyError(f"{path}: not found; the conversion has not finished: run it again to resume")
    bare = _bare_shards_info(out)
    if bare:
        return bare
    raise VerifyError(f"{path}: not found; is this the --output folder of 'python -m imagenet_convert run'?")


def _bare_shards_info(out: OutputDir) -> dict[str, Any] | None:
    """What can be checked in shards without our metadata (Slim's own script writes none): the records,
    against its labels.txt or Slim's 1000 classes; there are no counts or digests to compare with."""
    files = shard_files(out, SPLITS)
    if not files:
        return None
    labels = out.path(filenames.LABELS)
    leaves = len(out.read_bytes(labels).splitlines()) - 1 if out.exists(labels) else 1000
    splits = {split: sorted(fnmatch.filter(files, filenames.shard_pattern(split))) for split in SPLITS}
    return {
        "name": f"shards without {filenames.INFO}",
        "format": "records checked, no metadata to compare with",
        "num_classes": leaves + 1,
        "num_leaf_classes": leaves,
        "bare": True,
        "splits": {s: {"shards": [{"name": n} for n in names]} for s, names in splits.items() if names},
    }
