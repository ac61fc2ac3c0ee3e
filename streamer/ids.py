"""LeadConduit event ids are BSON ObjectIds: 4-byte big-endian epoch seconds first.

That makes lexicographic order of the 24-hex strings equal to order of creation second,
which is what ``sort=asc`` with ``after_id`` relies on. Within one second, ids from
different hosts have no guaranteed order, hence the lag-window re-scan elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re

ID_RE = re.compile(r"^[0-9a-f]{24}$")


def is_id(value: object) -> bool:
    """Whether ``value`` is a lowercase 24-hex ObjectId string."""
    return isinstance(value, str) and ID_RE.match(value) is not None


def id_seconds(event_id: str) -> int:
    """Epoch seconds encoded in the id's first four bytes."""
    return int(event_id[:8], 16)


def id_datetime(event_id: str) -> dt.datetime:
    """The id's creation second as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(id_seconds(event_id), tz=dt.UTC)


def synthetic_id(seconds: float) -> str:
    """The smallest id of a second: ``after_id`` of it returns that second's events too.

    ``after_id`` is exclusive, so ``after_id=synthetic_id(t)`` returns every event created
    at ``t`` or later except a (practically impossible) id with all-zero tail.
    """
    return f"{max(0, int(seconds)):08x}" + "0" * 16


def id_before(event_id: str) -> str:
    """The id just below ``event_id``: ``after_id`` of it includes ``event_id`` itself."""
    value = int(event_id, 16)
    return f"{max(0, value - 1):024x}"


def id_after(event_id: str) -> str:
    """The id just above ``event_id``: ``before_id`` of it includes ``event_id`` itself."""
    return f"{int(event_id, 16) + 1:024x}"

