"""The Sink protocol: a bucket-like store with conditional create.

Exactly-once rests on two properties every sink must have: ``put`` never overwrites
(a second put of the same key reports ``ALREADY_EXISTS``), and a ``put`` that returned
is durable. The batch/intent logic in :mod:`streamer.pipeline.writer` does the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome

if TYPE_CHECKING:
    from streamer.settings.sections import ServiceSettings
    from streamer.settings.services import ResolvedService


@runtime_checkable
class Sink(Protocol):
    """Where batches land: local directory, S3 bucket, Azure container, memory."""

    name: str
    label: str

    async def open(self) -> None:
        """Connect and verify the bucket exists and is reachable; raise FatalSinkError if not."""
        ...

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Create ``key`` unless it exists; durable when it returns.

        Returns ALREADY_EXISTS when an object of that key is there with the same
        sha256; raises FatalSinkError when one is there with different content.
        """
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        ...

    async def get(self, key: str) -> bytes:
        """The object's bytes."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects under ``prefix``, in key order."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (used only by the write test of ``check --connect``)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def sink_label(name: str, service: ResolvedService) -> str:
    """How messages name a cloud sink: its name, bucket and credential_id, never a secret."""
    cred = f" credential_id={service.credential_id}" if service.credential_id else ""
    return f"{name} (bucket={service.bucket}{cred})"


def cloud_options(service: ResolvedService) -> ServiceSettings:
    """A bucketed service's options (the defaults when a caller passed other options)."""
    from streamer.settings.sections import ServiceSettings

    options = service.options
    return options if isinstance(options, ServiceSettings) else ServiceSettings.model_validate({})


def written_concurrently(label: str, key: str) -> RetriableSinkError:
    """A conditional create failed but the object is not there (yet): retry the put."""
    return RetriableSinkError(
        f"sink {label}: {key} is being written concurrently; will retry", kind="conflict"
    )


async def replayed_or_conflict(
    sink: Sink, label: str, key: str, stored_sha256: str | None, meta: ObjectMeta
) -> PutOutcome:
    """The object already exists: the same content (a replay after a crash) or a conflict.

    The content's SHA-256 is kept in the object's metadata; an object written without it
    (by an older version) is read and hashed.
    """
    stored = stored_sha256
    if stored is None:
        stored = hashlib.sha256(await sink.get(key)).hexdigest()
    if stored != meta.sha256:
        raise FatalSinkError(
            f"sink {label}: {key} already exists with different content; another writer uses "
            "this bucket or container and prefix, or the pipeline changed mid-batch: "
            "investigate before restarting",
            kind="content_conflict",
        )
    return PutOutcome.ALREADY_EXISTS
