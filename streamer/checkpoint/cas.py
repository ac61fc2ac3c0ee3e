"""Compare-and-swap on an ETag: the logic the S3 and Azure checkpoint stores share.

``load`` remembers the ETag it read; ``save`` writes conditionally on it (or on absence
when there was no object), so a second daemon sharing the key cannot silently overwrite
the first: whichever saves second from a stale read gets a CheckpointError. A save whose
response was lost (timeout after the write landed) is recognised on the retry: if the
object now holds exactly the bytes of that lost attempt, its ETag is adopted instead of
reporting a conflict. Subclasses only say how to read and how to write conditionally.
"""

from __future__ import annotations

import anyio

from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointConflictError, CheckpointError


class EtagCheckpointStore:
    """Base class: subclasses implement ``_read`` and ``_put`` for their service."""

    label: str

    def __init__(self) -> None:
        self._etag: str | None = None
        self._lost: bytes | None = None
        self._saving = anyio.Lock()

    async def _read(self) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when it does not exist."""
        raise NotImplementedError

    async def _put(self, data: bytes) -> str:
        """Write conditionally on ``self._etag``; return the new ETag.

        Raises CheckpointError on a lost race; sets ``self._lost = data`` before raising
        any other error, since such a write may have landed.
        """
        raise NotImplementedError

    def _conflict(self) -> CheckpointConflictError:
        """The error for a lost compare-and-swap race."""
        return CheckpointConflictError(
            f"checkpoint {self.label} was changed by another daemon since it was read; "
            "make sure only one daemon uses this checkpoint, then restart"
        )

    async def load(self) -> Checkpoint | None:
        """The saved checkpoint (its ETag is remembered for the next save), or None."""
        found = await self._read()
        if found is None:
            self._etag = None
            return None
        data, self._etag = found
        return Checkpoint.from_bytes(data, where=self.label)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the object if nobody else changed it since our last load or save.

        Saves through one instance are serialized: two overlapping ones would send the same
        ``If-Match`` and the second would look like another daemon's write.
        """
        data = checkpoint.to_bytes()
        async with self._saving:
            try:
                self._etag = await self._put(data)
            except CheckpointError:
                if self._lost is None or not await self._adopt_lost():
                    raise
                self._etag = await self._put(data)
            self._lost = None

    async def _adopt_lost(self) -> bool:
        """After a conflict: is the object the bytes of our own save whose answer was lost?"""
        found = await self._read()
        if found is None or found[0] != self._lost:
            return False
        self._etag = found[1]
        return True
