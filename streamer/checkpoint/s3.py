"""The checkpoint as one S3 object, replaced by compare-and-swap on its ETag.

``load`` remembers the ETag it read; ``save`` writes with ``If-Match: <etag>`` (or
``If-None-Match: *`` when there was no object), so a second daemon sharing the key cannot
silently overwrite the first: whichever saves second from a stale read gets a 412 and a
CheckpointError. A save whose response was lost (timeout after the write landed) is
recognised on the retry: if the object now holds exactly the bytes of that lost attempt,
its ETag is adopted instead of reporting a conflict.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio

from streamer.checkpoint.cas import DEFAULT_TIMEOUT, EtagCheckpointStore
from streamer.settings.credentials import AwsCredential
from streamer.sinks._aws import CONFLICT_CODES, S3_ERRORS, classify, error_code, open_s3_client
from streamer.sinks.digest import content_md5

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3CheckpointStore(EtagCheckpointStore):
    """``checkpoint.store: s3``: the checkpoint document at ``s3://bucket/key``."""

    def __init__(
        self,
        credential: AwsCredential | None,
        bucket: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(timeout)
        self.bucket = bucket
        self.key = key
        self.label = f"s3://{bucket}/{key}"
        self._credential = credential

    async def _open(self, stack: contextlib.AsyncExitStack) -> Any:
        return await open_s3_client(
            stack, self._credential, io_timeout=self._timeout, label=f"checkpoint {self.label}"
        )

    def _classify(self, exc: Exception, doing: str) -> Exception:
        return classify(exc, label=f"checkpoint {self.label}", doing=doing, bucket=self.bucket)

    async def _read(self) -> tuple[bytes, str] | None:
        client = await self._ready()
        try:
            with anyio.fail_after(self._timeout):
                response = await client.get_object(Bucket=self.bucket, Key=self.key)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        except S3_ERRORS as exc:
            if error_code(exc) in _MISSING:
                return None
            raise self._error(exc, "GetObject") from None
        return data, str(response["ETag"])

    async def _put(self, data: bytes) -> str:
        client = await self._ready()
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            with anyio.fail_after(self._timeout):
                response = await client.put_object(
                    Bucket=self.bucket,
                    Key=self.key,
                    Body=data,
                    ContentMD5=content_md5(data),
                    ContentType="application/json",
                    **condition,
                )
        except S3_ERRORS as exc:
            if error_code(exc) in CONFLICT_CODES:
                raise self._conflict() from None
            self._lost = data
            raise self._error(exc, "PutObject") from None
        return str(response["ETag"])
