"""An in-memory sink with the same conditional-create contract, for fast unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from streamer.errors import FatalSinkError
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome


class MemorySink:
    """Objects in a dict; ``fail_next`` injects retriable failures."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.label = f"{name} (memory)"
        self.objects: dict[str, bytes] = {}
        self.fail_next: list[Exception] = []

    async def open(self) -> None:
        """Nothing to connect to."""

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Create unless present; same-content replays are no-ops."""
        if self.fail_next:
            raise self.fail_next.pop(0)
        if key in self.objects:
            if hashlib.sha256(self.objects[key]).hexdigest() != meta.sha256:
                raise FatalSinkError(
                    f"sink {self.label}: {key} exists with different content",
                    kind="content_conflict",
                )
            return PutOutcome.ALREADY_EXISTS
        self.objects[key] = data
        return PutOutcome.CREATED

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        return key in self.objects

    async def get(self, key: str) -> bytes:
        """The stored bytes."""
        return self.objects[key]

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Stored keys under ``prefix`` in order."""
        for key in sorted(self.objects):
            if key.startswith(prefix):
                yield ObjectInfo(key, len(self.objects[key]))

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self.objects.pop(key, None)

    async def aclose(self) -> None:
        """Nothing to release."""
