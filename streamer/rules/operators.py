"""Operator names: the canonical spellings, their aliases and a typo helper.

LeadConduit's API uses exact strings (``is equal to``). Rules typed by hand into YAML get
these slightly wrong, so lookups fold case and whitespace, accept the legacy and
server-side spellings, and suggest the nearest real operator when nothing fits.
"""

from __future__ import annotations

import difflib

BINARY: tuple[str, ...] = (
    "is equal to",
    "is not equal to",
    "is less than",
    "is less than or equal to",
    "is greater than",
    "is greater than or equal to",
    "is included in",
    "is not included in",
    "includes",
    "does not include",
    "is between",
    "is not between",
    "matches pattern",
    "does not match pattern",
)

UNARY: tuple[str, ...] = (
    "is blank",
    "is not blank",
    "is true",
    "is false",
    "is not true",
    "is not false",
    "format is valid",
    "format is invalid",
    "is obscene",
    "is not obscene",
)

#: Other accepted spellings -> canonical operator. The first two are pre-2020 names, the
#: last two are how the event-query (report) API spells them.
ALIASES: dict[str, str] = {
    "is format valid": "format is valid",
    "is format invalid": "format is invalid",
    "is less than or equal": "is less than or equal to",
    "is greater than or equal": "is greater than or equal to",
}

OPERATORS: tuple[str, ...] = BINARY + UNARY + tuple(ALIASES)

_CANONICAL: dict[str, str] = {op: op for op in BINARY + UNARY} | ALIASES

# Words people reach for from other query languages; difflib alone would not find these.
_HINTS: dict[str, str] = {
    "equals": "is equal to",
    "equal": "is equal to",
    "eq": "is equal to",
    "==": "is equal to",
    "=": "is equal to",
    "is": "is equal to",
    "not equals": "is not equal to",
    "ne": "is not equal to",
    "!=": "is not equal to",
    "is not": "is not equal to",
    "lt": "is less than",
    "<": "is less than",
    "lte": "is less than or equal to",
    "<=": "is less than or equal to",
    "gt": "is greater than",
    ">": "is greater than",
    "gte": "is greater than or equal to",
    ">=": "is greater than or equal to",
    "in": "is included in",
    "is in": "is included in",
    "is one of": "is included in",
    "not in": "is not included in",
    "is not in": "is not included in",
    "contains": "includes",
    "include": "includes",
    "does not contain": "does not include",
    "not contains": "does not include",
    "between": "is between",
    "not between": "is not between",
    "matches": "matches pattern",
    "regex": "matches pattern",
    "like": "matches pattern",
    "exists": "is not blank",
    "is empty": "is blank",
    "is not empty": "is not blank",
    "is valid": "format is valid",
    "is invalid": "format is invalid",
}


def canonical(op: str) -> str | None:
    """Return the canonical operator for ``op``, or None if it is not one."""
    return _CANONICAL.get(" ".join(op.lower().split()))


def suggest(op: str) -> str | None:
    """The operator a user most likely meant by an unknown ``op``."""
    key = " ".join(op.lower().split())
    if key in _HINTS:
        return _HINTS[key]
    close = difflib.get_close_matches(key, list(_CANONICAL), n=1, cutoff=0.6)
    return _CANONICAL[close[0]] if close else None
