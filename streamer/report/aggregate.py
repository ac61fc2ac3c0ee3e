"""Group events and accumulate the column counters, one object's events at a time.

Memory is one small counter dict per group, whatever the archive size. Group order in the
output is deterministic (sorted by value, missing values last) so ``--format json`` diffs
cleanly between runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.ids import id_seconds
from streamer.report.columns import Counts, compute, count_event
from streamer.rules import CompiledRuleSet

Event = dict[str, Any]
GroupValue = str | int | float | bool | None
_MISSING: Any = object()
TIME_FIELDS = ("day", "hour")


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


def group_value(event: Event, path: str) -> Any:
    """A hashable group value: ``day``/``hour`` from the id, containers as JSON text."""
    if path in TIME_FIELDS:
        when = dt.datetime.fromtimestamp(id_seconds(event["id"]), tz=dt.UTC)
        return when.strftime("%Y-%m-%d" if path == "day" else "%Y-%m-%dT%H:00Z")
    value = field_value(event, path)
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def _sort_key(values: tuple[Any, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((1, "") if v is None or v is _MISSING else (0, str(v)) for v in values)


@dataclass
class Aggregator:
    """Counters per group key, plus which group-by fields were ever seen."""

    group_by: list[str]
    rules: CompiledRuleSet | None = None
    groups: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    unseen: set[str] = field(default_factory=set)
    events_counted: int = 0

    def __post_init__(self) -> None:
        self.unseen = {f for f in self.group_by if f not in TIME_FIELDS}

    def add(self, events: list[Event]) -> None:
        """Account for a batch of in-range events."""
        group_by, rules, groups = self.group_by, self.rules, self.groups
        for event in events:
            if self.unseen:
                self._mark_seen(event)
            if rules is not None and not rules.matches(event):
                continue
            key = tuple(group_value(event, f) for f in group_by)
            counts = groups.get(key)
            if counts is None:
                counts = groups[key] = {}
            count_event(counts, event)
            self.events_counted += 1

    def _mark_seen(self, event: Event) -> None:
        for name in list(self.unseen):
            if field_value(event, name) is not _MISSING:
                self.unseen.discard(name)

    def rows(self, columns: list[str]) -> list[dict[str, Any]]:
        """One row per group: ``{"group": {field: value}, column: value, ...}``, sorted."""
        out = []
        for key in sorted(self.groups, key=_sort_key):
            group = {
                f: (None if v is _MISSING else v) for f, v in zip(self.group_by, key, strict=True)
            }
            out.append({"group": group, **compute(self.groups[key], columns)})
        return out

    def total(self, columns: list[str]) -> dict[str, Any]:
        """All groups together (ratios recomputed from the summed counters, not averaged)."""
        merged: Counts = {}
        for counts in self.groups.values():
            for name, value in counts.items():
                merged[name] = merged.get(name, 0) + value
        return compute(merged, columns)
