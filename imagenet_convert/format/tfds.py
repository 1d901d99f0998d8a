"""TFDS's metadata beside the shards, so ``tfds.builder_from_directory(OUTPUT)`` loads the folder as it is.

TFDS reads TFRecords written elsewhere through three files, those ``tfds.folder_dataset.write_metadata``
writes: ``dataset_info.json`` (splits with per-shard record counts and bytes, and the shard file
template, here Slim's names), ``features.json`` (how each key decodes) and the class names of the
class label. They are written here in TFDS's own JSON layout, without importing TFDS or TensorFlow
(the launcher pays for neither), from our metadata alone, so equal conversions give equal bytes.

The features nest by ``/``, so their flattened names, TFDS's serialized keys, are exactly Slim's:
``image/encoded`` decodes to an RGB image, ``image/class/label`` is a class label over background
and the WNIDs (class names must be unique and ImageNet's words are not: two classes are "crane"),
the box lists are float vectors. TFDS's subsplits (``train[:10%]``) work from the shard lengths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from imagenet_convert.format import filenames
from imagenet_convert.format.records import BYTES, FLOATS, INTS, LISTS, OPTIONAL, SCALARS

VERSION = "1.0.0"
_FEATURES = "tensorflow_datasets.core.features."
_DTYPES = {INTS: "int64", FLOATS: "float32"}


def _connector(python_class: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"pythonClassName": _FEATURES + python_class, kind: content}


def _feature(key: str, kind: str, num_classes: int) -> dict[str, Any]:
    """One Slim key as a TFDS feature: JPEG image, class label, text, int64 scalar or a vector."""
    if key == "image/encoded":
        image = {"dtype": "uint8", "encodingFormat": "jpeg", "shape": {"dimensions": ["-1", "-1", "3"]}}
        return _connector("image_feature.Image", "image", image)
    if key == "image/class/label":
        return _connector("class_label_feature.ClassLabel", "classLabel", {"numClasses": str(num_classes)})
    if kind == BYTES:
        return _connector("text_feature.Text", "text", {})
    shape = {} if key in SCALARS else {"dimensions": ["-1"]}
    tensor = {"dtype": _DTYPES[kind], "encoding": "none", "shape": shape}
    return _connector("tensor_feature.Tensor", "tensor", tensor)


def _nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{"a/b": feature} -> FeaturesDict {"a": FeaturesDict {"b": feature}}: TFDS flattens it back by ``/``."""
    tree: dict[str, Any] = {}
    for key, feature in flat.items():
        *parents, leaf = key.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = feature

    def wrap(node: dict[str, Any]) -> dict[str, Any]:
        features = {k: v if "pythonClassName" in v else wrap(v) for k, v in node.items()}
        return _connector("features_dict.FeaturesDict", "featuresDict", {"features": features})

    return wrap(tree)


def features(num_classes: int) -> dict[str, Any]:
    """``features.json``: every key Slim's writer writes (and ours adds), with its dtype."""
    kinds = {**SCALARS, **LISTS, **OPTIONAL}
    return _nest({key: _feature(key, kind, num_classes) for key, kind in sorted(kinds.items())})


def dataset_info(info: dict[str, Any]) -> dict[str, Any]:
    """``dataset_info.json`` from our metadata: the splits' shard lengths and bytes, Slim's file names."""
    splits = [
        {
            "filepathTemplate": filenames.SHARD_TEMPLATE,
            "name": split,
            "numBytes": str(sum(shard["bytes"] for shard in entry["shards"])),
            "shardLengths": [str(shard["num_records"]) for shard in entry["shards"]],
        }
        for split, entry in info["splits"].items()
    ]
    return {
        "description": (
            "ILSVRC2012 in TF-Slim's TFRecord format, written by imagenet-convert: features are Slim's "
            "keys; image/class/label counts from 1, label 0 is background."
        ),
        "fileFormat": "tfrecord",
        "location": {"urls": ["https://image-net.org/"]},
        "name": info["name"],
        "splits": splits,
        "version": VERSION,
    }


def files(info: dict[str, Any], wnids: Sequence[str]) -> dict[str, bytes]:
    """{name in the output folder: bytes} of TFDS's metadata; ``wnids`` are labels 1, 2, ... in order."""
    return {
        filenames.TFDS_INFO: json.dumps(dataset_info(info), indent=2, sort_keys=True).encode(),
        filenames.TFDS_FEATURES: json.dumps(features(info["num_classes"]), indent=4, sort_keys=True).encode(),
        filenames.TFDS_CLASS_NAMES: "".join(f"{name}\n" for name in ("background", *wnids)).encode(),
    }
