"""The Sink protocol: a bucket-like store with conditional create.

Exactly-once rests on two properties every sink must have: ``put`` never overwrites
(a second put of the same key reports ``ALREADY_EXISTS``), and a ``put`` that returned
is durable. The batch/intent logic in :mod:`streamer.pipeline.writer` does the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from streamer.records import ObjectInfo, ObjectMeta, PutOutcome


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
