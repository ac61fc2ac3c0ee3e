"""Stop and reload requests, and how they reach what runs now.

SIGTERM, SIGINT, the injected trigger and ``--until-caught-up`` ask for a stop; SIGHUP for
a reload. Before the pipeline runs (waiting for the lease, opening sinks, recovering) a
stop cancels the start-up, which is logged and exits 0; a running pipeline is drained
instead (poller cancelled, open batch flushed and committed). A reload drains the same way
and then restarts on the new config; during a start-up it cancels the sink opening (the
new file may be the fix) but never the wait for the lease, which the reload keeps.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import anyio
import anyio.abc
import structlog

from streamer.daemon.reload import load_new
from streamer.daemon.runstate import RunState
from streamer.observability.retry import Hurry
from streamer.observability.sdnotify import notify
from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.control")
T = TypeVar("T")


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


async def trigger(trigger: Callable[[], Awaitable[None]], control: Control) -> None:
    await trigger()
    log.info("shutdown.requested", by="trigger", state=control.state.state.value)
    control.stop()


async def signals(
    control: Control,
    scope: anyio.CancelScope,
    forced: Callable[[], None],
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
                on_sighup(control, reload)
                continue
            count += 1
            if count == 1:
                log.info("shutdown.requested", signal=name, state=control.state.state.value)
                control.stop()
            else:
                log.warning("shutdown.forced", signal=name)
                forced()
                scope.cancel()


def on_sighup(control: Control, reload: Callable[[], LoadedConfig] | None) -> None:
    """Validate the file now (the old config keeps running if it is refused), then drain."""
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
