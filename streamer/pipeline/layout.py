"""Object names and encodings (SPEC §5).

Batched: ``<prefix>/dt=YYYY-MM-DD/hour=HH/<first id>_<last id>.jsonl[.gz|.zst]``, the
partition taken from the batch's first (lowest) id. Names are a pure function of the
batch's ids, which is what makes a replay land on the same name.
Per event (LeadConduit's own firehose layout): ``<prefix>/<lead id>/<event id>.json``.
"""

from __future__ import annotations

import time
import zlib
from typing import Any, Literal, Protocol

import orjson
import zstandard
from isal import isal_zlib

Compression = Literal["gzip", "zstd", "none"]
SUFFIX: dict[str, str] = {"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", "none": ".jsonl"}
CONTENT_TYPE: dict[str, str] = {
    "gzip": "application/gzip",
    "zstd": "application/zstd",
    "none": "application/x-ndjson",
}
DEFAULT_LEVEL: dict[str, int] = {"gzip": 1, "zstd": 3, "none": 0}
#: the highest gzip level ISA-L implements (fast); higher ones use the stdlib's zlib
ISAL_MAX_LEVEL = 3
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
#: events whose own route could not be written (streamer.deadletter); not archive data
DEAD_LETTER_DIR = "_dead_letter"
NO_LEAD = "no-lead-id"


def partition(event_id: str) -> str:
    """``dt=YYYY-MM-DD/hour=HH`` of the id's creation second (UTC)."""
    tm = time.gmtime(int(event_id[:8], 16))
    return f"dt={tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}/hour={tm.tm_hour:02d}"


def join(prefix: str, rest: str) -> str:
    """``prefix/rest`` without a leading or doubled slash."""
    prefix = prefix.strip("/")
    return f"{prefix}/{rest}" if prefix else rest


def batch_key(prefix: str, first_id: str, last_id: str, compression: str) -> str:
    """The deterministic name of a batched object."""
    return join(prefix, f"{partition(first_id)}/{first_id}_{last_id}{SUFFIX[compression]}")


def lead_id(event: dict[str, Any]) -> str:
    """``vars.lead.id``, as LeadConduit's firehose names per-event objects."""
    lead = event.get("vars", {}).get("lead") if isinstance(event.get("vars"), dict) else None
    value = lead.get("id") if isinstance(lead, dict) else None
    if isinstance(value, dict):
        value = value.get("normal")
    return str(value) if value else NO_LEAD


def per_event_key(prefix: str, event: dict[str, Any]) -> str:
    """``<prefix>/<lead id>/<event id>.json``."""
    return join(prefix, f"{lead_id(event)}/{event['id']}.json")


def is_data_key(key: str) -> bool:
    """Whether ``key`` names a batched data object (manifests, state, dead letters never do)."""
    return key.endswith(DATA_SUFFIXES) and f"/{DEAD_LETTER_DIR}/" not in f"/{key}"


class Compressor(Protocol):
    """Incremental compressor (zlib/zstd compressobj shape)."""

    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Identity:
    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def compressor(compression: str, level: int | None = None) -> Compressor:
    """A fresh incremental compressor; gzip output is deterministic (mtime 0)."""
    lvl = DEFAULT_LEVEL[compression] if level is None else level
    if compression == "gzip":
        if lvl > ISAL_MAX_LEVEL:  # ISA-L stops at 3; a configured 4..9 is honoured by zlib
            return zlib.compressobj(lvl, zlib.DEFLATED, 31)
        return isal_zlib.compressobj(lvl, isal_zlib.DEFLATED, 31)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=lvl).compressobj()
    return _Identity()


def decompress(data: bytes, key: str) -> bytes:
    """Inverse of the encodings above, chosen by the object's name."""
    if key.endswith(".gz"):
        return isal_zlib.decompress(data, 47)
    if key.endswith(".zst"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def iter_events(data: bytes, key: str) -> list[dict[str, Any]]:
    """Decode a data object (batched JSONL or a per-event JSON) into events."""
    raw = decompress(data, key)
    if key.endswith(".json"):
        return [orjson.loads(raw)]
    return [orjson.loads(line) for line in raw.splitlines() if line]
