"""Copy-on-write edits of nested event dicts by dotted path.

Events may be shared (the source can hand the same dict to several consumers, tests reuse
fixtures), so nothing here mutates its input. Each edit copies only the containers on the
path it changes; everything else is shared with the input. That keeps a transform
proportional to what it touches instead of to the event's size (no deepcopy).

Paths resolve like rule lhvs: from the event root, or under ``vars`` when the first
segment is not a top-level key (``lead.ssn`` means ``vars.lead.ssn``). In edits, ``*``
matches every key of an object or every element of an array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from streamer.rules.values import MISSING

Parts = tuple[str, ...]
DELETE: Final[Any] = object()


def split(path: str) -> Parts:
    """Split once at build time."""
    return tuple(path.split("."))


def rooted(event: dict[str, Any], parts: Parts) -> Parts:
    """Apply the ``vars`` fallback for this event."""
    first = parts[0]
    if first in event or first == "*":
        return parts
    variables = event.get("vars")
    if type(variables) is dict and first in variables:
        return ("vars", *parts)
    return parts


def get(event: dict[str, Any], parts: Parts) -> Any:
    """The value at ``parts`` (already rooted), or MISSING."""
    cur: Any = event
    for seg in parts:
        if type(cur) is dict:
            cur = cur.get(seg, MISSING)
            if cur is MISSING:
                return MISSING
        elif type(cur) is list and seg.isdigit() and int(seg) < len(cur):
            cur = cur[int(seg)]
        else:
            return MISSING
    return cur


def edit(node: Any, parts: Parts, fn: Callable[[Any, str], Any], i: int = 0) -> Any:
    """Return ``node`` with ``fn(value, key)`` applied at ``parts``; DELETE removes it.

    Returns ``node`` itself (same object) when nothing on the path exists, so callers can
    tell "unchanged" by identity.
    """
    seg = parts[i]
    last = i == len(parts) - 1
    if type(node) is dict:
        keys: list[Any] = list(node) if seg == "*" else ([seg] if seg in node else [])
    elif type(node) is list:
        if seg == "*":
            keys = list(range(len(node)))
        else:
            keys = [int(seg)] if seg.isdigit() and int(seg) < len(node) else []
    else:
        return node
    new: Any = None
    dropped: list[Any] = []
    for key in keys:
        child = node[key]
        out = fn(child, str(key)) if last else edit(child, parts, fn, i + 1)
        if out is child:
            continue
        if new is None:
            new = dict(node) if type(node) is dict else list(node)
        if out is DELETE:
            dropped.append(key)
        else:
            new[key] = out
    for key in reversed(dropped):
        del new[key]
    return node if new is None else new


def assign(node: dict[str, Any], parts: Parts, value: Any, i: int = 0) -> dict[str, Any]:
    """Return a copy of ``node`` with ``parts`` set to ``value``, creating objects as needed."""
    new = dict(node)
    seg = parts[i]
    if i == len(parts) - 1:
        new[seg] = value
        return new
    child = node.get(seg)
    new[seg] = assign(child if type(child) is dict else {}, parts, value, i + 1)
    return new


def project(event: dict[str, Any], paths: list[Parts]) -> dict[str, Any]:
    """A new event holding only ``paths``; arrays met on the way are kept whole."""
    out: dict[str, Any] = {}
    for raw in paths:
        parts = rooted(event, raw)
        src: Any = event
        dst = out
        for j, seg in enumerate(parts):
            if type(src) is not dict or seg not in src:
                break
            val = src[seg]
            if j == len(parts) - 1 or type(val) is not dict:
                dst[seg] = val
                break
            nxt = dst.get(seg)
            if nxt is val:
                break
            if type(nxt) is not dict:
                nxt = dst[seg] = {}
            src, dst = val, nxt
    return out
