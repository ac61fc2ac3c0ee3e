"""An in-memory checkpoint store for unit tests (round-trips through JSON like the others)."""

from __future__ import annotations

from streamer.checkpoint.state import Checkpoint


class MemoryCheckpointStore:
    """Holds the serialized checkpoint in memory."""

    def __init__(self) -> None:
        self.label = "memory"
        self.data: bytes | None = None
        self.saves = 0

    async def load(self) -> Checkpoint | None:
        """The last saved checkpoint."""
        return None if self.data is None else Checkpoint.from_bytes(self.data, where="memory")

    async def save(self, checkpoint: Checkpoint) -> None:
        """Keep a serialized copy."""
        self.data = checkpoint.to_bytes()
        self.saves += 1

    async def aclose(self) -> None:
        """Nothing to release."""
