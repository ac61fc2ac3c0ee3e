"""Coercions that give stored event values LeadConduit's rule semantics.

Events store rich-typed fields as ``{"normal": ..., "raw": ..., "valid": ..., <parts>}``
(leadconduit-types ``normalize``); plain primitives stay as they are. Every helper here
accepts either shape and the ``MISSING`` sentinel, and none of them raises on odd input:
a value that cannot be coerced simply makes the comparison fail.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from typing import Any, Final


class _Missing:
    """Marker for "the lhv path does not exist", distinct from an explicit null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "missing"


MISSING: Final[Any] = _Missing()

_TRUE = frozenset({"y", "yes", "true", "t", "1"})
_FALSE = frozenset({"n", "no", "false", "f", "0"})
_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_NOT_NUMBER_CHAR = re.compile(r"[^-\d.]")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
_LOOKS_NUMERIC = re.compile(r"\s*[-+]?\$?\s*(?:\d[\d,]*\.?\d*|\.\d+)\s*")
_RANGE = re.compile(r"\s*(-?\$?[\d,]*\.?\d+)\s*(?:-|to|\s)\s*(-?\$?[\d,]*\.?\d+)\s*", re.IGNORECASE)
_OPEN_RANGE = re.compile(r"\s*(-?\$?[\d,]*\.?\d+)\s*\+\s*")
_DATE_SPLIT = re.compile(r"\s+(?:-|to)\s+|(?<=\d{4}-\d{2}-\d{2})-(?=\d{4}-\d{2}-\d{2})", re.I)
_DATE_FORMATS = (
    "%a %b %d %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%m-%d-%Y",
    "%m%d%Y",
    "%Y%m%d",
    "%Y/%m/%d",
)


def scalar(value: Any) -> Any:
    """The value a rule compares: a typed value's ``normal`` (or ``raw`` if invalid)."""
    if type(value) is dict:
        if "normal" in value:
            return value["normal"]
        if "raw" in value and "valid" in value:
            return value["raw"]
    return value


def is_typed(value: Any) -> bool:
    """Whether ``value`` is a stored rich-typed value rather than a plain object."""
    return type(value) is dict and ("normal" in value or ("raw" in value and "valid" in value))


def is_blank(value: Any) -> bool:
    """Missing, null, empty or whitespace-only string, empty list/object.

    A typed value is blank only when both its ``normal`` and its ``raw`` are blank, so an
    invalid value that was submitted (``{"normal": null, "raw": "derp"}``) is not blank.
    """
    if value is MISSING or value is None:
        return True
    t = type(value)
    if t is str:
        return not value.strip()
    if t is list:
        return not value
    if t is dict:
        if is_typed(value):
            return is_blank(value.get("normal")) and is_blank(value.get("raw"))
        return not value
    return False


def fold(value: Any) -> str:
    """Case-folded text form, used for every string comparison."""
    if type(value) is str:
        return value.casefold()
    return text(value).casefold()


def text(value: Any) -> str:
    """The string a value would render as in a template (JS-like numbers and booleans)."""
    if value is None or value is MISSING:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is float and value.is_integer():
        return str(int(value))
    return str(value)


def to_bool(value: Any) -> bool | None:
    """LeadConduit's boolean parse; None when the value is not a (valid) boolean."""
    if type(value) is dict and is_typed(value):
        if value.get("valid") is False:
            return None
        value = scalar(value)
    if value is True or value is False:
        return bool(value)
    if type(value) in (int, float):
        return True if value == 1 else False if value == 0 else None
    if type(value) is str:
        key = _NOT_ALNUM.sub("", value.lower())
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
    return None


def strict_number(value: Any) -> float | None:
    """A number, or a string that *looks* numeric (``"1,100"``, ``" $12.5 "``)."""
    t = type(value)
    if t is int or t is float:
        return float(value) if not math.isnan(value) else None
    if t is str and _LOOKS_NUMERIC.fullmatch(value):
        return float(value.replace("$", "").replace(",", "").replace(" ", "").lstrip("+"))
    return None


def lenient_number(value: Any) -> float | None:
    """LeadConduit's number parse: drop everything but ``-``, digits and ``.``."""
    t = type(value)
    if t is int or t is float:
        return float(value) if not math.isnan(value) else None
    if t is str:
        kept = _NOT_NUMBER_CHAR.sub("", value)
        if _NUMBER.fullmatch(kept):
            return float(kept)
    return None


def parse_range(value: str) -> tuple[float, float] | None:
    """``"1-10"``, ``"1 to 10"``, ``"$1,000 to $10,000"``, ``"10+"``, ``"5"`` -> (min, max)."""
    m = _RANGE.fullmatch(value)
    if m:
        lo, hi = lenient_number(m.group(1)), lenient_number(m.group(2))
        if lo is not None and hi is not None:
            return lo, hi
    m = _OPEN_RANGE.fullmatch(value)
    if m:
        lo = lenient_number(m.group(1))
        if lo is not None:
            return lo, math.inf
    n = lenient_number(value)
    return (n, n) if n is not None else None


def parse_date_range(value: str) -> tuple[float, float] | None:
    """``"2015-07-01 - 2015-07-25"`` (or ``to``) -> (min, max) as epoch milliseconds."""
    parts = _DATE_SPLIT.split(value.strip())
    if len(parts) != 2:
        return None
    lo, hi = parse_date(parts[0]), parse_date(parts[1])
    return (lo, hi) if lo is not None and hi is not None else None


def to_number(value: Any) -> float | None:
    """The number an ordering operator compares: range average, normal, or parsed text."""
    if type(value) is dict:
        avg = value.get("avg")
        if isinstance(avg, int | float) and type(avg) is not bool:
            return float(avg)
        value = scalar(value)
    t = type(value)
    if t is int or t is float:
        return float(value) if not math.isnan(value) else None
    if t is str:
        n = lenient_number(value)
        if n is not None:
            return n
        bounds = parse_range(value)
        if bounds is not None and not math.isinf(bounds[1]):
            return round((bounds[0] + bounds[1]) / 2, 2)
    return None


def parse_date(value: str) -> float | None:
    """Parse a date or timestamp string to epoch milliseconds (naive means UTC)."""
    s = value.strip()
    if not s or not any(c.isdigit() for c in s):
        return None
    parsed: dt.datetime | None = None
    try:
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = dt.datetime.strptime(s, fmt)  # noqa: DTZ007 - naive means UTC here
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp() * 1000.0


def to_date(value: Any) -> float | None:
    """Epoch milliseconds for a date string, a typed date, or a number taken as epoch ms."""
    value = scalar(value)
    t = type(value)
    if t is int or t is float:
        return float(value)
    if t is str:
        return parse_date(value)
    return None


def split_csv(value: str) -> list[str]:
    """Split a LeadConduit list string: commas, double quotes protect commas, trimmed."""
    rows = list(csv.reader([value], skipinitialspace=True))
    return [item.strip() for item in rows[0]] if rows else []
