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

from streamer.dedupe import DedupeWindow
from streamer.errors import CheckpointError
from streamer.ids import id_seconds, is_id, synthetic_id

VERSION = 1


@dataclass(slots=True)
class IntentObject:
    """One object of an intent: where it goes and which event ids it holds."""

    targets: list[tuple[str, str]]
    ids: list[str]
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"targets": [list(t) for t in self.targets], "ids": self.ids, "sha256": self.sha256}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IntentObject:
        """Parse one intent object."""
        ids = [str(i) for i in raw["ids"]]
        if not all(is_id(i) for i in ids):
            raise ValueError("an intent object holds something that is not an event id")
        return cls(
            targets=[(str(a), str(b)) for a, b in raw["targets"]],
            ids=ids,
            sha256=str(raw["sha256"]),
        )


@dataclass(slots=True)
class Intent:
    """A batch being written: its objects and what committing it accounts for."""

    seq: int
    objects: list[IntentObject]
    covered: list[str]
    watermark: str | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "seq": self.seq,
            "objects": [o.to_json() for o in self.objects],
            "covered": self.covered,
            "watermark": self.watermark,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Intent:
        """Parse one intent."""
        covered = [str(i) for i in raw["covered"]]
        watermark = raw.get("watermark")
        if not all(is_id(i) for i in covered) or not (watermark is None or is_id(watermark)):
            raise ValueError("an intent holds something that is not an event id")
        return cls(
            seq=int(raw["seq"]),
            objects=[IntentObject.from_json(o) for o in raw["objects"]],
            covered=covered,
            watermark=watermark,
        )


@dataclass(slots=True)
class Checkpoint:
    """Everything the daemon needs to resume exactly where it left off."""

    cursor: str | None = None
    seen: DedupeWindow = field(default_factory=DedupeWindow)
    intents: list[Intent] = field(default_factory=list)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    owner: dict[str, Any] | None = None
    updated_at: str | None = None
    origin: str | None = None  # the cursor the very first run started from (for backfill)

    def evict(self, keep_seconds: float) -> None:
        """Forget dedupe ids older than ``keep_seconds`` behind the cursor."""
        if self.cursor is None:
            return
        self.seen.evict_below(synthetic_id(id_seconds(self.cursor) - keep_seconds))

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
            "seen": self.seen.sorted_ids(),
            "intents": [i.to_json() for i in self.intents],
            "sinks": self.sinks,
            "totals": self.totals,
            "owner": self.owner,
            "origin": self.origin,
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
            origin = doc.get("origin")
            if origin is not None and not is_id(origin):
                raise ValueError(f"origin {origin!r} is not an event id")
            seen = [str(i) for i in doc.get("seen", [])]
            if not all(is_id(i) for i in seen):
                raise ValueError("seen holds something that is not an event id")
            return cls(
                cursor=cursor,
                seen=DedupeWindow(seen),
                intents=[Intent.from_json(i) for i in doc.get("intents", [])],
                sinks=dict(doc.get("sinks", {})),
                totals={k: int(v) for k, v in doc.get("totals", {}).items()},
                owner=doc.get("owner"),
                updated_at=doc.get("updated_at"),
                origin=origin,
            )
        except (ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
            raise CheckpointError(f"checkpoint {where} is corrupt ({exc}); {hint}") from None
