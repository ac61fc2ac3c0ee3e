"""The configured checkpoint store, built from ``settings.checkpoint``.

The sink factory's counterpart (``streamer.sinks.factory``): each store module is
imported only when configured, so a file-store daemon never imports a cloud SDK. A store
in a service's bucket (``s3``, ``azure``) is that service's registry entry
(:mod:`streamer.sinks.registry`).
"""

from __future__ import annotations

from typing import cast

from streamer.checkpoint.base import CheckpointStore
from streamer.settings.model import Settings
from streamer.sinks import registry


def build_store(settings: Settings) -> CheckpointStore:
    """The configured checkpoint store."""
    ck = settings.checkpoint
    entry = registry.by_store(ck.store)
    if entry is not None and entry.checkpoint is not None:
        # resolve_services refused a config whose credential is missing or of another kind
        cred = settings.credentials.get(ck.credential_id) if ck.credential_id else None
        store = registry.load(entry.checkpoint)(cred, ck.bucket or "", ck.key)
        return cast(CheckpointStore, store)
    if ck.store == "memory":
        from streamer.checkpoint.memory import MemoryCheckpointStore

        return MemoryCheckpointStore()
    from streamer.checkpoint.file import FileCheckpointStore

    return FileCheckpointStore(ck.path)
