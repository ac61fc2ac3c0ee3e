"""A transform's edits applied to an event's raw JSON, decoding only what they touch.

Decoding a whole 3 KB event for a transform costs ~7 µs, copying and re-encoding it ~5 µs
more, although a mask or an exclude changes a few small values. For ``exclude``, ``mask``
and ``hash`` (no ``include``, ``rename`` or ``set``; no ``*`` or index segments), the edits
run here instead: one decode of the event (the *spine*) slices out, as ``msgspec.Raw``,
the objects the edited paths run through (the *units*, e.g. ``vars.lead``); each unit is
edited by ``_rawunit`` (decoded one level, each edited leaf decoded in full and handed
to the same edit function as on whole events, re-encoded) and spliced back into the
event's bytes. Everything the edits do not touch stays the API's bytes, as for events
without a transform. A unit's answer is remembered by its bytes: the events of one lead
repeat ``vars.lead``, so most survivors pay only the spine, a lookup and the splice.

Whenever this cannot be sure to do exactly what the whole-event transform does, it
answers ``None`` and the caller transforms the whole event instead: an edit of a
top-level member, a unit whose raw bytes are not unique in the event (so its place
cannot be found by search), or an edit of a path the partial event has decoded (the
router, the layout or a filter reads it: those values must stay true).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, TypedDict

import msgspec
from msgspec import Raw

from streamer.source.decode import PartialEvent
from streamer.stages import _rawunit
from streamer.stages._rawunit import Edit, Parts

_ABSENT: Any = object()


def supported(parts: Parts) -> bool:
    """Whether an edit path can be applied to raw JSON (no wildcard, no list index)."""
    return all(seg != "*" and not seg.isdigit() for seg in parts)


class RawEdits:
    """Edits (``exclude``/``mask``/``hash``, in order) applied to raw event JSON.

    One decode of the event (the *spine*) yields the objects on the edited paths down to
    each edit's parent as ``Raw``: that is the unit re-encoded and spliced back when it
    changes (the shallowest one when paths nest). Both ways a path can resolve (from
    the root, or under ``vars``) are in the spine. Which way each one resolves is the
    key of a *plan* (which units, which edits, which memory), made once per way.
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
        #: unit (only an edit inside ``vars`` can change where a later path resolves; an
        #: edit of a top-level member makes ``vars`` a unit too, through ``vars.member``,
        #: and is the in-order path's to refuse)
        self._upfront = ("vars",) not in self._unit_list and all(len(p) > 1 for p in variants)
        self._memo: dict[tuple[Parts, tuple[tuple[int, Parts], ...]], dict[bytes, bytes | None]]
        self._memo = {}
        #: first segments of the paths that may resolve under ``vars``, in edit order
        self._alternatives = [parts[0] for parts, _fn in self._edits if parts[0] != "vars"]
        self._plans: dict[tuple[bool, ...], _Plan] = {}

    def apply(self, event: PartialEvent) -> PartialEvent | None:
        """``event`` edited (a new event with new raw bytes), or None to edit it whole."""
        try:
            tree: dict[str, Any] = self._spine.decode(event.raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not self._upfront:
            return self._apply_in_order(event, tree)
        key = self._resolution(tree) if self._alternatives else ()
        plan = self._plans.get(key) or self._plan(key)
        for first, groups in plan.touched:
            node = event.get(first, _ABSENT)  # once per member: a PartialEvent's get is Python
            if node is not _ABSENT and _has_any(node, groups):
                return None  # the partial event decoded it: that value must stay true
        units: list[tuple[bytes, bytes]] = []
        for unit, edits, memo in plan.units:
            old: Any = tree
            for seg in unit:
                old = old.get(seg) if type(old) is dict else None
            if type(old) is Raw:  # else the unit is absent: none of its edits applies
                data = bytes(old)
                new = memo.get(data, _ABSENT)
                if new is _ABSENT:
                    new = _rawunit.edited(data, edits, memo)
                if new is not None:
                    units.append((data, new))
        if not units:
            return event
        raw = _rawunit.splice(bytes(event.raw), units)
        return None if raw is None else event.with_raw(raw)

    def _resolution(self, tree: dict[str, Any]) -> tuple[bool, ...]:
        """For each edit whose path may resolve under ``vars``: whether it does here."""
        variables = tree.get("vars")
        return tuple(
            first not in tree and type(variables) is dict and first in variables
            for first in self._alternatives
        )

    def _plan(self, key: tuple[bool, ...]) -> _Plan:
        """What the edits do to events whose paths resolve as ``key`` says (kept)."""
        alternatives = iter(key)
        resolved = [
            ("vars", *parts) if parts[0] != "vars" and next(alternatives) else parts
            for parts, _fn in self._edits
        ]
        touched: dict[str, dict[Parts, set[str]]] = {}  # first -> between -> last segments
        below: dict[Parts, list[tuple[int, Parts]]] = {}
        for i, path in enumerate(resolved):
            touched.setdefault(path[0], {}).setdefault(path[1:-1], set()).add(path[-1])
            unit = self._units[path]  # no top-level paths here (see ``_upfront``)
            below.setdefault(unit, []).append((i, path[len(unit) :]))
        units = []
        for unit, edits in below.items():
            memo = self._memo.setdefault((unit, tuple(edits)), {})
            calls = tuple((self._edits[i][1], ("", *rel)) for i, rel in edits)
            units.append((unit, calls, memo))
        groups = [
            (first, [(mid, frozenset(keys)) for mid, keys in below_first.items()])
            for first, below_first in touched.items()
        ]
        plan = self._plans[key] = _Plan(groups, units)
        return plan

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
                    return None  # a top-level member: its neighbours' commas are in the way
                continue
            if _rawunit.edit(tree, path, fn):
                changed.add(self._units[path])
        if not changed:
            return event
        units = [(bytes(original[unit]), _rawunit.encode(_at(tree, unit))) for unit in changed]
        raw = _rawunit.splice(bytes(event.raw), units)
        return None if raw is None else event.with_raw(raw)


class _Plan(NamedTuple):
    """How a transform's edits apply to events whose paths resolve one way."""

    #: the edited paths for the partial event's check: first segment, then the segments
    #: between it and the last one, and the last segments
    touched: list[tuple[str, list[tuple[Parts, frozenset[str]]]]]
    #: unit -> its edits in order (the edit; "" and the path below the unit), the memory
    units: list[tuple[Parts, tuple[tuple[Edit, Parts], ...], dict[bytes, bytes | None]]]


def _has_any(node: Any, groups: list[tuple[Parts, frozenset[str]]]) -> bool:
    """Whether ``node`` (a partial event's decoded member) has one of the paths below it
    (``groups``: the segments between, then the last segments)."""
    for between, last in groups:
        inner = node
        for seg in between:
            inner = inner.get(seg, _ABSENT) if type(inner) is dict else _ABSENT
        if type(inner) is dict and not last.isdisjoint(inner):
            return True
    return False


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
        child = node[key] = _rawunit.level.decode(child)
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
