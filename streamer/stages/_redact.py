"""Masking and hashing of values, LeadConduit style.

Masking follows leadconduit-types' ``mask()`` for its maskable types (ssn, dob,
credential): characters become ``*``, ``valid`` is kept, and a date of birth keeps only
its year as ``**/**/YYYY``. Hashing replaces a value with a salted SHA-256 hex digest so
records can still be joined on it without exposing it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson

from streamer.rules.values import is_typed, text

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2\d\d\d)(?!\d)")
_DOB_KEYS = frozenset({"year", "age", "valid"})


def _is_dob_name(key: str) -> bool:
    k = key.lower()
    return "dob" in k or "birth" in k


def _year(value: dict[str, Any]) -> str | None:
    year = value.get("year")
    if isinstance(year, int | str) and str(year).isdigit():
        return str(year)
    for key in ("normal", "raw"):
        v = value.get(key)
        if isinstance(v, str) and (m := _YEAR.search(v)):
            return m.group(1)
    return None


def _stars(value: Any) -> Any:
    kind = type(value)
    if kind is str:  # the usual case first: text(s) is s
        return "*" * len(value)
    if value is None or kind is bool:
        return value
    if kind is list:
        return [_stars(v) for v in value]
    if kind is dict:
        return {k: _stars(v) for k, v in value.items()}
    return "*" * len(text(value))


def mask(value: Any, key: str) -> Any:
    """Mask ``value`` found under ``key`` (the key name hints that a plain string is a dob)."""
    if is_typed(value):
        dob = "year" in value or "age" in value or _is_dob_name(key)
        year = _year(value) if dob else None
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "valid" or (dob and k in _DOB_KEYS):
                out[k] = v
            elif dob and year and k in ("normal", "raw"):
                out[k] = f"**/**/{year}"
            else:
                out[k] = "*" * len(v) if type(v) is str else _stars(v)  # strings inline
        return out
    if type(value) is str and _is_dob_name(key) and (m := _YEAR.search(value)):
        return f"**/**/{m.group(1)}"
    return _stars(value)


def hasher(salt: str) -> Callable[[Any, str], Any]:
    """Build ``hash(value, key)`` for one salt: ``sha256(salt + value)`` as hex."""
    base = hashlib.sha256(salt.encode())

    def digest(s: str) -> str:
        h = base.copy()
        h.update(s.encode())
        return h.hexdigest()

    def hash_value(value: Any, key: str = "") -> Any:
        if is_typed(value):
            value = value.get("normal", value.get("raw"))
        if value is None:
            return None
        if type(value) is list:
            return [hash_value(v) for v in value]
        if type(value) is dict:
            return digest(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())
        return digest(text(value))

    return hash_value
