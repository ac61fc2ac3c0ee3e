"""Compare-and-swap on an ETag: the logic the S3 and Azure checkpoint stores share.

``load`` remembers the ETag it read; ``save`` writes conditionally on it (or on absence
when there was no object), so a second daemon sharing the key cannot silently overwrite
the first: whichever saves second from a stale read gets a CheckpointError. A save whose
response was lost (timeout after the write landed) is recognised on the retry: if the
object now holds exactly the bytes of that lost attempt, its ETag is adopted instead of
reporting a conflict. Subclasses only say how to open their client, how to classify its
errors, how to read and how to write conditionally; the client is opened on first use and
closed by ``aclose``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio

from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointConflictError, CheckpointError, FatalSinkError

DEFAULT_TIMEOUT = 30.0


class EtagCheckpointStore:
    """Base class: subclasses implement ``_read`` and ``_put`` for their service."""

    label: str

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._etag: str | None = None
        self._lost: bytes | None = None
        self._saving = anyio.Lock()
        self._timeout = timeout
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def _open(self, stack: contextlib.AsyncExitStack) -> Any:
        """The service's client for the checkpoint object, its cleanup pushed on ``stack``."""
        raise NotImplementedError

    def _classify(self, exc: Exception, doing: str) -> Exception:
        """The service's error classification (retriable or fatal) of ``exc``."""
        raise NotImplementedError

    async def _ready(self) -> Any:
        """The client, opened on first use (a bad credential is a CheckpointError)."""
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            try:
                self._client = await self._open(stack)
            except FatalSinkError as exc:
                raise CheckpointError(str(exc)) from None
            self._stack = stack
        return self._client

    def _error(self, exc: Exception, doing: str) -> Exception:
        """A service error as ours: fatal ones become CheckpointError, retriable ones stay."""
        err = self._classify(exc, doing)
        if isinstance(err, FatalSinkError):
            return CheckpointError(str(err))
        return err

    async def aclose(self) -> None:
        """Close the client (shielded: it runs on the way out of a cancelled run)."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with anyio.CancelScope(shield=True):
                await stack.aclose()

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
