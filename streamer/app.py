"""The daemon: one task group, bounded streams, a drain on shutdown.

``poller -> [pages, 4] -> processor -> [batches, 2] -> writer``. Shutdown (SIGTERM,
SIGINT, an injected trigger, or being caught up with ``--until-caught-up``) cancels only
the poller; the closed page stream ends the processor, which seals its open batch; the
writer drains and saves the checkpoint. If that takes longer than ``shutdown.grace`` or a
second signal arrives, everything is cancelled: the intent in the checkpoint makes the
next start finish or abandon the interrupted batch, so state is never corrupt.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from streamer.batcher import Batcher
from streamer.config_loader import LoadedConfig
from streamer.errors import StreamerError
from streamer.gctune import steady_state
from streamer.ids import id_seconds
from streamer.metrics import Metrics
from streamer.processor import Processor
from streamer.progress import Progress
from streamer.records import Batch, Page
from streamer.runtime import Runtime, open_runtime
from streamer.sdnotify import notify

log = structlog.get_logger("streamer.app")
PAGE_BUFFER = 4
BATCH_BUFFER = 2


@dataclass
class RunSummary:
    """What a run did, for the CLI's closing line and the tests."""

    fetched: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    written: int = 0
    batches: int = 0
    objects: int = 0
    late_caught: int = 0
    late_beyond: int = 0
    cursor: str | None = None
    services: list[str] = field(default_factory=list)
    seconds: float = 0.0
    forced: bool = False
    recovered: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain form for logs and ``--json``."""
        rate = self.fetched / self.seconds if self.seconds else 0.0
        return {**self.__dict__, "events_per_second": round(rate, 1)}


async def run(
    loaded: LoadedConfig,
    *,
    until_caught_up: bool = False,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    handle_signals: bool = True,
    metrics: Metrics | None = None,
    progress: bool = False,
    **overrides: Any,
) -> RunSummary:
    """Run the daemon until stopped; return what it did.

    ``progress`` shows a progress bar (events/s, ETA to now) on stderr while catching up.
    """
    metrics = metrics or Metrics()
    started = time.monotonic()
    for warning in loaded.warnings:  # the same lines `streamer check` prints
        log.warning("config.warning", reason=warning)
    try:
        async with open_runtime(loaded, metrics=metrics, **overrides) as rt:
            with Progress(mode="bar" if progress else "none") as bar, steady_state():
                bar.add("catching up", id_seconds(rt.cursor), time.time())
                summary = await _run(
                    rt, loaded, metrics, until_caught_up, shutdown_trigger, handle_signals, bar
                )
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    summary.seconds = time.monotonic() - started
    return summary


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a task group: our own (one clear line) before anything else."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for exc in leaves:
        if isinstance(exc, StreamerError):
            return exc
    return leaves[0] if leaves else group


async def _run(
    rt: Runtime,
    loaded: LoadedConfig,
    metrics: Metrics,
    until_caught_up: bool,
    shutdown_trigger: Callable[[], Awaitable[None]] | None,
    handle_signals: bool,
    bar: Progress,
) -> RunSummary:
    settings = loaded.settings
    summary = RunSummary(services=[s.label for s in loaded.services], recovered=rt.recovered)
    batcher = Batcher.from_settings(settings, rt.router)
    poll_scope = anyio.CancelScope()
    stopping = anyio.Event()

    def request_stop() -> None:
        if not stopping.is_set():
            stopping.set()
            notify("STOPPING=1")
            poll_scope.cancel()

    processor = Processor(
        rt.stages,
        batcher,
        cursor=rt.cursor,
        metrics=metrics,
        settled=rt.source.settled,
        on_caught_up=request_stop if until_caught_up else None,
    )
    page_send, page_recv = anyio.create_memory_object_stream[Page](PAGE_BUFFER)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](BATCH_BUFFER)

    async def poll() -> None:
        async with page_send:
            with poll_scope:
                async for page in rt.source.pages(rt.cursor, rt.known, rt.source.settled):
                    metrics.progressed()
                    if not page.late:
                        bar.advance("catching up", len(page.events), page.cursor)
                    await page_send.send(page)

    async def write() -> None:
        async with batch_recv:
            async for batch in batch_recv:
                await rt.writer.write(batch)
                rt.after_commit()

    async with anyio.create_task_group() as outer:
        if handle_signals:
            outer.start_soon(_signals, request_stop, outer.cancel_scope, summary, name="signals")
        if shutdown_trigger is not None:
            outer.start_soon(_trigger, shutdown_trigger, request_stop, name="trigger")
        outer.start_soon(rt.background, name="background")
        async with anyio.create_task_group() as pipe:
            outer.start_soon(
                _grace, stopping, settings.shutdown.grace, pipe.cancel_scope, summary, name="grace"
            )
            pipe.start_soon(poll, name="poller")
            pipe.start_soon(processor.run, page_recv, batch_send, name="processor")
            pipe.start_soon(write, name="writer")
        outer.cancel_scope.cancel()
    stats = processor.stats
    summary.fetched, summary.kept, summary.dropped = stats.fetched, stats.kept, stats.dropped
    summary.written = rt.writer.events_written
    summary.batches = rt.writer.batches
    summary.objects = rt.writer.objects_written
    summary.late_caught = rt.source.late_caught
    summary.late_beyond = rt.source.late_beyond
    summary.cursor = rt.writer.checkpoint.cursor
    return summary


async def _trigger(
    trigger: Callable[[], Awaitable[None]], request_stop: Callable[[], None]
) -> None:
    await trigger()
    log.info("shutdown.requested", by="trigger")
    request_stop()


async def _signals(
    request_stop: Callable[[], None], scope: anyio.CancelScope, summary: RunSummary
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        count = 0
        async for signum in received:
            count += 1
            if count == 1:
                log.info("shutdown.requested", signal=signal.Signals(signum).name)
                request_stop()
            else:
                log.warning("shutdown.forced", signal=signal.Signals(signum).name)
                summary.forced = True
                scope.cancel()


async def _grace(
    stopping: anyio.Event, grace: float, scope: anyio.CancelScope, summary: RunSummary
) -> None:
    await stopping.wait()
    await anyio.sleep(grace)
    log.warning("shutdown.grace_expired", grace=grace, hint="the next start finishes the batch")
    summary.forced = True
    scope.cancel()
