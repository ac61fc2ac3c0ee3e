"""The local-directory sink: the same layout as the buckets, on disk.

A write goes to a temporary file in the target directory, is fsynced, and is then
``os.link``-ed to its final name. ``link`` fails if the name exists, which makes it an
atomic create-if-absent (``rename`` would silently overwrite), and the directory is
fsynced so the new name survives a power cut. Files hold lead PII: they are created with
``file_mode`` (``0600`` unless configured) and new directories with the matching mode
(``0700``), whatever the umask.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.fsutil import (
    PRIVATE_FILE,
    dir_mode_for,
    ensure_dir,
    fsync_dir,
    probe_writable,
    write_temp,
)
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome

if TYPE_CHECKING:
    from streamer.settings.services import ResolvedService

_TMP = ".tmp-"
#: listed objects handed from the walking thread to the event loop at a time
LIST_CHUNK = 1000


def _take(items: Iterator[ObjectInfo], count: int) -> list[ObjectInfo]:
    return list(itertools.islice(items, count))


class LocalSink:
    """Writes objects under a root directory."""

    def __init__(
        self,
        root: str | Path,
        *,
        name: str = "local",
        fsync: bool = True,
        file_mode: int = PRIVATE_FILE,
    ) -> None:
        self.name = name
        self.root = Path(root)
        self.label = f"{name} (path={self.root})"
        self._fsync = fsync
        self._mode = file_mode
        self._dir_mode = dir_mode_for(file_mode)

    @classmethod
    def for_service(cls, service: ResolvedService, *, name: str | None = None) -> LocalSink:
        """The sink of a resolved ``local`` service (its options carry fsync and the mode)."""
        from streamer.settings.sections import LocalServiceSettings

        opts = service.options
        if isinstance(opts, LocalServiceSettings):
            return cls(service.bucket, name=name or service.name, fsync=opts.fsync,
                       file_mode=opts.mode)
        return cls(service.bucket, name=name or service.name)

    async def open(self) -> None:
        """Create the root and prove it is writable."""
        await anyio.to_thread.run_sync(self._open)

    def _open(self) -> None:
        try:
            probe_writable(self.root, self._dir_mode, prefix=f"{_TMP}probe-")
        except OSError as exc:
            raise FatalSinkError(
                f"sink {self.label}: directory is not writable ({exc.strerror}); "
                "fix its permissions or change firehose.services.local.path"
            ) from None

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise FatalSinkError(f"sink {self.label}: key {key!r} escapes the root directory")
        return path

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Atomically create ``key``; never overwrite."""
        return await anyio.to_thread.run_sync(self._put, key, data, meta)

    def _put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        final = self._path(key)
        if final.exists():
            return self._same(final, key, meta)
        try:
            ensure_dir(final.parent, self._dir_mode)
            tmp = write_temp(
                final.parent, f"{_TMP}{final.name}-", data, mode=self._mode, fsync=self._fsync
            )
            try:
                os.link(tmp, final)
            except FileExistsError:
                return self._same(final, key, meta)
            finally:
                tmp.unlink(missing_ok=True)
            if self._fsync:
                fsync_dir(final.parent)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise FatalSinkError(
                    f"sink {self.label}: cannot write {key} ({exc.strerror}); fix permissions"
                ) from None
            raise RetriableSinkError(
                f"sink {self.label}: writing {key} failed ({exc})", kind=type(exc).__name__
            ) from None
        return PutOutcome.CREATED

    def _same(self, final: Path, key: str, meta: ObjectMeta) -> PutOutcome:
        if hashlib.sha256(final.read_bytes()).hexdigest() != meta.sha256:
            raise FatalSinkError(
                f"sink {self.label}: {key} already exists with different content; "
                "another writer uses this path, or the pipeline changed mid-batch: investigate",
                kind="content_conflict",
            )
        return PutOutcome.ALREADY_EXISTS

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is there."""
        return self._path(key).exists()

    async def get(self, key: str) -> bytes:
        """The object's bytes."""
        return await anyio.to_thread.run_sync(self._path(key).read_bytes)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects under ``prefix`` in key order (temporary files are skipped).

        The tree is walked lazily, one sorted directory at a time, and handed over in
        chunks: memory follows the largest directory (an hour of batches), not the archive.
        """
        walk = self._walk(prefix)
        while chunk := await anyio.to_thread.run_sync(_take, walk, LIST_CHUNK):
            for info in chunk:
                yield info

    def _walk(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        yield from self._walk_dir(base, prefix)

    def _walk_dir(self, directory: Path, prefix: str) -> Iterator[ObjectInfo]:
        # a directory sorts as "name/" so the walk yields keys in plain string order
        entries = sorted(
            (entry.name + "/" if entry.is_dir() else entry.name, entry)
            for entry in os.scandir(directory)
        )
        for name, entry in entries:
            if name.endswith("/"):
                key = Path(entry.path).relative_to(self.root).as_posix() + "/"
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk_dir(Path(entry.path), prefix)
            elif not name.startswith(_TMP):
                key = Path(entry.path).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield ObjectInfo(key, entry.stat().st_size)

    async def delete(self, key: str) -> None:
        """Remove ``key`` if present."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    async def aclose(self) -> None:
        """Nothing to release."""
