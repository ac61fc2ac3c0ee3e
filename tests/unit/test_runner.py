"""The pipeline runner: pages -> processor -> writer, one clear error, streams end in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import stamina

from streamer.checkpoint.memory import MemoryCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.errors import FatalSinkError, first_error
from streamer.observability.metrics import Metrics
from streamer.pipeline.batcher import Batcher, static_router
from streamer.pipeline.layout import iter_events
from streamer.pipeline.processor import Processor
from streamer.pipeline.runner import Hooks, run_pipeline
from streamer.pipeline.writer import Writer
from streamer.records import Batch, Page
from streamer.sinks.memory import MemorySink

pytestmark = pytest.mark.anyio
T0 = 0x6560_0000


def sid(seconds: int) -> str:
    """An id ``seconds`` after T0."""
    return f"{T0 + seconds:08x}{1:016x}"


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Sink retries without waiting."""
    with stamina.set_testing(True, attempts=2):
        yield


def parts(sink: MemorySink, store: MemoryCheckpointStore) -> tuple[Processor, Writer]:
    """A processor sealing every two events and a writer into ``sink`` and ``store``."""
    batcher = Batcher(router=static_router([(sink.name, "p")]), compression="none", max_events=2)
    processor = Processor([], batcher, cursor=sid(0), metrics=Metrics())
    writer = Writer({sink.name: sink}, store, Checkpoint(cursor=sid(0)), keep_seconds=1.0)
    return processor, writer


async def pages_of(*seconds: list[int]) -> AsyncIterator[Page]:
    """One page per list of seconds."""
    for page in seconds:
        yield Page([{"id": sid(s)} for s in page], sid(page[-1]))


def written(sink: MemorySink) -> list[str]:
    """The ids in the sink, in object-name order."""
    return [e["id"] for key in sorted(sink.objects) for e in iter_events(sink.objects[key], key)]


async def test_every_page_is_written_and_the_last_commit_flushed() -> None:
    """Pages reach the sink in order; hooks run per page and around each batch; then flush."""
    sink, store = MemorySink("a"), MemoryCheckpointStore()
    processor, writer = parts(sink, store)
    calls: list[str] = []

    def before(batch: Batch) -> None:
        calls.append("before")

    def after(batch: Batch) -> None:
        calls.append(f"after {writer.checkpoint.cursor == batch.covered[-1]}")

    hooks = Hooks(on_page=lambda page: calls.append("page"), before_write=before, after_write=after)
    with anyio.fail_after(5):
        await run_pipeline(pages_of([1, 2, 3], [4, 5]), processor, writer, hooks=hooks, flush=True)
    assert written(sink) == [sid(s) for s in range(1, 6)]
    assert calls.count("page") == 2
    assert [c for c in calls if c != "page"] == ["before", "after True"] * 3
    saved = await store.load()
    assert saved is not None
    assert saved.cursor == sid(5)  # the flush made the last commit durable
    assert saved.intents == []


async def test_without_flush_the_last_commit_stays_in_memory() -> None:
    """``flush`` is what saves the commit no next batch carries (the daemon's drain)."""
    sink, store = MemorySink("a"), MemoryCheckpointStore()
    processor, writer = parts(sink, store)
    with anyio.fail_after(5):
        await run_pipeline(pages_of([1, 2, 3]), processor, writer)
    assert writer.checkpoint.cursor == sid(3)
    saved = await store.load()
    assert saved is not None
    assert saved.cursor != sid(3)


async def test_a_failing_sink_is_the_one_error_raised() -> None:
    """A fatal sink error surfaces as itself, not as a task group of closed streams."""
    sink, store = MemorySink("a"), MemoryCheckpointStore()
    sink.fail_next = [FatalSinkError("sink a (memory): no such bucket")]
    processor, writer = parts(sink, store)
    with anyio.fail_after(5), pytest.raises(FatalSinkError, match="no such bucket"):
        await run_pipeline(pages_of(*[[s, s + 1] for s in range(1, 40, 2)]), processor, writer)


async def test_a_failing_source_is_the_one_error_raised() -> None:
    """An error in the page source surfaces as itself; what it fetched before is not lost."""
    sink, store = MemorySink("a"), MemoryCheckpointStore()
    processor, writer = parts(sink, store)

    async def broken() -> AsyncIterator[Page]:
        yield Page([{"id": sid(1)}, {"id": sid(2)}], sid(2))
        raise ValueError("the source broke")

    with anyio.fail_after(5), pytest.raises(ValueError, match="the source broke"):
        await run_pipeline(broken(), processor, writer)


async def test_a_cancelled_poll_drains_what_was_fetched() -> None:
    """Cancelling ``poll_scope`` ends the page stream; processor and writer finish in order."""
    sink, store = MemorySink("a"), MemoryCheckpointStore()
    processor, writer = parts(sink, store)
    poll_scope, waiting = anyio.CancelScope(), anyio.Event()

    async def endless() -> AsyncIterator[Page]:
        async for page in pages_of([1, 2], [3]):
            yield page
        waiting.set()
        await anyio.sleep_forever()
        yield Page([], None)  # pragma: no cover - never reached

    async def stop_polling() -> None:
        await waiting.wait()
        poll_scope.cancel()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_polling)
            await run_pipeline(endless(), processor, writer, poll_scope=poll_scope, flush=True)
    assert written(sink) == [sid(1), sid(2), sid(3)]  # the open batch was sealed and written
    saved = await store.load()
    assert saved is not None
    assert saved.cursor == sid(3)


def test_first_error_prefers_ours_then_real_errors_over_closed_streams() -> None:
    """The one error to report: a StreamerError, else not a closed stream, else the first."""
    ours = FatalSinkError("ours")
    bug = KeyError("bug")
    closed = anyio.BrokenResourceError()
    group = BaseExceptionGroup("g", [closed, bug, ExceptionGroup("inner", [ours])])
    assert first_error(group) is ours
    assert first_error(ExceptionGroup("g", [closed, bug])) is bug
    assert first_error(ExceptionGroup("g", [closed])) is closed
    assert first_error(bug) is bug
