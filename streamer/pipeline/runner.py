"""The one poll -> process -> write wiring, for the daemon, backfill and replay.

``pages -> [PAGE_BUFFER] -> Processor -> [BATCH_BUFFER] -> Writer``, three tasks in one
task group joined by bounded memory streams, so a slow sink holds the processor back
and the processor holds the poller back: memory stays bounded by the buffer sizes.

The streams end in order. When the page source is exhausted (backfill, replay) or its
``poll_scope`` is cancelled (the daemon's drain), the poller closes the page stream;
the processor then seals its open batch and closes the batch stream; the writer writes
what is left, optionally flushes a commit no next batch will carry, and returns.

What differs between the callers is passed in, not copied: the page source (the API
poller, one backfill slice, an archive), :class:`Hooks` (liveness and progress per page,
run state and gauges around each batch), and whether to flush at the end.

A failure in any task cancels the others; :func:`run_pipeline` raises the one error
worth a clear line (:func:`streamer.errors.first_error`), not the task group around it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass

import anyio

from streamer.errors import first_error
from streamer.observability.metrics import Metrics
from streamer.pipeline.batcher import Batcher, Router
from streamer.pipeline.processor import Processor
from streamer.pipeline.writer import Writer
from streamer.records import Batch, Page
from streamer.settings.model import Settings
from streamer.stages.base import Stage, build_pipeline

#: pages fetched ahead of the processor (each up to ``source.page_size`` events)
PAGE_BUFFER = 4
#: sealed batches waiting for the writer
BATCH_BUFFER = 2


@dataclass(frozen=True, slots=True)
class Hooks:
    """Callbacks for what differs between callers; each runs in its stage's task."""

    #: each page, before it is handed to the processor (liveness, progress bar)
    on_page: Callable[[Page], None] | None = None
    #: each batch, before the writer starts on it (run state: writing since)
    before_write: Callable[[Batch], None] | None = None
    #: each batch, once it is durable and committed (gauges, progress)
    after_write: Callable[[Batch], None] | None = None


def new_processor(
    settings: Settings,
    router: Router,
    cursor: str,
    *,
    stages: Sequence[Stage] | None = None,
    metrics: Metrics | None = None,
    settled: str | None = None,
    on_caught_up: Callable[[], None] | None = None,
) -> Processor:
    """The config's stages (or ``stages``, built already) and batcher from ``cursor``."""
    return Processor(
        build_pipeline(settings.pipeline) if stages is None else stages,
        Batcher.from_settings(settings, router),
        cursor=cursor,
        metrics=metrics if metrics is not None else Metrics(),
        settled=settled,
        on_caught_up=on_caught_up,
    )


async def run_pipeline(
    pages: AsyncIterable[Page],
    processor: Processor,
    writer: Writer,
    *,
    hooks: Hooks = Hooks(),
    flush: bool = False,
    poll_scope: anyio.CancelScope | None = None,
    name: str = "",
) -> None:
    """Poll ``pages``, process and write them until the page stream ends; see the module.

    ``poll_scope`` cancelled stops only the polling (a drain: what was fetched is still
    processed and written). ``flush`` saves, at the end, a commit that is still only in
    memory. ``name`` prefixes the task names.
    """
    page_send, page_recv = anyio.create_memory_object_stream[Page](PAGE_BUFFER)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](BATCH_BUFFER)

    async def poll() -> None:
        async with page_send:
            with poll_scope or anyio.CancelScope():
                async for page in pages:
                    if hooks.on_page is not None:
                        hooks.on_page(page)
                    await page_send.send(page)

    async def write() -> None:
        async with batch_recv:
            async for batch in batch_recv:
                if hooks.before_write is not None:
                    hooks.before_write(batch)
                await writer.write(batch)
                if hooks.after_write is not None:
                    hooks.after_write(batch)
        if flush:
            await writer.flush()  # the last commit rides on no next intent

    prefix = f"{name} " if name else ""
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll, name=f"{prefix}poller")
            tg.start_soon(processor.run, page_recv, batch_send, name=f"{prefix}processor")
            tg.start_soon(write, name=f"{prefix}writer")
    except BaseExceptionGroup as group:
        raise first_error(group) from None
