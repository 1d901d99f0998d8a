"""The output folder's file names, in one place: what ``run`` writes and every reader looks for.

Every name is relative to the output folder, with ``/`` between parts (as on object stores), so
the converter (through Beam's ``FileSystems``), ``verify``, ``show`` and the trainer (through
``tf.io.gfile``) agree on one layout. Nothing here does I/O, and nothing imports Beam or TensorFlow.

Slim reads ``<split>-*`` in the top folder, so nothing but shards may start with a split's name
there: index files live in ``index/``, the run's own state in the hidden work folder.
"""

from __future__ import annotations

SPLITS = ("train", "validation")
"""The splits of ILSVRC2012, in the order they are written."""
SHARD_TEMPLATE = "{SPLIT}-{SHARD_X_OF_Y}"
"""TFDS's spelling of Slim's shard names (``train-00000-of-01024``), for TFDS's metadata."""

LABELS = "labels.txt"
"""Slim's ``0:background``, ``1:tench, Tinca tinca``, ... (one line per label)."""
INFO = "imagenet_convert.json"
"""Our metadata: split sizes, per-shard counts and sha256, class counts, fingerprint."""
LEGACY_INFO = "dataset_info.json"
"""Where earlier versions wrote ``INFO``; told from TFDS's file of that name by ``"format": "tf-slim"``."""
INFO_FORMAT = "tf-slim"
INFO_FILES = (INFO, LEGACY_INFO)
"""Where readers look for our metadata, in this order."""
RUN_REPORT = "run_report.json"
"""Timings, warnings, quirks and skipped images of the last run (the only file that differs per run)."""

TFDS_INFO = "dataset_info.json"
TFDS_FEATURES = "features.json"
TFDS_CLASS_NAMES = "image-class-label.labels.txt"
"""The class names file TFDS's ``ClassLabel`` at ``image/class/label`` loads (TFDS's naming)."""

INDEX_FOLDER = "index"
INDEX_SUFFIX = ".idx"

WORK = ".imagenet-convert"
"""Hidden work folder: the saved plan, done markers, errors, temporaries, lock and Beam's log."""
PLAN_MANIFEST = f"{WORK}/plan.json"
PLAN_FOLDER = f"{WORK}/plan"
PLAN_SHARDS = f"{PLAN_FOLDER}/shards.jsonl"
"""Every shard's images, a JSON line per shard; ``plan.json`` says where each shard's line is."""
DONE_FOLDER = f"{WORK}/done"
ERRORS_FOLDER = f"{WORK}/errors"
TMP_FOLDER = f"{WORK}/tmp"
LOCK = f"{WORK}/lock"
BEAM_LOG = f"{WORK}/beam.log"
WORK_FOLDERS = (PLAN_FOLDER, DONE_FOLDER, ERRORS_FOLDER, TMP_FOLDER)


def is_ours(info: object) -> bool:
    """Whether parsed JSON found under one of ``INFO_FILES`` is our metadata (not TFDS's)."""
    return isinstance(info, dict) and info.get("format") == INFO_FORMAT


def shard_name(split: str, index: int, count: int) -> str:
    """Slim's shard file name, e.g. ``train-00000-of-01024`` (also ``SHARD_TEMPLATE``'s)."""
    return f"{split}-{index:05d}-of-{count:05d}"


def shard_pattern(split: str) -> str:
    """The glob Slim's readers use for a split."""
    return f"{split}-*"


def index_file(shard: str) -> str:
    """DALI's (and the ``tfrecord`` package's) index of a shard: ``index/<shard>.idx``."""
    return f"{INDEX_FOLDER}/{shard}{INDEX_SUFFIX}"


def marker(shard: str) -> str:
    """Written last: a shard is done when this, the shard and its index exist."""
    return f"{DONE_FOLDER}/{shard}.json"


def marker_shard(path: str) -> str:
    """The shard a marker path (any prefix) belongs to."""
    return path.rsplit("/", 1)[-1].removesuffix(".json")


def error(shard: str) -> str:
    return f"{ERRORS_FOLDER}/{shard}.txt"


def tmp(name: str) -> str:
    return f"{TMP_FOLDER}/{name}"


def shard_files(shard: str) -> tuple[str, ...]:
    """The published files of one shard."""
    return shard, index_file(shard)


METADATA = (LABELS, INFO, TFDS_INFO, TFDS_FEATURES, TFDS_CLASS_NAMES, RUN_REPORT)
"""The files ``run`` writes beside the shards once they are all done (``TFDS_INFO`` is also the
legacy name of ``INFO``: either way it is ours)."""
