"""Group events and accumulate the column counters, one object's events at a time.

Memory is one small counter dict per group, whatever the archive size. Aggregators of
different objects (worker processes) merge by adding counters. Group order in the output
is deterministic: numbers numerically, then text, then booleans, missing/null last, so
``--format json`` diffs cleanly between runs.

Group values are normalized so that what prints the same is one group: ``5``, ``5.0`` and
``"5"`` are one group (a string in canonical decimal form is that number; ``"05"`` or
``"1,100"`` stay text, so zip codes keep their zeros), a missing field and ``null`` are one
group, and ``true`` never merges with ``1``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.report.columns import Counts, compute, count_event
from streamer.rules import CompiledRuleSet

Event = dict[str, Any]
_MISSING: Any = object()
TIME_FIELDS = ("day", "hour")
_CANONICAL = re.compile(r"-?(?:0|[1-9]\d{0,15})(?:\.\d{0,15}[1-9])?")
Tagged = tuple[int, Any]  # (0 number | 1 text | 2 boolean | 3 null, value): sorts and hashes apart


def field_value(event: Event, path: str) -> Any:
    """The value at a dotted path; typed values give their ``normal``; _MISSING if absent."""
    node: Any = event
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    if isinstance(node, dict) and "normal" in node:
        node = node["normal"]
    return node


def _number(value: float) -> Tagged:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return (0, int(value))
    return (0, value)


def tagged(value: Any) -> Tagged:
    """A hashable, sortable, picklable group key part for a field value."""
    if value is None or value is _MISSING:
        return (3, None)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        if _CANONICAL.fullmatch(value):
            return _number(float(value) if "." in value else int(value))
        return (1, value)
    return (1, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def group_value(event: Event, path: str) -> Tagged:
    """The tagged group value: ``day``/``hour`` from the id, containers as JSON text."""
    if path in TIME_FIELDS:
        when = dt.datetime.fromtimestamp(int(event["id"][:8], 16), tz=dt.UTC)
        return (1, when.strftime("%Y-%m-%d" if path == "day" else "%Y-%m-%dT%H:00Z"))
    return tagged(field_value(event, path))


def _getter(path: str) -> Callable[[Event], Tagged]:
    """``group_value`` for one path, precompiled: the report's hot loop calls it per event.

    Scalar values are tagged through a small cache (group values repeat a lot); time
    buckets are cached per hour of the id.
    """
    cache: dict[Any, Tagged] = {}
    if path in TIME_FIELDS:
        fmt = "%Y-%m-%d" if path == "day" else "%Y-%m-%dT%H:00Z"

        def by_time(event: Event) -> Tagged:
            hour = int(event["id"][:8], 16) // 3600
            found = cache.get(hour)
            if found is None:
                when = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC)
                found = cache[hour] = (1, when.strftime(fmt))
            return found

        return by_time
    parts = path.split(".")

    def get(event: Event) -> Tagged:
        node: Any = event
        for part in parts:
            if type(node) is dict:
                node = node.get(part, _MISSING)
                if node is _MISSING:
                    return (3, None)
            else:
                node = field_value({"_": node}, f"_.{part}")
                if node is _MISSING:
                    return (3, None)
        if type(node) is dict and "normal" in node:
            node = node["normal"]
        if type(node) is str or type(node) is int:
            found = cache.get((type(node), node))
            if found is None:
                found = tagged(node)
                if len(cache) < 100_000:
                    cache[(type(node), node)] = found
            return found
        return tagged(node)

    return get


@dataclass
class Aggregator:
    """Counters per group key, plus which group-by fields were never seen."""

    group_by: list[str]
    rules: CompiledRuleSet | None = None
    groups: dict[tuple[Tagged, ...], Counts] = field(default_factory=dict)
    unseen: set[str] = field(default_factory=set)
    events_counted: int = 0

    def __post_init__(self) -> None:
        self.unseen = {f for f in self.group_by if f not in TIME_FIELDS}
        self._getters = [_getter(f) for f in self.group_by]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_getters"]  # closures: rebuilt on the other side
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._getters = [_getter(f) for f in self.group_by]

    def add(self, events: list[Event]) -> None:
        """Account for a batch of in-range events."""
        getters, rules, groups = self._getters, self.rules, self.groups
        counted = 0
        for event in events:
            if self.unseen:
                self._mark_seen(event)
            if rules is not None and not rules.matches(event):
                continue
            key = tuple([get(event) for get in getters])
            counts = groups.get(key)
            if counts is None:
                counts = groups[key] = {}
            count_event(counts, event)
            counted += 1
        self.events_counted += counted

    def _mark_seen(self, event: Event) -> None:
        for name in list(self.unseen):
            if field_value(event, name) is not _MISSING:
                self.unseen.discard(name)

    def state(self) -> tuple[dict[tuple[Tagged, ...], Counts], set[str], int]:
        """What :meth:`merge` takes: picklable, so worker processes can return it."""
        return self.groups, self.unseen, self.events_counted

    def merge(self, state: tuple[dict[tuple[Tagged, ...], Counts], set[str], int]) -> None:
        """Add another aggregator's counters (same group-by and rules)."""
        groups, unseen, counted = state
        for key, counts in groups.items():
            mine = self.groups.get(key)
            if mine is None:
                self.groups[key] = dict(counts)
                continue
            for name, value in counts.items():
                mine[name] = mine.get(name, 0) + value
        self.unseen &= unseen
        self.events_counted += counted

    def project(self, keep: list[int]) -> Aggregator:
        """The same counters grouped by only the group-by fields at ``keep`` (summed)."""
        out = Aggregator([self.group_by[i] for i in keep], self.rules)
        out.unseen = set(self.unseen)
        out.events_counted = self.events_counted
        for key, counts in self.groups.items():
            out.merge(({tuple(key[i] for i in keep): counts}, out.unseen, 0))
        return out

    def rows(self, columns: list[str]) -> list[dict[str, Any]]:
        """One row per group: ``{"group": {field: value}, column: value, ...}``, sorted."""
        out = []
        for key in sorted(self.groups):
            group = {f: v for f, (_tag, v) in zip(self.group_by, key, strict=True)}
            out.append({"group": group, **compute(self.groups[key], columns)})
        return out

    def total(self, columns: list[str]) -> dict[str, Any]:
        """All groups together (ratios recomputed from the summed counters, not averaged)."""
        merged: Counts = {}
        for counts in self.groups.values():
            for name, value in counts.items():
                merged[name] = merged.get(name, 0) + value
        return compute(merged, columns)
