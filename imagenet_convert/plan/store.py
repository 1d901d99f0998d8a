"""The plan saved in the output folder and read back: the shards' images in one file (a line per
shard, read by each worker with one ranged read) and ``plan.json`` last, so a plan is complete once
that exists, and a rerun resumes without indexing again."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from imagenet_convert.format import filenames
from imagenet_convert.inputs import devkit
from imagenet_convert.inputs.layouts.locators import Locator, read_file
from imagenet_convert.plan.model import Plan, PlanOptions, Shard
from imagenet_convert.storage.output import OutputDir, json_bytes

FORMAT_VERSION = 3
"""3: the shards' images saved in one file (2: a file per shard; 1: records in archive order)."""


def manifest(plan: Plan) -> dict[str, Any]:
    """What is saved as ``plan.json`` (the shards' images go to ``filenames.PLAN_SHARDS``)."""
    shards = [
        {
            "name": s.name,
            "split": s.split,
            "num_images": s.num_images,
            "image_bytes": s.image_bytes,
            "plan": list(s.plan_span or ()),
        }
        for s in plan.shards
    ]
    return {
        "format_version": FORMAT_VERSION,
        "fingerprint": plan.fingerprint,
        "options": asdict(plan.options),
        "inputs": plan.inputs,
        "input_mtimes": plan.input_mtimes,
        "classes": [asdict(synset) for synset in plan.classes],
        "shards": shards,
        "warnings": plan.warnings,
        "counts": plan.counts,
        "skipped": plan.skipped,
        "links_outside_input": plan.links,
    }


def save_plan(out: OutputDir, plan: Plan) -> None:
    """The shards' images first, the manifest last: a plan is complete once ``plan.json`` exists.

    One file of a line per shard, not a file per shard: creating a file cost ~0.6 ms here and
    ~0.4 s on S3 (SeaweedFS on loopback), i.e. minutes for 1,152 shards.
    """
    offset = 0
    with out.atomic(out.path(filenames.PLAN_SHARDS)) as stream:
        for shard in plan.shards:
            line = json_bytes(shard.to_json(), compact=True) + b"\n"
            stream.write(line)
            shard.plan_span = (offset, len(line))
            offset += len(line)
    out.write_json(out.path(filenames.PLAN_MANIFEST), manifest(plan))


@dataclass(frozen=True)
class SavedPlan:
    """``plan.json`` as an earlier run left it, typed for the decisions a rerun makes on it
    (``run/planning.py``). Read leniently: an older format is still read far enough to be refused."""

    format_version: int | None
    fingerprint: str
    options: dict[str, Any]
    """As saved, so a refusal can name an option that differs."""
    inputs: dict[str, Any]
    input_mtimes: dict[str, float]
    shard_names: tuple[str, ...]
    finished: bool
    manifest: dict[str, Any]
    """The whole file: what :meth:`plan` is made from."""

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> SavedPlan:
        return cls(
            manifest.get("format_version"),
            manifest.get("fingerprint", ""),
            manifest.get("options", {}),
            manifest.get("inputs", {}),
            manifest.get("input_mtimes", {}),
            tuple(entry["name"] for entry in manifest.get("shards", [])),
            bool(manifest.get("finished")),
            manifest,
        )

    def plan(self) -> Plan:
        return plan_from_manifest(self.manifest)

    def refingerprinted(self, fingerprint: str, options: PlanOptions) -> SavedPlan:
        """The same plan under new options that do not change what it writes (see ``resume.py``)."""
        return SavedPlan.of({**self.manifest, "fingerprint": fingerprint, "options": asdict(options)})


def load_saved(out: OutputDir) -> SavedPlan | None:
    path = out.path(filenames.PLAN_MANIFEST)
    return SavedPlan.of(out.read_json(path)) if out.exists(path) else None


def write_saved(out: OutputDir, saved: SavedPlan) -> None:
    out.write_json(out.path(filenames.PLAN_MANIFEST), saved.manifest)


def load_shard(out: OutputDir, span: tuple[int, int]) -> Shard:
    """A shard's images from the saved plan: one exact ranged read of its line."""
    line = read_file(out.root, Locator(filenames.PLAN_SHARDS, *span), "the saved plan")
    return Shard.from_json(json.loads(line))


def plan_from_manifest(manifest: dict[str, Any]) -> Plan:
    """The plan saved by an earlier run, as shard summaries (no archive and no shard file is read)."""
    options = PlanOptions(**{**manifest["options"], "splits": tuple(manifest["options"]["splits"])})
    shards = [
        Shard(e["name"], e["split"], [], e["num_images"], e["image_bytes"], tuple(e["plan"]))
        for e in manifest["shards"]
    ]
    classes = [devkit.Synset(**synset) for synset in manifest["classes"]]
    return Plan(
        manifest["fingerprint"],
        options,
        manifest["inputs"],
        classes,
        shards,
        manifest["warnings"],
        manifest["counts"],
        manifest.get("skipped", []),
        manifest.get("input_mtimes", {}),
        links=manifest.get("links_outside_input", []),
    )
