"""Writing shards in this process, as each Beam worker does: the bytes, the index file, the marker.

``write_shard`` is the whole of a worker's job, so calling it directly on a planned miniature checks
what the workers write without a pipeline; one test runs the ``WriteShards`` transform on Beam's
``TestPipeline``, and tests/test_convert_e2e.py runs the whole conversion through the CLI.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from imagenet_convert.format import filenames
from imagenet_convert.format.index import FRAMING, parse_index
from imagenet_convert.format.records import parse_example, read_records
from imagenet_convert.plan.model import Plan, Shard, class_table
from imagenet_convert.plan.store import save_plan
from imagenet_convert.run.finish import write_metadata
from imagenet_convert.run.markers import ShardMarker, read_marker
from imagenet_convert.run.report import RunReport
from imagenet_convert.run.stages import ConversionError, WriteShards, write_shard
from imagenet_convert.storage.output import OutputDir
from tests.support import damage
from tests.support.cli import output_files
from tests.test_plan import plan_of


def names_in(shard: Path) -> list[str]:
    """The image file names a shard's records hold, in order."""
    with shard.open("rb") as stream:
        return [parse_example(record)["image/filename"][0].decode() for record in read_records(stream)]


def write(folder: Path, plan: Plan, shard: Shard, out: Path, skip_bad: bool = False) -> ShardMarker:
    return write_shard(OutputDir(str(out)), str(folder), shard, class_table(plan.classes), skip_bad)


@pytest.fixture(scope="module")
def plan(mini_imagenet: Path) -> Plan:
    return plan_of(mini_imagenet)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train-00001-of-00004", "validation-00000-of-00002"])
def test_a_shard_is_the_conversions_byte_for_byte(
    plan: Plan, mini_imagenet: Path, converted: Path, tmp_path: Path, name: str
) -> None:
    shard = next(s for s in plan.shards if s.name == name)
    marker = write(mini_imagenet, plan, shard, tmp_path)
    for published in filenames.shard_files(name):
        assert (tmp_path / published).read_bytes() == (converted / published).read_bytes(), published
    data = (tmp_path / name).read_bytes()
    records = list(read_records(io.BytesIO(data)))
    assert names_in(tmp_path / name) == [image.filename for image in shard.images]
    assert marker.num_records == len(records) == len(shard.images)
    assert (marker.bytes, marker.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    counts = Counter(image.label for image in shard.images)
    assert marker.to_json()["class_counts"] == {str(label): n for label, n in sorted(counts.items())}
    assert marker.stats["boxes"] == sum(len(i.boxes) for i in shard.images)
    spans = parse_index((tmp_path / filenames.index_file(name)).read_bytes())
    assert [length for _, length in spans] == [len(r) + FRAMING for r in records]
    assert (tmp_path / filenames.marker(name)).exists(), "the marker is written last, and only on success"
    assert not list((tmp_path / filenames.TMP_FOLDER).iterdir())


def test_a_marker_reads_back_as_written_and_an_older_runs_still_loads(
    plan: Plan, mini_imagenet: Path, tmp_path: Path
) -> None:
    """The saved JSON keeps its keys (resume and older tools read them), and a marker of a run from
    before the timings were noted still loads, so such a run resumes."""
    shard = plan.shards[0]
    marker = write(mini_imagenet, plan, shard, tmp_path)
    saved = json.loads((tmp_path / filenames.marker(shard.name)).read_text())
    assert set(saved) == {
        "name", "split", "num_records", "bytes", "sha256", "class_counts", "stats", "skipped",
        "seconds", "created", "cpu_seconds", "worker",
    }  # fmt: skip
    assert read_marker(OutputDir(str(tmp_path)), shard.name) == marker
    assert ShardMarker.from_json(saved).to_json() == saved
    older = {key: value for key, value in saved.items() if key not in ("created", "cpu_seconds")}
    loaded = ShardMarker.from_json(older)
    assert (loaded.created, loaded.cpu_seconds, loaded.num_records) == (None, None, marker.num_records)
    assert loaded.to_json() == older


@pytest.mark.slow
def test_written_here_every_visible_file_is_the_conversions(
    plan: Plan, mini_imagenet: Path, converted: Path, tmp_path: Path
) -> None:
    """Neither the runner nor the number of workers shows in the bytes: the shards written one after
    the other in this process, and the metadata from their markers, are the two-worker Beam run's."""
    for shard in plan.shards:
        write(mini_imagenet, plan, shard, tmp_path)
    write_metadata(OutputDir(str(tmp_path)), plan, RunReport())
    assert output_files(tmp_path) == output_files(converted)


@pytest.mark.slow
def test_the_write_transform_on_a_test_pipeline_writes_the_conversions_shards(
    plan: Plan, mini_imagenet: Path, converted: Path, tmp_path: Path
) -> None:
    """``WriteShards`` tested as Beam's examples test their transforms: shard names in, one marker per
    shard out (checked on the output PCollection), and the files it wrote are the conversion's."""
    save_plan(OutputDir(str(tmp_path)), plan)  # as ``run`` does first: each worker reads its shard's plan
    expected = [
        (s.name, s.split, len(s.images), hashlib.sha256((converted / s.name).read_bytes()).hexdigest())
        for s in plan.shards
    ]
    with test_pipeline.TestPipeline() as pipeline:  # imported as a module: pytest would collect a Test* class
        names = pipeline | beam.Create([shard.name for shard in plan.shards])
        markers = names | WriteShards(str(tmp_path), str(mini_imagenet), False, [])
        written = markers | beam.Map(lambda m: (m.name, m.split, m.num_records, m.sha256))
        assert_that(written, equal_to(expected))
    for shard in plan.shards:
        for published in filenames.shard_files(shard.name):
            assert (tmp_path / published).read_bytes() == (converted / published).read_bytes(), published
        assert (tmp_path / filenames.marker(shard.name)).exists()
    assert not list((tmp_path / filenames.TMP_FOLDER).iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["extracted", "valprep", "kaggle-tree", "kaggle-zip"])
def test_every_layout_writes_the_official_shards(
    mini_layout, converted: Path, tmp_path: Path, layout: str
) -> None:
    """Extracted files and ZIP members are read where their locators point, into the same records."""
    folder = mini_layout(layout)
    plan = plan_of(folder)
    for shard in plan.shards:
        write(folder, plan, shard, tmp_path)
        assert (tmp_path / shard.name).read_bytes() == (converted / shard.name).read_bytes(), shard.name


class EmptyImage(NamedTuple):
    folder: Path
    image: str
    plan: Plan
    shard: Shard
    """The planned shard that holds ``image``."""


@pytest.fixture(scope="module")
def empty_image(small_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> EmptyImage:
    """A copy of the small miniature whose first train image is an empty file, and its plan."""
    folder = damage.clone(small_imagenet, tmp_path_factory.mktemp("in") / "empty_image")
    damage.edit_first_class(folder, damage.set_data(0, b""))
    entries = damage.read_entries(damage.read_entries((folder / damage.TRAIN).read_bytes())[0][1])
    image = next(info.name for info, _ in entries if info.isfile())
    plan = plan_of(folder)
    shard = next(s for s in plan.shards if any(i.filename == image for i in s.images))
    return EmptyImage(folder, image, plan, shard)


def test_a_bad_image_names_archive_and_member_and_leaves_nothing(
    empty_image: EmptyImage, tmp_path: Path
) -> None:
    folder, image, plan, shard = empty_image
    with pytest.raises(ConversionError) as error:
        write(folder, plan, shard, tmp_path)
    message = str(error.value)
    assert message.startswith(f"{damage.TRAIN}: member {image}: empty file; pass --skip-bad-images")
    assert "\n" not in message
    assert not (tmp_path / shard.name).exists() and not (tmp_path / filenames.marker(shard.name)).exists()
    assert not list((tmp_path / filenames.TMP_FOLDER).iterdir()), "the half-written shard is deleted"


def test_a_bad_image_is_left_out_and_listed_with_skip_bad(empty_image: EmptyImage, tmp_path: Path) -> None:
    folder, image, plan, shard = empty_image
    marker = write(folder, plan, shard, tmp_path, skip_bad=True)
    assert marker.skipped == [{"image": image, "problem": "empty file"}]
    assert marker.num_records == len(shard.images) - 1
    names = names_in(tmp_path / shard.name)
    assert image not in names and len(names) == len(shard.images) - 1


def test_an_extracted_image_is_named_by_its_path(mini_layout, tmp_path: Path) -> None:
    folder = damage.link_tree(mini_layout("valprep"), tmp_path / "in")
    plan = plan_of(folder)
    shard = plan.split_shards("validation")[0]
    where = shard.images[0].locator.path
    (folder / where).unlink()
    (folder / where).write_bytes(b"\xff\xd8")
    with pytest.raises(ConversionError, match=rf"^{re.escape(where)}: "):
        write(folder, plan, shard, tmp_path / "out")
