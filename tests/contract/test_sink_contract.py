"""One Sink contract, checked against every implementation: memory, local, S3, Azure Blob.

The S3 and Azure cases run against real servers (SeaweedFS and Azurite) that the suite
starts itself; see ``tests/servers.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from servers import (
    AzuriteServer,
    S3Server,
    SwitchProxy,
    aws_credential,
    azure_credential,
    blackhole,
    closed_port_url,
    make_bucket,
    resolved_service,
)

from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome
from streamer.settings.model import AwsCredential
from streamer.sinks.base import Sink
from streamer.sinks.factory import build_sink
from streamer.sinks.local import LocalSink
from streamer.sinks.memory import MemorySink

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024
#: the smallest multipart threshold and part size the config allows
SMALL_PARTS: dict[str, Any] = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB, "timeout": 20}
KINDS = [
    "memory",
    "local",
    pytest.param("s3", marks=pytest.mark.servers),
    pytest.param("azure", marks=pytest.mark.servers),
]
CLOUDS = [
    pytest.param("s3", marks=pytest.mark.servers),
    pytest.param("azure", marks=pytest.mark.servers),
]
Server = S3Server | AzuriteServer
SinkFactory = Callable[[], Sink]


def meta(data: bytes, events: int = 1) -> ObjectMeta:
    """The metadata the writer would send for ``data``."""
    return ObjectMeta("application/x-ndjson", None, hashlib.sha256(data).hexdigest(), events)


def server_for(request: pytest.FixtureRequest, kind: str) -> Server:
    """The session server of a cloud kind (started on first use)."""
    fixture = "s3_server" if kind == "s3" else "azurite_server"
    server: Server = request.getfixturevalue(fixture)
    return server


@pytest.fixture(params=KINDS)
def new_sink(request: pytest.FixtureRequest, tmp_path: Path) -> SinkFactory:
    """Builds sinks of one kind that all see the same fresh bucket (or dict, or directory)."""
    kind: str = request.param
    if kind == "memory":
        shared = MemorySink()
        return lambda: shared
    if kind == "local":
        return lambda: LocalSink(tmp_path / "out", fsync=False)
    server = server_for(request, kind)
    bucket = make_bucket(server)
    return lambda: build_sink(resolved_service(server, bucket, **SMALL_PARTS))


@pytest.fixture
async def sink(new_sink: SinkFactory) -> AsyncIterator[Sink]:
    """An opened sink on a fresh bucket."""
    made = new_sink()
    with anyio.fail_after(30):
        await made.open()
    yield made
    with anyio.fail_after(10):
        await made.aclose()


async def close(sink: Sink) -> None:
    """aclose, bounded in time."""
    with anyio.fail_after(10):
        await sink.aclose()


async def listed(sink: Sink, prefix: str = "") -> list[ObjectInfo]:
    """Everything ``list`` yields, bounded in time."""
    with anyio.fail_after(20):
        return [info async for info in sink.list(prefix)]


async def test_put_creates_and_get_returns_the_bytes(sink: Sink) -> None:
    """A put of a new key creates it with exactly the given bytes."""
    data = b'{"id":"1"}\n{"id":"2"}\n'
    with anyio.fail_after(20):
        assert await sink.put("p/dt=2026-11-23/a.jsonl", data, meta(data, 2)) is PutOutcome.CREATED
        assert await sink.get("p/dt=2026-11-23/a.jsonl") == data
        assert await sink.exists("p/dt=2026-11-23/a.jsonl")


async def test_empty_object_round_trips(sink: Sink) -> None:
    """A zero-byte object is created and read back empty."""
    with anyio.fail_after(20):
        assert await sink.put("p/empty.jsonl", b"", meta(b"", 0)) is PutOutcome.CREATED
        assert await sink.get("p/empty.jsonl") == b""


async def test_replay_of_same_content_is_already_exists(sink: Sink) -> None:
    """A second put of the same key and content reports ALREADY_EXISTS and changes nothing."""
    data = b'{"id":"1"}\n'
    with anyio.fail_after(20):
        assert await sink.put("p/a.jsonl", data, meta(data)) is PutOutcome.CREATED
        assert await sink.put("p/a.jsonl", data, meta(data)) is PutOutcome.ALREADY_EXISTS
        assert await sink.get("p/a.jsonl") == data
    assert [o.key for o in await listed(sink, "p/")] == ["p/a.jsonl"]


async def test_same_key_different_content_is_fatal(sink: Sink) -> None:
    """A put of different content to an existing key raises FatalSinkError and keeps the old."""
    with anyio.fail_after(20):
        await sink.put("p/a.jsonl", b"first\n", meta(b"first\n"))
        with pytest.raises(FatalSinkError, match=r"p/a\.jsonl"):
            await sink.put("p/a.jsonl", b"second\n", meta(b"second\n"))
        assert await sink.get("p/a.jsonl") == b"first\n"


async def test_exists_and_delete(sink: Sink) -> None:
    """exists follows put and delete; deleting a missing key is not an error."""
    with anyio.fail_after(20):
        assert not await sink.exists("p/x.txt")
        await sink.put("p/x.txt", b"x", meta(b"x"))
        assert await sink.exists("p/x.txt")
        await sink.delete("p/x.txt")
        assert not await sink.exists("p/x.txt")
        await sink.delete("p/x.txt")
        assert await sink.put("p/x.txt", b"y", meta(b"y")) is PutOutcome.CREATED


async def test_list_is_prefix_scoped_and_in_key_order(sink: Sink) -> None:
    """list yields only keys under the prefix, sorted, with their sizes."""
    keys = ["p/b.jsonl", "p/a/1.jsonl", "q/x.jsonl", "p/a/0.jsonl", "pp/z.jsonl", "p/c"]
    with anyio.fail_after(30):
        for key in keys:
            await sink.put(key, key.encode(), meta(key.encode()))
    under_p = await listed(sink, "p/")
    assert [o.key for o in under_p] == ["p/a/0.jsonl", "p/a/1.jsonl", "p/b.jsonl", "p/c"]
    assert [o.size for o in under_p] == [len(o.key) for o in under_p]
    assert [o.key for o in await listed(sink)] == sorted(keys)
    assert [o.key for o in await listed(sink, "p/a/")] == ["p/a/0.jsonl", "p/a/1.jsonl"]
    assert await listed(sink, "nothing/") == []


async def test_large_object_goes_up_in_parts(sink: Sink) -> None:
    """An object above the multipart threshold (11 MiB, 5 MiB parts) round-trips exactly."""
    data = os.urandom(11 * MIB + 3)
    with anyio.fail_after(60):
        assert await sink.put("p/big.jsonl", data, meta(data)) is PutOutcome.CREATED
        assert await sink.put("p/big.jsonl", data, meta(data)) is PutOutcome.ALREADY_EXISTS
        other = os.urandom(11 * MIB)
        with pytest.raises(FatalSinkError):
            await sink.put("p/big.jsonl", other, meta(other))
        assert await sink.get("p/big.jsonl") == data
    assert [o.size for o in await listed(sink, "p/")] == [len(data)]


@pytest.mark.parametrize("writers", [2, 4])
async def test_concurrent_puts_of_one_key_create_it_once(
    new_sink: SinkFactory, writers: int
) -> None:
    """Several writers racing on one key: exactly one CREATED, the rest ALREADY_EXISTS."""
    data = b'{"id":"race"}\n'
    sinks = [new_sink() for _ in range(writers)]
    outcomes: list[PutOutcome] = []

    async def write(s: Sink) -> None:
        own = bytes(bytearray(data))  # each writer (daemon) has its own buffer
        outcomes.append(await s.put("p/race.jsonl", own, meta(own)))

    try:
        with anyio.fail_after(60):
            for s in sinks:
                await s.open()
            async with anyio.create_task_group() as tg:
                for s in sinks:
                    tg.start_soon(write, s)
            assert await sinks[0].get("p/race.jsonl") == data
    finally:
        with anyio.fail_after(10):
            for s in sinks:
                await s.aclose()
    assert sorted(o.value for o in outcomes) == ["already_exists"] * (writers - 1) + ["created"]


# ---------------------------------------------------------------- error mapping (clouds)


def cloud_service(server: Server, bucket: str, **overrides: Any) -> Any:
    """A ResolvedService with a short timeout and optional credential overrides."""
    cred = overrides.pop("credential", None)
    return resolved_service(server, bucket, credential=cred, timeout=overrides.pop("timeout", 5))


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Server:
    """The S3 or the Azure server."""
    return server_for(request, request.param)


async def test_missing_bucket_is_fatal_at_open_and_names_it(cloud: Server) -> None:
    """open() on a bucket that does not exist raises FatalSinkError naming the bucket."""
    sink = build_sink(cloud_service(cloud, "no-such-bucket-4711"))
    try:
        with anyio.fail_after(20), pytest.raises(FatalSinkError) as info:
            await sink.open()
    finally:
        await close(sink)
    message = str(info.value)
    assert "'no-such-bucket-4711' does not exist" in message
    assert "credential_id=test-cred" in message
    assert "\n" not in message


async def test_wrong_secret_is_fatal_names_credential_and_hides_secret(cloud: Server) -> None:
    """A wrong secret fails open() with a FatalSinkError naming credential_id, not the secret."""
    bucket = make_bucket(cloud)
    if isinstance(cloud, S3Server):
        secret = "WRONG-secret-a1b2c3d4e5f6"
        cred: Any = aws_credential(cloud, secret=secret)
    else:
        secret = base64.b64encode(b"wrong-key-" * 7).decode()
        cred = azure_credential(cloud, key=secret)
    sink = build_sink(cloud_service(cloud, bucket, credential=cred))
    try:
        with anyio.fail_after(20), pytest.raises(FatalSinkError) as info:
            await sink.open()
    finally:
        await close(sink)
    message = str(info.value)
    assert "credential_id=test-cred" in message
    assert "bad credentials" in message
    assert secret not in message
    assert secret[:12] not in message


def at(server: Server, base_url: str, bucket: str, timeout: float) -> Sink:
    """A sink for ``bucket`` whose endpoint is ``base_url`` instead of the real server."""
    if isinstance(server, S3Server):
        cred: Any = aws_credential(server, endpoint_url=base_url)
    else:
        cred = azure_credential(server, blob_endpoint=f"{base_url}/{server.account}")
    return build_sink(cloud_service(server, bucket, credential=cred, timeout=timeout))


async def test_unreachable_endpoint_is_retriable(cloud: Server) -> None:
    """A closed port fails open() with a RetriableSinkError saying the endpoint is unreachable."""
    sink = at(cloud, closed_port_url(), "any-bucket", timeout=5)
    try:
        with anyio.fail_after(20), pytest.raises(RetriableSinkError, match="unreachable"):
            await sink.open()
    finally:
        await close(sink)


async def test_blackholed_endpoint_times_out_instead_of_hanging(cloud: Server) -> None:
    """Against a peer that accepts and never answers, put raises within the timeout."""
    async with blackhole() as url:
        sink = at(cloud, url, "any-bucket", timeout=1)
        start = time.monotonic()
        try:
            with anyio.fail_after(15), pytest.raises(RetriableSinkError, match="timed out"):
                await sink.put("p/a.jsonl", b"x", meta(b"x"))
        finally:
            await close(sink)
    assert time.monotonic() - start < 5


async def test_put_on_a_connection_that_goes_silent_times_out(cloud: Server) -> None:
    """A put on an open, pooled connection whose peer stops answering raises, never hangs."""
    bucket = make_bucket(cloud)
    url = cloud.endpoint_url if isinstance(cloud, S3Server) else cloud.blob_endpoint
    port = int(url.split(":")[2].split("/")[0])
    async with SwitchProxy.running(port) as proxy:
        sink = at(cloud, proxy.url, bucket, timeout=1)
        try:
            with anyio.fail_after(15):
                await sink.open()
                assert await sink.put("p/1.jsonl", b"1", meta(b"1")) is PutOutcome.CREATED
                proxy.blackholed = True
                start = time.monotonic()
                with pytest.raises(RetriableSinkError, match="timed out"):
                    await sink.put("p/2.jsonl", b"2" * 1000, meta(b"2" * 1000))
                assert time.monotonic() - start < 5
        finally:
            await close(sink)


# ---------------------------------------------------------------- AWS default credential chain


def keyless(server: S3Server, *, profile: str | None = None) -> AwsCredential:
    """An AwsCredential with no key pair: botocore's default chain must find one."""
    return AwsCredential(
        service="aws",
        region=server.region,
        endpoint_url=server.endpoint_url,
        addressing_style="path",
        profile=profile,
    )


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS keys in the environment, no shared files, no instance metadata lookups."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path / "credentials"


@pytest.fixture
def profile_file(s3_server: S3Server, clean_aws_env: Path) -> Path:
    """A shared credentials file with a ``pipeline`` profile holding the server's keys."""
    clean_aws_env.write_text(
        f"[pipeline]\naws_access_key_id = {s3_server.access_key}\n"
        f"aws_secret_access_key = {s3_server.secret_key}\n"
    )
    return clean_aws_env


@pytest.mark.servers
async def test_keys_from_the_environment(
    s3_server: S3Server, clean_aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a key pair in the config, keys from the environment are used."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    bucket = make_bucket(s3_server)
    sink = build_sink(resolved_service(s3_server, bucket, credential=keyless(s3_server)))
    try:
        with anyio.fail_after(20):
            await sink.open()
            assert await sink.put("p/env.txt", b"e", meta(b"e")) is PutOutcome.CREATED
    finally:
        await close(sink)


@pytest.mark.servers
@pytest.mark.usefixtures("profile_file")
async def test_keys_from_a_named_profile(s3_server: S3Server) -> None:
    """``profile`` selects a section of the shared credentials file."""
    bucket = make_bucket(s3_server)
    cred = keyless(s3_server, profile="pipeline")
    sink = build_sink(resolved_service(s3_server, bucket, credential=cred))
    try:
        with anyio.fail_after(20):
            await sink.open()
            assert await sink.exists("p/none.txt") is False
    finally:
        await close(sink)


@pytest.mark.servers
async def test_no_credentials_anywhere_is_fatal(s3_server: S3Server, clean_aws_env: Path) -> None:
    """With no key in the config and none in the chain, open() says so in one line."""
    sink = build_sink(resolved_service(s3_server, "any-bucket", credential=keyless(s3_server)))
    try:
        with anyio.fail_after(20), pytest.raises(FatalSinkError, match="no AWS credentials found"):
            await sink.open()
    finally:
        await close(sink)


@pytest.mark.servers
async def test_unknown_profile_is_fatal(s3_server: S3Server, clean_aws_env: Path) -> None:
    """A profile that does not exist is a FatalSinkError naming it."""
    cred = keyless(s3_server, profile="nope")
    sink = build_sink(resolved_service(s3_server, "any-bucket", credential=cred))
    try:
        with anyio.fail_after(20), pytest.raises(FatalSinkError, match="'nope'"):
            await sink.open()
    finally:
        await close(sink)
