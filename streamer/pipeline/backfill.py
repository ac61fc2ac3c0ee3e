"""``streamer backfill``: fetch a historical time range in parallel id slices.

``[start, end)`` is cut into ``--parallel`` slices of equal time span. Ids begin with
their creation second, so each slice is an id range: ``after_id`` = the slice's first
second (minus one id), ``sort=asc``, and the slice ends at the first id of its end
second. Every slice has its own cursor and its own checkpoint file under ``--state-dir``
and runs the daemon's own Processor, Batcher and Writer (intent, conditional upload,
commit), so it writes the same layout with the same exactly-once guarantee; batch names
come from ids, so slices never collide. A re-run with the same range continues each
slice where its checkpoint stopped. All slices share one HTTP client and therefore the
global request budget (``source.requests_per_second`` / ``source.max_concurrency``).

Beside a live tail: the live checkpoint records ``origin``, the cursor its first run
started from. The tail owns every id from ``origin - lag_window`` on (its first re-scan
reads that far back, and its re-scans never go below it); the backfill clamps ``end`` to
that boundary, so the two never write the same event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.errors import ConfigError, StreamerError
from streamer.ids import id_seconds, synthetic_id
from streamer.observability.progress import Progress
from streamer.pipeline.batcher import Router
from streamer.pipeline.processor import Processor
from streamer.pipeline.runner import Hooks, new_processor, run_pipeline
from streamer.pipeline.slices import Slice, plan
from streamer.pipeline.start import page_decoder
from streamer.pipeline.targets import SinkFactory, open_targets, routed_sink_factory
from streamer.pipeline.writer import Writer
from streamer.records import Batch, Page
from streamer.settings.loader import LoadedConfig
from streamer.settings.model import Settings
from streamer.sinks.base import Sink
from streamer.source.client import LeadConduitClient
from streamer.source.decode import event_ids
from streamer.source.leadconduit import api_query

log = structlog.get_logger("streamer.backfill")


@dataclass
class BackfillSummary:
    """What a backfill did."""

    start: int
    end: int
    clamped: bool = False
    slices: int = 0
    fetched: int = 0
    kept: int = 0
    written: int = 0
    batches: int = 0
    requests: int = 0
    seconds: float = 0.0
    per_slice: dict[str, dict[str, Any]] = field(default_factory=dict)


async def live_boundary(settings: Settings) -> int | None:
    """First second the live tail owns (``origin - lag_window``); None when there is no tail.

    Reads the live checkpoint through the configured store without taking its lease.
    """
    from streamer.checkpoint.factory import build_store

    store = build_store(settings)
    try:
        checkpoint = await store.load()
    finally:
        await store.aclose()
    if checkpoint is None or checkpoint.cursor is None:
        return None
    origin = checkpoint.origin
    if origin is None:
        start = settings.source.start
        if start.after_id:
            origin = start.after_id
        elif start.at is not None:
            origin = synthetic_id(start.at.timestamp())
        else:
            raise StreamerError(
                "the live checkpoint has a cursor but no recorded origin, so where the live "
                "tail began is unknown; set source.start in the config to where it started"
            )
    return int(id_seconds(origin) - settings.source.lag_window)


def within(raw: list[Any], after: str, end: str) -> list[Any]:
    """The events of a page with ids in ``(after, end)``, ascending, each id once.

    Ids are read once, in C for partial events (their ``[]`` is a Python call).
    """
    ids = event_ids(raw)
    inside = [after < event_id < end for event_id in ids]
    events = list(itertools.compress(raw, inside))
    if any(a >= b for a, b in itertools.pairwise(itertools.compress(ids, inside))):
        events = sorted({e["id"]: e for e in events}.values(), key=lambda e: str(e["id"]))
    return events


class _SliceRun:
    """Fetch, process and write one slice (poller -> processor -> writer, like the daemon)."""

    def __init__(
        self,
        piece: Slice,
        loaded: LoadedConfig,
        client: LeadConduitClient,
        sinks: dict[str, Sink],
        router: Router,
        state_dir: Path,
        progress: Progress,
        sink_factory: SinkFactory | None = None,
    ) -> None:
        self.piece = piece
        self.sink_factory = sink_factory  # route: event targets (dead-lettered when unwritable)
        self.loaded = loaded
        self.client = client
        self.sinks = sinks
        self.router = router
        self.store = FileCheckpointStore(state_dir / f"{piece.name}.json")
        self.progress = progress
        self.query = api_query(loaded.settings)
        self.decoder = page_decoder(loaded.settings)
        self.fetched = 0
        self.writer: Writer | None = None
        self.processor: Processor | None = None

    async def run(self) -> None:
        """Until the slice's end id (resuming from its checkpoint)."""
        settings, piece = self.loaded.settings, self.piece
        checkpoint = await self.store.load() or Checkpoint(cursor=piece.after, origin=piece.after)
        self.writer = writer = Writer(
            self.sinks, self.store, checkpoint, keep_seconds=1.0, sink_factory=self.sink_factory
        )
        await writer.recover()
        cursor = checkpoint.cursor or piece.after
        self.progress.add(piece.name, piece.lo, piece.hi, position=float(id_seconds(cursor)))
        if cursor >= piece.last:
            self.progress.finish(piece.name)
            return
        self.processor = processor = new_processor(settings, self.router, cursor)

        def advance(batch: Batch) -> None:
            self.progress.advance(piece.name, batch.kept, writer.checkpoint.cursor)

        pages = self._slice_pages(cursor)
        await run_pipeline(pages, processor, writer, hooks=Hooks(after_write=advance),
                           name=piece.name)  # fmt: skip
        await self.store.save(writer.checkpoint)
        self.progress.finish(piece.name)
        log.info(
            "backfill.slice_done",
            slice=piece.name,
            fetched=self.fetched,
            written=writer.events_written,
            cursor=writer.checkpoint.cursor,
        )

    async def _slice_pages(self, cursor: str) -> AsyncIterator[Page]:
        """The slice's pages, then an empty page at its end id: the last seal's watermark
        then says "slice done"."""
        async for page in self._pages(cursor):
            yield page
        yield Page([], self.piece.last)

    async def _pages(self, cursor: str) -> AsyncIterator[Page]:
        """Pages of the slice, ascending, cut at its end id."""
        end, size = self.piece.end, self.loaded.settings.source.page_size
        while True:
            params = {"sort": "asc", "limit": size, "after_id": cursor, **self.query}
            raw = await self.client.events(params, self.decoder)
            events = within(raw, cursor, end)
            self.fetched += len(events)
            last = raw[-1]["id"] if raw else cursor
            if events:
                cursor = events[-1]["id"]
                yield Page(events, cursor)
            if len(raw) < size or last >= end or not raw:
                return
            cursor = max(cursor, last)


async def _clamp(settings: Settings, summary: BackfillSummary) -> None:
    """Cut ``summary.end`` back to where the live tail begins (it owns what follows)."""
    lo, hi = summary.start, summary.end
    boundary = await live_boundary(settings)
    if boundary is not None and boundary < hi:
        log.warning(
            "backfill.clamped_to_live_tail",
            end=dt.datetime.fromtimestamp(hi, tz=dt.UTC).isoformat(),
            clamped_to=dt.datetime.fromtimestamp(max(lo, boundary), tz=dt.UTC).isoformat(),
            hint="the live tail writes everything from its origin minus lag_window",
        )
        summary.end, summary.clamped = max(lo, boundary), True


def _tally(summary: BackfillSummary, runs: list[_SliceRun]) -> None:
    """Add the slices' counts to ``summary``."""
    for r in runs:
        stats = r.processor.stats if r.processor else None
        written = r.writer.events_written if r.writer else 0
        summary.fetched += r.fetched
        summary.kept += stats.kept if stats else 0
        summary.written += written
        summary.batches += r.writer.batches if r.writer else 0
        summary.per_slice[r.piece.name] = {"fetched": r.fetched, "written": written}


async def backfill(
    loaded: LoadedConfig,
    start: float,
    end: float,
    *,
    parallel: int = 4,
    state_dir: Path | None = None,
    progress: Progress | None = None,
    respect_live: bool = True,
) -> BackfillSummary:
    """Backfill ``[start, end)`` (epoch seconds); see the module docstring."""
    settings = loaded.settings
    lo, hi = int(start), int(end)
    if lo >= hi:
        raise ConfigError(f"--start must be before --end (got {lo} >= {hi})")
    summary = BackfillSummary(start=lo, end=hi)
    if respect_live:
        await _clamp(settings, summary)
    hi = summary.end
    if hi <= lo:
        log.info("backfill.nothing_to_do", reason="the live tail owns the whole range")
        return summary
    state_dir = state_dir or Path(settings.checkpoint.path).parent / "backfill"
    slices = plan(state_dir, lo, hi, parallel)
    summary.slices = len(slices)
    progress = progress or Progress(mode="none")
    started = anyio.current_time()
    async with contextlib.AsyncExitStack() as stack:
        sinks, router = await open_targets(loaded, stack)
        factory = routed_sink_factory(loaded, sinks, router, stack)
        client = LeadConduitClient.from_settings(settings.source)
        stack.push_async_callback(client.aclose)
        runs = [
            _SliceRun(p, loaded, client, sinks, router, state_dir, progress, factory)
            for p in slices
        ]
        log.info("backfill.started", slices=len(runs), start=lo, end=hi, state_dir=str(state_dir))
        with progress:
            async with anyio.create_task_group() as tg:
                for r in runs:
                    tg.start_soon(r.run, name=r.piece.name)
        summary.requests = client.requests
    summary.seconds = anyio.current_time() - started
    _tally(summary, runs)
    log.info(
        "backfill.done",
        slices=summary.slices,
        fetched=summary.fetched,
        written=summary.written,
        seconds=round(summary.seconds, 2),
    )
    return summary
