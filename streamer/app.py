"""The daemon: one task group, bounded streams, a drain on shutdown and on reload.

``poller -> [pages, 4] -> processor -> [batches, 2] -> writer``. The health server, the
signal handler and the watchdog start first, before anything that can wait (the lease,
sinks, recovery), so probes answer and a SIGTERM is honoured from the first second.

Shutdown (SIGTERM, SIGINT, an injected trigger, or being caught up with
``--until-caught-up``) cancels a start-up in progress, or cancels only the poller of a
running pipeline: the closed page stream ends the processor, which seals its open batch;
the writer drains and saves the checkpoint. If that takes longer than ``shutdown.grace``
or a second signal arrives, everything is cancelled: the intent in the checkpoint makes
the next start finish or abandon the interrupted batch, so state is never corrupt.

SIGHUP re-reads the config (``streamer.reload``); a valid one drains the pipeline the same
way and starts a new one on the same checkpoint, lease and health server.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.abc
import structlog

from streamer.batcher import Batcher
from streamer.config_loader import LoadedConfig
from streamer.errors import StreamerError
from streamer.gctune import steady_state
from streamer.ids import id_seconds
from streamer.metrics import Metrics, serve_health
from streamer.processor import Processor
from streamer.progress import Progress
from streamer.records import Batch, Page
from streamer.reload import load_new
from streamer.retry import Hurry, hurry_scope
from streamer.runstate import RunState, State, watchdog, watchdog_interval
from streamer.runtime import Runtime, hold_checkpoint, open_runtime
from streamer.sdnotify import notify

log = structlog.get_logger("streamer.app")
PAGE_BUFFER = 4
BATCH_BUFFER = 2
T = TypeVar("T")


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

    def add(self, processor: Processor, rt: Runtime) -> None:
        """Add one pipeline's counts (a reload runs several in one process)."""
        stats = processor.stats
        self.fetched += stats.fetched
        self.kept += stats.kept
        for name, count in (*stats.dropped.items(),):
            self.dropped[name] = self.dropped.get(name, 0) + count
        for name, count in rt.recovered.items():
            self.recovered[name] = self.recovered.get(name, 0) + count
        self.written += rt.writer.events_written
        self.batches += rt.writer.batches
        self.objects += rt.writer.objects_written
        self.late_caught += rt.source.late_caught
        self.late_beyond += rt.source.late_beyond
        self.cursor = rt.writer.checkpoint.cursor


class Control:
    """Stop and reload requests, routed to what runs now: a start-up is cancelled, a
    running pipeline is drained (its open batch flushed and committed)."""

    def __init__(self, state: RunState, current: LoadedConfig) -> None:
        self.state = state
        self.current = current
        self.stopped = False
        self.pending: tuple[LoadedConfig, list[str]] | None = None
        self._startup: anyio.CancelScope | None = None
        self._reload_cancels_startup = False
        self._drain: Callable[[], None] | None = None
        #: cuts every backoff wait short on a stop (not on a reload: the daemon goes on)
        self.hurry: Hurry | None = None

    def stop(self) -> None:
        """Drain and exit (SIGTERM, SIGINT, the trigger, caught up)."""
        if not self.stopped:
            self.stopped = True
            notify("STOPPING=1")
            if self.hurry is not None:
                self.hurry.set()  # the grace is for making data durable, not for sleeping
            self._interrupt(startup=True)

    def reload(self, new: LoadedConfig, changed: list[str]) -> None:
        """Drain and restart on ``new`` (what changed accumulates over repeated SIGHUPs)."""
        if self.pending is not None:
            changed = sorted({*self.pending[1], *changed})
        self.pending, self.current = (new, changed), new
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        self._interrupt(startup=self._reload_cancels_startup)

    def take(self) -> tuple[LoadedConfig, list[str]] | None:
        """The accepted new config, once."""
        pending, self.pending = self.pending, None
        return pending

    def _interrupt(self, *, startup: bool) -> None:
        if self._drain is not None:
            self._drain()
        elif startup and self._startup is not None:
            self._startup.cancel()

    async def start_up(self, opening: Awaitable[T], *, reloadable: bool) -> T | None:
        """Await ``opening``; None when a stop (or, if ``reloadable``, a reload) cancelled it."""
        with anyio.CancelScope() as scope:
            self._startup, self._reload_cancels_startup = scope, reloadable
            try:
                return await opening
            finally:
                self._startup = None
        return None

    @contextlib.contextmanager
    def running(self, drain: Callable[[], None]) -> Iterator[None]:
        """While a pipeline runs, requests drain it (one that came early drains at once)."""
        self._drain = drain
        if self.stopped or self.pending is not None:
            drain()
        try:
            yield
        finally:
            self._drain = None


async def run(
    loaded: LoadedConfig,
    *,
    until_caught_up: bool = False,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    handle_signals: bool = True,
    metrics: Metrics | None = None,
    progress: bool = False,
    reload: Callable[[], LoadedConfig] | None = None,
    on_reload: Callable[[LoadedConfig], None] | None = None,
    **overrides: Any,
) -> RunSummary:
    """Run the daemon until stopped; return what it did.

    ``progress`` shows a progress bar (events/s, ETA to now) on stderr while catching up.
    ``reload`` reads the config again on SIGHUP (default: the file ``loaded`` came from);
    ``on_reload`` is told about an accepted one (the CLI re-applies logging settings).
    """
    metrics = metrics or Metrics()
    settings = loaded.settings
    state = RunState(metrics, stuck_after=settings.metrics.stuck_after)
    control = Control(state, loaded)
    if reload is None and loaded.path is not None:
        path = loaded.path

        def reload() -> LoadedConfig:
            from streamer.config_loader import load_config

            return load_config(path)

    summary = RunSummary(services=[s.label for s in loaded.services])
    started = time.monotonic()
    for warning in loaded.warnings:  # the same lines `streamer check` prints
        log.warning("config.warning", reason=warning)
    try:
        async with hurry_scope() as control.hurry, anyio.create_task_group() as outer:
            if handle_signals:
                await outer.start(_signals, control, outer.cancel_scope, summary, reload)
            if settings.metrics.port is not None:
                await outer.start(
                    serve_health, metrics, state, settings.metrics.host, settings.metrics.port
                )
            interval = watchdog_interval()
            if interval is not None:
                outer.start_soon(watchdog, state, interval, name="watchdog")
            if shutdown_trigger is not None:
                outer.start_soon(_trigger, shutdown_trigger, control, name="trigger")
            with Progress(mode="bar" if progress else "none") as bar:
                await _serve(loaded, control, summary, bar, until_caught_up, on_reload, overrides)
            outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    summary.seconds = time.monotonic() - started
    return summary


async def _serve(
    loaded: LoadedConfig,
    control: Control,
    summary: RunSummary,
    bar: Progress,
    until_caught_up: bool,
    on_reload: Callable[[LoadedConfig], None] | None,
    overrides: dict[str, Any],
) -> None:
    """Hold the checkpoint; run pipelines on it until stopped, one per accepted reload."""
    state, store = control.state, overrides.pop("store", None)
    async with contextlib.AsyncExitStack() as stack:
        held = await control.start_up(
            stack.enter_async_context(hold_checkpoint(loaded, state=state, store=store)),
            reloadable=False,
        )
        changed: list[str] | None = None
        while held is not None and not control.stopped:
            if (pending := control.take()) is not None:
                loaded, changed = pending
                for warning in loaded.warnings:
                    log.warning("config.warning", reason=warning)
                state.stuck_after = loaded.settings.metrics.stuck_after
                summary.services = [s.label for s in loaded.services]
                if on_reload is not None:
                    on_reload(loaded)
            async with contextlib.AsyncExitStack() as run_stack:
                rt = await control.start_up(
                    run_stack.enter_async_context(open_runtime(
                        loaded, metrics=state.metrics, held=held, state=state, **overrides
                    )),
                    reloadable=True,
                )
                if rt is None:
                    continue  # stopped, or a reload arrived while starting
                if changed is not None:
                    log.info("config.reloaded", changed=changed, cursor=rt.cursor)
                    changed = None
                bar.add("catching up", id_seconds(rt.cursor), time.time())
                with steady_state():
                    await _pipeline(rt, loaded, control, summary, bar, until_caught_up)
            if control.pending is None:
                break
            state.enter(State.STARTING)


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



async def _pipeline(
    rt: Runtime,
    loaded: LoadedConfig,
    control: Control,
    summary: RunSummary,
    bar: Progress,
    until_caught_up: bool,
) -> None:
    """One pipeline on an open runtime, until drained (stop or reload)."""
    state, metrics = control.state, rt.metrics
    batcher = Batcher.from_settings(loaded.settings, rt.router)
    poll_scope = anyio.CancelScope()
    draining = anyio.Event()

    def drain() -> None:
        if not draining.is_set():
            draining.set()
            state.enter(State.DRAINING)
            poll_scope.cancel()

    def grace_expired() -> None:
        if control.stopped:
            summary.forced = True

    processor = Processor(
        rt.stages,
        batcher,
        cursor=rt.cursor,
        metrics=metrics,
        settled=rt.source.settled,
        on_caught_up=control.stop if until_caught_up else None,
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
                state.writing_since = time.monotonic()
                await rt.writer.write(batch)
                state.writing_since = None
                rt.after_commit()
        await rt.writer.flush()  # the last commit rides on no next intent

    state.detail = lambda: {"cursor": rt.writer.checkpoint.cursor, "idle": metrics.idle}
    state.enter(State.RUNNING)
    with control.running(drain):
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.background, name="background")
            async with anyio.create_task_group() as pipe:
                tg.start_soon(
                    _grace, draining, loaded.settings.shutdown.grace, pipe.cancel_scope,
                    grace_expired, name="grace",
                )
                pipe.start_soon(poll, name="poller")
                pipe.start_soon(processor.run, page_recv, batch_send, name="processor")
                pipe.start_soon(write, name="writer")
            tg.cancel_scope.cancel()
    summary.add(processor, rt)


async def _trigger(trigger: Callable[[], Awaitable[None]], control: Control) -> None:
    await trigger()
    log.info("shutdown.requested", by="trigger", state=control.state.state.value)
    control.stop()


async def _signals(
    control: Control,
    scope: anyio.CancelScope,
    summary: RunSummary,
    reload: Callable[[], LoadedConfig] | None,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """SIGTERM/SIGINT: drain (a second one: cancel everything); SIGHUP: reload the config."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as received:
        task_status.started()
        count = 0
        async for signum in received:
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                _on_sighup(control, reload)
                continue
            count += 1
            if count == 1:
                log.info("shutdown.requested", signal=name, state=control.state.state.value)
                control.stop()
            else:
                log.warning("shutdown.forced", signal=name)
                summary.forced = True
                scope.cancel()


def _on_sighup(control: Control, reload: Callable[[], LoadedConfig] | None) -> None:
    if reload is None:
        log.warning("config.reload_unavailable", reason="the config did not come from a file")
        return
    if control.stopped:
        log.info("config.reload_ignored", reason="stopping")
        return
    log.info("config.reload_requested", state=control.state.state.value)
    accepted = load_new(control.current, reload)
    if accepted is not None:
        control.reload(*accepted)


async def _grace(
    draining: anyio.Event, grace: float, scope: anyio.CancelScope, expired: Callable[[], None]
) -> None:
    await draining.wait()
    await anyio.sleep(grace)
    log.warning("shutdown.grace_expired", grace=grace, hint="the next start finishes the batch")
    expired()
    scope.cancel()
