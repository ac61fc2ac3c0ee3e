"""The processor: the settled watermark travels with the pages into the batches."""

from __future__ import annotations

import anyio
import pytest

from streamer.observability.metrics import Metrics
from streamer.pipeline.batcher import Batcher, static_router
from streamer.pipeline.processor import Processor
from streamer.records import Batch, Page

pytestmark = pytest.mark.anyio
T0 = 0x6560_0000


def sid(seconds: int) -> str:
    """An id ``seconds`` after T0."""
    return f"{T0 + seconds:08x}{1:016x}"


async def test_a_pages_settled_watermark_seals_only_after_its_events() -> None:
    """A batch sealed inside a page keeps the old W; the page's W comes with a later batch."""
    batcher = Batcher(router=static_router([("a", "p")]), compression="none", max_events=2)
    processor = Processor([], batcher, cursor=sid(0), metrics=Metrics(), settled=sid(0))
    page_send, page_recv = anyio.create_memory_object_stream[Page](4)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](4)
    events = [{"id": sid(s)} for s in (1, 2, 3)]
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(processor.run, page_recv, batch_send)
            async with page_send:
                await page_send.send(Page(events, sid(3), settled=sid(2)))
            batches = [b async for b in batch_recv]
    assert [(b.covered, b.settled) for b in batches] == [
        ((sid(1), sid(2)), sid(0)),  # sealed full mid-page: the page's W not yet earned
        ((sid(3),), sid(2)),
    ]
