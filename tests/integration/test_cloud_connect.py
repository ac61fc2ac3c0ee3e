"""``check --connect``: verify_service writes and deletes a verification file, or says why not.

Runs against the real SeaweedFS and Azurite servers; every failure message is pinned
exactly, and none may contain a secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from pathlib import Path

import anyio
import pytest
from servers import (
    AzuriteServer,
    S3Server,
    aws_credential,
    azure_credential,
    blackhole,
    closed_port_url,
    make_bucket,
    read_objects,
    resolved_service,
)

from streamer.settings.model import AwsCredential, AzureCredential, LocalServiceSettings
from streamer.settings.services import ResolvedService
from streamer.sinks.connect import verification_key, verify_all, verify_service

pytestmark = pytest.mark.anyio

Server = S3Server | AzuriteServer
LABEL = "sink {name} (bucket={bucket} credential_id=test-cred)"
CLOUDS = [
    pytest.param("s3", marks=pytest.mark.servers),
    pytest.param("azure", marks=pytest.mark.servers),
]


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Server:
    """The S3 or the Azure server."""
    server: Server = request.getfixturevalue(
        "s3_server" if request.param == "s3" else "azurite_server"
    )
    return server


def name_of(server: Server) -> str:
    """The service name a server stands for."""
    return "aws" if isinstance(server, S3Server) else "azure"


def test_verification_key_follows_leadconduit() -> None:
    """The key is <prefix>/leadconduit_verification_<YYYYMMDDHHMMSSmmm>.txt, in UTC."""
    when = dt.datetime(2026, 11, 23, 14, 5, 9, 42_000, tzinfo=dt.UTC)
    assert verification_key("lc/events/", when) == (
        "lc/events/leadconduit_verification_20261123140509042.txt"
    )
    assert verification_key("", when) == "leadconduit_verification_20261123140509042.txt"


async def test_ok_writes_and_deletes_the_file(cloud: Server) -> None:
    """A good service passes, names the key it wrote, and leaves nothing behind."""
    bucket = make_bucket(cloud)
    with anyio.fail_after(30):
        ok, message = await verify_service(resolved_service(cloud, bucket, prefix="lc/events"))
    assert ok, message
    assert re.fullmatch(
        r"ok: wrote and deleted lc/events/leadconduit_verification_\d{17}\.txt", message
    )
    assert read_objects(cloud, bucket) == {}


async def test_local_directory_passes(tmp_path: Path) -> None:
    """The local sink passes the same write test."""
    service = ResolvedService("local", str(tmp_path), "out", None, None, LocalServiceSettings())
    with anyio.fail_after(10):
        ok, message = await verify_service(service)
    assert ok, message
    assert message.startswith("ok: wrote and deleted out/leadconduit_verification_")
    assert list((tmp_path / "out").iterdir()) == []


async def test_bad_key(cloud: Server) -> None:
    """A wrong secret fails with an exact message that names the credential, not the secret."""
    bucket = make_bucket(cloud)
    if isinstance(cloud, S3Server):
        secret = "WRONG-secret-0123456789abcdef"
        service = resolved_service(cloud, bucket, credential=aws_credential(cloud, secret=secret))
        detail = (
            f"access denied or bad credentials on bucket '{bucket}' (HeadBucket 403); check the "
            "access key id, the secret and the IAM policy (s3:ListBucket, s3:PutObject, "
            "s3:GetObject)"
        )
    else:
        secret = base64.b64encode(b"not-the-key-" * 6).decode()
        service = resolved_service(cloud, bucket, credential=azure_credential(cloud, key=secret))
        detail = (
            f"access denied or bad credentials on container '{bucket}' (GetContainerProperties "
            "AuthorizationFailure); check the account key in the connection string and the "
            "SAS or role permissions"
        )
    with anyio.fail_after(30):
        ok, message = await verify_service(service)
    assert not ok
    assert message == LABEL.format(name=name_of(cloud), bucket=bucket) + ": " + detail
    assert secret not in message


async def test_no_such_bucket(cloud: Server) -> None:
    """A missing bucket (container) fails with an exact message naming it."""
    bucket = "no-such-bucket-0815"
    with anyio.fail_after(30):
        ok, message = await verify_service(resolved_service(cloud, bucket))
    kind = "bucket" if isinstance(cloud, S3Server) else "container"
    hint = "bucket name" if kind == "bucket" else "bucket (container) name"
    assert not ok
    assert message == (
        LABEL.format(name=name_of(cloud), bucket=bucket)
        + f": {kind} '{bucket}' does not exist; create it or fix the {hint}"
    )


async def test_unreachable_endpoint(cloud: Server) -> None:
    """A closed port fails with an exact message naming the endpoint."""
    url = closed_port_url()
    if isinstance(cloud, S3Server):
        cred = aws_credential(cloud, endpoint_url=url)
        detail = (
            f"HeadBucket failed: endpoint unreachable ({url}/b-unreach); check endpoint_url, "
            "the region and the network"
        )
        service = resolved_service(cloud, "b-unreach", credential=cred, timeout=5)
    else:
        endpoint = f"{url}/{cloud.account}"
        service = resolved_service(
            cloud,
            "b-unreach",
            credential=azure_credential(cloud, blob_endpoint=endpoint),
            timeout=5,
        )
        detail = (
            f"endpoint {endpoint} unreachable; check the blob endpoint (connection string or "
            "account_url) and the network"
        )
    with anyio.fail_after(30):
        ok, message = await verify_service(service)
    assert not ok
    assert message == LABEL.format(name=name_of(cloud), bucket="b-unreach") + ": " + detail


async def test_silent_endpoint_fails_within_the_limit(cloud: Server) -> None:
    """A peer that never answers fails the check within the limit instead of hanging it."""
    async with blackhole() as url:
        if isinstance(cloud, S3Server):
            cred: AwsCredential | AzureCredential = aws_credential(cloud, endpoint_url=url)
        else:
            cred = azure_credential(cloud, blob_endpoint=f"{url}/{cloud.account}")
        service = resolved_service(cloud, "b-silent", credential=cred, timeout=1)
        start = time.monotonic()
        with anyio.fail_after(15):
            ok, message = await verify_service(service, limit=2)
    assert not ok
    assert "timed out" in message or "no answer within 2s" in message
    assert time.monotonic() - start < 5


@pytest.mark.servers
async def test_verify_all_reports_each_service_in_order(
    s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """verify_all runs the services concurrently and reports each by name, in order."""
    good = resolved_service(s3_server, make_bucket(s3_server))
    missing = resolved_service(azurite_server, "no-such-container-1")
    with anyio.fail_after(30):
        results = await verify_all([good, missing])
    assert [(name, ok) for name, ok, _ in results] == [("aws", True), ("azure", False)]
    assert "does not exist" in results[1][2]
