"""Everything a run needs, opened in order and closed in reverse (one AsyncExitStack).

Start-up does every check that can fail before anything is fetched: the checkpoint
store is readable and not held by another daemon, every sink's bucket exists and the
credentials work, interrupted batches of a previous run are finished or abandoned.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from streamer.checkpoint.base import CheckpointStore, LockingStore
from streamer.checkpoint.state import Checkpoint
from streamer.daemon.runstate import RunState, State
from streamer.errors import CheckpointConflictError
from streamer.ids import id_seconds, synthetic_id
from streamer.observability.logs import register_secrets
from streamer.observability.metrics import Metrics, count_retries
from streamer.observability.retry import backoff
from streamer.observability.sdnotify import notify
from streamer.pipeline.batcher import Router, static_router
from streamer.pipeline.deadletter import dead_letters
from streamer.pipeline.dedupe import DedupeWindow
from streamer.pipeline.routing import EventRouter
from streamer.pipeline.writer import Writer
from streamer.records import Batch, BatchObject, PutOutcome
from streamer.settings.loader import LoadedConfig
from streamer.settings.model import Settings
from streamer.sinks.base import Sink
from streamer.sinks.factory import build_sink
from streamer.sinks.routed import RoutedSinkFactory
from streamer.source.client import LeadConduitClient
from streamer.source.decode import PageDecoder
from streamer.source.leadconduit import LeadConduitSource, api_query
from streamer.stages.base import Stage, build_pipeline

log = structlog.get_logger("streamer.runtime")
RETENTION_DAYS = 90
RETENTION_WARN_DAYS = 80


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


def page_decoder(settings: Settings) -> PageDecoder | None:
    """A partial decoder when the pipeline starts with filters (or has no stages)."""
    from streamer.rules.paths import rule_paths
    from streamer.stages.config import FilterStageConfig

    paths: set[tuple[str, ...]] = {("vars", "lead", "id")}
    if settings.firehose.route == "event":
        paths.add(("firehose",))
    head = 0
    for stage in settings.pipeline:
        if not isinstance(stage, FilterStageConfig):
            break
        paths |= rule_paths(stage.filter.rule_set)
        head += 1
    if settings.pipeline and head == 0:
        return None  # a transform first needs whole events anyway
    return PageDecoder(paths)


def start_cursor(settings: Settings, checkpoint: Checkpoint) -> str:
    """Resume point: the checkpoint, else ``start.after_id``, ``start.at``, or now."""
    if checkpoint.cursor:
        return checkpoint.cursor
    start = settings.source.start
    if start.after_id:
        return start.after_id
    if start.at is not None:
        return synthetic_id(start.at.timestamp())
    return synthetic_id(time.time())


def retention_check(cursor: str, metrics: Metrics, *, from_checkpoint: bool = True) -> None:
    """Say loudly when the resume point is (nearly) past LeadConduit's 90-day retention."""
    age_days = (time.time() - id_seconds(cursor)) / 86400
    metrics.retention_days_left.set(RETENTION_DAYS - age_days)
    if not from_checkpoint and age_days >= RETENTION_DAYS:
        log.info("checkpoint.starting_at_oldest_retained", start=cursor)
    elif age_days >= RETENTION_DAYS:
        log.error(
            "checkpoint.beyond_retention",
            cursor=cursor,
            age_days=round(age_days, 1),
            hint="LeadConduit deleted events older than 90 days; those cannot be fetched",
        )
    elif age_days >= RETENTION_WARN_DAYS:
        log.warning(
            "checkpoint.near_retention",
            cursor=cursor,
            age_days=round(age_days, 1),
            hint="catch up soon: LeadConduit deletes events after 90 days",
        )


async def _open_sink(sink: Sink, state: RunState | None = None) -> None:
    """Open a sink; unreachable endpoints are retried (the network may come up later)."""
    async for attempt in backoff(max_backoff=30.0, initial=0.5):
        with attempt:  # each retry is logged once, as sink.retry_scheduled (logs.log_retry)
            if attempt.num > 1 and state is not None:
                state.wait_for(f"sink {sink.name}")
            await sink.open()


class MeteredWriter(Writer):
    """A Writer that reports the bytes of the batch it is delivering as in-flight."""

    metrics: Metrics | None = None

    async def write(self, batch: Batch) -> None:
        """Write ``batch``; ``streamer_inflight_bytes`` covers it until it is durable."""
        gauge = self.metrics.inflight_bytes if self.metrics is not None else None
        if gauge is not None:
            gauge.inc(batch.nbytes)
        try:
            await super().write(batch)
        finally:
            if gauge is not None:
                gauge.dec(batch.nbytes)


@dataclass
class Runtime:
    """The opened parts of a run."""

    loaded: LoadedConfig
    metrics: Metrics
    store: CheckpointStore
    sinks: dict[str, Sink]
    writer: Writer
    source: LeadConduitSource
    stages: list[Stage]
    router: Router
    cursor: str
    known: DedupeWindow
    owner: dict[str, Any]
    recovered: dict[str, int] = field(default_factory=dict)

    def after_commit(self) -> None:
        """Refresh gauges after each durable batch."""
        self.sample()
        self.metrics.progressed()

    def sample(self) -> None:
        """Gauges that change with the clock: checkpoint time, lag, retention left."""
        cursor = self.writer.checkpoint.cursor
        if cursor:
            seconds = id_seconds(cursor)
            self.metrics.checkpoint_time.set(seconds)
            self.metrics.lag.set(max(0.0, time.time() - seconds))
            self.metrics.retention_days_left.set(
                RETENTION_DAYS - (time.time() - seconds) / 86400
            )

    async def _sample_forever(self) -> None:
        while True:
            await anyio.sleep(1.0)
            self.sample()

    async def background(self) -> None:
        """Progress lines and the lease heartbeat (the health server runs for the whole
        process, see ``app.run``)."""
        settings = self.loaded.settings
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._sample_forever)
            interval = settings.logging.progress_interval
            last = (time.monotonic(), 0)
            while True:
                await anyio.sleep(min(interval, settings.checkpoint.lease_ttl / 3))
                now = time.monotonic()
                # the lease heartbeat; it also saves a commit no next batch has carried yet
                beat = settings.checkpoint.lease_ttl / 3
                if anyio.current_time() - self.writer.last_save >= beat:
                    await self.writer.save()
                if now - last[0] >= interval:
                    written = self.writer.events_written
                    cursor = self.writer.checkpoint.cursor
                    lag = time.time() - id_seconds(cursor) if cursor else None
                    log.info(
                        "streamer.progress",
                        events_written=written,
                        rate=round((written - last[1]) / (now - last[0]), 1),
                        fetched=self.source.fetched,
                        read=self.source.read,
                        cursor=cursor,
                        lag_seconds=round(lag, 1) if lag is not None else None,
                        late_caught=self.source.late_caught,
                    )
                    last = (now, written)


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
    loaded: LoadedConfig, *, state: RunState | None = None, store: CheckpointStore | None = None
) -> AsyncIterator[Held]:
    """Open the store, read the checkpoint, wait for the lease; release it on every exit."""
    settings = loaded.settings
    async with contextlib.AsyncExitStack() as stack:
        store = store or build_store(settings)
        stack.push_async_callback(store.aclose)
        check = getattr(store, "check_writable", None)
        if check is not None:
            check()
        checkpoint = await store.load() or Checkpoint()
        owner = {"id": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        if state is not None:  # a lock held by a daemon still starting shows no owner yet
            state.enter(State.WAITING_FOR_LEASE if checkpoint.owner else State.STARTING,
                        waiting_for="lease")
        checkpoint = await _acquire(store, checkpoint, owner, settings.checkpoint.lease_ttl)
        if state is not None:
            state.enter(State.STARTING, waiting_for="sinks")
        held = Held(store, checkpoint, owner)
        stack.push_async_callback(held.release)
        yield held


@contextlib.asynccontextmanager
async def open_runtime(
    loaded: LoadedConfig,
    *,
    metrics: Metrics,
    held: Held | None = None,
    state: RunState | None = None,
    sinks: dict[str, Sink] | None = None,
    store: CheckpointStore | None = None,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Open sinks and source on the held checkpoint (or hold it here); recover; yield;
    close in reverse. A reload opens a new Runtime on the same ``held``."""
    settings = loaded.settings
    register_secrets(loaded.secrets())
    stages = build_pipeline(settings.pipeline)
    async with contextlib.AsyncExitStack() as stack:
        if held is None:
            held = await stack.enter_async_context(
                hold_checkpoint(loaded, state=state, store=store)
            )
        if sinks is None:
            sinks = {s.name: build_sink(s) for s in loaded.services}
        for sink in sinks.values():
            stack.push_async_callback(sink.aclose)
        async with anyio.create_task_group() as tg:
            for sink in sinks.values():
                tg.start_soon(_open_sink, sink, state)
        await held.claim(settings.checkpoint.lease_ttl)
        store, checkpoint, owner = held.store, held.checkpoint, held.owner

        def on_written(sink: str, obj: BatchObject, outcome: PutOutcome, seconds: float) -> None:
            metrics.written_objects.labels(sink, outcome.value).inc()
            if outcome is PutOutcome.CREATED:
                metrics.written_events.labels(sink).inc(obj.meta.events)
                metrics.written_bytes.labels(sink).inc(len(obj.data))
            metrics.batch_seconds.labels(sink).observe(seconds)

        src = settings.source
        event_router = EventRouter(loaded, sinks) if settings.firehose.route == "event" else None
        sink_factory = None
        if event_router is not None:  # an unwritable route is dead-lettered, not fatal
            sink_factory = RoutedSinkFactory(
                event_router, dead_letters(loaded, sinks, metrics), stack
            )

        writer = MeteredWriter(
            sinks,
            store,
            checkpoint,
            keep_seconds=src.lag_window + 1,
            max_backoff=settings.batch.max_backoff,
            on_written=on_written,
            sink_factory=sink_factory,
        )
        writer.metrics = metrics
        if state is not None:
            state.enter(State.RECOVERING if checkpoint.intents else State.STARTING)
        recovered = await writer.recover()
        prefixes = {s.name: s.prefix for s in loaded.services}
        fallback = settings.firehose.prefix.strip("/")
        router: Router = event_router or static_router(
            [(name, prefixes.get(name, fallback)) for name in sinks]
        )
        client = LeadConduitClient.from_settings(src, transport=transport)
        stack.push_async_callback(client.aclose)
        query = api_query(settings)

        def on_late(ids: list[str], beyond: bool) -> None:
            (metrics.late_beyond if beyond else metrics.late_caught).inc(len(ids))

        source = LeadConduitSource(
            client,
            decoder=page_decoder(settings),
            page_size=src.page_size,
            poll_interval=src.poll_interval,
            lag_window=src.lag_window,
            query=query,
            on_late=on_late,
            metrics=metrics,
            clock=clock,  # wall clock of the re-check (tests pass the simulator's)
        )
        cursor = start_cursor(settings, checkpoint)
        if checkpoint.cursor is None and checkpoint.origin is None:
            checkpoint.origin = cursor  # a first run: backfill stops where the tail begins
        if checkpoint.origin is not None:
            source.floor = synthetic_id(id_seconds(checkpoint.origin) - src.lag_window)
        source.settled = source.initial_settled(cursor, checkpoint.settled)
        retention_check(cursor, metrics, from_checkpoint=checkpoint.cursor is not None)
        known = DedupeWindow(checkpoint.seen)
        log.info(
            "streamer.started",
            cursor=cursor,
            services=[s.label for s in loaded.services],
            checkpoint=store.label,
            recovered=recovered,
        )
        metrics.up.set(1)
        notify("READY=1")
        rt = Runtime(
            loaded, metrics, store, sinks, writer, source, stages, router, cursor, known, owner,
            recovered,
        )
        rt.after_commit()
        try:
            with count_retries(metrics):
                yield rt
        finally:
            metrics.up.set(0)
