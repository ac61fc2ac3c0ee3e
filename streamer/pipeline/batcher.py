"""Turn processed events into sealed batches with deterministic names.

One batch is open at a time, so the checkpoint stays a single id: everything at or
below a sealed batch's ``watermark`` is either in that batch, in an earlier one, or was
dropped by a stage. A batch is sealed when it reaches ``max_events`` or ``max_bytes``,
when it is ``max_age`` old, or when the main stream crosses into another hour (so a batch
lives in the ``dt=/hour=`` partition of its events; late events may join the open batch).
Lines are compressed page by page as they arrive, so an open batch is held compressed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from streamer.pipeline.layout import (
    CONTENT_TYPE,
    batch_key,
    compressor,
    partition,
    per_event_key,
)
from streamer.pipeline.runs import Group, Room, StaticRouter, plan
from streamer.pipeline.runs import Router as Router  # re-exported: callers import them here
from streamer.pipeline.runs import Target as Target
from streamer.pipeline.runs import static_router as static_router
from streamer.records import Batch, BatchObject, ObjectMeta
from streamer.settings.model import Settings


class Batcher:
    """Accumulates events into one open batch and seals it on the configured triggers."""

    def __init__(
        self,
        *,
        router: Router,
        layout: str = "batched",
        compression: str = "gzip",
        level: int | None = None,
        max_events: int = 5000,
        max_bytes: int = 16 * 1024 * 1024,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router = router
        self._per_event = layout == "per_event"
        fixed = router.targets if isinstance(router, StaticRouter) else ()
        #: every event's targets, when one run of events can be taken in bulk
        self._fixed = fixed if fixed and not self._per_event else None
        self._compression = compression
        self._level = level
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_age = max_age
        self._clock = clock
        self._seq = 0
        self._reset()
        self.watermark: str | None = None
        self.settled: str | None = None
        self._sealed_watermark: str | None = None
        self._sealed_settled: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, router: Router) -> Batcher:
        """The batcher ``batch:`` and ``layout:`` describe."""
        b = settings.batch
        return cls(
            router=router,
            layout=settings.layout,
            compression=b.compression,
            level=b.compression_level,
            max_events=b.max_events,
            max_bytes=b.max_bytes,
            max_age=b.max_age,
        )

    def _reset(self) -> None:
        self._groups: dict[tuple[Target, ...], Group] = {}
        self._covered: list[str] = []
        self._kept = 0
        self._bytes = 0
        self._dropped: dict[str, int] = {}
        self._opened: float | None = None
        self._hour: str | None = None
        self._hour_ids = ("", "")  # [first id, first id of the next hour) of ``_hour``

    @property
    def open_events(self) -> int:
        """Events kept in the open batch."""
        return self._kept

    @property
    def open_covered(self) -> int:
        """Ids (kept or dropped) accounted for by the open batch."""
        return len(self._covered)

    def _group(self, targets: tuple[Target, ...]) -> Group:
        group = self._groups.get(targets)
        if group is None:
            comp = None if self._per_event else compressor(self._compression, self._level)
            group = self._groups[targets] = Group(targets, comp)
        return group

    def crosses_hour(self, event_id: str) -> bool:
        """Whether a main-stream event belongs to another hour than the open batch."""
        if self._hour is None or self._kept == 0:
            return False
        lo, hi = self._hour_ids  # string bounds: no date formatting per event
        return not lo <= event_id < hi

    def add(
        self,
        event_id: str,
        event: dict[str, Any] | None,
        *,
        dropped_by: str = "",
        raw: Any = None,
    ) -> None:
        """Account for one processed event; ``None`` means a stage dropped it.

        ``raw`` is the event's JSON exactly as the API sent it (no newline inside); when
        given it is written as is instead of re-encoding ``event``.
        """
        self.take([event_id], [event], [dropped_by], [raw], 0, hours=False)

    def take(
        self,
        ids: Sequence[str],
        events: Sequence[dict[str, Any] | None],
        dropped_by: Sequence[str],
        raws: Sequence[Any],
        start: int,
        *,
        hours: bool,
    ) -> int:
        """``add`` each event from ``start`` on; the index of the first one not taken.

        Stops after the event that makes the batch :meth:`full`, and (``hours``) before
        an event that :meth:`crosses_hour`: the caller seals and goes on from there. One
        call per run of events, not one per event: this is the pipeline's inner loop.
        """
        if start < len(ids) and self._opened is None:
            self._opened = self._clock()
        if self._fixed is not None:
            return self._take_run(ids, events, dropped_by, raws, start, hours)
        covered, dropped, router = self._covered, self._dropped, self._router
        lo, hi = self._hour_ids
        last_targets: tuple[Target, ...] | None = None
        group = None
        for i in range(start, len(ids)):
            event_id = ids[i]
            if hours and self._kept and not lo <= event_id < hi:
                return i
            covered.append(event_id)
            event = events[i]
            if event is None:
                dropped[dropped_by[i]] = dropped.get(dropped_by[i], 0) + 1
                continue
            targets = router(event)
            if not targets:
                dropped["unrouted"] = dropped.get("unrouted", 0) + 1
                continue
            if self._hour is None:
                lo, hi = self._open_hour(event_id)
            raw = raws[i]
            line = orjson.dumps(event) if raw is None else raw
            if targets is not last_targets:
                group, last_targets = self._group(targets), targets
            assert group is not None
            group.count += 1
            group.ids.append(event_id)
            if event_id < group.first_id:
                group.first_id = event_id
            if event_id > group.last_id:
                group.last_id = event_id
            self._kept += 1
            self._bytes += len(line) + 1
            if self._per_event:
                group.objects.append(self._object_for(event, event_id, bytes(line), targets))
            else:
                group.pending.append(line)
            if self._kept >= self._max_events or self._bytes >= self._max_bytes:
                return i + 1
        return len(ids)

    def _take_run(
        self,
        ids: Sequence[str],
        events: Sequence[dict[str, Any] | None],
        dropped_by: Sequence[str],
        raws: Sequence[Any],
        start: int,
        hours: bool,
    ) -> int:
        """``take`` in bulk when every event goes to ``_fixed`` (``pipeline/runs.py``)."""
        assert self._fixed is not None
        bounds = self._hour_ids if self._hour is not None else None
        room = Room(self._kept, self._bytes, self._max_events, self._max_bytes, bounds, hours)
        run = plan(ids, events, dropped_by, raws, start, room, self._open_hour)
        self._covered.extend(ids[start : run.cut])
        for name, count in run.dropped.items():
            self._dropped[name] = self._dropped.get(name, 0) + count
        if run.ids:
            group = self._group(self._fixed)
            group.count += len(run.ids)
            group.ids.extend(run.ids)
            group.first_id = min(group.first_id, min(run.ids))
            group.last_id = max(group.last_id, max(run.ids))
            group.pending.extend(run.lines)
            self._kept += len(run.ids)
            self._bytes += run.nbytes
        return run.cut

    def _open_hour(self, event_id: str) -> tuple[str, str]:
        self._hour = partition(event_id)
        begin = int(event_id[:8], 16) // 3600 * 3600
        self._hour_ids = (f"{begin:08x}" + "0" * 16, f"{begin + 3600:08x}" + "0" * 16)
        return self._hour_ids

    def _object_for(
        self, event: dict[str, Any], event_id: str, line: bytes, targets: tuple[Target, ...]
    ) -> BatchObject:
        meta = ObjectMeta("application/json", None, hashlib.sha256(line).hexdigest(), 1)
        keyed = tuple((sink, per_event_key(prefix, event)) for sink, prefix in targets)
        return BatchObject(keyed, line, meta, event_id, event_id, (event_id,))

    def end_page(self) -> None:
        """Compress the lines the last page added (one call per page, not per event)."""
        for group in self._groups.values():
            if group.pending and group.compressor is not None:
                group.pending.append(b"")
                group.chunks.append(group.compressor.compress(b"\n".join(group.pending)))
                group.pending.clear()

    def full(self) -> bool:
        """Whether the open batch hit ``max_events`` or ``max_bytes``."""
        return self._kept >= self._max_events or self._bytes >= self._max_bytes

    def due(self) -> bool:
        """Whether the open batch is older than ``max_age`` (and holds anything)."""
        return self._opened is not None and self._clock() - self._opened >= self._max_age

    def age_left(self) -> float:
        """Seconds until the open batch is due (``max_age`` when none is open)."""
        if self._opened is None:
            return self._max_age
        return max(0.0, self._max_age - (self._clock() - self._opened))

    def seal(self) -> Batch | None:
        """Close the open batch; None when it accounts for nothing."""
        if (
            not self._covered
            and self.watermark == self._sealed_watermark
            and self.settled == self._sealed_settled
        ):
            return None
        self._sealed_watermark = self.watermark
        self._sealed_settled = self.settled
        self.end_page()
        objects: list[BatchObject] = []
        for group in self._groups.values():
            if self._per_event:
                objects.extend(group.objects)
                continue
            if group.count == 0 or group.compressor is None:
                continue
            group.chunks.append(group.compressor.flush())
            data = b"".join(group.chunks)
            meta = ObjectMeta(
                CONTENT_TYPE[self._compression], None, hashlib.sha256(data).hexdigest(), group.count
            )
            keyed = tuple(
                (sink, batch_key(prefix, group.first_id, group.last_id, self._compression))
                for sink, prefix in group.targets
            )
            objects.append(
                BatchObject(keyed, data, meta, group.first_id, group.last_id, tuple(group.ids))
            )
        self._seq += 1
        batch = Batch(
            seq=self._seq,
            objects=tuple(objects),
            covered=tuple(self._covered),
            watermark=self.watermark,
            settled=self.settled,
            kept=self._kept,
            dropped_by=dict(self._dropped),
        )
        self._reset()
        return batch
