"""A transform's edits applied to an event's raw JSON, decoding only what they touch.

Decoding a whole 3 KB event for a transform costs ~7 µs, copying and re-encoding it ~5 µs
more, although a mask or an exclude changes a few small values. For ``exclude``, ``mask``
and ``hash`` (no ``include``, ``rename`` or ``set``; no ``*`` or index segments), the edits
run here instead: the event's top-level members they can reach are sliced out of its raw
bytes (``msgspec.Raw``), only the objects on the edited paths are decoded one level at a
time (their members stay raw), each edited leaf is decoded in full and handed to the same
edit function as on whole events, and each changed top-level member is re-encoded and
spliced back into the event's bytes. Everything the edits do not touch stays the API's
bytes, as for events without a transform. The edited bytes of a unit are remembered for
the next event that holds the same unit bytes (a lead's events repeat ``vars.lead``).

Whenever this cannot be sure to do exactly what the whole-event transform does, it
answers ``None`` and the caller transforms the whole event instead: an edit of a
top-level member, a member whose raw bytes are not unique in the event (so its place
cannot be found by search), or an edit of a path the partial event has decoded (the
router, the layout or a filter reads it: those values must stay true).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import msgspec
from msgspec import Raw

from streamer.source.decode import PartialEvent
from streamer.stages import _paths

Parts = tuple[str, ...]
Edit = Callable[[Any, str], Any]

_full = msgspec.json.Decoder()
_level = msgspec.json.Decoder(dict[str, Raw] | list[Raw] | str | int | float | bool | None)
_encode = msgspec.json.Encoder().encode
_PROBE = 32  # bytes of a member searched for first; the whole member only when not unique
_ABSENT = object()
MEMO = 128  # edited units remembered per set of edits (~2.6 KB each for a lead)


def supported(parts: Parts) -> bool:
    """Whether an edit path can be applied to raw JSON (no wildcard, no list index)."""
    return all(seg != "*" and not seg.isdigit() for seg in parts)


class RawEdits:
    """Edits (``exclude``/``mask``/``hash``, in order) applied to raw event JSON.

    One decode of the event (the *spine*) yields the objects on the edited paths down to
    each edit's parent as ``Raw``: that is the unit re-encoded and spliced back when it
    changes (the shallowest one when paths nest). Both ways a path can resolve (from
    the root, or under ``vars``) are in the spine.
    """

    def __init__(self, edits: Sequence[tuple[Parts, Edit]]) -> None:
        self._edits = list(edits)
        variants = {parts for parts, _fn in self._edits}
        variants |= {("vars", *parts) for parts in variants if parts[0] != "vars"}
        tree: dict[str, Any] = {}
        for path in variants:
            _mark(tree, path if len(path) == 1 else path[:-1])
        #: effective path -> the raw unit (a prefix) it edits inside
        self._units = {path: _unit(tree, path) for path in variants if len(path) > 1}
        self._unit_list = sorted(set(self._units.values()))
        self._spine: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(
            _spine_type(tree, "Spine")
        )
        #: paths resolved before any edit is applied: exact unless ``vars`` itself is a
        #: unit (only an edit inside ``vars`` can change where a later path resolves)
        self._upfront = ("vars",) not in self._unit_list
        self._memo: dict[tuple[Parts, tuple[tuple[int, Parts], ...]], dict[bytes, bytes | None]]
        self._memo = {}

    def apply(self, event: PartialEvent) -> PartialEvent | None:
        """``event`` edited (a new event with new raw bytes), or None to edit it whole."""
        try:
            tree: dict[str, Any] = self._spine.decode(event.raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not self._upfront:
            return self._apply_in_order(event, tree)
        planned: dict[Parts, list[tuple[int, Parts]]] = {}  # unit -> its edits, in order
        for i, (parts, _fn) in enumerate(self._edits):
            path = parts if parts[0] in tree else _rooted(tree, parts)
            if touches(event, path):
                return None
            if len(path) == 1:
                if path[0] in tree:
                    return None  # a top-level member: its neighbours' commas are in the way
                continue
            unit = self._units[path]
            planned.setdefault(unit, []).append((i, path[len(unit) :]))
        units: list[tuple[Any, bytes]] = []
        for unit, edits in planned.items():
            old = _at(tree, unit)
            if type(old) is Raw:  # else the unit is absent: none of its edits applies
                new = self._edited_unit(unit, tuple(edits), bytes(old))
                if new is not None:
                    units.append((old, new))
        if not units:
            return event
        raw = _splice(bytes(event.raw), units)
        return None if raw is None else event.with_raw(raw)

    def _edited_unit(
        self, unit: Parts, edits: tuple[tuple[int, Parts], ...], old: bytes
    ) -> bytes | None:
        """The unit's bytes after ``edits`` (an edit's index, the path below the unit it
        edits; in order), or None when they change nothing. Remembered:

        events of one lead repeat its ``vars.lead`` byte for byte (one event per step),
        and the edits are pure functions of the value and its key, so the same bytes get
        the same answer: ~3/4 of the simulator's survivors are answered from memory.
        """
        memo = self._memo.setdefault((unit, edits), {})
        if old in memo:
            return memo[old]
        node = {"": _level.decode(old)}  # the unit under a key, for ``_edit`` to walk
        changed = False
        for i, below in edits:
            changed = _edit(node, ("", *below), self._edits[i][1]) or changed
        new = _encode(node[""]) if changed else None
        if len(memo) >= MEMO:
            del memo[next(iter(memo))]  # the oldest: a lead's events come close together
        memo[old] = new
        return new

    def remembered(self) -> int:
        """How many edited units are remembered (for tests: the memory is bounded)."""
        return sum(map(len, self._memo.values()))

    def _apply_in_order(self, event: PartialEvent, tree: dict[str, Any]) -> PartialEvent | None:
        """``apply`` when ``vars`` itself is a unit: an edit of it can change how a later
        edit's path resolves, so each path is resolved after the edits before it."""
        original = {unit: _at(tree, unit) for unit in self._unit_list}
        changed: set[Parts] = set()
        for parts, fn in self._edits:
            path = _rooted(tree, parts)
            if touches(event, path):
                return None
            if len(path) == 1:
                if path[0] in tree:
                    return None
                continue
            if _edit(tree, path, fn):
                changed.add(self._units[path])
        if not changed:
            return event
        units = [(original[unit], _encode(_at(tree, unit))) for unit in changed]
        raw = _splice(bytes(event.raw), units)
        return None if raw is None else event.with_raw(raw)


def _mark(tree: dict[str, Any], prefix: Parts) -> None:
    """Make ``prefix`` a raw unit of the spine, unless one above it already is."""
    node = tree
    for seg in prefix[:-1]:
        child = node.setdefault(seg, {})
        if child is None:
            return
        node = child
    node[prefix[-1]] = None


def _unit(tree: dict[str, Any], path: Parts) -> Parts:
    """The spine's raw unit that ``path`` runs through."""
    node = tree
    for i, seg in enumerate(path):
        node = node[seg]
        if node is None:
            return path[: i + 1]
    raise AssertionError(f"no raw unit on {path}")  # pragma: no cover - _mark made one


def _spine_type(tree: dict[str, Any], name: str) -> Any:
    fields = {
        key: Raw if sub is None else _spine_type(sub, f"{name}_{i}")
        for i, (key, sub) in enumerate(tree.items())
    }
    return TypedDict(name, fields, total=False)  # type: ignore[operator]


def _at(tree: dict[str, Any], unit: Parts) -> Any:
    """The value at ``unit`` in the spine (None when the event does not have it)."""
    node: Any = tree
    for seg in unit:
        node = node.get(seg) if type(node) is dict else None
    return node


def _rooted(tree: dict[str, Any], parts: Parts) -> Parts:
    """``_paths.rooted`` on a partly decoded event."""
    first = parts[0]
    if first in tree:
        return parts
    variables = _materialized(tree, "vars")
    if type(variables) is dict and first in variables:
        return ("vars", *parts)
    return parts


def _materialized(node: dict[str, Any], key: str) -> Any:
    """``node[key]`` decoded one level (members stay raw); None when absent."""
    child = node.get(key)
    if type(child) is Raw:
        child = node[key] = _level.decode(child)
    return child


def touches(event: dict[str, Any] | PartialEvent, path: Parts) -> bool:
    """Whether the partial event decoded ``path``, a prefix of it, or a path below it."""
    node: Any = event
    for seg in path:
        if type(node) is not dict and not isinstance(node, PartialEvent):
            return False
        node = node.get(seg, _ABSENT)  # one call: a PartialEvent's get is Python
        if node is _ABSENT:
            return False
    return True


def _edit(node: dict[str, Any], path: Parts, fn: Edit) -> bool:
    """``_paths.edit`` in place on a partly decoded tree; True when something changed."""
    for seg in path[:-1]:
        child = node.get(seg)
        if type(child) is Raw:
            child = node[seg] = _level.decode(child)
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


def _splice(raw: bytes, members: list[tuple[Any, bytes]]) -> bytes | None:
    """``raw`` with each old member's bytes replaced by new bytes.

    A member is found by searching for its bytes; only a unique match is used (its
    first bytes occurring once, else the whole member occurring once), so the place is
    certain. None when a member cannot be placed.
    """
    spans: list[tuple[int, int, bytes]] = []
    for old, new in members:
        if type(old) is not Raw:
            return None  # pragma: no cover - a changed unit was in the event
        old_bytes = bytes(old)
        probe = old_bytes[:_PROBE]
        at = raw.find(probe)
        if raw.rfind(probe) != at:
            at = raw.find(old_bytes)
            if raw.rfind(old_bytes) != at:
                return None
        if at < 0:  # pragma: no cover - a member's bytes are a slice of the event's
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
