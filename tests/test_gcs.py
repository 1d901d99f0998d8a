"""Archives in and shards out on GCS: the real CLI against ``gcp-storage-emulator`` (the GCS JSON API) on
loopback, behind a proxy that counts what the server sends and records every request.

Google's client library and Beam's GCS filesystem send every request to ``STORAGE_EMULATOR_HOST`` when it
is set. One conversion is measured, as for S3 (tests/test_s3.py): output byte-identical to a local run,
archives read by exact ranges (< 1.1x their size), final names only by server-side copies of complete
temporary objects, resume redoes only what is missing, and ``verify`` reads the result on gs://.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from imagenet_convert.fake import ARCHIVES
from tests.support.buckets import BUCKET, WORK, Bucket, archive_bytes
from tests.support.cli import output_files, run_cli
from tests.support.services import Traffic, counting_proxy, gcs_emulator

storage = pytest.importorskip(
    "google.cloud.storage", reason="needs the gcp extra: pip install -c constraints.txt '.[gcp]'"
)
pytest.importorskip("gcp_storage_emulator", reason="needs gcp-storage-emulator (in the dev extra)")


def test_no_credential_look_up_against_an_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beam would retry Google's credential look-up for about half a minute in every process."""
    from apache_beam.internal.gcp import auth
    from apache_beam.io.gcp import gcsio
    from apache_beam.options.pipeline_options import PipelineOptions
    from google.auth.credentials import AnonymousCredentials

    from imagenet_convert.storage import gcs

    gcs.anonymous_with_emulator()

    looked_up: list[object] = []
    monkeypatch.setattr("google.auth.default", lambda *args, **kwargs: looked_up.append(args))
    monkeypatch.setattr(auth._Credentials, "_credentials_init", False)  # no answer cached by earlier tests
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    client = gcsio.GcsIO(pipeline_options=PipelineOptions([])).client
    assert not looked_up
    assert isinstance(client._credentials, AnonymousCredentials)


@pytest.fixture(scope="module")
def store(big_imagenet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bucket]:
    """The emulator with the archives uploaded under ``gs://bucket/in/``."""
    from google.auth.credentials import AnonymousCredentials

    with gcs_emulator(tmp_path_factory.mktemp("gcs")) as endpoint, counting_proxy(endpoint) as proxy:
        # Through the proxy too (counted only while a conversion runs): the emulator points each object's
        # download link (mediaLink) at the host its uploader used.
        counted = f"http://127.0.0.1:{proxy.port}"
        client = storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": counted}
        )
        bucket = client.create_bucket(BUCKET)
        for name in ARCHIVES:
            if (big_imagenet / name).exists():
                bucket.blob(f"in/{name}").upload_from_filename(str(big_imagenet / name))

        def keys(prefix: str) -> list[str]:
            return [blob.name for blob in client.list_blobs(BUCKET, prefix=prefix)]

        def read(key: str) -> bytes:
            return bucket.blob(key).download_as_bytes()

        def upload(path: Path, key: str) -> None:
            bucket.blob(key).upload_from_filename(str(path))

        emulator = {"STORAGE_EMULATOR_HOST": counted}
        yield Bucket("gs", client, proxy, keys, read, upload, cli_environment=emulator)


@pytest.fixture(scope="module")
def gcs_run(store: Bucket) -> Traffic:
    """The measured conversion into ``gs://bucket/out/``."""
    return store.convert("out", "--workers", "2")


@pytest.mark.slow
def test_output_on_gcs_is_byte_identical_to_a_local_run(
    store: Bucket, gcs_run: Traffic, big_local_output: Path
) -> None:
    assert store.output_files("out/") == output_files(big_local_output)
    report = json.loads(store.read("out/run_report.json"))
    assert report["images"] == json.loads((big_local_output / "run_report.json").read_text())["images"]


@pytest.mark.slow
def test_archives_are_read_by_exact_ranges(big_imagenet: Path, gcs_run: Traffic) -> None:
    archives = archive_bytes(big_imagenet)
    ratio = gcs_run.bytes_from_server / archives
    assert ratio < 1.1, f"the server sent {gcs_run.bytes_from_server} bytes for {archives} bytes of archives"


UPLOAD_NAME = re.compile(rb'"name":\s*"([^"]+)"')
"""The object an upload creates, in the JSON metadata that starts its body (multipart or resumable)."""
BATCH_COPY = re.compile(r"POST \S*/b/[^/]+/o/(\S+)/(?:copyTo|rewriteTo)/b/[^/]+/o/(\S+?)[?\s]")
"""A copy inside a batch request: source and destination object, URL-quoted."""


@pytest.mark.slow
def test_every_name_is_published_by_copying_a_complete_temporary_object(
    store: Bucket, gcs_run: Traffic
) -> None:
    """Uploads only ever create temporary objects; final objects appear by server-side copies of them."""
    temporary = f"out/{WORK}tmp/"
    published: set[str] = set()
    for r in gcs_run.requests:  # in the order they reached the server
        if r.path.startswith("/upload/") and r.method == "POST":
            names = UPLOAD_NAME.findall(r.body_head)
            assert names, f"an upload without a name in its metadata: {r}"
            name = json.loads(b'"' + names[0] + b'"')
            assert name.startswith(temporary), f"{name}: the client wrote data under a final name"
        elif r.path.startswith("/batch/"):
            for source, destination in BATCH_COPY.findall(r.body_head.decode("latin-1")):
                assert unquote(source).startswith(temporary), f"{destination}: not copied from tmp/"
                published.add(unquote(destination).removeprefix("out/"))
    info = json.loads(store.read("out/imagenet_convert.json"))
    shards = [shard["name"] for split in info["splits"].values() for shard in split["shards"]]
    assert {*shards, "labels.txt", "imagenet_convert.json", "run_report.json"} <= published
    assert {f"{WORK}done/{name}.json" for name in shards} <= published
    assert not store.keys(temporary), "temporary objects left behind"


@pytest.mark.slow
def test_resume_on_gcs_redoes_only_what_is_missing(store: Bucket, big_local_output: Path) -> None:
    store.check_resume(big_local_output)


@pytest.mark.slow
def test_verify_reads_a_conversion_on_gcs(store: Bucket, gcs_run: Traffic) -> None:
    result = run_cli("verify", f"gs://{BUCKET}/out", env=store.cli_environment)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_a_folder_layout_on_gcs_reads_each_image_with_one_request(
    store: Bucket, mini_layout: Callable[[str], Path], converted: Path
) -> None:
    store.check_folder_layout(mini_layout("extracted"), converted)


@pytest.mark.slow
def test_reads_in_flight_hide_a_cloud_stores_latency(
    store: Bucket, mini_imagenet: Path, converted: Path, record_property: Callable[..., None]
) -> None:
    figures = store.check_reads_in_flight(mini_imagenet, converted)
    print(json.dumps(figures))
    record_property("figures", figures)
