"""One place that builds aiobotocore S3 clients and classifies their errors.

Shared by :class:`~streamer.sinks.s3.S3Sink` and the S3 checkpoint store so that both
sign, time out and fail the same way. Two aiobotocore traps are handled here:

* botocore adds ``Expect: 100-continue`` to PUTs, and aiohttp's wait for the interim
  ``100`` is not covered by the read timeout, so a blackholed peer hangs a put forever.
  The header is stripped before every send.
* error responses that carry checksum headers make botocore raise a ``TypeError`` unless
  response checksums are validated only when required.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from streamer.sinks.lazyca import aiohttp  # first: before the SDKs import it

# isort: split

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from streamer.errors import FatalSinkError, RetriableSinkError, StreamerError, http_kind
from streamer.sinks.botoloader import fast_loader

if TYPE_CHECKING:
    from streamer.settings.credentials import AwsCredential

#: error codes (S3 ``Code`` or bare HTTP status) worth retrying
RETRIABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)
#: codes meaning the key or its signature is wrong
BAD_KEY_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
    }
)
DENIED_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "403", "AccountProblem"})
#: everything an S3 call can raise that :func:`classify` understands
S3_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError, OSError, aiohttp.ClientError)
#: a conditional write lost: the key exists (412) or a concurrent write won (409)
CONFLICT_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def _strip_expect(request: Any, **_: Any) -> None:
    request.headers.pop("Expect", None)


def s3_config(timeout: float, addressing_style: str = "auto") -> AioConfig:
    """Client config: our own retries, bounded connect/read, checksums only when required."""
    return AioConfig(
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": addressing_style},
        response_checksum_validation="when_required",
        request_checksum_calculation="when_required",
        max_pool_connections=20,
    )


async def open_s3_client(
    stack: contextlib.AsyncExitStack,
    credential: AwsCredential | None,
    *,
    io_timeout: float,
    label: str,
) -> Any:
    """An S3 client whose lifetime is bound to ``stack``.

    With an access key pair in ``credential`` that pair is used; otherwise botocore's
    default chain (environment, ``profile``, web identity, instance role) finds one.
    """
    profile = credential.profile if credential is not None else None
    try:
        session = AioSession(profile=profile)
    except ProfileNotFound:
        raise FatalSinkError(
            f"{label}: AWS profile {profile!r} not found; fix credentials.<id>.profile"
        ) from None
    kwargs: dict[str, Any] = {
        "region_name": credential.region if credential is not None else None,
        "config": s3_config(io_timeout, credential.addressing_style if credential else "auto"),
    }
    if credential is not None:
        kwargs["endpoint_url"] = credential.endpoint_url
        if str(credential.endpoint_url or "").startswith("http://"):
            kwargs["verify"] = False  # no TLS to verify: skip loading the CA bundle (~30 ms)
        if credential.access_key_id and credential.secret_access_key:
            kwargs["aws_access_key_id"] = credential.access_key_id
            kwargs["aws_secret_access_key"] = credential.secret_access_key.get_secret_value()
            if credential.session_token is not None:
                kwargs["aws_session_token"] = credential.session_token.get_secret_value()
    try:
        # reading data_path resolves the profile: ProfileNotFound is handled below
        data_path = session.get_config_variable("data_path")
        session.register_component("data_loader", fast_loader(data_path))
        client = await stack.enter_async_context(session.create_client("s3", **kwargs))
    except ProfileNotFound:
        raise FatalSinkError(
            f"{label}: AWS profile {profile!r} not found; fix credentials.<id>.profile or "
            "the shared config files"
        ) from None
    except ValueError:
        raise FatalSinkError(f"{label}: cannot create the S3 client (bad endpoint_url)") from None
    client.meta.events.register("before-send.s3.*", _strip_expect)
    return client


def error_code(exc: BaseException) -> str:
    """The S3 error code of a ClientError (the bare status for HEAD responses), else ''."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "")
        if code:
            return code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status or "")
    return ""


def classify(exc: BaseException, *, label: str, doing: str, bucket: str) -> StreamerError:
    """Map any S3 failure to a one-line Retriable/FatalSinkError (the ONE classifier).

    ``label`` names the service (never a secret), ``doing`` the operation and key.
    """
    if isinstance(exc, StreamerError):
        return exc
    where = f"{label}: {doing}"
    if isinstance(exc, TimeoutError | ConnectTimeoutError | ReadTimeoutError):
        return RetriableSinkError(f"{where} timed out", kind="timeout")
    if isinstance(exc, EndpointConnectionError):
        return RetriableSinkError(
            f"{where} failed: endpoint unreachable ({exc.kwargs.get('endpoint_url', '?')}); "
            "check endpoint_url, the region and the network", kind="unreachable",
        )
    if isinstance(exc, ConnectionClosedError):
        return RetriableSinkError(
            f"{where} failed: connection closed by the server", kind="connection_closed"
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return FatalSinkError(
            f"{where} failed: no AWS credentials found; set access_key_id/secret_access_key "
            "on the credential or provide them through the environment, profile or role",
            kind="no_credentials",
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in RETRIABLE_CODES or (isinstance(status, int) and status >= 500):
            return RetriableSinkError(
                f"{where} failed: {code} (HTTP {status}); will retry", kind=http_kind(status, code)
            )
        if code in BAD_KEY_CODES:
            return FatalSinkError(
                f"{where} failed: bad credentials ({code}); check the access key id and secret",
                kind="bad_credentials",
            )
        if code == "NoSuchBucket":
            return FatalSinkError(
                f"{where} failed: bucket {bucket!r} does not exist; create it or fix the bucket",
                kind="no_bucket",
            )
        if code in DENIED_CODES:
            return FatalSinkError(
                f"{where} failed: access denied or bad credentials ({code}); "
                "check the key and the IAM policy", kind="bad_credentials",
            )
        return FatalSinkError(
            f"{where} failed: {code} (HTTP {status})", kind=http_kind(status, code)
        )
    # SDK and network errors, and anything unknown: retried (the error names its kind)
    return RetriableSinkError(f"{where} failed: {type(exc).__name__}", kind=type(exc).__name__)
