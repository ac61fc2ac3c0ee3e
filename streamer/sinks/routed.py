"""Event-routed targets (``firehose.route: event``) that dead-letter instead of stopping.

A :class:`RoutedSink` stands for one target an event's own firehose names. It opens the
real sink lazily; when that target cannot be written (FatalSinkError with a dead-letter
reason, or an unknown credential) it writes the object's events to the dead letters of
the static services instead (:mod:`streamer.pipeline.deadletter`) and returns ``DEAD_LETTERED``.
The writer's intent, retries and recovery see an ordinary sink.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import structlog

from streamer.errors import FatalSinkError
from streamer.observability.retry import backoff
from streamer.pipeline.deadletter import (
    RETRY_TARGET_AFTER,
    DeadLetters,
    Failure,
    dead_letter_reason,
)
from streamer.pipeline.routing import EventRouter
from streamer.records import ObjectInfo, ObjectMeta, PutOutcome
from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink

log = structlog.get_logger("streamer.sinks.routed")


class RoutedSink:
    """An event-routed target that dead-letters instead of stopping the daemon."""

    def __init__(
        self,
        name: str,
        service: ResolvedService,
        dead: DeadLetters,
        *,
        build: Callable[[ResolvedService, str], Sink],
        unusable: str | None = None,
        clock: Callable[[], float] = anyio.current_time,
    ) -> None:
        self.name = name
        self.label = f"{name} ({service.label})"
        self._service = service
        self._dead = dead
        self._build = build
        self._clock = clock
        self._inner: Sink | None = None
        self._failure: Failure | None = None
        self._opening = anyio.Lock()  # concurrent objects for one target open it once
        if unusable is not None:
            self._failure = Failure("unknown_credential", unusable, 0.0, permanent=True)

    @property
    def target(self) -> dict[str, Any]:
        """The target as a dead-letter line names it (never a secret)."""
        svc = self._service
        return {
            "sink": self.name,
            "service": svc.name,
            "bucket": svc.bucket,
            "credential_id": svc.credential_id,
        }

    def _failed(self, exc: FatalSinkError) -> Failure:
        reason = dead_letter_reason(exc)
        if reason is None or not self._dead.sinks:
            raise exc
        self._failure = Failure(reason, str(exc), self._clock())
        log.warning("sink.route_unwritable", sink=self.name, reason=reason, detail=str(exc))
        return self._failure

    async def _real(self) -> Sink | Failure:
        async with self._opening:
            return await self._open_real()

    async def _open_real(self) -> Sink | Failure:
        failure = self._failure
        if failure is not None and (
            failure.permanent or self._clock() - failure.since < RETRY_TARGET_AFTER
        ):
            return failure
        self._failure = None
        if self._inner is None:
            sink = self._build(self._service, self.name)
            try:
                async for attempt in backoff(max_backoff=30.0, initial=0.5):
                    with attempt:
                        await sink.open()
            except FatalSinkError as exc:
                with anyio.CancelScope(shield=True):
                    await sink.aclose()
                return self._failed(exc)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await sink.aclose()
                raise
            self._inner = sink
        return self._inner

    async def open(self) -> None:
        """Nothing up front: the target is opened (or found unwritable) on first use."""

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Create ``key`` on the target, else its dead letter; RetriableSinkError as before."""
        real = await self._real()
        if not isinstance(real, Failure):
            try:
                return await real.put(key, data, meta)
            except FatalSinkError as exc:
                real = self._failed(exc)
        return await self._dead.write(self.target, key, data, real)

    async def exists(self, key: str) -> bool:
        """On the target, or dead-lettered (recovery asks; either means delivered)."""
        real = await self._real()
        if not isinstance(real, Failure):
            try:
                if await real.exists(key):
                    return True
            except FatalSinkError as exc:
                self._failed(exc)
        return await self._dead.exists(self.target, key)

    async def get(self, key: str) -> bytes:
        """The object's bytes, from the target or rebuilt from its dead letter."""
        real = await self._real()
        if not isinstance(real, Failure) and await real.exists(key):
            return await real.get(key)
        return await self._dead.original(self.target, key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """The target's objects (none while it is unwritable)."""
        real = await self._real()
        if not isinstance(real, Failure):
            async for info in real.list(prefix):
                yield info

    async def delete(self, key: str) -> None:
        """Remove ``key`` from the target (dead letters are kept)."""
        real = await self._real()
        if not isinstance(real, Failure):
            await real.delete(key)

    async def aclose(self) -> None:
        """Close the target's connection if one was opened."""
        if self._inner is not None:
            with contextlib.suppress(Exception):
                await self._inner.aclose()
            self._inner = None


class RoutedSinkFactory:
    """The writer's ``sink_factory`` for ``route: event``: one RoutedSink per target."""

    def __init__(
        self,
        router: EventRouter,
        dead: DeadLetters,
        stack: contextlib.AsyncExitStack,
        *,
        build: Callable[[ResolvedService, str], Sink] | None = None,
    ) -> None:
        self.router = router
        self.dead = dead
        self._stack = stack
        self._build = build or _build
        self._made: dict[str, RoutedSink] = {}

    async def __call__(self, name: str) -> Sink:
        """The sink for ``name`` (``kind:bucket:credential``), also after a restart."""
        if name not in self.router.services:
            kind, _, rest = name.partition(":")
            bucket, _, cred = rest.partition(":")
            self.router.register(kind, bucket, "" if cred == "default" else cred)
        if name not in self.router.services:
            raise KeyError(f"no sink named {name!r}")
        if name in self._made:  # the writer may ask for one target from several tasks
            return self._made[name]
        sink = self._made[name] = RoutedSink(
            name,
            self.router.services[name],
            self.dead,
            build=self._build,
            unusable=self.router.unusable.get(name),
        )
        self._stack.push_async_callback(sink.aclose)
        return sink


def _build(service: ResolvedService, name: str) -> Sink:
    from streamer.sinks.factory import build_sink

    return build_sink(service, name=name)
