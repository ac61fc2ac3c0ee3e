"""The configured checkpoint store, built from ``settings.checkpoint``.

The sink factory's counterpart (``streamer.sinks.factory``): each store module is
imported only when configured, so a file-store daemon never imports a cloud SDK.
"""

from __future__ import annotations

from streamer.checkpoint.base import CheckpointStore
from streamer.settings.model import Settings


def build_store(settings: Settings) -> CheckpointStore:
    """The configured checkpoint store."""
    ck = settings.checkpoint
    if ck.store == "s3":
        from streamer.checkpoint.s3 import S3CheckpointStore

        cred = settings.credentials.get(ck.credential_id) if ck.credential_id else None
        return S3CheckpointStore(cred, ck.bucket or "", ck.key)  # type: ignore[arg-type]
    if ck.store == "azure":
        from streamer.checkpoint.azure import AzureCheckpointStore

        cred = settings.credentials[ck.credential_id or ""]
        return AzureCheckpointStore(cred, ck.bucket or "", ck.key)  # type: ignore[arg-type]
    if ck.store == "memory":
        from streamer.checkpoint.memory import MemoryCheckpointStore

        return MemoryCheckpointStore()
    from streamer.checkpoint.file import FileCheckpointStore

    return FileCheckpointStore(ck.path)
