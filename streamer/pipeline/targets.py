"""Where a pipeline writes: the config's sinks opened, its router, its routed targets.

One place for the daemon (``streamer.daemon.runtime``), backfill and replay, so all
three write to the same sinks under the same prefixes, and an event-routed target that
cannot be written is dead-lettered by each of them alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import anyio

from streamer.observability.metrics import Metrics
from streamer.observability.retry import backoff
from streamer.pipeline.batcher import Router, static_router
from streamer.settings.loader import LoadedConfig
from streamer.sinks.base import Sink

#: a writer's factory for the sinks of each event's own targets (``firehose.route: event``)
SinkFactory = Callable[[str], Awaitable[Sink]]


async def open_sink(sink: Sink, wait_for: Callable[[str], None] | None = None) -> None:
    """Open a sink; unreachable endpoints are retried (the network may come up later).

    ``wait_for`` is told, from the second attempt on, what start-up is waiting for.
    """
    async for attempt in backoff(max_backoff=30.0, initial=0.5):
        with attempt:  # each retry is logged once, as sink.retry_scheduled (logs.log_retry)
            if attempt.num > 1 and wait_for is not None:
                wait_for(f"sink {sink.name}")
            await sink.open()


async def open_sinks(
    sinks: dict[str, Sink],
    stack: contextlib.AsyncExitStack,
    wait_for: Callable[[str], None] | None = None,
) -> None:
    """Open every sink at once; ``stack`` closes them (also those that failed to open)."""
    for sink in sinks.values():
        stack.push_async_callback(sink.aclose)
    async with anyio.create_task_group() as tg:
        for sink in sinks.values():
            tg.start_soon(open_sink, sink, wait_for)


def build_router(loaded: LoadedConfig, sinks: dict[str, Sink]) -> Router:
    """Each event's targets: its own firehose (``route: event``), else every sink.

    A sink not among the config's services (one a test injects) writes under the
    firehose prefix.
    """
    if loaded.settings.firehose.route == "event":
        from streamer.pipeline.routing import EventRouter

        return EventRouter(loaded, sinks)
    prefixes = {s.name: s.prefix for s in loaded.services}
    fallback = loaded.settings.firehose.prefix.strip("/")
    return static_router([(name, prefixes.get(name, fallback)) for name in sinks])


async def open_targets(
    loaded: LoadedConfig,
    stack: contextlib.AsyncExitStack,
    *,
    sinks: dict[str, Sink] | None = None,
    wait_for: Callable[[str], None] | None = None,
) -> tuple[dict[str, Sink], Router]:
    """The config's sinks (or ``sinks``), opened and closed by ``stack``, and its router."""
    if sinks is None:
        from streamer.sinks.factory import build_sink

        sinks = {s.name: build_sink(s) for s in loaded.services}
    await open_sinks(sinks, stack, wait_for)
    return sinks, build_router(loaded, sinks)


def routed_sink_factory(
    loaded: LoadedConfig,
    sinks: dict[str, Sink],
    router: Router,
    stack: contextlib.AsyncExitStack,
    metrics: Metrics | None = None,
) -> SinkFactory | None:
    """For ``route: event``: the writer's sinks for each event's own targets.

    An unwritable target is dead-lettered into the static services, not fatal.
    """
    from streamer.pipeline.routing import EventRouter

    if not isinstance(router, EventRouter):
        return None
    from streamer.pipeline.deadletter import dead_letters
    from streamer.sinks.routed import RoutedSinkFactory

    letters = dead_letters(loaded, sinks, metrics if metrics is not None else Metrics())
    return RoutedSinkFactory(router, letters, stack)
