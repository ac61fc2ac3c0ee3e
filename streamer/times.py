"""Times on the command line and in the report API: one parser for every ``--start``/``--end``.

Accepted everywhere (``report``, ``serve``, ``replay``, ``backfill``): ISO 8601 dates and
date-times (UTC when no zone is given), epoch seconds, epoch milliseconds (what
LeadConduit's API uses; any number of at least 10^11), and an event id (its creation
second).
"""

from __future__ import annotations

import datetime as dt
import re

from streamer.ids import id_seconds, is_id

MS_FROM = 100_000_000_000  # epoch values above this (year 5138 in seconds) are milliseconds
_EPOCH = re.compile(r"\d+(?:\.\d+)?")


def parse_time(text: str, flag: str) -> float:
    """Epoch seconds from ``text``; a ValueError names ``flag`` and the accepted forms.

    Fractions are kept (``1795162112.5``, ``...T12:00:00.250Z``): a range compares them
    with each event's second, so ``[:32.5, :34.5)`` counts :33 and :34.
    """
    value = text.strip()
    if is_id(value.lower()):
        return id_seconds(value.lower())
    if _EPOCH.fullmatch(value):
        number: float = float(value) if "." in value else int(value)
        if number >= MS_FROM:
            number /= 1000
        return int(number) if float(number).is_integer() else number
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{flag}: {text!r} is not a time; use ISO 8601 like 2026-11-23T14:00:00Z, "
            "a date like 2026-11-23, epoch seconds or milliseconds, or an event id"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    seconds = parsed.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def iso(seconds: float) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (with milliseconds when fractional)."""
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if seconds == int(seconds):
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
