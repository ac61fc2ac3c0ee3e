"""The checkpoint as one Azure blob, replaced by compare-and-swap on its ETag.

Same protocol as :mod:`streamer.checkpoint.s3`: ``load`` remembers the ETag, ``save``
sends ``If-Match`` (or ``If-None-Match: *`` for the first save), a lost race is a
CheckpointError, and a save whose answer was lost is recognised on the retry.
"""

from __future__ import annotations

import contextlib
from typing import Any

from streamer.sinks.blobsdk import BlobClient, ContentSettings  # first: see blobsdk

# isort: split

import anyio
from azure.core import MatchConditions

from streamer.checkpoint.cas import DEFAULT_TIMEOUT, EtagCheckpointStore
from streamer.settings.credentials import AzureCredential
from streamer.sinks._azure import (
    AZURE_ERRORS,
    CONFLICT_STATUSES,
    azure_code,
    azure_status,
    classify,
    open_blob_service,
)


class AzureCheckpointStore(EtagCheckpointStore):
    """``checkpoint.store: azure``: the checkpoint document in container ``bucket``."""

    def __init__(
        self,
        credential: AzureCredential,
        bucket: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(timeout)
        self.container = bucket
        self.key = key
        self.label = f"azure://{bucket}/{key}"
        self._credential = credential

    async def _open(self, stack: contextlib.AsyncExitStack) -> BlobClient:
        service = await open_blob_service(
            stack, self._credential, io_timeout=self._timeout, label=f"checkpoint {self.label}"
        )
        return service.get_blob_client(self.container, self.key)

    def _classify(self, exc: Exception, doing: str) -> Exception:
        return classify(
            exc, label=f"checkpoint {self.label}", doing=doing, container=self.container
        )

    async def _read(self) -> tuple[bytes, str] | None:
        blob: BlobClient = await self._ready()
        try:
            with anyio.fail_after(self._timeout):
                stream = await blob.download_blob()
                data: bytes = await stream.readall()
        except AZURE_ERRORS as exc:
            if azure_status(exc) == 404 and azure_code(exc) != "ContainerNotFound":
                return None
            raise self._error(exc, "GetBlob") from None
        return data, str(stream.properties.etag)

    async def _put(self, data: bytes) -> str:
        blob: BlobClient = await self._ready()
        condition: dict[str, Any] = (
            {"etag": self._etag, "match_condition": MatchConditions.IfNotModified}
            if self._etag
            else {"if_none_match": "*"}
        )
        try:
            with anyio.fail_after(self._timeout):
                response = await blob.upload_blob(
                    data,
                    length=len(data),
                    overwrite=True,
                    content_settings=ContentSettings(content_type="application/json"),
                    validate_content=True,
                    **condition,
                )
        except AZURE_ERRORS as exc:
            if azure_status(exc) in CONFLICT_STATUSES and azure_code(exc) != "ContainerNotFound":
                raise self._conflict() from None
            self._lost = data
            raise self._error(exc, "PutBlob") from None
        return str(response["etag"])
