"""The stage chain: run each page's events through the stages into the batcher.

It sits between the poller and the writer on bounded streams. It seals a batch when the
batcher says so (count, bytes, age, hour boundary) and hands it to the writer; when the
writer is slow, ``send`` blocks, the page stream fills, and the poller waits: memory stays
bounded by the stream sizes, never by the backlog.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from streamer.observability.metrics import Metrics
from streamer.pipeline.batcher import Batcher
from streamer.records import Batch, Page
from streamer.source.decode import PartialEvent, event_ids, full_event, raw_lines
from streamer.stages.base import Stage
from streamer.stages.filter import FilterStage
from streamer.stages.transform import TransformStage

log = structlog.get_logger("streamer.processor")


@dataclass(slots=True)
class ProcessorStats:
    """Counts for the summary line."""

    fetched: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    late: int = 0


class Processor:
    """Consumes pages, produces sealed batches."""

    def __init__(
        self,
        stages: Sequence[Stage],
        batcher: Batcher,
        *,
        cursor: str,
        metrics: Metrics,
        settled: str | None = None,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        self.stages = list(stages)
        # Filters before the first transform can run on partially decoded events; the
        # rest needs whole events, decoded only for events that survived those filters.
        split = next(
            (i for i, st in enumerate(self.stages) if not isinstance(st, FilterStage)),
            len(self.stages),
        )
        self.head = [st for st in self.stages[:split] if isinstance(st, FilterStage)]
        self.tail = self.stages[split:]
        # a tail of transforms that can edit raw JSON spares the whole-event decode
        raw_tail = [st for st in self.tail if isinstance(st, TransformStage) and st.raw_edits]
        self.raw_tail = raw_tail if raw_tail and len(raw_tail) == len(self.tail) else None
        self.batcher = batcher
        self.last_main = cursor
        self.settled = settled
        self.metrics = metrics
        self.on_caught_up = on_caught_up
        self.stats = ProcessorStats()
        self.caught_up = False

    async def run(
        self, pages: ObjectReceiveStream[Page], batches: ObjectSendStream[Batch]
    ) -> None:
        """Until the page stream ends; then seal and hand over what is open."""
        async with pages, batches:
            while True:
                page: Page | None = None
                ended = False
                timeout = self.batcher.age_left() if self.batcher.open_covered else None
                with anyio.move_on_after(timeout):
                    try:
                        page = await pages.receive()
                    except anyio.EndOfStream:
                        ended = True
                if ended:
                    break
                if page is None:
                    await self._seal(batches, "max_age")
                    continue
                await self._handle(page, batches)
            await self._seal(batches, "shutdown")

    async def _seal(self, batches: ObjectSendStream[Batch], why: str) -> None:
        self.batcher.watermark = self.last_main
        self.batcher.settled = self.settled
        batch = self.batcher.seal()
        if batch is not None:
            log.debug("batch.sealed", seq=batch.seq, events=batch.kept, reason=why)
            await batches.send(batch)

    async def _handle(self, page: Page, batches: ObjectSendStream[Batch]) -> None:
        if page.caught_up:
            self.caught_up = True
            self.metrics.idle = True
            self.metrics.progressed()
            self.last_main = max(self.last_main, page.cursor or self.last_main)
            self._settle(page)
            if self.on_caught_up is not None:
                await self._seal(batches, "caught_up")
                self.on_caught_up()
            elif not self.batcher.open_covered:
                await self._seal(batches, "idle")
            return
        self.metrics.idle = False
        events, stats, batcher = page.events, self.stats, self.batcher
        stats.fetched += len(events)
        self.metrics.fetched.inc(len(events))
        if page.late:
            stats.late += len(events)
        outs, dropped_by, drops = self._stages(events)
        raws = raw_lines(outs)
        ids = event_ids(events)
        main = not page.late
        done = 0
        while done < len(ids):
            taken = batcher.take(ids, outs, dropped_by, raws, done, hours=main)
            if main and taken > done:
                self.last_main = max(self.last_main, max(ids[done:taken]))
            done = taken
            if batcher.full():
                await self._seal(batches, "full")
            elif done < len(ids):
                await self._seal(batches, "hour")
        self._count(len(outs), drops)
        batcher.end_page()
        if page.cursor and page.cursor > self.last_main:
            self.last_main = page.cursor
        self._settle(page)

    def _stages(self, events: list[dict[str, Any]]) -> tuple[list[Any], list[str], Counter[str]]:
        """Every event of a page through the stages: the outcome (None: dropped), who
        dropped it (or "") and how many each dropped. Stages are pure, so running them
        page by page (each filter's rule set answered for the page at once) gives what
        event by event would, with less overhead.
        """
        outs: list[Any] = list(events)
        dropped_by = [""] * len(events)
        drops: Counter[str] = Counter()
        alive: Sequence[int] = range(len(events))
        for stage in self.head:
            page = outs if len(alive) == len(outs) else list(map(outs.__getitem__, alive))
            verdicts = stage.verdicts(page)
            gone = list(itertools.compress(alive, map(operator.not_, verdicts)))
            for i in gone:
                outs[i], dropped_by[i] = None, stage.name
            if gone:
                drops[stage.name] += len(gone)
            alive = list(itertools.compress(alive, verdicts))
        if self.tail:
            for i in alive:
                outs[i], dropped_by[i] = self._tail(outs[i])
                if outs[i] is None:
                    drops[dropped_by[i]] += 1
        return outs, dropped_by, drops

    def _count(self, events: int, drops: Counter[str]) -> None:
        """Kept and dropped counts of a page (per page: a labelled ``inc`` costs ~1 µs)."""
        kept = events - sum(drops.values())
        self.metrics.kept.inc(kept)
        self.stats.kept += kept
        for name, count in drops.items():
            self.stats.dropped[name] = self.stats.dropped.get(name, 0) + count
            self.metrics.dropped.labels(name).inc(count)

    def _tail(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The stages after the leading filters: the event and who dropped it (or "").

        A partial event that went through the filters unchanged is edited on its raw
        JSON when every tail stage can (``TransformStage.process_raw``); otherwise it
        is decoded whole first. Either way the result is a new event: a partial one keeps
        its raw line, a whole one is encoded by the batcher.
        """
        if self.raw_tail is not None and isinstance(event, PartialEvent):
            edited: PartialEvent = event
            for transform in self.raw_tail:
                result = transform.process_raw(edited)
                if result is None:
                    break
                edited = result
            else:
                return edited, ""
        out: dict[str, Any] | None = full_event(event)
        for stage in self.tail:
            out = stage.process(out)  # type: ignore[arg-type]
            if out is None:
                return None, stage.name
        return out, ""

    def _settle(self, page: Page) -> None:
        """Take the page's settled watermark: it holds once this page is durable."""
        if page.settled is not None and (self.settled is None or page.settled > self.settled):
            self.settled = page.settled
