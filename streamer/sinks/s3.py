"""The S3 sink: conditional creates (``If-None-Match: *``) through one aiobotocore client.

A put never overwrites. When the key is already there (412, or 409 for a concurrent
conditional write) the stored object's ``sha256`` metadata decides: the same content is
a replay (``ALREADY_EXISTS``), different content is a FatalSinkError. Large objects go
up as a multipart upload whose *completion* is conditional, so a crash mid-upload leaves
no object (and the abandoned parts are aborted, or cleaned up by a lifecycle rule).

Every call is bounded twice: by the client's read timeout and by ``anyio.fail_after``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import anyio
from botocore.exceptions import ClientError

from streamer.errors import FatalSinkError
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome
from streamer.settings.credentials import AwsCredential
from streamer.settings.services import ResolvedService
from streamer.sinks._aws import CONFLICT_CODES, S3_ERRORS, classify, error_code, open_s3_client
from streamer.sinks.base import (
    cloud_options,
    replayed_or_conflict,
    sink_label,
    written_concurrently,
)
from streamer.sinks.digest import content_md5

T = TypeVar("T")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Sink:
    """Writes objects to one S3 bucket (or any S3-compatible endpoint)."""

    def __init__(self, service: ResolvedService, *, name: str | None = None) -> None:
        self.name = name or service.name
        self.service = service
        self.bucket = service.bucket
        self.label = sink_label(self.name, service)
        self.options = cloud_options(service)
        credential = service.credential
        if credential is not None and not isinstance(credential, AwsCredential):
            raise FatalSinkError(f"sink {self.label}: credential is not an aws credential")
        self._credential = credential
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def _timeout(self) -> float:
        return float(self.options.timeout)

    async def open(self) -> None:
        """Create the client and check the bucket with HeadBucket.

        Missing bucket, bad key or denied access raise FatalSinkError; an unreachable
        endpoint raises RetriableSinkError so a daemon started before the network keeps
        trying.
        """
        if self._client is not None:
            return
        stack = contextlib.AsyncExitStack()
        opened = False
        try:
            client = await open_s3_client(
                stack, self._credential, io_timeout=self._timeout, label=f"sink {self.label}"
            )
            with anyio.fail_after(self._timeout):
                await client.head_bucket(Bucket=self.bucket)
            opened = True
        except S3_ERRORS as exc:
            raise self._open_error(exc) from None
        finally:
            if not opened:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
        self._client, self._stack = client, stack

    def _open_error(self, exc: Exception) -> Exception:
        where = f"sink {self.label}"
        code = error_code(exc)
        if code in ("404", "NoSuchBucket"):
            return FatalSinkError(
                f"{where}: bucket {self.bucket!r} does not exist; create it or fix the bucket name",
                kind="no_bucket",
            )
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return FatalSinkError(
                f"{where}: access denied or bad credentials on bucket {self.bucket!r} "
                f"(HeadBucket {code}); check the access key id, the secret and the IAM policy "
                "(s3:ListBucket, s3:PutObject, s3:GetObject)",
                kind="bad_credentials",
            )
        if code in ("301", "PermanentRedirect", "400", "AuthorizationHeaderMalformed"):
            region = ""
            if isinstance(exc, ClientError):
                headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                region = headers.get("x-amz-bucket-region", "")
            hint = f" (the bucket is in {region})" if region else ""
            return FatalSinkError(
                f"{where}: bucket {self.bucket!r} is in another region{hint}; fix the "
                "credential's region",
                kind="wrong_region",
            )
        return classify(exc, label=where, doing="HeadBucket", bucket=self.bucket)

    async def _client_ready(self) -> Any:
        if self._client is None:
            await self.open()
        return self._client

    async def _call(self, awaitable: Awaitable[T]) -> T:
        with anyio.fail_after(self._timeout):
            return await awaitable

    def _error(self, exc: Exception, doing: str) -> Exception:
        return classify(exc, label=f"sink {self.label}", doing=doing, bucket=self.bucket)

    def _extra(self, meta: ObjectMeta) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "ContentType": meta.content_type,
            "Metadata": {"sha256": meta.sha256, "events": str(meta.events)},
        }
        if meta.content_encoding:
            extra["ContentEncoding"] = meta.content_encoding
        if self.options.storage_class:
            extra["StorageClass"] = self.options.storage_class
        if self.options.sse:
            extra["ServerSideEncryption"] = self.options.sse
        if self.options.sse_kms_key_id:
            extra["SSEKMSKeyId"] = self.options.sse_kms_key_id
        return extra

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Create ``key`` unless it exists; durable when it returns."""
        client = await self._client_ready()
        try:
            if len(data) >= self.options.multipart_threshold:
                await self._put_multipart(client, key, data, meta)
            else:
                await self._call(
                    client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=data,
                        ContentMD5=content_md5(data),
                        IfNoneMatch="*",
                        **self._extra(meta),
                    )
                )
        except S3_ERRORS as exc:
            if error_code(exc) in CONFLICT_CODES:
                return await self._existing(client, key, meta)
            raise self._error(exc, f"PutObject {key}") from None
        return PutOutcome.CREATED

    async def _put_multipart(self, client: Any, key: str, data: bytes, meta: ObjectMeta) -> None:
        created = await self._call(
            client.create_multipart_upload(Bucket=self.bucket, Key=key, **self._extra(meta))
        )
        upload_id = created["UploadId"]
        try:
            parts = []
            size = int(self.options.part_size)
            for number, offset in enumerate(range(0, len(data), size), start=1):
                chunk = data[offset : offset + size]
                part = await self._call(
                    client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                        ContentMD5=content_md5(chunk),
                    )
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
            await self._call(
                client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
            )
        except BaseException:
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(self._timeout),
                contextlib.suppress(*S3_ERRORS),
            ):
                await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    async def _existing(self, client: Any, key: str, meta: ObjectMeta) -> PutOutcome:
        """The key exists: a replay of the same content, or a conflict."""
        try:
            head = await self._call(client.head_object(Bucket=self.bucket, Key=key))
        except S3_ERRORS as exc:
            if error_code(exc) in _MISSING:
                raise written_concurrently(self.label, key) from None
            raise self._error(exc, f"HeadObject {key}") from None
        stored = head.get("Metadata", {}).get("sha256")
        return await replayed_or_conflict(self, self.label, key, stored, meta)

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists (HeadObject)."""
        client = await self._client_ready()
        try:
            await self._call(client.head_object(Bucket=self.bucket, Key=key))
        except S3_ERRORS as exc:
            if error_code(exc) in _MISSING:
                return False
            raise self._error(exc, f"HeadObject {key}") from None
        return True

    async def get(self, key: str) -> bytes:
        """The object's bytes; FatalSinkError when it does not exist."""
        client = await self._client_ready()
        try:
            with anyio.fail_after(self._timeout):
                response = await client.get_object(Bucket=self.bucket, Key=key)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        except S3_ERRORS as exc:
            if error_code(exc) in _MISSING:
                raise FatalSinkError(f"sink {self.label}: {key} does not exist") from None
            raise self._error(exc, f"GetObject {key}") from None
        return data

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects under ``prefix`` in key order (ListObjectsV2, page by page)."""
        client = await self._client_ready()
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                page = await self._call(client.list_objects_v2(**kwargs))
            except S3_ERRORS as exc:
                raise self._error(exc, f"ListObjectsV2 {prefix!r}") from None
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], int(item["Size"]))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def delete(self, key: str) -> None:
        """Remove ``key`` (absent keys are fine)."""
        client = await self._client_ready()
        try:
            await self._call(client.delete_object(Bucket=self.bucket, Key=key))
        except S3_ERRORS as exc:
            raise self._error(exc, f"DeleteObject {key}") from None

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with anyio.CancelScope(shield=True):
                await stack.aclose()
