"""One place that builds Azure Blob clients and classifies their errors.

Shared by :class:`~streamer.sinks.azure.AzureBlobSink` and the Azure checkpoint store.
The SDK's own retries are switched off (``retry_total=0``): the daemon retries with its
own jittered backoff, and a bounded call must fail within its timeout, not retry inside it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from streamer.sinks.blobsdk import BlobServiceClient, aiohttp  # first: see blobsdk

# isort: split

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from streamer.errors import FatalSinkError, RetriableSinkError, StreamerError, http_kind

if TYPE_CHECKING:
    from streamer.settings.credentials import AzureCredential

_RETRIABLE_CODES = frozenset({"ServerBusy", "OperationTimedOut", "InternalError"})
_DENIED_CODES = frozenset(
    {
        "AuthorizationPermissionMismatch",
        "AuthorizationFailure",
        "AuthorizationSourceIPMismatch",
        "AuthorizationProtocolMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch",
        "InsufficientAccountPermissions",
        "AccountIsDisabled",
    }
)
#: everything an Azure call can raise that :func:`classify` understands
AZURE_ERRORS: tuple[type[Exception], ...] = (AzureError, OSError, aiohttp.ClientError)
#: a conditional write lost: the blob exists (409) or its etag changed (412)
CONFLICT_STATUSES = frozenset({409, 412})
#: the largest object uploaded as one Put Blob; larger ones go as staged blocks
MAX_SINGLE_PUT = 256 * 1024 * 1024


async def open_blob_service(
    stack: contextlib.AsyncExitStack,
    credential: AzureCredential,
    *,
    io_timeout: float,
    label: str,
) -> BlobServiceClient:
    """A BlobServiceClient whose lifetime (and its identity credential's) is bound to ``stack``.

    A connection string is used as is; an ``account_url`` alone authenticates through
    ``azure.identity.aio.DefaultAzureCredential`` (managed identity, workload identity,
    environment, Azure CLI).
    """
    kwargs: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": min(io_timeout, 10.0),
        "read_timeout": io_timeout,
        "max_single_put_size": MAX_SINGLE_PUT,
    }
    if credential.connection_string is not None:
        try:
            client = BlobServiceClient.from_connection_string(
                credential.connection_string.get_secret_value(), **kwargs
            )
        except ValueError:
            raise FatalSinkError(
                f"{label}: the connection string is malformed; copy it again from the "
                "storage account's Access keys page"
            ) from None
    else:
        try:
            from azure.identity.aio import DefaultAzureCredential
        except ImportError:
            raise FatalSinkError(
                f"{label}: account_url needs azure-identity; install streamer[azure-identity] "
                "or use a connection_string"
            ) from None
        identity = DefaultAzureCredential()
        stack.push_async_callback(identity.close)
        client = BlobServiceClient(str(credential.account_url), credential=identity, **kwargs)
    await stack.enter_async_context(client)
    return client


def azure_code(exc: BaseException) -> str:
    """The storage error code (``BlobAlreadyExists``, ``ContainerNotFound`` ...) or ''."""
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or "")


def azure_status(exc: BaseException) -> int | None:
    """The HTTP status of an Azure error, if it has one."""
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def classify(exc: BaseException, *, label: str, doing: str, container: str) -> StreamerError:
    """Map any Azure Blob failure to a one-line Retriable/FatalSinkError (the ONE classifier)."""
    if isinstance(exc, StreamerError):
        return exc
    where = f"{label}: {doing}"
    code = azure_code(exc)
    status = azure_status(exc)
    if isinstance(exc, TimeoutError | ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return RetriableSinkError(f"{where} timed out", kind="timeout")
    if isinstance(exc, ServiceRequestError):
        return RetriableSinkError(f"{where} failed: endpoint unreachable", kind="unreachable")
    if isinstance(exc, ServiceResponseError):
        return RetriableSinkError(
            f"{where} failed: connection closed by the server", kind="connection_closed"
        )
    if isinstance(exc, ClientAuthenticationError):
        if type(exc).__name__ == "CredentialUnavailableError":
            return FatalSinkError(
                f"{where} failed: no Azure identity found for account_url; "
                "configure a managed identity or use a connection_string", kind="no_credentials",
            )
        return FatalSinkError(
            f"{where} failed: bad credentials ({code or status}); check the account key "
            "in the connection string", kind="bad_credentials",
        )
    if isinstance(exc, HttpResponseError):
        if code == "ContainerNotFound":
            return FatalSinkError(
                f"{where} failed: container {container!r} does not exist; create it or fix "
                "the bucket (container) name", kind="no_bucket",
            )
        if isinstance(exc, ResourceNotFoundError):
            return FatalSinkError(f"{where} failed: not found ({code or status})", kind="not_found")
        if code in _RETRIABLE_CODES or status in (408, 429) or (status or 0) >= 500:
            return RetriableSinkError(
                f"{where} failed: {code or 'error'} (HTTP {status}); will retry",
                kind=http_kind(status, code),
            )
        if code in _DENIED_CODES or status == 403:
            return FatalSinkError(
                f"{where} failed: access denied or bad credentials ({code or status}); check "
                "the key, SAS permissions or role assignment", kind="bad_credentials",
            )
        return FatalSinkError(
            f"{where} failed: {code or 'error'} (HTTP {status})", kind=http_kind(status, code)
        )
    # SDK and network errors, and anything unknown: retried (the error names its kind)
    return RetriableSinkError(f"{where} failed: {type(exc).__name__}", kind=type(exc).__name__)
