"""The lease: one daemon at a time on a checkpoint.

The file store decides by an OS lock (the kernel releases it when its holder exits or
dies). Bucket stores record the owner (id, host, pid) and the save time in the checkpoint
document itself: a live owner's lease is waited for; a lease whose process is gone (same
host) or that was not refreshed for ``checkpoint.lease_ttl`` is taken over. The running
daemon refreshes it through the writer's saves (``streamer.daemon.background``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from streamer.checkpoint.base import CheckpointStore, LockingStore
from streamer.checkpoint.factory import build_store
from streamer.checkpoint.state import Checkpoint
from streamer.errors import CheckpointConflictError
from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.runtime")


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


LOCK_POLL = 0.5


async def _lock(store: LockingStore, owner: dict[str, Any]) -> None:
    """Wait for the store's OS lock (released by the kernel when its holder exits or dies)."""
    warned = False
    while (holder := store.try_lock(owner)) is not None:
        if not warned:
            log.warning(
                "checkpoint.lease_held",
                checkpoint=getattr(store, "label", "?"),
                holder_host=holder.get("host"),
                holder_pid=holder.get("pid"),
                hint="another streamer runs on this checkpoint; waiting until it stops "
                "(stop the other one, or point this one at its own checkpoint)",
            )
            warned = True
        await anyio.sleep(LOCK_POLL)


async def _acquire(
    store: CheckpointStore, checkpoint: Checkpoint, owner: dict[str, Any], ttl: float
) -> Checkpoint:
    """Take the lease: wait while another live daemon holds it (a crashed one is taken over).

    A locking store (the file store) decides by its OS lock alone; bucket stores by the
    owner and age recorded in the checkpoint. Returns the freshest checkpoint.
    """
    if isinstance(store, LockingStore):
        await _lock(store, owner)
        fresh = await store.load() or Checkpoint()
        if fresh.owner:
            log.info("checkpoint.lease_taken_over", previous=fresh.owner, reason="lock free")
        return fresh
    warned = False
    while True:
        held = checkpoint.owner
        if not held or held.get("id") == owner["id"]:
            return checkpoint
        if held.get("host") == owner["host"] and not _pid_alive(held.get("pid")):
            log.warning("checkpoint.lease_taken_over", previous=held, reason="process is gone")
            return checkpoint
        updated = checkpoint.updated_at
        age = time.time() - dt.datetime.fromisoformat(updated).timestamp() if updated else ttl
        if age >= ttl:
            log.warning("checkpoint.lease_taken_over", previous=held, reason="lease expired")
            return checkpoint
        if not warned:
            log.warning(
                "checkpoint.lease_held",
                checkpoint=store.label,
                holder_host=held.get("host"),
                holder_pid=held.get("pid"),
                hint=f"another streamer runs on this checkpoint; waiting up to {ttl:.0f}s "
                "for its lease to expire (stop the other one)",
            )
            warned = True
        await anyio.sleep(min(ttl - age, max(1.0, ttl / 10)))
        checkpoint = await store.load() or Checkpoint()


async def _claim(
    store: CheckpointStore, checkpoint: Checkpoint, owner: dict[str, Any], ttl: float
) -> Checkpoint:
    """Record ``owner`` in the checkpoint; a lost compare-and-swap means wait for the lease.

    Two daemons started together both see a free lease; on a bucket store only one save
    wins, and the other re-reads, finds the winner's lease and waits for it as documented.
    """
    while True:
        checkpoint.owner = owner
        try:
            await store.save(checkpoint)
        except CheckpointConflictError:
            log.info("checkpoint.lease_race_lost", checkpoint=store.label)
            checkpoint = await _acquire(store, await store.load() or Checkpoint(), owner, ttl)
        else:
            return checkpoint


@dataclass
class Held:
    """The checkpoint store, the checkpoint and our lease: kept across a config reload."""

    store: CheckpointStore
    checkpoint: Checkpoint
    owner: dict[str, Any]

    async def claim(self, ttl: float) -> None:
        """Write our owner record (once start-up checks passed; a lost race waits)."""
        if self.checkpoint.owner is not self.owner:
            self.checkpoint = await _claim(self.store, self.checkpoint, self.owner, ttl)

    async def release(self) -> None:
        """On every exit: give up the lease so a restart need not wait for it to expire."""
        if self.checkpoint.owner is self.owner:
            self.checkpoint.owner = None
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.store.save(self.checkpoint)
                log.info("checkpoint.saved", cursor=self.checkpoint.cursor)


@contextlib.asynccontextmanager
async def hold_checkpoint(
    loaded: LoadedConfig,
    *,
    store: CheckpointStore | None = None,
    on_waiting: Callable[[bool], None] | None = None,
    on_held: Callable[[], None] | None = None,
) -> AsyncIterator[Held]:
    """Open the store, read the checkpoint, wait for the lease; release it on every exit.

    ``on_waiting(owned)`` is told before the wait whether the checkpoint names an owner
    (a lock held by a daemon still starting shows none yet); ``on_held`` once it is ours.
    """
    settings = loaded.settings
    async with contextlib.AsyncExitStack() as stack:
        store = store or build_store(settings)
        stack.push_async_callback(store.aclose)
        check = getattr(store, "check_writable", None)
        if check is not None:
            check()
        checkpoint = await store.load() or Checkpoint()
        owner = {"id": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        if on_waiting is not None:
            on_waiting(bool(checkpoint.owner))
        checkpoint = await _acquire(store, checkpoint, owner, settings.checkpoint.lease_ttl)
        if on_held is not None:
            on_held()
        held = Held(store, checkpoint, owner)
        stack.push_async_callback(held.release)
        yield held
