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

import argparse
import contextlib
import datetime as dt
import itertools
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson
import structlog

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.daemon.runtime import page_decoder
from streamer.errors import ConfigError, StreamerError
from streamer.fsutil import write_private
from streamer.ids import id_before, id_seconds, is_id, synthetic_id
from streamer.observability.metrics import Metrics
from streamer.observability.progress import Progress
from streamer.pipeline.batcher import Batcher, Router, static_router
from streamer.pipeline.processor import Processor
from streamer.pipeline.writer import Writer
from streamer.records import Batch, Page
from streamer.settings.loader import LoadedConfig
from streamer.settings.model import Settings
from streamer.sinks.base import Sink
from streamer.source.client import LeadConduitClient
from streamer.source.leadconduit import api_query
from streamer.stages.base import build_pipeline

log = structlog.get_logger("streamer.backfill")
PAGE_BUFFER = 4
BATCH_BUFFER = 2
PLAN_FILE = "plan.json"


def parse_time(text: str) -> float:
    """Epoch seconds from an ISO 8601 time (UTC if no zone), epoch seconds, or an event id."""
    value = text.strip()
    if is_id(value.lower()):
        return float(id_seconds(value.lower()))
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a time: use ISO 8601 (2026-01-31T00:00:00Z), epoch seconds "
            "or an event id"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice: ids of seconds ``[lo, hi)``; its name is also its checkpoint file."""

    lo: int
    hi: int

    @property
    def name(self) -> str:
        """Stable name from the bounds."""
        return f"slice-{self.lo}-{self.hi}"

    @property
    def after(self) -> str:
        """The ``after_id`` that includes the first second's events."""
        return id_before(synthetic_id(self.lo))

    @property
    def end(self) -> str:
        """First id past the slice (exclusive)."""
        return synthetic_id(self.hi)

    @property
    def last(self) -> str:
        """The cursor of a finished slice."""
        return id_before(self.end)


def split(lo: int, hi: int, parts: int) -> list[Slice]:
    """``[lo, hi)`` seconds in ``parts`` slices of (nearly) equal span, none empty."""
    parts = max(1, min(parts, hi - lo))
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return [Slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


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
    from streamer.daemon.runtime import build_store

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


def _plan(state_dir: Path, lo: int, hi: int, parallel: int) -> list[Slice]:
    """The slices of this range: the saved plan on a re-run, else a new one (saved)."""
    path = state_dir / PLAN_FILE
    if path.exists():
        plan = orjson.loads(path.read_bytes())
        if (plan["start"], plan["end"]) != (lo, hi):
            raise ConfigError(
                f"{state_dir} holds a backfill of another range ({plan['start']}..{plan['end']}); "
                "finish it, or pass another --state-dir"
            )
        slices = [Slice(int(a), int(b)) for a, b in plan["slices"]]
        if len(slices) != parallel:
            log.warning("backfill.plan_reused", slices=len(slices), requested=parallel)
        return slices
    slices = split(lo, hi, parallel)
    doc = {"start": lo, "end": hi, "slices": [[s.lo, s.hi] for s in slices]}
    write_private(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return slices


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
        sink_factory: Callable[[str], Awaitable[Sink]] | None = None,
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
        batcher = Batcher.from_settings(settings, self.router)
        self.processor = processor = Processor(
            build_pipeline(settings.pipeline), batcher, cursor=cursor, metrics=Metrics()
        )
        page_send, page_recv = anyio.create_memory_object_stream[Page](PAGE_BUFFER)
        batch_send, batch_recv = anyio.create_memory_object_stream[Batch](BATCH_BUFFER)

        async def poll() -> None:
            async with page_send:
                async for page in self._pages(cursor):
                    await page_send.send(page)
                # an empty page at the end id: the last seal's watermark says "slice done"
                await page_send.send(Page([], piece.last))

        async def write() -> None:
            async with batch_recv:
                async for batch in batch_recv:
                    await writer.write(batch)
                    self.progress.advance(piece.name, batch.kept, writer.checkpoint.cursor)

        async with anyio.create_task_group() as tg:
            tg.start_soon(poll, name=f"{piece.name} poller")
            tg.start_soon(processor.run, page_recv, batch_send, name=f"{piece.name} processor")
            tg.start_soon(write, name=f"{piece.name} writer")
        await self.store.save(writer.checkpoint)
        self.progress.finish(piece.name)
        log.info(
            "backfill.slice_done",
            slice=piece.name,
            fetched=self.fetched,
            written=writer.events_written,
            cursor=writer.checkpoint.cursor,
        )

    async def _pages(self, cursor: str):  # type: ignore[no-untyped-def]
        """Pages of the slice, ascending, cut at its end id."""
        end, size = self.piece.end, self.loaded.settings.source.page_size
        while True:
            params = {"sort": "asc", "limit": size, "after_id": cursor, **self.query}
            raw = await self.client.events(params, self.decoder)
            events = [e for e in raw if cursor < e["id"] < end]
            if any(a["id"] >= b["id"] for a, b in itertools.pairwise(events)):
                events = sorted({e["id"]: e for e in events}.values(), key=lambda e: str(e["id"]))
            self.fetched += len(events)
            last = raw[-1]["id"] if raw else cursor
            if events:
                cursor = events[-1]["id"]
                yield Page(events, cursor)
            if len(raw) < size or last >= end or not raw:
                return
            cursor = max(cursor, last)


async def open_targets(
    loaded: LoadedConfig, stack: contextlib.AsyncExitStack
) -> tuple[dict[str, Sink], Router]:
    """The config's sinks, opened (closed by ``stack``), and its router: as the daemon has them.

    Shared by backfill and replay, which write like the daemon without being it.
    """
    from streamer.daemon.runtime import _open_sink
    from streamer.sinks.factory import build_sink

    sinks: dict[str, Sink] = {s.name: build_sink(s) for s in loaded.services}
    for sink in sinks.values():
        stack.push_async_callback(sink.aclose)
    async with anyio.create_task_group() as tg:
        for sink in sinks.values():
            tg.start_soon(_open_sink, sink)
    router: Router = static_router([(s.name, s.prefix) for s in loaded.services])
    if loaded.settings.firehose.route == "event":
        from streamer.pipeline.routing import EventRouter

        router = EventRouter(loaded, sinks)
    return sinks, router


def routed_sink_factory(
    loaded: LoadedConfig, sinks: dict[str, Sink], router: Router, stack: contextlib.AsyncExitStack
) -> Callable[[str], Awaitable[Sink]] | None:
    """For ``route: event``: the writer's sinks for each event's own targets, as the daemon's."""
    from streamer.pipeline.deadletter import dead_letters
    from streamer.pipeline.routing import EventRouter
    from streamer.sinks.routed import RoutedSinkFactory

    if not isinstance(router, EventRouter):
        return None
    return RoutedSinkFactory(router, dead_letters(loaded, sinks, Metrics()), stack)


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
        boundary = await live_boundary(settings)
        if boundary is not None and boundary < hi:
            log.warning(
                "backfill.clamped_to_live_tail",
                end=dt.datetime.fromtimestamp(hi, tz=dt.UTC).isoformat(),
                clamped_to=dt.datetime.fromtimestamp(max(lo, boundary), tz=dt.UTC).isoformat(),
                hint="the live tail writes everything from its origin minus lag_window",
            )
            hi, summary.clamped = max(lo, boundary), True
    summary.end = hi
    if hi <= lo:
        log.info("backfill.nothing_to_do", reason="the live tail owns the whole range")
        return summary
    state_dir = state_dir or Path(settings.checkpoint.path).parent / "backfill"
    slices = _plan(state_dir, lo, hi, parallel)
    summary.slices = len(slices)
    progress = progress or Progress(mode="none")
    src = settings.source
    started = anyio.current_time()
    async with contextlib.AsyncExitStack() as stack:
        sinks, router = await open_targets(loaded, stack)
        factory = routed_sink_factory(loaded, sinks, router, stack)
        client = LeadConduitClient.from_settings(src)
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
    for r in runs:
        stats = r.processor.stats if r.processor else None
        written = r.writer.events_written if r.writer else 0
        summary.fetched += r.fetched
        summary.kept += stats.kept if stats else 0
        summary.written += written
        summary.batches += r.writer.batches if r.writer else 0
        summary.per_slice[r.piece.name] = {"fetched": r.fetched, "written": written}
    log.info(
        "backfill.done",
        slices=summary.slices,
        fetched=summary.fetched,
        written=summary.written,
        seconds=round(summary.seconds, 2),
    )
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer backfill``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--start", required=True, help="ISO 8601 time, epoch seconds or event id")
    parser.add_argument("--end", required=True, help="exclusive; clamped to the live tail's start")
    parser.add_argument("--parallel", type=int, default=4, help="slices fetched at once")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="slice checkpoints (default: beside checkpoint.path, in backfill/)",
    )
    parser.add_argument("--progress", choices=["auto", "bar", "log", "none"], default="auto")


def main(args: argparse.Namespace) -> int:
    """Run a backfill; 2 on bad usage, 0 when every slice is done."""
    from streamer.cli.common import load

    if args.parallel < 1:
        raise ConfigError("--parallel must be at least 1")
    start, end = parse_time(args.start), parse_time(args.end)
    if int(start) >= int(end):
        raise ConfigError(f"--start ({args.start}) must be before --end ({args.end})")
    loaded = load(args)
    state_dir = Path(args.state_dir) if args.state_dir else None
    progress = Progress(mode=args.progress)
    summary = anyio.run(
        lambda: backfill(
            loaded, start, end, parallel=args.parallel, state_dir=state_dir, progress=progress
        )
    )
    print(
        f"backfill: {summary.slices} slice(s), {summary.fetched} fetched, "
        f"{summary.written} written in {summary.seconds:.1f}s"
        + (" (end clamped to the live tail's start)" if summary.clamped else ""),
        file=sys.stderr,
    )
    return 0
