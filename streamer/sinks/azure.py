"""The Azure Blob sink: conditional creates (``If-None-Match: *``) into one container.

Same contract as the S3 sink. A small object is one Put Blob with ``overwrite=False``
(the SDK sends ``If-None-Match: *``); a large one is staged as blocks and committed with
``if_none_match='*'``, so only the commit can create it. Block ids are unique per upload:
two writers staging the same block id on one blob would otherwise overwrite each other's
uncommitted data before either commits.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from streamer.sinks.blobsdk import (  # first: see blobsdk
    BlobBlock,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
)

# isort: split

import anyio
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome
from streamer.settings.credentials import AzureCredential
from streamer.settings.services import ResolvedService
from streamer.sinks._azure import (
    AZURE_ERRORS,
    CONFLICT_STATUSES,
    azure_code,
    azure_status,
    classify,
    open_blob_service,
)
from streamer.sinks.base import (
    cloud_options,
    replayed_or_conflict,
    sink_label,
    written_concurrently,
)
from streamer.sinks.digest import content_md5

T = TypeVar("T")


def _public_url(url: str) -> str:
    """``url`` without its query string (a SAS token is a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class AzureBlobSink:
    """Writes blobs to one Azure Storage container (``bucket`` is the container)."""

    def __init__(self, service: ResolvedService, *, name: str | None = None) -> None:
        self.name = name or service.name
        self.service = service
        self.container_name = service.bucket
        self.label = sink_label(self.name, service)
        self.options = cloud_options(service)
        credential = service.credential
        if not isinstance(credential, AzureCredential):
            raise FatalSinkError(
                f"sink {self.label}: needs an azure credential (connection_string or account_url)"
            )
        self._credential = credential
        self._service_client: BlobServiceClient | None = None
        self._container: ContainerClient | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._endpoint = ""

    @property
    def _timeout(self) -> float:
        return float(self.options.timeout)

    async def open(self) -> None:
        """Create the client and check the container exists and the key is accepted.

        Missing container, bad key or denied access raise FatalSinkError; an unreachable
        endpoint raises RetriableSinkError.
        """
        if self._container is not None:
            return
        stack = contextlib.AsyncExitStack()
        opened = False
        where = f"sink {self.label}"
        try:
            client = await open_blob_service(
                stack, self._credential, io_timeout=self._timeout, label=where
            )
            self._endpoint = _public_url(client.url)
            container = client.get_container_client(self.container_name)
            with anyio.fail_after(self._timeout):
                await container.get_container_properties()
            opened = True
        except AZURE_ERRORS as exc:
            raise self._open_error(exc) from None
        finally:
            if not opened:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
        self._service_client, self._container, self._stack = client, container, stack

    def _open_error(self, exc: Exception) -> Exception:
        where = f"sink {self.label}"
        code = azure_code(exc)
        if code in ("ContainerNotFound", "ResourceNotFound") or azure_status(exc) == 404:
            return FatalSinkError(
                f"{where}: container {self.container_name!r} does not exist; create it or "
                "fix the bucket (container) name",
                kind="no_bucket",
            )
        if isinstance(exc, ServiceRequestError) and not isinstance(exc, TimeoutError):
            return RetriableSinkError(
                f"{where}: endpoint {self._endpoint or '?'} unreachable; check the blob "
                "endpoint (connection string or account_url) and the network"
            )
        status = azure_status(exc)
        if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
            return FatalSinkError(
                f"{where}: access denied or bad credentials on container "
                f"{self.container_name!r} (GetContainerProperties {code or status}); check "
                "the account key in the connection string and the SAS or role permissions",
                kind="bad_credentials",
            )
        return classify(
            exc, label=where, doing="GetContainerProperties", container=self.container_name
        )

    async def _ready(self) -> ContainerClient:
        if self._container is None:
            await self.open()
        assert self._container is not None
        return self._container

    async def _call(self, awaitable: Awaitable[T]) -> T:
        with anyio.fail_after(self._timeout):
            return await awaitable

    def _error(self, exc: Exception, doing: str) -> Exception:
        return classify(exc, label=f"sink {self.label}", doing=doing, container=self.container_name)

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Create ``key`` unless it exists; durable when it returns."""
        container = await self._ready()
        blob = container.get_blob_client(key)
        settings = ContentSettings(
            content_type=meta.content_type, content_encoding=meta.content_encoding
        )
        metadata = {"sha256": meta.sha256, "events": str(meta.events)}
        try:
            if len(data) >= self.options.multipart_threshold:
                size = int(self.options.part_size)
                upload = uuid.uuid4().hex
                blocks = []
                for index, offset in enumerate(range(0, len(data), size)):
                    block_id = f"{upload}-{index:06d}"
                    await self._call(
                        blob.stage_block(
                            block_id, data[offset : offset + size], validate_content=True
                        )
                    )
                    blocks.append(BlobBlock(block_id=block_id))
                await self._call(
                    blob.commit_block_list(
                        blocks, content_settings=settings, metadata=metadata, if_none_match="*"
                    )
                )
            else:
                # the Content-MD5 the service checks, as validate_content=True would send
                # it, but shared with the other services that get the same body
                await self._call(
                    blob.upload_blob(
                        data,
                        length=len(data),
                        overwrite=False,
                        metadata=metadata,
                        content_settings=settings,
                        headers={"Content-MD5": content_md5(data)},
                    )
                )
        except AZURE_ERRORS as exc:
            if azure_status(exc) in CONFLICT_STATUSES and azure_code(exc) != "ContainerNotFound":
                return await self._existing(container, key, meta)
            raise self._error(exc, f"PutBlob {key}") from None
        return PutOutcome.CREATED

    async def _existing(self, container: ContainerClient, key: str, meta: ObjectMeta) -> PutOutcome:
        """The blob exists: a replay of the same content, or a conflict."""
        try:
            props = await self._call(container.get_blob_client(key).get_blob_properties())
        except AZURE_ERRORS as exc:
            if azure_status(exc) == 404:
                raise written_concurrently(self.label, key) from None
            raise self._error(exc, f"GetBlobProperties {key}") from None
        stored = (props.metadata or {}).get("sha256")
        return await replayed_or_conflict(self, self.label, key, stored, meta)

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        container = await self._ready()
        try:
            return bool(await self._call(container.get_blob_client(key).exists()))
        except AZURE_ERRORS as exc:
            raise self._error(exc, f"GetBlobProperties {key}") from None

    async def get(self, key: str) -> bytes:
        """The blob's bytes; FatalSinkError when it does not exist."""
        container = await self._ready()
        try:
            with anyio.fail_after(self._timeout):
                stream = await container.get_blob_client(key).download_blob()
                data: bytes = await stream.readall()
        except AZURE_ERRORS as exc:
            if azure_status(exc) == 404 and azure_code(exc) != "ContainerNotFound":
                raise FatalSinkError(f"sink {self.label}: {key} does not exist") from None
            raise self._error(exc, f"GetBlob {key}") from None
        return data

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Blobs under ``prefix`` in name order (Azure lists lexicographically)."""
        container = await self._ready()
        pages: Any = container.list_blobs(name_starts_with=prefix or None).by_page()
        while True:
            try:
                with anyio.fail_after(self._timeout):
                    page = await pages.__anext__()
                    items = [item async for item in page]
            except StopAsyncIteration:
                return
            except AZURE_ERRORS as exc:
                raise self._error(exc, f"ListBlobs {prefix!r}") from None
            for item in items:
                yield ObjectInfo(item.name, int(item.size))

    async def delete(self, key: str) -> None:
        """Remove ``key`` (absent keys are fine)."""
        container = await self._ready()
        try:
            await self._call(container.get_blob_client(key).delete_blob())
        except AZURE_ERRORS as exc:
            if azure_status(exc) == 404 and azure_code(exc) != "ContainerNotFound":
                return
            raise self._error(exc, f"DeleteBlob {key}") from None

    async def aclose(self) -> None:
        """Close the client (and the identity credential, if any)."""
        stack, self._stack = self._stack, None
        self._service_client = self._container = None
        if stack is not None:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
