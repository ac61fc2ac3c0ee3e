"""``streamer replay --from-archive SOURCE.yaml --start T1 --end T2 -c TARGET.yaml``.

LeadConduit keeps events for 90 days; the archive keeps them as long as you like. When a
rule changes, replay runs the archived events of ``[T1, T2)`` through the *target*
config's pipeline into the target's sinks, exactly as the daemon would have written
them: the same Processor (filters, transforms), Batcher (layout, hour cuts, names from
ids) and Writer (intent, conditional put, commit). An :class:`ArchiveSource` stands in for
the API: it yields ``records.Page`` objects of events in ascending id order, merged
across objects (late events can put an hour's events in the previous hour's object).

Exactly once: the replay has its own checkpoint (``--state``, default beside the target
checkpoint, in ``replay/``); a crashed replay re-run with the same arguments recovers the
batch it was writing (same names, ``ALREADY_EXISTS``) and continues after its cursor, so
nothing is written twice. Writing into the archive being read is refused.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import msgspec
import orjson
import structlog

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.errors import ConfigError
from streamer.ids import ID_RE, id_before, synthetic_id
from streamer.pipeline.runner import new_processor, run_pipeline
from streamer.pipeline.start import page_decoder
from streamer.pipeline.targets import open_targets, routed_sink_factory
from streamer.pipeline.writer import Writer
from streamer.records import BatchObject, ObjectInfo, Page, PutOutcome
from streamer.report.reader import TimeRange, extra_hours_for, name_ids, plan_all, plan_batched
from streamer.report.scan import ArchiveError, lines_of
from streamer.settings.loader import LoadedConfig
from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink
from streamer.source.decode import PageDecoder

log = structlog.get_logger("streamer.replay")
PAGE_SIZE = 1000


class _Id(msgspec.Struct):
    id: str


_ids = msgspec.json.Decoder(_Id)


def object_lines(data: bytes, key: str, rng: TimeRange, after: str) -> list[tuple[str, bytes]]:
    """``(id, raw line)`` of an object's events in ``rng`` past ``after``, sorted by id."""
    out: list[tuple[str, bytes]] = []
    runs = [orjson.dumps(orjson.loads(data))] if key.endswith(".json") else lines_of(data, key)
    for run in runs:
        for line in run.split(b"\n"):
            if not line.strip():
                continue
            try:
                eid = _ids.decode(line).id
            except msgspec.DecodeError:
                raise ArchiveError(f"object {key}: a line is not an event with an id") from None
            if ID_RE.match(eid) and eid > after and rng.has(eid):
                out.append((eid, bytes(line)))
    out.sort()
    return out


@dataclass
class ArchiveSource:
    """Archived events of one service as API-like pages, ascending, each id once."""

    loaded: LoadedConfig
    service: ResolvedService
    sink: Sink
    rng: TimeRange
    decoder: PageDecoder
    page_size: int = PAGE_SIZE
    read: int = 0

    async def _objects(self) -> list[ObjectInfo]:
        settings = self.loaded.settings
        plan: AsyncIterator[ObjectInfo]
        if settings.layout == "per_event":
            plan = plan_all(self.sink, self.service.prefix, self.rng)
        else:
            extra = extra_hours_for(settings.source.lag_window)
            plan = plan_batched(self.sink, self.service.prefix, self.rng, extra_hours=extra)
        infos = [info async for info in plan]
        return sorted(infos, key=lambda i: ((name_ids(i.key) or ("",))[0], i.key))

    async def pages(self, after: str) -> AsyncIterator[Page]:
        """Pages of events after ``after``; objects open only when the merge reaches them."""
        pending = await self._objects()
        pending.reverse()
        heap: list[tuple[str, int, bytes]] = []
        iters: dict[int, list[tuple[str, bytes]]] = {}
        batch: list[bytes] = []
        last = after
        while pending or heap:
            first = (name_ids(pending[-1].key) or ("",))[0] if pending else None
            if first is not None and (not heap or first <= heap[0][0]):
                info = pending.pop()
                data = await self.sink.get(info.key)
                lines = await anyio.to_thread.run_sync(
                    object_lines, data, info.key, self.rng, after
                )
                lines.reverse()
                if lines:
                    iters[id(lines)] = lines
                    eid, raw = lines.pop()
                    heapq.heappush(heap, (eid, id(lines), raw))
                continue
            eid, ref, raw = heapq.heappop(heap)
            rest = iters[ref]
            if rest:
                nid, nraw = rest.pop()
                heapq.heappush(heap, (nid, ref, nraw))
            else:
                del iters[ref]
            if eid == last:
                continue  # the same event in two objects: once
            last = eid
            batch.append(raw)
            if len(batch) >= self.page_size:
                yield self._page(batch, last)
                batch = []
        if batch:
            yield self._page(batch, last)

    def _page(self, raws: list[bytes], cursor: str) -> Page:
        self.read += len(raws)
        events = self.decoder.decode(b"[" + b",".join(raws) + b"]", self.service.label)
        return Page(events, cursor)


@dataclass
class ReplaySummary:
    """What a replay did."""

    read: int = 0
    written: int = 0
    batches: int = 0
    cursor: str | None = None


def _check_targets(source: ResolvedService, target: LoadedConfig) -> None:
    for svc in target.services:
        same = (svc.name, svc.bucket, svc.prefix.strip("/")) == (
            source.name, source.bucket, source.prefix.strip("/"))  # fmt: skip
        if same:
            raise ConfigError(
                f"replay would write into the archive it reads ({svc.label} prefix={svc.prefix}); "
                "give the target config another prefix or bucket"
            )


async def replay(
    source: LoadedConfig,
    service: ResolvedService,
    target: LoadedConfig,
    rng: TimeRange,
    state: Path,
    *,
    on_written: Callable[[str, BatchObject, PutOutcome, float], None] | None = None,
) -> ReplaySummary:
    """Replay ``rng`` of ``service``'s archive through ``target``'s pipeline and sinks."""
    _check_targets(service, target)
    settings = target.settings
    store = FileCheckpointStore(state)
    start_id = id_before(synthetic_id(int(rng.start)))
    checkpoint = await store.load() or Checkpoint(cursor=start_id, origin=start_id)
    async with contextlib.AsyncExitStack() as stack:
        sinks, router = await open_targets(target, stack)
        factory = routed_sink_factory(target, sinks, router, stack)
        writer = Writer(sinks, store, checkpoint, keep_seconds=1.0, on_written=on_written,
                        sink_factory=factory)  # fmt: skip
        await writer.recover()
        cursor = checkpoint.cursor or start_id
        src = ArchiveSource(source, service, await _open_archive(service, stack), rng,
                            page_decoder(settings) or PageDecoder())  # fmt: skip
        processor = new_processor(settings, router, cursor)
        log.info("replay.started", source=service.label, start=rng.start, end=rng.end,
                 cursor=cursor, state=str(state))  # fmt: skip
        await run_pipeline(src.pages(cursor), processor, writer, name="replay")
        await store.save(writer.checkpoint)
        summary = ReplaySummary(src.read, writer.events_written, writer.batches,
                                writer.checkpoint.cursor)  # fmt: skip
    log.info("replay.done", read=summary.read, written=summary.written, batches=summary.batches)
    return summary


async def _open_archive(service: ResolvedService, stack: contextlib.AsyncExitStack) -> Sink:
    """The archive's service as a sink to read from (closed by ``stack``)."""
    from streamer.sinks.factory import build_sink

    archive = build_sink(service)
    if service.name != "local":
        await archive.open()
    stack.push_async_callback(archive.aclose)
    return archive
