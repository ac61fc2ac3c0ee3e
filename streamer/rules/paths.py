"""Resolving ``lhv`` paths and ``{{path}}`` templates against an event.

Paths are split once at compile time. Resolution starts at the event root (report-style
``vars.lead.state``) and, when the first segment is not a top-level key, retries under
``vars`` (flow-style ``lead.state``), so rules written for either place work unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from streamer.records import UNSET, field_attr
from streamer.rules.values import MISSING, scalar, text

Getter = Callable[[Mapping[str, Any]], Any]

TEMPLATE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_VARS = field_attr("vars")


def split_path(path: str) -> tuple[str, ...] | None:
    """Split a dotted path; None when it is empty or has an empty segment."""
    path = path.strip()
    m = TEMPLATE.fullmatch(path)
    if m:
        path = m.group(1)
    parts = tuple(path.split("."))
    return parts if path and all(parts) else None


def _walk(cur: Any, rest: tuple[str, ...]) -> Any:
    for seg in rest:
        t = type(cur)
        if t is dict:
            cur = cur.get(seg, MISSING)
            if cur is MISSING:
                return MISSING
        elif t is list:
            if not seg.isdigit() or int(seg) >= len(cur):
                return MISSING
            cur = cur[int(seg)]
        else:
            return MISSING
    return cur


def _top(event: Mapping[str, Any], first: str) -> Any:
    """``first`` at the root of any mapping, else under its ``vars``; MISSING if neither."""
    if first in event:
        return event[first]
    variables = event.get("vars")
    if type(variables) is dict:
        return variables.get(first, MISSING)
    return MISSING


def _top_partial(event: Any, first: str, attr: str) -> Any:
    """``_top`` on an event that is not a dict: a partial event's member is an attribute.

    ``getattr`` answers UNSET when the partial event lacks the member (then ``vars`` is
    tried, as for dicts) and MISSING when the object has no such attribute (any other
    mapping, or a partial event that did not decode it): then the mapping is asked.
    """
    value = getattr(event, attr, MISSING)
    if value is UNSET:
        variables = getattr(event, _VARS, UNSET)
        return variables.get(first, MISSING) if type(variables) is dict else MISSING
    return _top(event, first) if value is MISSING else value


def make_getter(parts: tuple[str, ...]) -> Getter:
    """Build ``get(event)`` for a split path; MISSING when any segment is absent.

    Events are dicts (whole events) or ``PartialEvent`` structs, whose top-level members
    are attributes (``field_attr``): read with one ``getattr``, below them plain dicts.
    """
    first = parts[0]
    rest = parts[1:]
    attr = field_attr(first)
    if not rest:

        def get_one(event: Mapping[str, Any]) -> Any:
            if type(event) is not dict:
                value = getattr(event, attr, MISSING)
                if value is UNSET or value is MISSING:
                    return _top_partial(event, first, attr)
                return value
            if first in event:
                return event[first]
            variables = event.get("vars")
            if type(variables) is dict:
                return variables.get(first, MISSING)
            return MISSING

        return get_one

    def get(event: Mapping[str, Any]) -> Any:
        cur = _top(event, first) if type(event) is dict else _top_partial(event, first, attr)
        return MISSING if cur is MISSING else _walk(cur, rest)

    if len(rest) == 2:  # the usual depth (vars.lead.state): unrolled, no loop
        second, third = rest

        def get_three(event: Mapping[str, Any]) -> Any:
            if type(event) is not dict:
                cur = getattr(event, attr, MISSING)
                if cur is UNSET or cur is MISSING:
                    cur = _top_partial(event, first, attr)
                    if cur is MISSING:
                        return MISSING
            elif first in event:
                cur = event[first]
            else:
                variables = event.get("vars")
                if type(variables) is not dict or first not in variables:
                    return MISSING
                cur = variables[first]
            if type(cur) is not dict:
                return _walk(cur, rest)
            cur = cur.get(second, MISSING)
            if type(cur) is not dict:
                return MISSING if cur is MISSING else _walk(cur, (third,))
            return cur.get(third, MISSING)

        return get_three
    return get


def make_template(template: str) -> Getter | None:
    """Compile a template rhv; None when ``template`` has no ``{{``.

    A template that is exactly one ``{{path}}`` returns the referenced value itself, keeping
    its type; any other template renders to a string (missing values render as ``""``).
    Raises ValueError for helpers (``{{format x ...}}``), which are not supported.
    """
    if "{{" not in template:
        return None
    whole = TEMPLATE.fullmatch(template.strip())
    if whole:
        parts = split_path(whole.group(1))
        if parts is None:
            raise ValueError(f"bad template path in {template!r}")
        return make_getter(parts)
    pieces: list[str | Getter] = []
    pos = 0
    for m in TEMPLATE.finditer(template):
        pieces.append(template[pos : m.start()])
        parts = split_path(m.group(1))
        if parts is None:
            raise ValueError(f"bad template path in {template!r}")
        pieces.append(make_getter(parts))
        pos = m.end()
    pieces.append(template[pos:])
    if any(isinstance(p, str) and "{{" in p for p in pieces):
        raise ValueError(
            f"template {template!r} uses a helper or bad syntax; only {{{{path}}}} "
            "references are supported"
        )

    def render(event: Mapping[str, Any]) -> Any:
        return "".join(p if isinstance(p, str) else text(scalar(p(event))) for p in pieces)

    return render


def rule_paths(obj: Any) -> set[tuple[str, ...]]:
    """Every path a (valid) rule set reads: lhvs and ``{{path}}`` templates in rhvs.

    Each path is returned both as written and under ``vars`` (resolution falls back to
    ``vars`` when the first segment is not a top-level key), so a partial decode that
    keeps these paths evaluates exactly like the whole event. A path that starts with
    ``vars`` is not repeated under ``vars``: it falls back only when the event has no
    top-level ``vars``, and then ``vars.vars...`` is missing too.
    """
    found: set[tuple[str, ...]] = set()

    def add(path: str) -> None:
        parts = split_path(path)
        if parts is not None:
            found.add(parts)
            if parts[0] != "vars":  # vars.x falls back to vars.vars.x only without vars
                found.add(("vars", *parts))

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if isinstance(node.get("lhv"), str):
                add(node["lhv"])
            rhv = node.get("rhv")
            for text_value in rhv if isinstance(rhv, list) else [rhv]:
                if isinstance(text_value, str):
                    for match in TEMPLATE.finditer(text_value):
                        add(match.group(1))
            for key in ("rules", "rule_set"):
                if key in node:
                    walk(node[key])

    walk(obj)
    return found
