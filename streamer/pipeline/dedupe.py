"""The dedupe window: ids already delivered (or in flight) near the cursor.

A set answers "seen?" in O(1); a deque in insertion order lets eviction drop old ids
in O(1) amortized, because main-stream ids arrive in increasing order. Late ids arrive
out of order but are inside the window anyway, so they are evicted a little later than
strictly necessary, never too early.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from itertools import compress


class DedupeWindow:
    """A set of ids with cheap eviction of everything below a floor id."""

    __slots__ = ("_ids", "_order")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        ordered = sorted(set(ids))
        self._ids = set(ordered)
        self._order: deque[str] = deque(ordered)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def sorted_ids(self) -> list[str]:
        """Every id, sorted; cheap because insertion order is already nearly sorted."""
        return sorted(self._order)

    def add(self, event_id: str) -> None:
        """Remember ``event_id``."""
        if event_id not in self._ids:
            self._ids.add(event_id)
            self._order.append(event_id)

    def add_new(self, ids: list[str]) -> list[bool]:
        """Remember ``ids``; for each, whether it was new (a repeat in ``ids`` is not).

        One comprehension and two bulk updates for a page instead of a call per id.
        """
        known = self._ids
        new = [event_id not in known for event_id in ids]
        fresh = ids if all(new) else list(compress(ids, new))
        before = len(known)
        known.update(fresh)
        if len(known) - before == len(fresh):
            self._order.extend(fresh)
            return new
        known.difference_update(fresh)  # an id twice in ``ids``: one at a time instead
        return [self._add_one(event_id) for event_id in ids]

    def _add_one(self, event_id: str) -> bool:
        if event_id in self._ids:
            return False
        self.add(event_id)
        return True

    def update(self, ids: Iterable[str]) -> None:
        """Remember several ids: as ``add`` one at a time would, in three bulk steps.

        The checkpoint adds each committed batch's ids here (thousands per batch).
        """
        known = self._ids
        fresh = [event_id for event_id in ids if event_id not in known]
        before = len(known)
        known.update(fresh)
        if len(known) - before != len(fresh):  # an id twice in ``ids``: keep the first
            fresh = list(dict.fromkeys(fresh))
        self._order.extend(fresh)

    def evict_below(self, floor_id: str) -> int:
        """Forget ids below ``floor_id`` (from the old end); returns how many went."""
        gone = 0
        order, ids = self._order, self._ids
        while order and order[0] < floor_id:
            ids.discard(order.popleft())
            gone += 1
        return gone
