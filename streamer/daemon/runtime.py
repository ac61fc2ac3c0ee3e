"""Everything a run needs, opened in order and closed in reverse (one AsyncExitStack).

Start-up does every check that can fail before anything is fetched: the checkpoint
store is readable and not held by another daemon, every sink's bucket exists and the
credentials work, interrupted batches of a previous run are finished or abandoned.
The steps: hold the checkpoint (``streamer.checkpoint.lease``), open the targets
(``streamer.pipeline.targets``), claim the lease, recover, open the source.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from streamer.checkpoint.base import CheckpointStore
from streamer.checkpoint.lease import Held, hold_checkpoint
from streamer.checkpoint.state import Checkpoint
from streamer.daemon.background import lease_heartbeat, progress_lines, sample_gauges
from streamer.daemon.runstate import RunState, State
from streamer.ids import id_seconds, synthetic_id
from streamer.observability.logs import register_secrets
from streamer.observability.metrics import Metrics, count_retries
from streamer.observability.sdnotify import notify
from streamer.pipeline.batcher import Router
from streamer.pipeline.dedupe import DedupeWindow
from streamer.pipeline.start import RETENTION_DAYS, page_decoder, retention_check, start_cursor
from streamer.pipeline.targets import SinkFactory, open_targets, routed_sink_factory
from streamer.pipeline.writer import Writer
from streamer.records import Batch, BatchObject, PutOutcome
from streamer.settings.loader import LoadedConfig
from streamer.settings.model import Settings
from streamer.sinks.base import Sink
from streamer.source.client import LeadConduitClient
from streamer.source.leadconduit import LeadConduitSource, api_query
from streamer.stages.base import Stage, build_pipeline

log = structlog.get_logger("streamer.runtime")


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

    async def background(self) -> None:
        """Gauges, the lease heartbeat and progress lines (``streamer.daemon.background``)."""
        settings = self.loaded.settings
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample_gauges, self.sample, name="gauges")
            beat = settings.checkpoint.lease_ttl / 3
            tg.start_soon(lease_heartbeat, self.writer, beat, name="lease heartbeat")
            interval = settings.logging.progress_interval
            tg.start_soon(progress_lines, self.writer, self.source, interval, name="progress")


def hold(
    loaded: LoadedConfig, *, state: RunState | None = None, store: CheckpointStore | None = None
) -> contextlib.AbstractAsyncContextManager[Held]:
    """The checkpoint held for a run (``streamer.checkpoint.lease``), its waits in ``state``."""
    if state is None:
        return hold_checkpoint(loaded, store=store)

    def waiting(owned: bool) -> None:
        state.enter(State.WAITING_FOR_LEASE if owned else State.STARTING, waiting_for="lease")

    def held() -> None:
        state.enter(State.STARTING, waiting_for="sinks")

    return hold_checkpoint(loaded, store=store, on_waiting=waiting, on_held=held)


def _count_written(metrics: Metrics) -> Callable[[str, BatchObject, PutOutcome, float], None]:
    """The writer's ``on_written``: objects, events, bytes and seconds per sink."""

    def on_written(sink: str, obj: BatchObject, outcome: PutOutcome, seconds: float) -> None:
        metrics.written_objects.labels(sink, outcome.value).inc()
        if outcome is PutOutcome.CREATED:
            metrics.written_events.labels(sink).inc(obj.meta.events)
            metrics.written_bytes.labels(sink).inc(len(obj.data))
        metrics.batch_seconds.labels(sink).observe(seconds)

    return on_written


async def _recover(
    settings: Settings,
    held: Held,
    sinks: dict[str, Sink],
    factory: SinkFactory | None,
    metrics: Metrics,
    state: RunState | None,
) -> tuple[Writer, dict[str, int]]:
    """The run's writer, after it finished or abandoned a previous run's intents."""
    writer = MeteredWriter(
        sinks,
        held.store,
        held.checkpoint,
        keep_seconds=settings.source.lag_window + 1,
        max_backoff=settings.batch.max_backoff,
        on_written=_count_written(metrics),
        sink_factory=factory,
    )
    writer.metrics = metrics
    if state is not None:
        state.enter(State.RECOVERING if held.checkpoint.intents else State.STARTING)
    return writer, await writer.recover()


def _open_source(
    settings: Settings,
    metrics: Metrics,
    stack: contextlib.AsyncExitStack,
    transport: Any,
    clock: Callable[[], float],
) -> LeadConduitSource:
    """The live poller on one HTTP client (closed by ``stack``)."""
    src = settings.source
    client = LeadConduitClient.from_settings(src, transport=transport)
    stack.push_async_callback(client.aclose)

    def on_late(ids: list[str], beyond: bool) -> None:
        (metrics.late_beyond if beyond else metrics.late_caught).inc(len(ids))

    return LeadConduitSource(
        client,
        decoder=page_decoder(settings),
        page_size=src.page_size,
        poll_interval=src.poll_interval,
        lag_window=src.lag_window,
        query=api_query(settings),
        on_late=on_late,
        metrics=metrics,
        clock=clock,  # wall clock of the re-check (tests pass the simulator's)
    )


def _resume(
    settings: Settings, source: LeadConduitSource, checkpoint: Checkpoint, metrics: Metrics
) -> str:
    """The cursor to resume from; sets the source's floor and settled watermark."""
    cursor = start_cursor(settings, checkpoint)
    if checkpoint.cursor is None and checkpoint.origin is None:
        checkpoint.origin = cursor  # a first run: backfill stops where the tail begins
    if checkpoint.origin is not None:
        floor = id_seconds(checkpoint.origin) - settings.source.lag_window
        source.floor = synthetic_id(floor)
    source.settled = source.initial_settled(cursor, checkpoint.settled)
    retention_check(cursor, metrics, from_checkpoint=checkpoint.cursor is not None)
    return cursor


def _started(rt: Runtime) -> None:
    """Start-up is over: say so (log, ``streamer_up``, systemd) and fill the gauges."""
    log.info(
        "streamer.started",
        cursor=rt.cursor,
        services=[s.label for s in rt.loaded.services],
        checkpoint=rt.store.label,
        recovered=rt.recovered,
    )
    rt.metrics.up.set(1)
    notify("READY=1")
    rt.after_commit()


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
            held = await stack.enter_async_context(hold(loaded, state=state, store=store))
        wait_for = state.wait_for if state is not None else None
        sinks, router = await open_targets(loaded, stack, sinks=sinks, wait_for=wait_for)
        await held.claim(settings.checkpoint.lease_ttl)
        # an unwritable event route is dead-lettered, not fatal
        factory = routed_sink_factory(loaded, sinks, router, stack, metrics)
        writer, recovered = await _recover(settings, held, sinks, factory, metrics, state)
        source = _open_source(settings, metrics, stack, transport, clock)
        cursor = _resume(settings, source, held.checkpoint, metrics)
        known = DedupeWindow(held.checkpoint.seen)
        rt = Runtime(
            loaded, metrics, held.store, sinks, writer, source, stages, router, cursor, known,
            held.owner, recovered,
        )
        _started(rt)
        try:
            with count_retries(metrics):
                yield rt
        finally:
            metrics.up.set(0)
