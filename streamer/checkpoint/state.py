"""The checkpoint document: cursor, dedupe window, open intents, per-sink progress.

It is one JSON document so that every store (file, S3, Azure) can replace it atomically.
``intents`` are batches whose upload started but is not known to be complete everywhere:
on start-up each is either finished (copied from a sink that has it to those that do
not) or, when no sink has it, abandoned so its events are fetched again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.errors import CheckpointError
from streamer.ids import id_seconds, is_id

VERSION = 1


@dataclass(slots=True)
class Intent:
    """A batch being written: its targets and what committing it accounts for."""

    seq: int
    targets: list[tuple[str, str]]
    covered: list[str]
    watermark: str | None
    events: int
    sha256: list[str]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "seq": self.seq,
            "targets": [list(t) for t in self.targets],
            "covered": self.covered,
            "watermark": self.watermark,
            "events": self.events,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Intent:
        """Parse one intent."""
        return cls(
            seq=int(raw["seq"]),
            targets=[(str(a), str(b)) for a, b in raw["targets"]],
            covered=[str(i) for i in raw["covered"]],
            watermark=raw.get("watermark"),
            events=int(raw.get("events", 0)),
            sha256=[str(s) for s in raw.get("sha256", [])],
        )


@dataclass(slots=True)
class Checkpoint:
    """Everything the daemon needs to resume exactly where it left off."""

    cursor: str | None = None
    seen: set[str] = field(default_factory=set)
    intents: list[Intent] = field(default_factory=list)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    owner: dict[str, Any] | None = None
    updated_at: str | None = None

    def evict(self, keep_seconds: float) -> None:
        """Forget dedupe ids older than ``keep_seconds`` behind the cursor."""
        if self.cursor is None:
            return
        floor = id_seconds(self.cursor) - keep_seconds
        self.seen = {i for i in self.seen if id_seconds(i) >= floor}

    def to_bytes(self) -> bytes:
        """Serialize (sorted, so diffs and tests are stable)."""
        doc = {
            "version": VERSION,
            "cursor": self.cursor,
            "cursor_time": (
                dt.datetime.fromtimestamp(id_seconds(self.cursor), tz=dt.UTC).isoformat()
                if self.cursor
                else None
            ),
            "seen": sorted(self.seen),
            "intents": [i.to_json() for i in self.intents],
            "sinks": self.sinks,
            "totals": self.totals,
            "owner": self.owner,
            "updated_at": dt.datetime.now(tz=dt.UTC).isoformat(),
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> Checkpoint:
        """Parse; a corrupt document is a CheckpointError, never a silent reset."""
        hint = "restore it from backup or move it away to start over (events may be re-sent)"
        try:
            doc = orjson.loads(data)
            if not isinstance(doc, dict) or doc.get("version") != VERSION:
                raise ValueError("not a streamer checkpoint (version 1)")
            cursor = doc.get("cursor")
            if cursor is not None and not is_id(cursor):
                raise ValueError(f"cursor {cursor!r} is not an event id")
            seen = {str(i) for i in doc.get("seen", [])}
            if not all(is_id(i) for i in seen):
                raise ValueError("seen holds something that is not an event id")
            return cls(
                cursor=cursor,
                seen=seen,
                intents=[Intent.from_json(i) for i in doc.get("intents", [])],
                sinks=dict(doc.get("sinks", {})),
                totals={k: int(v) for k, v in doc.get("totals", {}).items()},
                owner=doc.get("owner"),
                updated_at=doc.get("updated_at"),
            )
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
            raise CheckpointError(f"checkpoint {where} is corrupt ({exc}); {hint}") from None
