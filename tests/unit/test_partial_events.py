"""Partial events as msgspec structs: every reader answers exactly as on the whole event."""

from __future__ import annotations

import gc
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.errors import RetriableSourceError
from streamer.pipeline.backfill import within
from streamer.pipeline.layout import lead_id
from streamer.pipeline.routing import EventRouter
from streamer.pipeline.start import page_decoder
from streamer.rules import compile_rule_set
from streamer.rules.paths import make_getter, rule_paths
from streamer.rules.values import MISSING
from streamer.settings.loader import parse_settings
from streamer.source.decode import PageDecoder, PartialEvent, event_ids, full_event, raw_lines

ID = "6b05acada3d811737835bf9c"


def _id(n: int) -> str:
    return f"{ID[:-4]}{n:04x}"


#: shapes that stress the getters: absent vs null members, flow-style paths that fall
#: back to ``vars``, ``vars`` that is not an object, keys named like the mapping's
#: methods or its raw field, keys that are not identifiers, lists, a repeated key
ODD: list[dict[str, Any]] = [
    {"id": _id(1), "type": None, "vars": {"lead": {"state": "TX", "zip": None}}},
    {"id": _id(2), "vars": {"type": "in-vars", "lead": {"state": None}}},
    {"id": _id(3), "type": "source", "vars": "not an object", "lead": {"state": "CA"}},
    {"id": _id(4), "vars": {"vars": {"lead": {"state": "vv"}}, "lead": []}},
    {"id": _id(5), "vars": {"vars": {"lead": {"state": "vv"}}}},
    {"id": _id(6), "get": 1, "keys": [1], "raw": {"a": 1}, ".": "dot", "a b": "space"},
    {"id": _id(7), "é": {"ü": 2}, "attrs": "x", "full": None, "f_6964": "hex-like"},
    {"id": _id(8), "lead": {"state": ["TX", "CA"]}, "vars": {"lead": {"state": {"n": 1}}}},
    {"id": _id(9), "vars": None, "type": ""},
    {"id": _id(10)},
]
PATHS = [
    "type", "lead.state", "vars.lead.state", "vars.lead.zip", "vars.type", "vars",
    "lead", "get", "keys", "raw", "a b", "é.ü", "attrs", "full", "f_6964", "vars.vars",
    "lead.state.0", "vars.lead.state.n", "type.x", "nothing", "nothing.at.all.here",
]  # fmt: skip


def _partial(events: list[dict[str, Any]], paths: set[tuple[str, ...]]) -> list[Any]:
    return PageDecoder(paths).decode(orjson.dumps(events), "u")


@pytest.mark.parametrize("path", PATHS)
def test_getters_answer_on_partial_events_as_on_whole_ones(path: str) -> None:
    """Present, null, absent (MISSING), under vars or not: the same value either way."""
    parts = tuple(path.split("."))
    get = make_getter(parts)
    partial = _partial(ODD, rule_paths({"lhv": path, "op": "is present"}))
    assert all(isinstance(e, PartialEvent) for e in partial)
    assert [get(e) for e in partial] == [get(e) for e in ODD]
    proxies = [types.MappingProxyType(e) for e in ODD]  # any other mapping: the same too
    assert [get(e) for e in proxies] == [get(e) for e in ODD]


@pytest.mark.parametrize("op", ["is blank", "is not blank", "is equal to", "is not equal to"])
def test_missing_and_null_stay_apart_in_rules(op: str) -> None:
    """Rules see an absent member as absent and a null one as null, as on dicts."""
    for path in ("type", "vars.lead.zip", "lead.state", "vars.lead.state"):
        rule: dict[str, Any] = {"lhv": path, "op": op}
        if "equal" in op:
            rule["rhv"] = "TX"
        rule_set = {"op": "and", "rules": [rule]}
        compiled = compile_rule_set(rule_set)
        partial = _partial(ODD, rule_paths(rule_set))
        assert [compiled.matches(e) for e in partial] == [compiled.matches(e) for e in ODD]


def test_a_partial_event_is_a_read_only_mapping_of_its_decoded_members() -> None:
    """``[]``, ``in``, ``get``, iteration and ``dict()`` see exactly the decoded members."""
    paths = {("type",), ("get",), ("raw",), ("a b",), ("nothing",)}
    whole = ODD[5]
    (event,) = _partial([whole], paths)
    expected = {k: whole[k] for k in ("id", "get", "raw", "a b")}
    assert isinstance(event, Mapping)
    assert dict(event) == expected
    assert sorted(event) == sorted(expected)
    assert len(event) == len(expected)
    assert sorted(event.items()) == sorted(expected.items())
    assert sorted(map(str, event.values())) == sorted(map(str, expected.values()))
    assert event["get"] == 1
    assert event["raw"] == {"a": 1}
    assert "nothing" not in event
    assert "keys" not in event
    assert "type" not in event
    assert "." not in event
    assert 7 not in event
    assert event.get("nothing") is None
    assert event.get("nothing", 5) == 5
    with pytest.raises(KeyError):
        event["nothing"]
    with pytest.raises(KeyError):
        event["keys"]  # in the event, not decoded
    # its raw line is the event's bytes even with members named "raw" and "."
    assert bytes(event.raw) == orjson.dumps(whole)
    assert event.full() == whole
    assert "PartialEvent(" in repr(event)
    assert "'a b': 'space'" in repr(event)


def test_null_members_are_present_absent_ones_are_not() -> None:
    """A member that is null is in the event (value None); one the event lacks is not."""
    first, second = _partial(ODD[:2], {("type",)})
    assert "type" in first
    assert first["type"] is None
    assert first.get("type", 1) is None
    assert "type" not in second
    assert second.get("type", 1) == 1
    assert make_getter(("type",))(second) is MISSING


def test_partial_events_are_not_tracked_by_the_cyclic_gc() -> None:
    """msgspec builds them untracked (``gc=False``): nothing for a GC pass to walk."""
    events = _partial(ODD, {("vars", "lead", "state")})
    assert not any(gc.is_tracked(e) for e in events)


def test_with_raw_keeps_the_decoded_members_and_the_type() -> None:
    """``with_raw`` (the raw transform's result) is a partial event with the new bytes."""
    (event,) = _partial(ODD[:1], {("vars", "lead", "state")})
    edited = event.with_raw(b'{"id":"x"}')
    assert type(edited) is type(event)
    assert isinstance(edited, PartialEvent)
    assert bytes(edited.raw) == b'{"id":"x"}'
    assert raw_lines([edited])[0] is edited.raw
    assert dict(edited) == dict(event)
    assert bytes(event.raw) == orjson.dumps(ODD[0])
    assert edited.with_raw(edited.raw).raw is edited.raw
    assert full_event(edited) == {"id": "x"}


def test_layout_reads_the_lead_id_of_partial_events() -> None:
    """``lead_id`` (per-event layout) answers the same on partial and whole events."""
    events = [*ODD, {"id": _id(11), "vars": {"lead": {"id": {"normal": "L1"}}}}]
    partial = _partial(events, {("vars", "lead", "id")})
    assert [lead_id(e) for e in partial] == [lead_id(e) for e in events]
    assert lead_id(partial[-1]) == "L1"


def test_event_ids_reads_partial_whole_and_mixed_pages() -> None:
    """``event_ids`` is ``[e["id"] for e in events]`` whatever the events are."""
    partial = _partial(ODD, {("type",)})
    ids = [e["id"] for e in ODD]
    assert event_ids(partial) == ids
    assert event_ids(ODD) == ids
    assert event_ids([ODD[0], *partial[1:]]) == ids
    assert event_ids([]) == []


@pytest.mark.parametrize(
    "events",
    [
        [{"id": ID}, {"type": "no id"}],
        [{"id": ID}, {"id": None}],
        [{"id": 7}],
        [{"id": ID.upper()}],
        [{"id": [ID]}],
        [{"id": ID}, 7],
        [{"id": ID}, None],
    ],
)
def test_pages_with_a_bad_id_are_retried_in_partial_mode(events: list[Any]) -> None:
    """A missing, null, non-string or non-hex id (or a non-object event) is retriable."""
    with pytest.raises(RetriableSourceError, match="malformed page"):
        PageDecoder({("type",)}).decode(orjson.dumps(events), "u")


def test_rule_paths_do_not_repeat_vars_paths_under_vars() -> None:
    """``vars.x`` falls back to ``vars.vars.x`` only when there is no top-level vars,
    when ``vars.vars.x`` is missing too: that path is never read, so it is not decoded."""
    paths = rule_paths({"op": "and", "rules": [
        {"lhv": "vars.lead.state", "op": "is blank"},
        {"lhv": "lead.state", "op": "is equal to", "rhv": "{{vars.x}}"},
    ]})  # fmt: skip
    assert paths == {
        ("vars", "lead", "state"), ("lead", "state"), ("vars", "x")
    }  # fmt: skip
    for rule_set in (
        {"op": "and", "rules": [{"lhv": "vars.lead.state", "op": "is equal to", "rhv": "vv"}]},
        {"op": "and", "rules": [{"lhv": "vars.lead.state", "op": "is blank"}]},
        {"op": "and", "rules": [{"lhv": "vars.vars.lead.state", "op": "is not blank"}]},
    ):
        compiled = compile_rule_set(rule_set)
        partial = _partial(ODD, rule_paths(rule_set))
        assert [compiled.matches(e) for e in partial] == [compiled.matches(e) for e in ODD]


def test_a_page_with_a_repeated_key_reads_like_its_whole_decode() -> None:
    """JSON with a key twice: the partial event holds the value the whole decode keeps."""
    body = b'[{"id":"%s","type":"a","vars":{"x":1},"type":"b","vars":{"x":2}}]' % ID.encode()
    (event,) = PageDecoder({("type",), ("vars", "x")}).decode(body, "u")
    whole = orjson.loads(body)[0]
    assert event["type"] == whole["type"]
    assert make_getter(("vars", "x"))(event) == make_getter(("vars", "x"))(whole)


@pytest.mark.parametrize("partial", [True, False])
def test_backfill_cuts_a_page_to_its_slice_in_order_once(partial: bool) -> None:
    """``within``: ids in (after, end) only, sorted, repeats dropped, partial or whole."""
    order = [3, 1, 2, 2, 9, 5, 12, 1]
    page = [{"id": _id(n), "type": str(n)} for n in order]
    events = _partial(page, {("type",)}) if partial else page
    kept = within(events, _id(1), _id(9))
    assert [e["id"] for e in kept] == [_id(2), _id(3), _id(5)]
    assert [e["type"] for e in kept] == ["2", "3", "5"]
    in_order = events[1:3] + events[5:6]  # 1, 2, 5: kept as they are, in one pass
    assert within(in_order, _id(0), _id(9)) == in_order
    assert within(events, _id(12), _id(20)) == []


def test_event_routes_read_from_partial_events_match_whole_ones() -> None:
    """``route: event``: the daemon's decoder keeps ``firehose``; the router answers alike."""
    creds = {"aws-main": {"service": "aws", "access_key_id": "AK", "secret_access_key": "s"}}
    raw = {
        "source": {"api_key": "key-key"},
        "credentials": creds,
        "firehose": {"route": "event"},
        "pipeline": [{"filter": {"name": "f", "rule_set": {"op": "and", "rules": [
            {"lhv": "type", "op": "is not blank"}]}}}],
    }  # fmt: skip
    loaded = parse_settings(raw, base=Path(), env={})
    fh = {"enabled": True, "credential_id": "aws-main", "bucket": "b1", "prefix": "p"}
    events = [
        {"id": _id(1), "type": "source", "firehose": fh},
        {"id": _id(2), "firehose": {**fh, "enabled": False}},
        {"id": _id(3), "firehose": None},
        {"id": _id(4)},
    ]
    decoder = page_decoder(loaded.settings)
    assert decoder is not None
    partial = decoder.decode(orjson.dumps(events), "u")
    route = EventRouter(loaded, {})
    assert [route(e) for e in partial] == [route(e) for e in events]
    assert route(partial[0]) == (("aws:b1:aws-main", "p"),)
