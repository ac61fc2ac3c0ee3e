"""A checkpoint file: written to a temp file, fsynced, renamed over, directory fsynced.

The checkpoint holds event ids and the batch intent (lead PII nearby): it is ``0600`` in a
``0700`` directory (when the daemon creates it), whatever the umask (streamer.fsutil).
"""

from __future__ import annotations

from pathlib import Path

import anyio.to_thread

from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointError
from streamer.fsutil import probe_writable, write_private


class FileCheckpointStore:
    """``checkpoint.path`` on local disk (a PVC in Kubernetes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = f"file {self.path}"
        self._saving = anyio.Lock()

    def check_writable(self) -> None:
        """Fail early, before anything is fetched, if the state directory is unusable."""
        try:
            probe_writable(self.path.parent)
        except OSError as exc:
            raise CheckpointError(
                f"checkpoint directory {self.path.parent} is not writable ({exc.strerror}); "
                "create it and give the daemon's user write access"
            ) from None

    async def load(self) -> Checkpoint | None:
        """Read the file; None when it does not exist yet."""
        try:
            data = await anyio.to_thread.run_sync(self.path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"checkpoint {self.path}: cannot read ({exc.strerror})") from None
        return Checkpoint.from_bytes(data, where=str(self.path))

    async def save(self, checkpoint: Checkpoint) -> None:
        """Atomic, durable replace; saves through one store instance are applied in order."""
        data = checkpoint.to_bytes()
        async with self._saving:
            await anyio.to_thread.run_sync(self._save, data)

    def _save(self, data: bytes) -> None:
        try:
            write_private(self.path, data)
        except OSError as exc:
            raise CheckpointError(
                f"checkpoint {self.path}: cannot write ({exc.strerror}); check disk and permissions"
            ) from None

    async def aclose(self) -> None:
        """Nothing to release."""
