"""The CheckpointStore protocol."""

from __future__ import annotations

from typing import Protocol

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
