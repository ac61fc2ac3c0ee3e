"""Stream the events of a time range out of one service's archive.

Reports run over archives far larger than memory, so nothing here holds more than
``concurrency`` decoded objects at once: keys are listed day by day, objects are fetched
by a bounded pool of workers, and each object's events go straight to a callback.

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
import gc
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import orjson

from streamer.ids import ID_RE, id_seconds
from streamer.layout import decompress, is_data_key, join
from streamer.records import ObjectInfo
from streamer.sinks.base import Sink

Event = dict[str, Any]
OnEvents = Callable[[list[Event]], None]
HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start, end)`` in epoch seconds, compared with the second in each event id.

    Half-open so that consecutive reports (one per hour, one per day) never count an event
    twice; LeadConduit's own ``end`` is inclusive, which double-counts at the seams.
    """

    start: int
    end: int

    def has(self, event_id: str) -> bool:
        """Whether the event id's creation second lies in the range."""
        return self.start <= id_seconds(event_id) < self.end


@dataclass
class ReadStats:
    """What a read touched: shown on stderr and in ``--format json``."""

    objects_listed: int = 0
    objects_read: int = 0
    bytes_read: int = 0
    events_read: int = 0
    events_in_range: int = 0


def _hour_floor(seconds: int) -> int:
    return seconds - seconds % HOUR


def _fmt_day(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d")


def _fmt_partition(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("dt=%Y-%m-%d/hour=%H")


def extra_hours_for(lag_window: float) -> int:
    """Partitions to read before the range: late events may be ``lag_window`` older."""
    return max(1, math.ceil(lag_window / HOUR))


def _name_ids(key: str) -> tuple[str, str] | None:
    """``(first, last)`` from ``.../<first>_<last>.jsonl*`` or ``(id, id)`` from ``<id>.json``."""
    name = key.rsplit("/", 1)[-1].split(".", 1)[0]
    first, _, last = name.partition("_")
    last = last or first
    if ID_RE.match(first) and ID_RE.match(last):
        return first, last
    return None


def object_overlaps(key: str, rng: TimeRange) -> bool:
    """Whether the ids in the object's name can fall in ``rng`` (unknown names: yes)."""
    ids = _name_ids(key)
    if ids is None:
        return True
    return id_seconds(ids[0]) < rng.end and id_seconds(ids[1]) >= rng.start


async def plan_batched(
    sink: Sink, prefix: str, rng: TimeRange, *, extra_hours: int = 1
) -> AsyncIterator[ObjectInfo]:
    """Data objects under ``prefix`` that may hold events of ``rng``, day by day."""
    first_hour = _hour_floor(rng.start) - extra_hours * HOUR
    last_hour = _hour_floor(max(rng.end - 1, rng.start))
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
        elif info.key.endswith(".json") and _name_ids(info.key) and object_overlaps(info.key, rng):
            yield info


def decode(data: bytes, key: str, rng: TimeRange) -> tuple[int, list[Event]]:
    """``(events in the object, those in rng)``; runs in a worker thread."""
    raw = decompress(data, key)
    lines = [raw] if key.endswith(".json") else [line for line in raw.splitlines() if line]
    kept = []
    for line in lines:
        event = orjson.loads(line)
        eid = event.get("id") if isinstance(event, dict) else None
        if isinstance(eid, str) and ID_RE.match(eid) and rng.has(eid):
            kept.append(event)
    return len(lines), kept


async def read_events(
    sink: Sink,
    plan: AsyncIterator[ObjectInfo],
    rng: TimeRange,
    on_events: OnEvents,
    *,
    concurrency: int = 16,
    stats: ReadStats | None = None,
) -> ReadStats:
    """Fetch every planned object with at most ``concurrency`` in flight.

    ``on_events`` gets each object's in-range events on the event loop thread, one object
    at a time, in no particular order: callers aggregate with order-free operations.
    """
    stats = stats or ReadStats()
    send, receive = anyio.create_memory_object_stream[ObjectInfo](concurrency)

    async def lister() -> None:
        async with send:
            async for info in plan:
                stats.objects_listed += 1
                await send.send(info)

    async def worker() -> None:
        async for info in receive:
            data = await sink.get(info.key)
            total, kept = await anyio.to_thread.run_sync(decode, data, info.key, rng)
            stats.objects_read += 1
            stats.bytes_read += len(data)
            stats.events_read += total
            stats.events_in_range += len(kept)
            if kept:
                on_events(kept)

    # Decoded events are acyclic JSON trees freed by reference counting; with the cyclic
    # GC on, every object's thousands of new dicts trigger full collections that walk
    # them all again, which halves throughput. Restored on the way out.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        async with receive, anyio.create_task_group() as tg:
            tg.start_soon(lister)
            for _ in range(max(1, concurrency)):
                tg.start_soon(worker)
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return stats


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error of a task group, so the CLI can print it as one line."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
