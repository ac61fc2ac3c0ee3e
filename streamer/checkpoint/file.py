"""A checkpoint file: written to a temp file, fsynced, renamed over, directory fsynced.

Ownership is an ``flock`` on ``.<name>.lock`` beside it, held for the daemon's life: one
daemon at a time, and the kernel releases it when the holder exits or crashes.

The checkpoint holds event ids and the batch intent (lead PII nearby): it is ``0600`` in a
``0700`` directory (when the daemon creates it), whatever the umask (streamer.fsutil).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson

from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointError
from streamer.fsutil import PRIVATE_FILE, ensure_dir, probe_writable, write_private


class FileCheckpointStore:
    """``checkpoint.path`` on local disk (a PVC in Kubernetes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.label = f"file {self.path}"
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._saving = anyio.Lock()
        self._lock_fd: int | None = None

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

    def try_lock(self, owner: dict[str, Any]) -> dict[str, Any] | None:
        """Take ``flock(LOCK_EX | LOCK_NB)`` on the lock file; None once held, else its holder.

        The lock file keeps the holder's owner record (host, pid) for the waiting daemon's
        log line; it is never deleted, so every daemon locks the same inode.
        """
        if self._lock_fd is not None:
            return None
        try:
            ensure_dir(self.lock_path.parent)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise CheckpointError(
                f"checkpoint lock {self.lock_path}: cannot open ({exc.strerror}); "
                "check disk and permissions"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            return holder
        except OSError as exc:
            os.close(fd)
            raise CheckpointError(
                f"checkpoint lock {self.lock_path}: flock failed ({exc.strerror}); the state "
                "directory must be on a file system with locks (a local disk or a RWO volume)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(owner), 0)
        self._lock_fd = fd
        return None

    async def aclose(self) -> None:
        """Release the lock (if held): the next daemon may take over."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)


def _holder(fd: int) -> dict[str, Any]:
    """The owner record in a lock file held by someone else (best effort: {} if unreadable)."""
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        found = orjson.loads(os.pread(fd, 4096, 0))
        if isinstance(found, dict):
            return found
    return {}
