"""Stream the events of a time range out of one service's archive.

Reports run over archives far larger than memory, so nothing here holds more than a
byte budget of objects at once: keys are listed day by day, objects are fetched by a
bounded pool of tasks, each is scanned (streamed, partially decoded: ``scan.py``) in a
worker, and only its report state comes back to be merged.

Which objects to read comes from their names alone. A batched object lives in the
``dt=/hour=`` partition of its lowest id and is named ``<lowest id>_<highest id>``, so an
object overlaps the range exactly when its name says so. Because late events can pull a
batch's lowest id back by up to ``lag_window``, an object holding events of hour H can sit
in an earlier partition: we list ``extra_hours`` partitions before the range (at least
one) and let the names decide. Per-event objects (``<prefix>/<lead id>/<event id>.json``)
have no partitions: the whole prefix is listed and the event id in the name decides.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import resource
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
from anyio import to_process

from streamer.errors import first_error
from streamer.ids import ID_RE, id_seconds
from streamer.pipeline.layout import is_data_key, join
from streamer.records import ObjectInfo
from streamer.report.scan import Consumer, Result, Spec, scan
from streamer.sinks.base import Sink
from streamer.sinks.local import LocalSink

PROCESS_MIN = 256 << 10
HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start, end)`` in epoch seconds, compared with the second in each event id.

    Half-open so that consecutive reports (one per hour, one per day) never count an event
    twice; LeadConduit's own ``end`` is inclusive, which double-counts at the seams.
    """

    start: float
    end: float

    def has(self, event_id: str) -> bool:
        """Whether the event id's creation second lies in the range (fractional bounds too)."""
        return self.start <= id_seconds(event_id) < self.end


@dataclass
class ReadStats:
    """What a read touched: shown on stderr and in ``--format json``."""

    objects_listed: int = 0
    objects_read: int = 0
    bytes_read: int = 0
    events_read: int = 0
    events_in_range: int = 0
    peak_rss_mb: float = 0.0  # this process plus every worker process, each at its peak
    worker_kb: dict[int, int] = field(default_factory=dict)  # worker pid -> its peak RSS
    scan_cpu_seconds: float = 0.0  # CPU time of the scans (threads and worker processes)


def _hour_floor(seconds: float) -> int:
    return int(seconds // HOUR * HOUR)


def _fmt_day(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d")


def _fmt_partition(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("dt=%Y-%m-%d/hour=%H")


def extra_hours_for(lag_window: float) -> int:
    """Partitions to read before the range: late events may be ``lag_window`` older."""
    return max(1, math.ceil(lag_window / HOUR))


def name_ids(key: str) -> tuple[str, str] | None:
    """``(first, last)`` from ``.../<first>_<last>.jsonl*`` or ``(id, id)`` from ``<id>.json``."""
    name = key.rsplit("/", 1)[-1].split(".", 1)[0]
    first, _, last = name.partition("_")
    last = last or first
    if ID_RE.match(first) and ID_RE.match(last):
        return first, last
    return None


def object_overlaps(key: str, rng: TimeRange) -> bool:
    """Whether the ids in the object's name can fall in ``rng`` (unknown names: yes)."""
    ids = name_ids(key)
    if ids is None:
        return True
    return id_seconds(ids[0]) < rng.end and id_seconds(ids[1]) >= rng.start


async def plan_batched(
    sink: Sink, prefix: str, rng: TimeRange, *, extra_hours: int = 1
) -> AsyncIterator[ObjectInfo]:
    """Data objects under ``prefix`` that may hold events of ``rng``, day by day."""
    first_hour = _hour_floor(rng.start) - extra_hours * HOUR
    last_hour = _hour_floor(max(math.ceil(rng.end) - 1, rng.start))
    low, high = _fmt_partition(first_hour), _fmt_partition(last_hour)
    day = first_hour - first_hour % DAY
    while day <= last_hour:
        async for info in sink.list(join(prefix, f"dt={_fmt_day(day)}/")):
            part = "/".join(info.key.rsplit("/", 3)[-3:-1])
            if is_data_key(info.key) and low <= part <= high and object_overlaps(info.key, rng):
                yield info
        day += DAY


async def plan_all(sink: Sink, prefix: str, rng: TimeRange) -> AsyncIterator[ObjectInfo]:
    """Every data object under ``prefix`` whose name overlaps ``rng``.

    Used for the per-event layout (no partitions) and for a transitions report that looks
    back over the whole archive. Per-event objects count only when named by an event id,
    so manifests or other ``.json`` files under the prefix are never read as events.
    """
    base = prefix.strip("/")
    async for info in sink.list(f"{base}/" if base else ""):
        if is_data_key(info.key):
            if object_overlaps(info.key, rng):
                yield info
        elif info.key.endswith(".json") and name_ids(info.key) and object_overlaps(info.key, rng):
            yield info


class TooManyEvents(Exception):
    """A request would read more events than allowed: refused rather than run for hours."""


class ByteBudget:
    """At most ``limit`` bytes of objects in flight (one larger object may run alone).

    Bounding by objects would let 16 large objects (or 16 decoded ones, as before) sit in
    memory at once; bounding by bytes keeps memory flat whatever the object size.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = anyio.Condition()

    async def acquire(self, size: int) -> None:
        """Wait until ``size`` more bytes fit (or nothing else is in flight)."""
        async with self._changed:
            while self.used and self.used + size > self.limit:
                await self._changed.wait()
            self.used += size

    async def release(self, size: int) -> None:
        """Give ``size`` bytes back."""
        async with self._changed:
            self.used -= size
            self._changed.notify_all()


MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """Worker processes for large objects: one per usable CPU, at most 4 (~45 MB each)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_DEFAULT_WORKERS))


async def read_events(
    sink: Sink,
    plan: AsyncIterator[ObjectInfo],
    spec: Spec,
    consumer: Consumer,
    *,
    concurrency: int = 16,
    max_bytes: int = 64 << 20,
    workers: int | None = None,
    max_events: int | None = None,
    stats: ReadStats | None = None,
) -> ReadStats:
    """Scan every planned object into ``consumer`` with bounded bytes in flight.

    Objects of at least ``PROCESS_MIN`` bytes are scanned in up to ``workers`` processes
    (the decode is CPU-bound and holds the GIL), smaller ones in a thread; more than
    ``max_events`` events read raises TooManyEvents. Local objects
    are read by the worker from disk, remote ones fetched here first. Each object's state
    is merged on the event loop thread, in no particular order (merges are order-free).
    """
    stats = stats or ReadStats()
    procs = default_workers() if workers is None else workers
    limiter = anyio.CapacityLimiter(max(1, procs))
    budget = ByteBudget(max_bytes)
    root = sink.root if isinstance(sink, LocalSink) else None
    send, receive = anyio.create_memory_object_stream[ObjectInfo](concurrency)

    async def lister() -> None:
        async with send:
            async for info in plan:
                stats.objects_listed += 1
                await send.send(info)

    async def worker() -> None:
        async for info in receive:
            await budget.acquire(info.size)
            in_process = bool(procs) and info.size >= PROCESS_MIN
            try:
                source: bytes | str = str(root / info.key) if root else await sink.get(info.key)
                run = to_process.run_sync if in_process else anyio.to_thread.run_sync
                result = await run(scan, source, info.key, spec, limiter=limiter)
            finally:
                await budget.release(info.size)
            consumer.merge(result.state)
            _tally(stats, info.size, result, max_events, in_process)

    try:
        async with receive, anyio.create_task_group() as tg:
            tg.start_soon(lister)
            for _ in range(max(1, concurrency)):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats.peak_rss_mb = round((own + sum(stats.worker_kb.values())) / 1024, 1)
    return stats


def _tally(
    stats: ReadStats, size: int, result: Result, max_events: int | None, in_process: bool
) -> None:
    """Count one scanned object; past ``max_events`` the whole read stops."""
    stats.objects_read += 1
    stats.bytes_read += size
    stats.events_read += result.events_read
    stats.events_in_range += result.events_in_range
    stats.scan_cpu_seconds += result.cpu_seconds
    if max_events is not None and stats.events_read > max_events:
        raise TooManyEvents(
            f"the range holds more than {max_events:,} events; narrow start/end "
            "(or raise report_api.max_events)"
        )
    if in_process:
        stats.worker_kb[result.pid] = result.peak_rss_kb

