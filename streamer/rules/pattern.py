"""``matches pattern``: LeadConduit's regex operator, with JavaScript's ``/re/flags`` form.

Apart from the other operators because a pattern needs translating first: JavaScript
named groups (``(?<name>``) become Python's (``(?P<name>``), and only the flags
JavaScript and LeadConduit use are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from streamer.rules.values import MISSING, scalar, text

Pred = Callable[[Any], bool]

_FLAGS = {"i": 0, "m": re.MULTILINE, "s": re.DOTALL, "g": 0, "u": 0}
_JS_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def matches_pattern(rhv: Any) -> Pred:
    """``matches pattern``: a regex (``/re/flags`` or bare), searched, case-insensitive."""
    if not isinstance(rhv, str) or not rhv:
        raise ValueError(f"needs a regular expression string, got {rhv!r}")
    body, flags = rhv, re.IGNORECASE
    if rhv.startswith("/") and rhv.rfind("/") > 0:
        cut = rhv.rfind("/")
        body = rhv[1:cut]
        for f in rhv[cut + 1 :]:
            if f not in _FLAGS:
                raise ValueError(f"unknown regex flag {f!r} in {rhv!r}; use i, m, s or g")
            flags |= _FLAGS[f]
    try:
        rx = re.compile(_JS_NAMED_GROUP.sub("(?P<", body), flags)
    except re.error as err:
        raise ValueError(f"invalid regular expression {rhv!r}: {err}") from None
    search = rx.search

    def match(v: Any) -> bool:
        v = scalar(v)
        if type(v) is list:
            return any(match(e) for e in v)
        if v is MISSING or v is None or type(v) is dict:
            return False
        return search(v if type(v) is str else text(v)) is not None

    return match
