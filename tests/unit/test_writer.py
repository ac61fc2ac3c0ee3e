"""The writer: intent before upload, commit after, idempotent replays, crash recovery."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import stamina

from streamer.checkpoint.memory import MemoryCheckpointStore
from streamer.checkpoint.state import Checkpoint, Intent, IntentObject
from streamer.errors import FatalSinkError, RetriableSinkError
from streamer.observability.retry import hurry_scope
from streamer.pipeline.batcher import Batcher, static_router
from streamer.pipeline.dedupe import DedupeWindow
from streamer.pipeline.layout import batch_key
from streamer.pipeline.writer import Writer, summary_of
from streamer.records import Batch, ObjectMeta, PutOutcome
from streamer.sinks.memory import MemorySink

pytestmark = pytest.mark.anyio

T0 = 0x6560_0000
TARGETS = [("a", "pa"), ("b", "pb")]


def sid(seconds: int, tail: int = 1) -> str:
    """An id ``seconds`` after T0."""
    return f"{T0 + seconds:08x}{tail:016x}"


@pytest.fixture(autouse=True)
def no_backoff() -> Iterator[None]:
    """Sink retries without waiting."""
    with stamina.set_testing(True, attempts=5):
        yield


class RecordingStore(MemoryCheckpointStore):
    """Keeps a parsed copy of every saved checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[Checkpoint] = []

    async def save(self, checkpoint: Checkpoint) -> None:
        await super().save(checkpoint)
        assert self.data is not None
        self.history.append(Checkpoint.from_bytes(self.data, where="test"))


class WatchingSink(MemorySink):
    """Records, at each put, the intents the store held durably at that moment."""

    def __init__(self, name: str, store: RecordingStore) -> None:
        super().__init__(name)
        self.store = store
        self.seen_at_put: list[tuple[str, list[Intent]]] = []

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        saved = self.store.history[-1].intents if self.store.history else []
        self.seen_at_put.append((key, saved))
        return await super().put(key, data, meta)


def make_batch(
    ids: list[str], *, dropped: tuple[str, ...] = (), watermark: str | None = None
) -> Batch:
    """A sealed batch of ``ids`` to both targets (uncompressed), plus dropped ids."""
    b = Batcher(router=static_router(TARGETS), compression="none")
    for event_id in ids:
        b.add(event_id, {"id": event_id})
    for event_id in dropped:
        b.add(event_id, None, dropped_by="filter")
    b.watermark = watermark or max([*ids, *dropped])
    batch = b.seal()
    assert batch is not None
    return batch


def setup(
    checkpoint: Checkpoint | None = None, sinks: dict[str, MemorySink] | None = None
) -> tuple[Writer, RecordingStore, dict[str, MemorySink]]:
    """A writer over two memory sinks and a recording store."""
    store = RecordingStore()
    sinks = sinks or {"a": WatchingSink("a", store), "b": WatchingSink("b", store)}
    writer = Writer(sinks, store, checkpoint or Checkpoint(), keep_seconds=3600)
    return writer, store, sinks


async def test_intent_is_saved_before_any_upload() -> None:
    """Every put happens after a durable save that lists the batch's intent."""
    writer, store, sinks = setup()
    batch = make_batch([sid(1), sid(2)])
    with anyio.fail_after(5):
        await writer.write(batch)
    key = batch.objects[0].targets[0][1]
    for sink in sinks.values():
        assert isinstance(sink, WatchingSink)
        (put_key, intents), = sink.seen_at_put
        assert put_key == batch_key(dict(TARGETS)[sink.name], sid(1), sid(2), "none")
        assert len(intents) == 1
        assert intents[0].seq == batch.seq
        assert intents[0].objects[0].ids == [sid(1), sid(2)]
        assert ("a", key) in intents[0].objects[0].targets
    assert store.history[0].cursor is None  # the intent save does not move the cursor


async def test_commit_moves_cursor_fills_seen_and_clears_intent() -> None:
    """After write: cursor at the watermark, covered ids (dropped too) seen, no intent."""
    writer, store, sinks = setup()
    batch = make_batch([sid(1), sid(3)], dropped=(sid(2),), watermark=sid(5))
    with anyio.fail_after(5):
        await writer.write(batch)
        await writer.flush()
    assert store.saves == 2  # the intent, then the commit (flushed: no next batch)
    final = store.history[-1]
    assert final.cursor == sid(5)
    assert set(final.seen) == {sid(1), sid(2), sid(3)}
    assert final.intents == []
    assert final.sinks["a"]["events"] == 2
    assert final.sinks["a"]["objects"] == 1
    assert final.sinks["b"]["last_key"] == batch_key("pb", sid(1), sid(3), "none")
    assert final.totals == {"events_written": 2, "batches": 1, "events_dropped": 1}
    for name, prefix in TARGETS:
        assert list(sinks[name].objects) == [batch_key(prefix, sid(1), sid(3), "none")]
    assert summary_of(writer) == {
        "batches": 1,
        "events_written": 2,
        "objects_written": 1,
        "sink_retries": 0,
    }


async def test_watermark_only_batch_saves_once_and_moves_cursor() -> None:
    """A batch with no objects skips the intent and just commits the cursor."""
    writer, store, sinks = setup()
    batch = Batch(seq=1, objects=(), covered=(), watermark=sid(9))
    with anyio.fail_after(5):
        await writer.write(batch)
        assert store.saves == 0
        await writer.flush()
    assert store.saves == 1
    assert store.history[-1].cursor == sid(9)
    assert all(not s.objects for s in sinks.values())


async def test_cursor_never_moves_backwards() -> None:
    """A batch with a lower watermark (late events) leaves the cursor where it was."""
    writer, store, _ = setup(Checkpoint(cursor=sid(100)))
    with anyio.fail_after(5):
        await writer.write(make_batch([sid(50)], watermark=sid(60)))
        await writer.flush()
    assert store.history[-1].cursor == sid(100)
    assert sid(50) in store.history[-1].seen


async def test_replay_reports_already_exists_and_keeps_bytes() -> None:
    """Writing the same batch again is a no-op per object: ALREADY_EXISTS, bytes unchanged."""
    batch = make_batch([sid(1), sid(2)])
    writer, _, sinks = setup()
    with anyio.fail_after(5):
        await writer.write(batch)
    before = {n: dict(s.objects) for n, s in sinks.items()}
    outcomes: list[tuple[str, PutOutcome]] = []
    store2 = RecordingStore()
    again = Writer(
        sinks,
        store2,
        Checkpoint(),
        keep_seconds=3600,
        on_written=lambda sink, _obj, outcome, _t: outcomes.append((sink, outcome)),
    )
    with anyio.fail_after(5):
        await again.write(batch)
        await again.flush()
    assert sorted(outcomes) == [("a", PutOutcome.ALREADY_EXISTS), ("b", PutOutcome.ALREADY_EXISTS)]
    assert {n: dict(s.objects) for n, s in sinks.items()} == before
    assert store2.history[-1].cursor == batch.watermark


async def test_retriable_sink_error_is_retried() -> None:
    """A transient sink failure is retried and counted; the batch still lands."""
    writer, store, sinks = setup()
    sinks["a"].fail_next = [RetriableSinkError("throttled"), TimeoutError()]
    with anyio.fail_after(5):
        await writer.write(make_batch([sid(1)]))
        await writer.flush()
    assert writer.sink_retries == 2
    assert len(sinks["a"].objects) == 1
    assert store.history[-1].intents == []


async def test_conflicting_object_is_fatal_and_checkpoint_not_advanced() -> None:
    """An existing object with different content stops the write; the cursor stays put."""
    batch = make_batch([sid(1)])
    writer, store, sinks = setup()
    sinks["b"].objects[batch.objects[0].targets[1][1]] = b"other bytes"
    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as info:
        await writer.write(batch)
    assert info.group_contains(FatalSinkError, match="different content")
    assert store.history[-1].cursor is None
    assert len(store.history[-1].intents) == 1


async def test_object_without_targets_does_not_crash_write() -> None:
    """A batch whose first object has no targets is committed without an error."""
    b = Batcher(router=lambda e: () if e.get("off") else (("a", "pa"),), compression="none")
    b.add(sid(1), {"id": sid(1), "off": True})
    b.add(sid(2), {"id": sid(2)})
    b.watermark = sid(2)
    batch = b.seal()
    assert batch is not None
    writer, store, _ = setup()
    with anyio.fail_after(5):
        await writer.write(batch)
        await writer.flush()
    assert store.history[-1].cursor == sid(2)
    assert writer.events_written == 1


async def test_checkpoint_is_saved_once_per_batch() -> None:
    """Back-to-back batches: one save each, the intent of N+1 carrying the commit of N."""
    writer, store, _ = setup()
    batches = [make_batch([sid(2 * n + 1), sid(2 * n + 2)]) for n in range(3)]
    with anyio.fail_after(5):
        for batch in batches:
            await writer.write(batch)
        assert store.saves == 3
        await writer.flush()
        await writer.flush()  # nothing pending: no save
    assert store.saves == 4
    second = store.history[1]
    assert second.cursor == batches[0].watermark  # commit of batch 1 ...
    assert [i.seq for i in second.intents] == [batches[1].seq]  # ... with intent of batch 2
    assert store.history[-1].intents == []
    assert store.history[-1].cursor == sid(6)


async def test_crash_before_the_carried_commit_is_recovered_without_writing() -> None:
    """A crash after the uploads, before the next save: recovery commits, writes nothing."""
    writer, store, sinks = setup()
    batch = make_batch([sid(1), sid(2)])
    with anyio.fail_after(5):
        await writer.write(batch)  # durable: objects everywhere, intent saved, commit not
        saved = await store.load()
        assert saved is not None
        assert saved.cursor is None
        assert len(saved.intents) == 1
        before = {n: dict(s.objects) for n, s in sinks.items()}
        restarted = Writer(sinks, store, saved, keep_seconds=3600)
        stats = await restarted.recover()
    assert stats == {"completed": 1, "copied": 0, "abandoned": 0}
    assert store.history[-1].cursor == batch.watermark
    assert store.history[-1].intents == []
    assert {n: dict(s.objects) for n, s in sinks.items()} == before


async def test_a_stop_cuts_the_sink_backoff_short() -> None:
    """Set the run's Hurry while a put waits out a long Retry-After: it retries at once."""
    writer, _, sinks = setup()
    sinks["a"].fail_next = [RetriableSinkError("throttled", retry_after=60)]
    with stamina.set_testing(False), anyio.fail_after(10):
        async with hurry_scope() as hurry, anyio.create_task_group() as tg:
            tg.start_soon(writer.write, make_batch([sid(1)]))
            while sinks["a"].fail_next:  # noqa: ASYNC110 - the first put has not failed yet
                await anyio.sleep(0.01)
            await anyio.sleep(0.2)
            assert not sinks["a"].objects
            hurry.set()
    assert len(sinks["a"].objects) == 1


# ------------------------------------------------------------------ recovery


def obj_bytes(ids: list[str]) -> bytes:
    """JSONL bytes for ``ids``."""
    return b"".join(b'{"id":"%s"}\n' % i.encode() for i in ids)


def intent(seq: int, objects: list[tuple[list[str], str]], watermark: str) -> Intent:
    """An intent whose objects go to sinks a and b under the given keys."""
    return Intent(
        seq=seq,
        objects=[
            IntentObject(
                [("a", f"pa/{key}"), ("b", f"pb/{key}")],
                ids,
                hashlib.sha256(obj_bytes(ids)).hexdigest(),
            )
            for ids, key in objects
        ],
        covered=sorted({i for ids, _ in objects for i in ids} | {watermark}),
        watermark=watermark,
    )


def crashed(*intents: Intent, cursor: str | None = None) -> Checkpoint:
    """A checkpoint left behind by a crash with ``intents`` open."""
    return Checkpoint(cursor=cursor, seen=DedupeWindow(), intents=list(intents))


async def test_recover_completes_when_every_sink_has_the_object() -> None:
    """An intent fully written everywhere is committed: cursor, seen, intent gone."""
    ids = [sid(1), sid(2)]
    sinks = {"a": MemorySink("a"), "b": MemorySink("b")}
    sinks["a"].objects["pa/x.jsonl"] = obj_bytes(ids)
    sinks["b"].objects["pb/x.jsonl"] = obj_bytes(ids)
    writer, store, _ = setup(crashed(intent(1, [(ids, "x.jsonl")], sid(3))), sinks)
    with anyio.fail_after(5):
        stats = await writer.recover()
    assert stats == {"completed": 1, "copied": 0, "abandoned": 0}
    cp = store.history[-1]
    assert cp.cursor == sid(3)
    assert cp.intents == []
    assert set(cp.seen) == {sid(1), sid(2), sid(3)}


async def test_recover_copies_to_sinks_that_miss_the_object() -> None:
    """An object present in one sink is copied byte for byte to the other, then committed."""
    ids = [sid(1)]
    data = obj_bytes(ids)
    sinks = {"a": MemorySink("a"), "b": MemorySink("b")}
    sinks["b"].objects["pb/x.jsonl"] = data
    writer, store, _ = setup(crashed(intent(1, [(ids, "x.jsonl")], sid(1))), sinks)
    with anyio.fail_after(5):
        stats = await writer.recover()
    assert stats == {"completed": 1, "copied": 1, "abandoned": 0}
    assert sinks["a"].objects == {"pa/x.jsonl": data}
    assert store.history[-1].cursor == sid(1)
    assert store.history[-1].intents == []


async def test_recover_copies_compressed_objects() -> None:
    """Copying a gzip object keeps its bytes and the sink accepts the recomputed sha."""
    b = Batcher(router=static_router(TARGETS), compression="gzip")
    for i in (sid(1), sid(2)):
        b.add(i, {"id": i})
    gz = b.seal()
    assert gz is not None
    obj = gz.objects[0]
    (_, key_a), (_, key_b) = obj.targets
    sinks = {"a": MemorySink("a"), "b": MemorySink("b")}
    sinks["a"].objects[key_a] = obj.data
    cp = crashed(
        Intent(1, [IntentObject(list(obj.targets), list(obj.ids), obj.meta.sha256)], [], sid(2))
    )
    writer, _, _ = setup(cp, sinks)
    with anyio.fail_after(5):
        await writer.recover()
    assert sinks["b"].objects[key_b] == obj.data


async def test_recover_abandons_object_present_nowhere() -> None:
    """An intent with nothing uploaded is dropped; its events will be fetched again."""
    ids = [sid(5)]
    writer, store, sinks = setup(
        crashed(intent(2, [(ids, "y.jsonl")], sid(5)), cursor=sid(1)),
        {"a": MemorySink("a"), "b": MemorySink("b")},
    )
    with anyio.fail_after(5):
        stats = await writer.recover()
    assert stats == {"completed": 0, "copied": 0, "abandoned": 1}
    cp = store.history[-1]
    assert cp.cursor == sid(1)
    assert cp.intents == []
    assert sid(5) not in cp.seen
    assert all(not s.objects for s in sinks.values())


async def test_recover_partial_intent_remembers_written_ids() -> None:
    """When some objects landed and others did not, the landed ids are marked seen."""
    landed, lost = [sid(1)], [sid(2)]
    sinks = {"a": MemorySink("a"), "b": MemorySink("b")}
    sinks["a"].objects["pa/one.jsonl"] = obj_bytes(landed)
    cp = crashed(intent(1, [(landed, "one.jsonl"), (lost, "two.jsonl")], sid(2)), cursor=sid(0))
    writer, store, _ = setup(cp, sinks)
    with anyio.fail_after(5):
        stats = await writer.recover()
    assert stats == {"completed": 0, "copied": 1, "abandoned": 1}
    final = store.history[-1]
    assert final.cursor == sid(0)
    assert sid(1) in final.seen
    assert sid(2) not in final.seen
    assert sinks["b"].objects["pb/one.jsonl"] == obj_bytes(landed)


async def test_recover_handles_several_intents_in_order() -> None:
    """Several intents are each completed or abandoned on their own."""
    sinks = {"a": MemorySink("a"), "b": MemorySink("b")}
    for name in "ab":
        sinks[name].objects[f"p{name}/1.jsonl"] = obj_bytes([sid(1)])
    cp = crashed(
        intent(1, [([sid(1)], "1.jsonl")], sid(1)), intent(2, [([sid(2)], "2.jsonl")], sid(2))
    )
    writer, store, _ = setup(cp, sinks)
    with anyio.fail_after(5):
        stats = await writer.recover()
    assert stats == {"completed": 1, "copied": 0, "abandoned": 1}
    assert store.history[-1].cursor == sid(1)
    assert store.history[-1].intents == []


async def test_recover_without_intents_does_not_save() -> None:
    """Nothing to recover means no save."""
    writer, store, _ = setup()
    with anyio.fail_after(5):
        assert await writer.recover() == {"completed": 0, "copied": 0, "abandoned": 0}
    assert store.saves == 0


async def test_sink_factory_builds_missing_sinks() -> None:
    """A target without a configured sink is built once by the sink factory."""
    built: list[str] = []

    async def factory(name: str) -> Any:
        built.append(name)
        return MemorySink(name)

    store = RecordingStore()
    writer = Writer({}, store, Checkpoint(), keep_seconds=60, sink_factory=factory)
    with anyio.fail_after(5):
        await writer.write(make_batch([sid(1)]))
        await writer.write(make_batch([sid(2)]))
        await writer.flush()
    assert sorted(built) == ["a", "b"]
    assert store.history[-1].cursor == sid(2)


async def test_unknown_sink_without_factory_fails() -> None:
    """A target naming no sink is an error, and the cursor does not move."""
    store = RecordingStore()
    writer = Writer({"a": MemorySink("a")}, store, Checkpoint(), keep_seconds=60)
    with anyio.fail_after(5), pytest.raises(ExceptionGroup) as info:
        await writer.write(make_batch([sid(1)]))
    assert info.group_contains(KeyError)
    assert store.history[-1].cursor is None
async def test_sink_backoff_does_not_block_the_event_loop() -> None:
    """Other tasks keep running while a sink put waits out its backoff."""
    writer, _, sinks = setup()
    sinks["a"].fail_next = [RetriableSinkError("throttled", retry_after=0.4)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.02)
            ticks += 1

    with stamina.set_testing(False), anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await writer.write(make_batch([sid(1)]))
            tg.cancel_scope.cancel()
    assert ticks >= 8


async def test_commit_moves_the_settled_watermark_forward_only() -> None:
    """The batch's settled watermark is committed with it and never moves back."""
    writer, store, _ = setup()
    first = make_batch([sid(10)])
    first = Batch(first.seq, first.objects, first.covered, first.watermark, settled=sid(8))
    with anyio.fail_after(5):
        await writer.write(first)
        await writer.flush()
        assert [c.settled for c in store.history] == [None, sid(8)]  # intent save, commit
        older = make_batch([sid(11)])
        await writer.write(Batch(older.seq, older.objects, older.covered, older.watermark,
                                 settled=sid(7)))  # fmt: skip
        await writer.flush()
    assert store.history[-1].settled == sid(8)
    assert store.history[-1].cursor == sid(11)
