"""What the simulator knows: every event generated so far and which ones a query can see.

Events are stored once, pre-serialized with orjson and keyed by id, next to a sorted list of
visible ids; a page is a bisection plus a byte join, so serving is cheap enough for the
daemon's benchmarks to measure the daemon and not the simulator.

Visibility is driven by the wall clock, lazily: on each request (`refresh`) live leads whose
time has come are generated and pending events whose `visible_at` has passed are merged in.
No background task is needed, and a test can read the state at any moment.
"""

from __future__ import annotations

import heapq
import random
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from streamer.simulator.events import EventFactory
from streamer.simulator.ids import id_time, synthetic_id
from streamer.simulator.query import EventQuery, project

if TYPE_CHECKING:
    from streamer.simulator.options import SimulatorOptions

__all__ = ["SimulatorState"]


def _pack(event: dict[str, Any]) -> bytes:
    """Serialize for storage, copied into an exact-size buffer.

    orjson over-allocates and then shrinks its output in place; a million such blocks,
    interleaved with the generator's short-lived dicts, fragmented the heap to about 3x the
    payload. One copy brings it back to about 1.25x.
    """
    return bytes(memoryview(orjson.dumps(event)))


class SimulatorState:
    """The event store behind one simulator instance (see the module docstring).

    Visibility rules: backlog events are visible at start, except a `late_fraction` chosen
    deterministically, which appear `late_delay` seconds after start. A live event becomes
    visible once its id's second is over (so, without late events, visibility order is id
    order), or `late_delay` seconds after that if it was chosen to be late.
    """

    def __init__(
        self, options: SimulatorOptions, clock: Callable[[], float] = time.time
    ) -> None:
        self.options = options
        self.clock = clock  # tests and benchmarks pass a faster or jumping clock
        self.requests = 0
        self.events_served = 0
        self.bytes_served = 0  # page bodies sent, faults included (what a client read)
        self.faults: Counter[str] = Counter()
        self._factory = EventFactory(options.seed)
        self._late_rng = random.Random(f"{options.seed}:late")
        self._blobs: dict[str, bytes] = {}
        self._ids: list[str] = []
        self._pending: list[tuple[float, str]] = []
        late: list[str] = []
        blobs, ids, late_rng = self._blobs, self._ids, self._late_rng
        fraction = options.late_fraction
        for event in self._factory.backlog(options.events, end_ts=clock() - 1):
            eid = event["id"]
            blobs[eid] = _pack(event)
            if fraction and late_rng.random() < fraction:
                late.append(eid)
            else:
                ids.append(eid)
        ids.sort()
        self.started_at = clock()
        self._pending = [(self.started_at + options.late_delay, eid) for eid in late]
        heapq.heapify(self._pending)
        self._next_live = self.started_at

    def refresh(self, now: float | None = None) -> None:
        """Generate due live leads and reveal pending events whose time has come."""
        now = self.clock() if now is None else now
        rate = self.options.live_rate
        if rate > 0:
            while self._next_live <= now:
                lead = self._factory.lead(self._next_live)
                for event in lead:
                    self._add_pending(event)
                self._next_live += len(lead) / rate
        due: list[str] = []
        while self._pending and self._pending[0][0] <= now:
            due.append(heapq.heappop(self._pending)[1])
        if due:
            due.sort()
            ids = self._ids
            if not ids or due[0] > ids[-1]:
                ids.extend(due)
            else:
                ids.extend(due)
                ids.sort()  # timsort merges the two sorted runs in linear time

    def _add_pending(self, event: dict[str, Any]) -> None:
        eid = event["id"]
        self._blobs[eid] = _pack(event)
        visible_at = float(id_time(eid) + 1)
        if self.options.late_fraction and self._late_rng.random() < self.options.late_fraction:
            visible_at += self.options.late_delay
        heapq.heappush(self._pending, (visible_at, eid))

    def all_events(self) -> list[dict[str, Any]]:
        """Every event generated so far, visible or not, sorted by id (decoded copies)."""
        self.refresh()
        return [orjson.loads(self._blobs[eid]) for eid in sorted(self._blobs)]

    def visible_ids(self) -> list[str]:
        """The ids a query could return right now, sorted."""
        self.refresh()
        return list(self._ids)

    def pending_count(self) -> int:
        """How many generated events are not visible yet."""
        return len(self._pending)

    def get(self, event_id: str) -> bytes | None:
        """The stored JSON of a visible event, or None."""
        self.refresh()
        i = bisect_left(self._ids, event_id)
        if i < len(self._ids) and self._ids[i] == event_id:
            return self._blobs[event_id]
        return None

    def page(self, query: EventQuery) -> tuple[bytes, int]:
        """The JSON array body for a query (ids in bounds, sorted, up to `limit`) and its size."""
        items = self.items(query)
        return b"[" + b",".join(items) + b"]", len(items)

    def below(self, query: EventQuery, count: int, back: float = 0.0) -> list[bytes]:
        """Up to `count` visible events at or below `after_id` minus `back` seconds, ascending.

        What a server that does not honour `after_id` exactly would repeat (fault `repeat`).
        """
        if query.after_id is None:
            return []
        top = f"{int(query.after_id, 16) + 1:024x}"
        if back:
            top = min(top, synthetic_id(max(0, id_time(query.after_id) - int(back))))
        shifted = replace(
            query, after_id=None, start_id=None, before_id=top, end_id=None,
            descending=True, limit=count,
        )
        return self.items(shifted)[::-1]

    def items(self, query: EventQuery) -> list[bytes]:
        """The serialized events a query returns (ids in bounds, sorted, up to `limit`)."""
        self.refresh()
        ids = self._ids
        lo, hi = 0, len(ids)
        if query.after_id is not None:
            lo = max(lo, bisect_right(ids, query.after_id))
        if query.start_id is not None:
            lo = max(lo, bisect_left(ids, query.start_id))
        if query.before_id is not None:
            hi = min(hi, bisect_left(ids, query.before_id))
        if query.end_id is not None:
            hi = min(hi, bisect_left(ids, query.end_id))
        if lo >= hi:
            return []
        blobs = self._blobs
        limit = query.limit
        if not query.needs_dict or query.ids_only:
            n = limit
            window = (
                ids[max(lo, hi - n) : hi][::-1] if query.descending else ids[lo : min(lo + n, hi)]
            )
            if query.ids_only:  # `include=id`: no need to decode the stored event
                return [b'{"id":"' + eid.encode() + b'"}' for eid in window]
            return [blobs[eid] for eid in window]
        order = range(hi - 1, lo - 1, -1) if query.descending else range(lo, hi)
        out: list[bytes] = []
        for i in order:
            event = orjson.loads(blobs[ids[i]])
            if query.matcher is not None and not query.matcher(event):
                continue
            if query.include or query.exclude:
                event = project(event, query.include, query.exclude)
            out.append(orjson.dumps(event))
            if len(out) == limit:
                break
        return out
