"""Parsing and applying `GET /events` query parameters, with LeadConduit's semantics.

Bounds (`after_id`, `before_id`, `start`, `end`) become an id range searched by bisection on
the sorted id list; `include`/`exclude`/`rules` need the event as a dict and run slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from streamer.simulator.ids import is_id, synthetic_id

__all__ = ["EventQuery", "QueryError", "compile_rules", "parse_query", "project"]

Matcher = Callable[[Mapping[str, Any]], bool]
_MISSING = object()


class QueryError(ValueError):
    """A bad query parameter; the message is sent back as the 400 body's `error`."""


@dataclass(frozen=True)
class EventQuery:
    """A validated query. `lower`/`upper` are id bounds: `lower < id < upper` when exclusive."""

    after_id: str | None = None
    start_id: str | None = None
    before_id: str | None = None
    end_id: str | None = None
    limit: int = 100
    descending: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    matcher: Matcher | None = None

    @property
    def needs_dict(self) -> bool:
        """Whether events must be decoded (projection or rules) rather than sent as stored."""
        return bool(self.include or self.exclude or self.matcher)

    @property
    def ids_only(self) -> bool:
        """`include=id` and no rules: the page is just the ids (served without decoding)."""
        return self.include == ("id",) and self.matcher is None


def _list_param(params: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    """Accept `name=a&name=b`, `name[]=a`, and `name=a,b`: the array encoding is undocumented."""
    values = [*params.get(name, ()), *params.get(f"{name}[]", ())]
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(f"{name} may be given only once")
    return values[0]


def _id_param(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    value = _single(params, name)
    if value is None:
        return None
    if not is_id(value):
        raise QueryError(f"{name} must be a 24 character hex id, got {value!r}")
    return value.lower()


def _time_param(params: Mapping[str, Sequence[str]], name: str) -> float | None:
    value = _single(params, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise QueryError(f"{name} must be an ISO 8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_query(params: Mapping[str, Sequence[str]]) -> EventQuery:
    """Validate the query string (each name mapped to all its values) into an `EventQuery`."""
    limit_text = _single(params, "limit")
    limit = 100
    if limit_text is not None:
        try:
            limit = int(limit_text)
        except ValueError:
            raise QueryError(f"limit must be an integer, got {limit_text!r}") from None
        if not 1 <= limit <= 1000:
            raise QueryError(f"limit must be between 1 and 1000, got {limit}")
    sort = _single(params, "sort") or "desc"
    if sort not in ("asc", "desc"):
        raise QueryError(f"sort must be asc or desc, got {sort!r}")
    include, exclude = _list_param(params, "include"), _list_param(params, "exclude")
    if include and exclude:
        raise QueryError("include cannot be used with exclude")
    start, end = _time_param(params, "start"), _time_param(params, "end")
    rules_text = _single(params, "rules")
    matcher = None
    if rules_text is not None:
        try:
            rules = orjson.loads(rules_text)
        except orjson.JSONDecodeError:
            raise QueryError("rules must be a JSON array of rules") from None
        if not isinstance(rules, list):
            raise QueryError("rules must be a JSON array of rules")
        matcher = compile_rules(rules) if rules else None
    return EventQuery(
        after_id=_id_param(params, "after_id"),
        before_id=_id_param(params, "before_id"),
        # start is inclusive at second resolution; end includes its whole second.
        start_id=None if start is None else synthetic_id(max(math.ceil(start), 0)),
        end_id=None if end is None else synthetic_id(max(math.floor(end) + 1, 0)),
        limit=limit,
        descending=sort == "desc",
        include=include,
        exclude=exclude,
        matcher=matcher,
    )


def compile_rules(rules: list[Any]) -> Matcher:
    """AND the rules against the event root, with the daemon's evaluator when it exists.

    `streamer.rules` is written separately; until it is importable a tiny evaluator covers
    the operators tests use. Swap here only.
    """
    try:
        from streamer.rules import compile_rule_set
    except ImportError:
        return _fallback_matcher(rules)
    try:
        return compile_rule_set({"op": "and", "rules": rules}).matches
    except Exception as exc:  # noqa: BLE001 - any compile failure is the client's bad rule
        raise QueryError(f"invalid rules: {exc}") from None


def _resolve(event: Mapping[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    if isinstance(value, Mapping) and "normal" in value:
        value = value["normal"]
    return value


def _fold(value: Any) -> str:
    return str(value).lower()


_FALLBACK_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "is equal to": lambda v, r: v is not _MISSING and _fold(v) == _fold(r),
    "is not equal to": lambda v, r: v is _MISSING or _fold(v) != _fold(r),
    "is included in": lambda v, r: v is not _MISSING and _fold(v) in map(_fold, _as_list(r)),
    "is blank": lambda v, _r: v is _MISSING or v is None or v == "",
    "is not blank": lambda v, _r: not (v is _MISSING or v is None or v == ""),
}


def _as_list(rhv: Any) -> Iterable[Any]:
    return rhv if isinstance(rhv, list) else str(rhv).split(",")


def _fallback_matcher(rules: list[Any]) -> Matcher:
    checks = []
    for rule in rules:
        if not isinstance(rule, dict) or not isinstance(rule.get("lhv"), str):
            raise QueryError("each rule must be an object with a string lhv")
        op = _FALLBACK_OPS.get(rule.get("op", ""))
        if op is None:
            raise QueryError(f"unsupported rule op {rule.get('op')!r}")
        checks.append((rule["lhv"], op, rule.get("rhv")))

    def matches(event: Mapping[str, Any]) -> bool:
        return all(op(_resolve(event, lhv), rhv) for lhv, op, rhv in checks)

    return matches


def project(
    event: dict[str, Any], include: Sequence[str], exclude: Sequence[str]
) -> dict[str, Any]:
    """Apply `include` (keep only these dotted paths, plus `id`) or `exclude` (drop them).

    `id` is always kept by `include` so a client can still page with `after_id`.
    """
    if include:
        out: dict[str, Any] = {"id": event["id"]}
        for path in include:
            parts = path.split(".")
            value: Any = event
            for part in parts:
                if not isinstance(value, dict) or part not in value:
                    break
                value = value[part]
            else:
                node = out
                for part in parts[:-1]:
                    node = node.setdefault(part, {})
                node[parts[-1]] = value
        return out
    out = dict(event)
    for path in exclude:
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                break
            node[part] = node = dict(child)
        else:
            node.pop(leaf, None)
    return out
