"""A run of a page's events taken into the open batch with C-level list operations.

``Batcher.take`` walks events one at a time: per event a few comparisons, appends and
counter updates in Python, the pipeline's inner loop. When every kept event goes to the
same targets (a static router, the usual case) the walk is not needed: which events are
kept, their lines, the dropped counts, where the hour ends and where the batch fills up
are all found with ``map``, ``compress``, ``accumulate`` and ``bisect`` over the page's
lists. :func:`plan` finds the same cut and the same contents the walk would, and the
batcher adds them in bulk.
"""

from __future__ import annotations

import operator
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress, repeat
from typing import Any

import orjson

from streamer.pipeline.layout import Compressor
from streamer.records import BatchObject

Target = tuple[str, str]  # (sink name, prefix)
Router = Callable[[dict[str, Any]], tuple[Target, ...]]


@dataclass(slots=True)
class Group:
    """Events of the open batch that go to the same targets."""

    targets: tuple[Target, ...]
    compressor: Compressor | None
    chunks: list[bytes] = field(default_factory=list)
    pending: list[bytes] = field(default_factory=list)
    first_id: str = "f" * 24
    last_id: str = "0" * 24
    count: int = 0
    ids: list[str] = field(default_factory=list)
    objects: list[BatchObject] = field(default_factory=list)


class StaticRouter:
    """Every event goes to the same targets (``targets``: the batcher takes runs in bulk)."""

    __slots__ = ("targets",)

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = tuple(targets)

    def __call__(self, _event: dict[str, Any]) -> tuple[Target, ...]:
        return self.targets


def static_router(targets: Sequence[Target]) -> Router:
    """Every event goes to every enabled service."""
    return StaticRouter(targets)


@dataclass(slots=True)
class Run:
    """What events ``start`` up to ``cut`` add to the open batch."""

    cut: int
    ids: list[str]  # kept, in order
    lines: list[Any]  # their JSON lines (raw bytes, or encoded)
    nbytes: int  # the lines' bytes plus one newline each
    dropped: Counter[str]


@dataclass(frozen=True, slots=True)
class Room:
    """The open batch's state that decides where a run stops."""

    kept: int
    nbytes: int
    max_events: int
    max_bytes: int
    bounds: tuple[str, str] | None  # [first id, first id of the next hour); None: no hour yet
    hours: bool  # stop before an event of another hour (the main stream)


def plan(
    ids: Sequence[str],
    events: Sequence[Any],
    dropped_by: Sequence[str],
    raws: Sequence[Any],
    start: int,
    room: Room,
    open_hour: Callable[[str], tuple[str, str]],
) -> Run:
    # ``open_hour`` is called with the run's first kept event when no hour is open: that
    # event is always taken (the walk adds it before it checks anything)
    """The run from ``start``: where ``Batcher.take``'s walk stops, and what it adds.

    The walk stops before an event of another hour (``room.hours``, once the batch keeps
    an event; the first kept event opens the hour when none is open) and after the event
    that makes the batch hold ``max_events`` events or ``max_bytes`` bytes.
    """
    end = len(ids)
    keep = list(map(operator.is_not, events[start:end], repeat(None)))
    bounds, opened = room.bounds, None
    if bounds is None and True in keep:
        bounds = opened = open_hour(ids[start + keep.index(True)])
    if room.hours and bounds is not None:
        # the walk checks every event once the batch keeps one: from the run's start, or
        # from just after the event that opened the hour
        check = start if opened is None else start + keep.index(True) + 1
        end = _hour_end(ids, check, end, bounds)
        del keep[end - start :]
    lines = list(compress(raws[start:end], keep))
    try:
        lens = list(map(len, lines))
    except TypeError:  # a kept event without its raw line (a whole event): encode it
        kept = zip(compress(range(start, end), keep), lines, strict=True)
        lines = [orjson.dumps(events[i]) if r is None else r for i, r in kept]
        lens = list(map(len, lines))
    nbytes = sum(lens) + len(lens)
    if room.kept + len(lens) >= room.max_events or room.nbytes + nbytes >= room.max_bytes:
        end, nbytes = _fill_end(keep, lines, lens, start, room)
    elif len(lens) == end - start:  # nothing dropped
        return Run(end, list(ids[start:end]), lines, nbytes, Counter())
    dropped = Counter(compress(dropped_by[start:end], map(operator.not_, keep)))
    return Run(end, list(compress(ids[start:end], keep)), lines, nbytes, dropped)


def _fill_end(
    keep: list[bool], lines: list[Any], lens: list[int], start: int, room: Room
) -> tuple[int, int]:
    """Where the batch fills up (after the event that fills it); cuts the lists there."""
    sizes = list(accumulate(map(operator.add, lens, repeat(1))))
    last = min(
        room.max_events - room.kept - 1,  # the kept event that fills the count
        bisect_left(sizes, room.max_bytes - room.nbytes),  # ... or the bytes
    )
    last = max(last, 0)
    end = list(compress(range(start, start + len(keep)), keep))[last] + 1
    del keep[end - start :], lines[last + 1 :]
    return end, sizes[last]


def _hour_end(ids: Sequence[str], check: int, end: int, bounds: tuple[str, str]) -> int:
    """The first index from ``check`` whose id is outside ``bounds`` (else ``end``)."""
    lo, hi = bounds
    window = ids[check:end]
    if not window or (lo <= min(window) and max(window) < hi):
        return end
    return next(check + j for j, event_id in enumerate(window) if not lo <= event_id < hi)
