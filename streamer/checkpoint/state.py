"""The checkpoint document: cursor, settled watermark, dedupe window, intents, progress.

It is one JSON document so that every store (file, S3, Azure) can replace it atomically.
``intents`` are batches whose upload started but is not known to be complete everywhere:
on start-up each is either finished (copied from a sink that has it to those that do
not) or, when no sink has it, abandoned so its events are fetched again.

``settled`` is the id at or below which every event has been looked for at least
``lag_window`` after its id's second (see ``streamer.source.leadconduit``); re-checks
start there. The dedupe window ``seen`` holds the delivered ids from ``lag_window`` below
``settled`` up to the cursor, stored compactly (version 2): the sorted 12-byte ids,
byte-transposed (all first bytes, then all second bytes...: ids of one second share
their leading bytes, so the columns are long runs), zlib-compressed, base64: one or two
bytes per id. At 1,000 events/s the window is ~260k ids, the document 0.3-0.5 MB.
Version 1 documents (``seen`` as a list of hex ids, no ``settled``) are still read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamer.errors import CheckpointError
from streamer.ids import id_seconds, is_id, synthetic_id
from streamer.pipeline.dedupe import DedupeWindow

VERSION = 2
READABLE = (1, 2)
SEEN_ENCODING = "oid12-transposed-zlib-base64"


def encode_ids(ids: list[str]) -> dict[str, Any]:
    """Sorted hex ids in the compact form described in the module docstring."""
    raw = bytes.fromhex("".join(ids))
    columns = b"".join(raw[i::12] for i in range(12))
    data = base64.b64encode(zlib.compress(columns, 3)).decode()  # 3: ~4x faster than 6, +12 %
    return {"encoding": SEEN_ENCODING, "count": len(ids), "data": data}


def decode_ids(doc: Any) -> list[str]:
    """The ids of ``encode_ids`` (or a plain list of hex ids, as version 1 wrote them)."""
    if isinstance(doc, list):
        ids = [str(i) for i in doc]
    elif isinstance(doc, dict) and doc.get("encoding") == SEEN_ENCODING:
        try:
            columns = zlib.decompress(base64.b64decode(doc["data"], validate=True))
        except (binascii.Error, zlib.error):
            raise ValueError("seen is not valid compressed ids") from None
        count = int(doc["count"])
        if len(columns) != 12 * count:
            raise ValueError(f"seen should hold {count} ids, holds {len(columns) / 12:g}")
        raw = bytearray(len(columns))
        for i in range(12):
            raw[i::12] = columns[i * count : (i + 1) * count]
        text = raw.hex()
        ids = [text[j : j + 24] for j in range(0, len(text), 24)]
    else:
        raise ValueError("seen is neither a list of ids nor compressed ids")
    if not all(is_id(i) for i in ids):
        raise ValueError("seen holds something that is not an event id")
    return ids


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
    settled: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "seq": self.seq,
            "objects": [o.to_json() for o in self.objects],
            "covered": self.covered,
            "watermark": self.watermark,
            "settled": self.settled,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Intent:
        """Parse one intent."""
        covered = [str(i) for i in raw["covered"]]
        watermark, settled = raw.get("watermark"), raw.get("settled")
        if not all(is_id(i) for i in covered) or not all(
            w is None or is_id(w) for w in (watermark, settled)
        ):
            raise ValueError("an intent holds something that is not an event id")
        return cls(
            seq=int(raw["seq"]),
            objects=[IntentObject.from_json(o) for o in raw["objects"]],
            covered=covered,
            watermark=watermark,
            settled=settled,
        )


@dataclass(slots=True)
class Checkpoint:
    """Everything the daemon needs to resume exactly where it left off."""

    cursor: str | None = None
    settled: str | None = None
    seen: DedupeWindow = field(default_factory=DedupeWindow)
    intents: list[Intent] = field(default_factory=list)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    owner: dict[str, Any] | None = None
    updated_at: str | None = None
    origin: str | None = None  # the cursor the very first run started from (for backfill)

    def evict(self, keep_seconds: float) -> None:
        """Forget dedupe ids more than ``keep_seconds`` below the settled watermark.

        Without one (a version 1 document), the watermark is taken as ``keep_seconds``
        behind the cursor, where the old design's re-scan started.
        """
        if self.cursor is None:
            return
        top = id_seconds(self.settled) if self.settled else id_seconds(self.cursor) - keep_seconds
        self.seen.evict_below(synthetic_id(top - keep_seconds))

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
            "settled": self.settled,
            "settled_time": (
                dt.datetime.fromtimestamp(id_seconds(self.settled), tz=dt.UTC).isoformat()
                if self.settled
                else None
            ),
            "seen": encode_ids(self.seen.sorted_ids()),
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
            if not isinstance(doc, dict) or doc.get("version") not in READABLE:
                raise ValueError("not a streamer checkpoint (version 1 or 2)")
            for name in ("cursor", "origin", "settled"):
                value = doc.get(name)
                if value is not None and not is_id(value):
                    raise ValueError(f"{name} {value!r} is not an event id")
            cursor, origin = doc.get("cursor"), doc.get("origin")
            seen = decode_ids(doc.get("seen", []))
            return cls(
                cursor=cursor,
                settled=doc.get("settled"),
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
