"""Planning a generated miniature in this process: what each shard holds, and the saved plan.

No Beam and no subprocess: the plan is the whole of what decides a shard's content, so these run in
seconds where a conversion by the CLI takes a minute (tests/test_convert_e2e.py converts for real).
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagenet_convert.format import filenames
from imagenet_convert.inputs.layouts import open_layout
from imagenet_convert.plan.build import build_plan, find_inputs, fingerprint
from imagenet_convert.plan.model import Plan, PlanOptions
from imagenet_convert.plan.store import (
    FORMAT_VERSION,
    load_saved,
    load_shard,
    manifest,
    save_plan,
)
from imagenet_convert.storage.output import OutputDir, json_bytes

OPTIONS = PlanOptions(train_shards=4, validation_shards=2)
"""What tests/support/cli.py's ``convert`` asks for, so these plans are those of the ``converted`` fixture."""


def plan_of(folder: Path, options: PlanOptions = OPTIONS) -> Plan:
    layout = open_layout(str(folder))
    return build_plan(layout, options, find_inputs(layout, options))


@pytest.fixture(scope="module")
def plan(mini_imagenet: Path) -> Plan:
    return plan_of(mini_imagenet)


def test_every_image_is_planned_once_with_its_label_and_boxes(
    plan: Plan, mini_expected: dict[str, Any]
) -> None:
    for split, want in mini_expected["images"].items():
        planned = {image.filename: image for shard in plan.split_shards(split) for image in shard.images}
        assert sorted(planned) == sorted(want)
        for name, image in planned.items():
            assert image.label == want[name]["label"], name
            got, exp = np.float32(image.boxes).reshape(-1, 4), np.float32(want[name]["boxes"]).reshape(-1, 4)
            np.testing.assert_array_equal(got, exp, name)  # as float32, the records' type
    by_label = sorted(mini_expected["classes"], key=lambda c: c["label"])
    assert [(c.wnid, c.words) for c in plan.classes] == [(c["wnid"], c["words"]) for c in by_label]


@pytest.mark.parametrize(("split", "count"), [("train", 4), ("validation", 2)])
def test_shards_are_slims_names_and_the_seeded_permutation_cut_in_order(
    plan: Plan, mini_expected: dict[str, Any], split: str, count: int
) -> None:
    shards = plan.split_shards(split)
    assert [s.name for s in shards] == [filenames.shard_name(split, i, count) for i in range(count)]
    names = sorted(mini_expected["images"][split])
    order = [names[i] for i in np.random.default_rng(OPTIONS.seed).permutation(len(names))]
    bounds = [len(names) * i // count for i in range(count + 1)]
    planned = [[image.filename for image in s.images] for s in shards]
    assert planned == [order[a:b] for a, b in pairwise(bounds)]


def test_the_same_input_and_options_give_the_same_plan(plan: Plan, mini_imagenet: Path) -> None:
    again = plan_of(mini_imagenet)
    assert manifest(again) == manifest(plan)
    assert [s.to_json() for s in again.shards] == [s.to_json() for s in plan.shards]


def test_the_fingerprint_follows_every_option_and_input(plan: Plan) -> None:
    assert plan.fingerprint == fingerprint(plan.inputs, OPTIONS)
    assert fingerprint(plan.inputs, replace(OPTIONS, seed=7)) != plan.fingerprint
    assert fingerprint(plan.inputs, replace(OPTIONS, train_shards=3)) != plan.fingerprint
    grown = {**plan.inputs, "ILSVRC2012_img_val.tar": plan.inputs["ILSVRC2012_img_val.tar"] + 512}
    assert fingerprint(grown, OPTIONS) != plan.fingerprint


def test_another_seed_moves_images_between_shards(plan: Plan, mini_imagenet: Path) -> None:
    other = plan_of(mini_imagenet, replace(OPTIONS, seed=7))
    assert [s.to_json()["images"] for s in other.shards] != [s.to_json()["images"] for s in plan.shards]


def test_a_saved_plan_loads_back_as_it_was(plan: Plan, tmp_path: Path) -> None:
    out = OutputDir(str(tmp_path))
    save_plan(out, plan)
    saved = load_saved(out)
    assert saved is not None and saved.format_version == FORMAT_VERSION
    assert saved.manifest == json.loads(json_bytes(manifest(plan)))
    loaded = saved.plan()
    assert loaded.shards == [shard.summary() for shard in plan.shards]  # no shard file read
    for shard, summary in zip(plan.shards, loaded.shards, strict=True):  # rows of columns, then a list
        assert summary.plan_span is not None
        loaded_shard = load_shard(out, summary.plan_span)
        assert loaded_shard.summary() == shard.summary() and loaded_shard.images == list(shard.images)
        assert loaded_shard.to_json() == shard.to_json()  # from the columns, and from PlannedImages
    for kept in ("fingerprint", "options", "inputs", "classes", "warnings", "counts", "skipped"):
        assert getattr(loaded, kept) == getattr(plan, kept), kept
    saved = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / filenames.PLAN_FOLDER).iterdir()]
    assert saved == [filenames.PLAN_SHARDS], "one file for all shards"
    assert not list((tmp_path / filenames.TMP_FOLDER).iterdir()), "no temporary left behind"


def test_no_saved_plan_is_none(tmp_path: Path) -> None:
    assert load_saved(OutputDir(str(tmp_path))) is None
