"""The CheckpointStore protocol."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from streamer.checkpoint.state import Checkpoint


class CheckpointStore(Protocol):
    """Loads and atomically replaces the checkpoint document.

    ``save`` must be durable when it returns, and a store shared between daemons must
    refuse a save based on a stale read (compare-and-swap), raising CheckpointError.
    """

    label: str

    async def load(self) -> Checkpoint | None:
        """The saved checkpoint, or None on a first run."""
        ...

    async def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint atomically and durably."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class LockingStore(Protocol):
    """A store that can hold an exclusive OS lock for the daemon's life (the file store).

    The kernel releases the lock when the holder exits or dies, so such a store needs no
    lease expiry, pid probe or clock comparison to hand ownership over.
    """

    def try_lock(self, owner: dict[str, Any]) -> dict[str, Any] | None:
        """Take the lock (kept until ``aclose``): None once held, else what the holder wrote."""
        ...
