"""One *unit* of an event's raw JSON (the object an edit runs through): edited, spliced.

``_rawedit`` finds the units a transform's edits run through (e.g. ``vars.lead``) as
``msgspec.Raw`` slices of an event. Here a unit is decoded one level (its members stay
raw), edited in place, re-encoded, and spliced back where its bytes are in the event.
The answer for a unit's bytes is remembered: a lead's events repeat them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import Raw

from streamer.stages import _paths

Parts = tuple[str, ...]
Edit = Callable[[Any, str], Any]

MEMO = 128  # edited units remembered per set of edits (~2.6 KB each for a lead)
MEMO_UNIT = 8192  # bytes: larger units are not remembered (the memory stays ~2 MB at most)
_PROBE = 32  # bytes of a member searched for first; the whole member only when not unique
_full = msgspec.json.Decoder()
level = msgspec.json.Decoder(dict[str, Raw] | list[Raw] | str | int | float | bool | None)
encode = msgspec.json.Encoder().encode


def edited(
    old: bytes, edits: tuple[tuple[Edit, Parts], ...], memo: dict[bytes, bytes | None]
) -> bytes | None:
    """A unit's bytes after ``edits``, or None when they change nothing; remembered
    (units up to ``MEMO_UNIT`` bytes, the last ``MEMO`` of them).

    Events of one lead repeat its ``vars.lead`` byte for byte (one event per step), and
    the edits are pure functions of the value and its key, so the same bytes get the same
    answer: ~3/4 of the simulator's survivors are answered from ``memo``.
    """
    node = {"": level.decode(old)}  # the unit under the key "", for ``edit`` to walk
    changed = False
    for fn, path in edits:  # each path starts with ""
        changed = edit(node, path, fn) or changed
    new = encode(node[""]) if changed else None
    if len(old) <= MEMO_UNIT:
        if len(memo) >= MEMO:
            del memo[next(iter(memo))]  # the oldest: a lead's events come close together
        memo[old] = new
    return new


def edit(node: dict[str, Any], path: Parts, fn: Edit) -> bool:
    """``_paths.edit`` in place on a partly decoded tree; True when something changed."""
    for seg in path[:-1]:
        child = node.get(seg)
        if type(child) is Raw:
            child = node[seg] = level.decode(child)
        if type(child) is not dict:
            return False  # absent, or not an object: the edit does not apply
        node = child
    seg = path[-1]
    if seg not in node:
        return False
    child = node[seg]
    value = _full.decode(child) if type(child) is Raw else child
    out = fn(value, seg)
    if out is value:
        return False
    if out is _paths.DELETE:
        del node[seg]
    else:
        node[seg] = out
    return True


def splice(raw: bytes, members: list[tuple[bytes, bytes]]) -> bytes | None:
    """``raw`` with each old member's bytes replaced by new bytes.

    A member is found by searching for its bytes; only a unique match is used (its
    first bytes occurring once, else the whole member occurring once), so the place is
    certain. None when a member cannot be placed.
    """
    if len(members) == 1:  # the usual case: one unit
        old_bytes, new = members[0]
        at = _place(raw, old_bytes)
        end = at + len(old_bytes)
        return None if at < 0 else b"".join((raw[:at], new, raw[end:]))
    spans: list[tuple[int, int, bytes]] = []
    for old_bytes, new in members:
        at = _place(raw, old_bytes)
        if at < 0:
            return None
        spans.append((at, at + len(old_bytes), new))
    spans.sort()
    out: list[bytes] = []
    pos = 0
    for start, end, data in spans:
        out += (raw[pos:start], data)
        pos = end
    out.append(raw[pos:])
    return b"".join(out)


def _place(raw: bytes, old: bytes) -> int:
    """Where ``old`` is in ``raw``, when it occurs there once (else -1)."""
    probe = old[:_PROBE]
    at = raw.find(probe)
    if raw.rfind(probe) != at:
        at = raw.find(old)
        if raw.rfind(old) != at:
            return -1
    return at
