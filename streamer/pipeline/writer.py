"""Deliver sealed batches to every sink exactly once, and only then move the checkpoint.

For each batch, in order:

1. record an *intent* (the batch's objects, their targets and ids) in the checkpoint and
   save it durably, before anything is uploaded;
2. upload every object to every target with conditional create, retrying transient
   failures forever with backoff (the bounded streams upstream make the poller wait);
3. commit: move the cursor to the batch's watermark (and the settled watermark with it),
   add its ids to the dedupe window, drop the intent.

The checkpoint is saved once per batch: the commit of batch N is not saved on its own but
rides along with the intent save of batch N+1 (or the next lease heartbeat when no batch
follows, and the final save on drain). Until then the saved intent of N still names its
objects, and they are all written, so a crash in between is the "all sinks wrote, before
commit" case: recovery finds every object and commits without writing anything.

After a crash, :meth:`Writer.recover` looks at each intent: an object present in some
sinks is copied byte for byte from one that has it to those that do not; an object
present nowhere is abandoned, and its events are fetched again because the cursor never
moved past them. A replayed write of an existing object is a no-op (``ALREADY_EXISTS``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import structlog

from streamer.checkpoint.base import CheckpointStore
from streamer.checkpoint.state import Checkpoint, Intent, IntentObject
from streamer.observability.retry import retrying
from streamer.pipeline.layout import CONTENT_TYPE, decompress
from streamer.records import Batch, BatchObject, ObjectMeta, PutOutcome
from streamer.sinks.base import Sink

log = structlog.get_logger("streamer.writer")


def _content_type(key: str) -> str:
    for name, suffix in (("gzip", ".gz"), ("zstd", ".zst")):
        if key.endswith(suffix):
            return CONTENT_TYPE[name]
    return "application/json" if key.endswith(".json") else CONTENT_TYPE["none"]


class Writer:
    """The only code that writes to sinks or saves the checkpoint during a run."""

    def __init__(
        self,
        sinks: Mapping[str, Sink],
        store: CheckpointStore,
        checkpoint: Checkpoint,
        *,
        keep_seconds: float,
        concurrency: int = 16,
        max_backoff: float = 10.0,
        on_written: Callable[[str, BatchObject, PutOutcome, float], None] | None = None,
        sink_factory: Callable[[str], Awaitable[Sink]] | None = None,
    ) -> None:
        self.sinks = dict(sinks)
        self._sink_factory = sink_factory
        self.store = store
        self.checkpoint = checkpoint
        self.keep_seconds = keep_seconds
        self._limit = anyio.CapacityLimiter(concurrency)
        self._max_backoff = max_backoff
        self._on_written = on_written
        self._saving = anyio.Lock()
        self._changes = 0  # commits made in memory
        self._saved = 0  # commits included in a durable save
        #: monotonic time of the last durable save (the lease heartbeat reads it)
        self.last_save = anyio.current_time()
        self.batches = 0
        self.events_written = 0
        self.objects_written = 0
        self.sink_retries = 0

    async def _sink(self, name: str) -> Sink:
        sink = self.sinks.get(name)
        if sink is None and self._sink_factory is not None:
            sink = self.sinks[name] = await self._sink_factory(name)
        if sink is None:
            raise KeyError(f"no sink named {name!r}")
        return sink

    async def _put(self, sink_name: str, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        sink = await self._sink(sink_name)
        async with self._limit:
            return await retrying(
                lambda: sink.put(key, data, meta),
                max_backoff=self._max_backoff,
                on_retry=self._count_retry,
            )

    def _count_retry(self, _attempt: int) -> None:
        self.sink_retries += 1

    @property
    def pending(self) -> bool:
        """A commit is in memory but not yet in a durable save."""
        return self._saved < self._changes

    async def save(self) -> None:
        """Save the checkpoint, retrying transient store failures (bucket stores).

        Serialized: the lease heartbeat and the writer task both save, and two overlapping
        saves would race (one temp file, or two compare-and-swaps on the same ETag).
        """
        async with self._saving:
            changes = self._changes
            await retrying(lambda: self.store.save(self.checkpoint), max_backoff=self._max_backoff)
            self._saved = max(self._saved, changes)
            self.last_save = anyio.current_time()

    async def flush(self) -> None:
        """Save a commit that is still only in memory (on drain, or when idle)."""
        if self.pending:
            await self.save()

    async def write(self, batch: Batch) -> None:
        """Intent, upload everywhere, commit in memory. Returns when the batch is durable.

        Durable means: in every sink, with the intent that names it saved; the commit
        itself is saved with the next checkpoint save (see the module docstring).
        """
        started = anyio.current_time()
        intent = Intent(
            seq=batch.seq,
            objects=[
                IntentObject([tuple(t) for t in o.targets], list(o.ids), o.meta.sha256)  # type: ignore[misc]
                for o in batch.objects
            ],
            covered=list(batch.covered),
            watermark=batch.watermark,
            settled=batch.settled,
        )
        if batch.objects:
            self.checkpoint.intents.append(intent)
            await self.save()
            async with anyio.create_task_group() as tg:
                for obj in batch.objects:
                    for sink_name, key in obj.targets:
                        tg.start_soon(self._deliver, sink_name, key, obj)
        elapsed = anyio.current_time() - started
        self._commit(intent, batch.watermark, batch.covered, batch)
        self._changes += 1  # saved with the next intent, heartbeat or drain: see module doc
        self.batches += 1
        if batch.objects:
            log.info(
                "sink.batch_written",
                seq=batch.seq,
                events=batch.events,
                objects=len(batch.objects),
                bytes=batch.nbytes,
                seconds=round(elapsed, 3),
                keys=[o.targets[0][1] for o in batch.objects[:3]],
            )
        log.debug("checkpoint.advanced", cursor=self.checkpoint.cursor, seq=batch.seq)

    async def _deliver(self, sink_name: str, key: str, obj: BatchObject) -> None:
        t0 = anyio.current_time()
        outcome = await self._put(sink_name, key, obj.data, obj.meta)
        if outcome is PutOutcome.ALREADY_EXISTS:
            log.info("sink.object_already_existed", sink=sink_name, key=key)
        if self._on_written is not None:
            self._on_written(sink_name, obj, outcome, anyio.current_time() - t0)

    def _commit(
        self, intent: Intent, watermark: str | None, covered: Sequence[str], batch: Batch | None
    ) -> None:
        cp = self.checkpoint
        if intent in cp.intents:
            cp.intents.remove(intent)
        if watermark is not None and (cp.cursor is None or watermark > cp.cursor):
            cp.cursor = watermark
        if intent.settled is not None and (cp.settled is None or intent.settled > cp.settled):
            cp.settled = intent.settled
        cp.seen.update(sorted(covered))  # nearly sorted already: timsort's runs
        cp.evict(self.keep_seconds)
        now = dt.datetime.now(tz=dt.UTC).isoformat()
        events = 0
        for obj in intent.objects:
            events += len(obj.ids)
            for sink_name, key in obj.targets:
                entry = cp.sinks.setdefault(sink_name, {"objects": 0, "events": 0})
                entry.update(last_key=key, written_at=now)
                entry["objects"] = int(entry.get("objects", 0)) + 1
                entry["events"] = int(entry.get("events", 0)) + len(obj.ids)
        self.events_written += events
        self.objects_written += len(intent.objects)
        cp.totals["events_written"] = cp.totals.get("events_written", 0) + events
        cp.totals["batches"] = cp.totals.get("batches", 0) + (1 if intent.objects else 0)
        if batch is not None:
            cp.totals["events_dropped"] = cp.totals.get("events_dropped", 0) + sum(
                batch.dropped_by.values()
            )

    async def recover(self) -> dict[str, int]:
        """Finish or abandon the intents a previous run left behind."""
        stats = {"completed": 0, "copied": 0, "abandoned": 0}
        for intent in list(self.checkpoint.intents):
            complete: list[IntentObject] = []
            for obj in intent.objects:
                present = [t for t in obj.targets if await (await self._sink(t[0])).exists(t[1])]
                if not present:
                    continue
                missing = [t for t in obj.targets if t not in present]
                if missing:
                    src_sink, src_key = present[0]
                    data = await (await self._sink(src_sink)).get(src_key)
                    meta = self._meta_for(src_key, data, len(obj.ids))
                    for sink_name, key in missing:
                        await self._put(sink_name, key, data, meta)
                        stats["copied"] += 1
                        log.info("writer.object_copied", source=src_sink, sink=sink_name, key=key)
                complete.append(obj)
            if len(complete) == len(intent.objects):
                self._commit(intent, intent.watermark, intent.covered, None)
                stats["completed"] += 1
            else:
                self.checkpoint.intents.remove(intent)
                self.checkpoint.seen.update(sorted({i for o in complete for i in o.ids}))
                stats["abandoned"] += 1
            log.info(
                "writer.intent_recovered",
                seq=intent.seq,
                objects=len(intent.objects),
                complete=len(complete),
            )
        if any(stats.values()):
            await self.save()
        return stats

    @staticmethod
    def _meta_for(key: str, data: bytes, events: int) -> ObjectMeta:
        raw = decompress(data, key)
        count = events or raw.count(b"\n")
        return ObjectMeta(_content_type(key), None, hashlib.sha256(data).hexdigest(), count)


def summary_of(writer: Writer) -> dict[str, Any]:
    """Counters for the end-of-run summary."""
    return {
        "batches": writer.batches,
        "events_written": writer.events_written,
        "objects_written": writer.objects_written,
        "sink_retries": writer.sink_retries,
    }
