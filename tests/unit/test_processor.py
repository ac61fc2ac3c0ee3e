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


def _reference(pages: list[Page], stages: list, **batcher_args: object) -> list[Batch]:
    """The batches of the event-by-event loop (one ``add`` per event, its own checks)."""
    batcher = Batcher(router=static_router([("a", "p")]), **batcher_args)  # type: ignore[arg-type]
    out: list[Batch] = []
    last = sid(0)

    def seal() -> None:
        batcher.watermark = last
        batch = batcher.seal()
        if batch is not None:
            out.append(batch)

    for page in pages:
        for event in page.events:
            if not page.late and batcher.crosses_hour(event["id"]):
                seal()
            result, name = event, ""
            for stage in stages:
                result = stage.process(result)
                if result is None:
                    name = stage.name
                    break
            batcher.add(event["id"], result, dropped_by=name)
            if not page.late:
                last = max(last, event["id"])
            if batcher.full():
                seal()
        batcher.end_page()
        last = max(last, page.cursor or last)
    seal()
    return out


@pytest.mark.parametrize("max_events", [1, 3, 7, 1000])
async def test_pages_give_the_batches_of_the_event_by_event_loop(max_events: int) -> None:
    """Page-wide stages and runs of ``take`` seal where one event at a time would: full
    batches, hour boundaries inside a page, dropped events, late pages."""
    from streamer.stages.config import FilterSpec, TransformSpec
    from streamer.stages.filter import FilterStage
    from streamer.stages.transform import TransformStage

    rule = {"op": "and", "rules": [{"lhv": "type", "op": "is equal to", "rhv": "filter"}]}
    stages = [
        FilterStage(FilterSpec(rule_set=rule, action="drop"), name="drop-filter"),
        TransformStage(TransformSpec(exclude=["vars.secret"]), name="t"),
    ]
    kinds = ["source", "filter", "recipient"]
    seconds = [10, 20, 3590, 3599, 3600, 3601, 3700, 7199, 7200, 7300, 7301, 10900]
    events = [
        {"id": sid(s), "type": kinds[i % 3], "vars": {"secret": i, "keep": i}}
        for i, s in enumerate(seconds)
    ]
    pages = [
        Page(events[:5], events[4]["id"]),
        Page([{"id": sid(15), "type": "source"}], events[4]["id"], late=True),
        Page(events[5:], events[-1]["id"]),
    ]
    args = {"compression": "none", "max_events": max_events}
    batcher = Batcher(router=static_router([("a", "p")]), **args)  # type: ignore[arg-type]
    processor = Processor(stages, batcher, cursor=sid(0), metrics=Metrics())
    page_send, page_recv = anyio.create_memory_object_stream[Page](4)
    batch_send, batch_recv = anyio.create_memory_object_stream[Batch](64)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(processor.run, page_recv, batch_send)
            async with page_send:
                for page in pages:
                    await page_send.send(page)
            got = [b async for b in batch_recv]
    want = _reference(pages, stages, **args)
    assert [(b.covered, b.watermark, b.kept, b.dropped_by) for b in got] == [
        (b.covered, b.watermark, b.kept, b.dropped_by) for b in want
    ]
    assert [[(o.targets, o.data) for o in b.objects] for b in got] == [
        [(o.targets, o.data) for o in b.objects] for b in want
    ]
    assert processor.stats.kept == sum(b.kept for b in want)
    assert processor.stats.dropped == {"drop-filter": 4}
