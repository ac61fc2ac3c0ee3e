"""BSON ObjectId helpers for the simulator.

LeadConduit event ids are MongoDB ObjectIds: a 4-byte big-endian creation second, a 5-byte
value fixed per generating process (we simulate a few handler hosts), and a 3-byte counter.
Because the second comes first but the host part comes before the counter, ids minted in
the same second by different hosts do not sort in creation order. The simulator reproduces
that on purpose, since the daemon has to cope with it.

The daemon has its own id helpers; these stay private to the simulator so the two can
evolve independently.
"""

from __future__ import annotations

import re

__all__ = ["ID_PATTERN", "id_time", "is_id", "make_id", "synthetic_id"]

ID_PATTERN = re.compile(r"^[0-9a-fA-F]{24}$")
_COUNTER_MASK = 0xFFFFFF


def make_id(ts_seconds: int, host_bytes: bytes, counter: int) -> str:
    """Build a 24-hex-digit id from its three parts (the counter wraps at 2**24).

    Wrapping rather than failing mirrors MongoDB drivers, whose counter also wraps.
    """
    if len(host_bytes) != 5:
        raise ValueError(f"host_bytes must be 5 bytes, got {len(host_bytes)}")
    if not 0 <= ts_seconds <= 0xFFFFFFFF:
        raise ValueError(f"ts_seconds out of range: {ts_seconds}")
    return f"{ts_seconds:08x}{host_bytes.hex()}{counter & _COUNTER_MASK:06x}"


def id_time(event_id: str) -> int:
    """Return the creation second encoded in an id's first 4 bytes."""
    return int(event_id[:8], 16)


def synthetic_id(ts_seconds: int) -> str:
    """Return the lowest possible id for a second: a cursor that matches no real event.

    Useful as an `after_id`/`before_id` bound derived from a time.
    """
    return f"{ts_seconds:08x}" + "0" * 16


def is_id(value: str) -> bool:
    """Tell whether a string has the shape of an ObjectId (24 hex digits)."""
    return ID_PATTERN.fullmatch(value) is not None
