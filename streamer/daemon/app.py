"""The daemon: one task group, bounded streams, a drain on shutdown and on reload.

``poller -> [pages, 4] -> processor -> [batches, 2] -> writer`` (the wiring is
``streamer.pipeline.runner``, shared with backfill and replay). The health server, the
signal handler and the watchdog start first, before anything that can wait (the lease,
sinks, recovery), so probes answer and a SIGTERM is honoured from the first second.

Shutdown (SIGTERM, SIGINT, an injected trigger, or being caught up with
``--until-caught-up``) cancels a start-up in progress, or cancels only the poller of a
running pipeline: the closed page stream ends the processor, which seals its open batch;
the writer drains and saves the checkpoint. If that takes longer than ``shutdown.grace``
or a second signal arrives, everything is cancelled: the intent in the checkpoint makes
the next start finish or abandon the interrupted batch, so state is never corrupt.

SIGHUP re-reads the config (``streamer.daemon.reload``); a valid one drains the pipeline the same
way and starts a new one on the same checkpoint, lease and health server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import structlog

from streamer.checkpoint.lease import Held
from streamer.daemon.control import Control, signals, trigger
from streamer.daemon.runstate import RunState, State, watchdog, watchdog_interval
from streamer.daemon.runtime import Runtime, hold, open_runtime
from streamer.daemon.summary import RunSummary
from streamer.errors import StreamerError, first_error
from streamer.ids import id_seconds
from streamer.observability.gctune import steady_state
from streamer.observability.metrics import Metrics, serve_health
from streamer.observability.progress import Progress
from streamer.observability.retry import hurry_scope
from streamer.pipeline.runner import Hooks, new_processor, run_pipeline
from streamer.records import Batch, Page
from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.app")


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
            from streamer.settings.loader import load_config

            return load_config(path)

    summary = RunSummary(services=[s.label for s in loaded.services])
    started = time.monotonic()
    for warning in loaded.warnings:  # the same lines `streamer check` prints
        log.warning("config.warning", reason=warning)
    try:
        async with hurry_scope() as control.hurry, anyio.create_task_group() as outer:
            if handle_signals:
                await outer.start(signals, control, outer.cancel_scope, summary.force, reload)
            if settings.metrics.port is not None:
                await outer.start(
                    serve_health, metrics, state, settings.metrics.host, settings.metrics.port
                )
            interval = watchdog_interval()
            if interval is not None:
                outer.start_soon(watchdog, state, interval, name="watchdog")
            if shutdown_trigger is not None:
                outer.start_soon(trigger, shutdown_trigger, control, name="trigger")
            with Progress(mode="bar" if progress else "none") as bar:
                await _serve(loaded, control, summary, bar, until_caught_up, on_reload, overrides)
            outer.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise first_error(group) from None
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
    """Hold the checkpoint; run pipelines on it until stopped, one per accepted reload.

    A reloaded config that passed validation can still fail to open (a sink refuses it):
    that is logged as ``config.reload_failed`` and the previous config is opened again.
    """
    state, store = control.state, overrides.pop("store", None)
    async with contextlib.AsyncExitStack() as stack:
        held = await control.start_up(
            stack.enter_async_context(hold(loaded, state=state, store=store)),
            reloadable=False,
        )
        changed: list[str] | None = None
        previous = loaded
        while held is not None and not control.stopped:
            if (pending := control.take()) is not None:
                previous, (loaded, changed) = loaded, pending
                _apply(loaded, state, summary, on_reload)
            async with contextlib.AsyncExitStack() as run_stack:
                rt, failed = await _open(run_stack, loaded, held, control, changed, overrides)
                if failed is not None:
                    log.error(
                        "config.reload_failed", problems=[str(failed)],
                        hint="back on the previous config; fix the file and send SIGHUP again",
                    )
                    loaded, changed = previous, None
                    control.current = loaded
                    _apply(loaded, state, summary, on_reload)
                    continue
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


async def _open(
    stack: contextlib.AsyncExitStack,
    loaded: LoadedConfig,
    held: Held,
    control: Control,
    changed: list[str] | None,
    overrides: dict[str, Any],
) -> tuple[Runtime | None, BaseException | None]:
    """Open a runtime on ``held`` (closed by ``stack``); None if a stop or reload came first.

    Returns, not raises, the error of a reloaded config (``changed``) that failed to open.
    """
    state = control.state
    try:
        opening = open_runtime(loaded, metrics=state.metrics, held=held, state=state, **overrides)
        rt = await control.start_up(stack.enter_async_context(opening), reloadable=True)
    except Exception as exc:
        failed = first_error(exc)
        if changed is None or not isinstance(failed, StreamerError):
            raise
        return None, failed
    return rt, None


def _apply(
    loaded: LoadedConfig,
    state: RunState,
    summary: RunSummary,
    on_reload: Callable[[LoadedConfig], None] | None,
) -> None:
    """What a config switch changes outside the pipeline."""
    for warning in loaded.warnings:
        log.warning("config.warning", reason=warning)
    state.stuck_after = loaded.settings.metrics.stuck_after
    summary.services = [s.label for s in loaded.services]
    if on_reload is not None:
        on_reload(loaded)


async def _pipeline(
    rt: Runtime,
    loaded: LoadedConfig,
    control: Control,
    summary: RunSummary,
    bar: Progress,
    until_caught_up: bool,
) -> None:
    """One pipeline on an open runtime, until drained (stop or reload).

    A drain cancels only the polling; ``shutdown.grace`` later the whole pipeline.
    """
    state = control.state
    poll_scope, pipe_scope = anyio.CancelScope(), anyio.CancelScope()
    draining = anyio.Event()

    def drain() -> None:
        if not draining.is_set():
            draining.set()
            state.enter(State.DRAINING)
            poll_scope.cancel()

    def grace_expired() -> None:
        if control.stopped:
            summary.forced = True

    processor = new_processor(
        loaded.settings, rt.router, rt.cursor, stages=rt.stages, metrics=rt.metrics,
        settled=rt.source.settled, on_caught_up=control.stop if until_caught_up else None,
    )
    pages = rt.source.pages(rt.cursor, rt.known, rt.source.settled)
    state.detail = lambda: {"cursor": rt.writer.checkpoint.cursor, "idle": rt.metrics.idle}
    state.enter(State.RUNNING)
    with control.running(drain):
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.background, name="background")
            tg.start_soon(
                _grace, draining, loaded.settings.shutdown.grace, pipe_scope, grace_expired,
                name="grace",
            )
            with pipe_scope:
                await run_pipeline(
                    pages, processor, rt.writer, hooks=_hooks(rt, state, bar), flush=True,
                    poll_scope=poll_scope,
                )
            tg.cancel_scope.cancel()
    summary.add(processor, rt)


def _hooks(rt: Runtime, state: RunState, bar: Progress) -> Hooks:
    """The daemon's part of the pipeline: liveness, the progress bar, run state, gauges."""

    def on_page(page: Page) -> None:
        rt.metrics.progressed()
        if not page.late:
            bar.advance("catching up", len(page.events), page.cursor)

    def before_write(_batch: Batch) -> None:
        state.writing_since = time.monotonic()

    def after_write(_batch: Batch) -> None:
        state.writing_since = None
        rt.after_commit()

    return Hooks(on_page=on_page, before_write=before_write, after_write=after_write)


async def _grace(
    draining: anyio.Event, grace: float, scope: anyio.CancelScope, expired: Callable[[], None]
) -> None:
    await draining.wait()
    await anyio.sleep(grace)
    log.warning("shutdown.grace_expired", grace=grace, hint="the next start finishes the batch")
    expired()
    scope.cancel()
