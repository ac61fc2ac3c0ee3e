"""Transforms on raw JSON: exactly what the whole-event transform gives, or a fall-back."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamer.simulator import generate_events
from streamer.source.decode import PageDecoder, PartialEvent
from streamer.stages import _paths
from streamer.stages._rawedit import RawEdits
from streamer.stages._rawunit import MEMO, MEMO_UNIT
from streamer.stages._redact import mask
from streamer.stages.config import TransformSpec
from streamer.stages.transform import TransformStage

EVENTS = generate_events(400, seed=43)
PAGE = orjson.dumps(EVENTS)
DECODED = {("vars", "lead", "id"), ("vars", "lead", "is_test"), ("type",), ("firehose",)}
SPECS: list[dict[str, Any]] = [
    {"mask": ["vars.lead.ssn", "vars.lead.dob"], "exclude": ["vars.lead.ip"]},
    {"mask": ["lead.ssn", "lead.email", "submission.ip", "lead.nothing_here"]},
    {"exclude": ["lead.ssn", "vars.lead.dob", "lead.phone_1.area"], "mask": ["lead.dob"]},
    {"hash": ["lead.email", "vars.lead.phone_1", "lead.postal_code.zip"], "hash_salt": "s"},
    {"exclude": ["vars.submission"], "mask": ["submission.ip"]},  # masks nothing: gone first
    {"mask": ["vars.lead.email.domain.deeper", "vars.trustedform.cert_url"]},
    {"mask": ["submission.ip"], "exclude": ["vars.source"]},  # vars a unit: in order
]


def _check(stage: TransformStage, event: PartialEvent) -> PartialEvent | None:
    """The raw edit, checked against ``process`` on the whole event when it answers."""
    edited = stage.process_raw(event)
    if edited is not None:
        assert orjson.loads(bytes(edited.raw)) == stage.process(event.full())
        assert dict(edited) == dict(event)  # the decoded paths are untouched
        assert b"\n" not in bytes(edited.raw)
    return edited


@pytest.mark.parametrize("spec", SPECS)
def test_raw_edits_equal_whole_event_transforms(spec: dict[str, Any]) -> None:
    """Every simulator event: the raw edit gives the whole-event transform's JSON."""
    stage = TransformStage(TransformSpec(**spec), name="t", salt="s")
    assert stage.raw_edits is not None
    events = PageDecoder(DECODED).decode(PAGE, "u")
    answered = [_check(stage, e) for e in events]
    assert any(a is not None for a in answered)


@pytest.mark.parametrize(
    "spec",
    [
        {"include": ["vars.lead.email"]},
        {"rename": {"vars.lead.email": "vars.lead.mail"}},
        {"set": {"vars.lead.source": "x"}},
        {"mask": ["vars.lead.*"]},
        {"exclude": ["appended.0"]},
    ],
)
def test_other_transforms_are_never_raw(spec: dict[str, Any]) -> None:
    """include, rename, set, wildcards and indexes always take the whole-event path."""
    assert TransformStage(TransformSpec(**spec), name="t").raw_edits is None


@pytest.mark.parametrize(
    "spec",
    [
        {"exclude": ["appended"]},  # a top-level member
        {"mask": ["type"]},
        {"mask": ["lead.is_test"]},  # a path the partial event decoded
        {"exclude": ["vars.lead"]},  # above one
        {"exclude": ["firehose.stream"]},  # below one (routing reads firehose)
    ],
)
def test_edits_that_cannot_be_raw_fall_back(spec: dict[str, Any]) -> None:
    """Edits of top-level members or of decoded paths answer None (transform it whole)."""
    stage = TransformStage(TransformSpec(**spec), name="t")
    event = PageDecoder(DECODED).decode(orjson.dumps([_tricky()]), "u")[0]
    assert stage.process_raw(event) is None


def _tricky() -> dict[str, Any]:
    return {
        "id": "6b0f7f39e44da7f2260ed906",
        "type": "source",
        "firehose": {"stream": "a"},
        "appended": {"vars": {"lead": {"ssn": "123-45-6789"}}},
        "vars": {"lead": {"id": "x", "is_test": True, "ssn": "123-45-6789", "dob": "01/02/1980"}},
    }


@pytest.mark.parametrize(
    "body",
    [
        # whitespace and escapes everywhere: untouched bytes stay as they were
        b'[{ "id" : "6b0f7f39e44da7f2260ed906", "vars" : { "lead" : { "ssn" : "123\\u002d45",'
        b' "dob": {"normal": "1980-01-02", "year": 1980}, "id": "x" } }, "a": "\\u00e9" }]',
        # the same object twice (a copy in another member): found only if unique
        b'[{"id":"6b0f7f39e44da7f2260ed906","x":{"lead":{"ssn":"1"}},"vars":{"lead":{"ssn":"1"}}}]',
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":{"ssn":"1"}},"x":{"lead":{"ssn":"1"}}}]',
        # vars not an object, lead not an object, a list on the way
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":[1,2]}]',
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":"plain"}}]',
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":[{"ssn":"1"}]}}]',
        # a top-level lead (the vars fallback does not apply) and duplicate keys
        b'[{"id":"6b0f7f39e44da7f2260ed906","lead":{"ssn":"1"},"vars":{"lead":{"ssn":"2"}}}]',
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":{"ssn":"1","ssn":"2"}}}]',
        # an edit that changes nothing (a null masks to itself), an absent lead
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":{"ssn":null}}}]',
        b'[{"id":"6b0f7f39e44da7f2260ed906","vars":{"lead":null,"x":1}}]',
    ],
)
def test_raw_edits_on_unusual_json(body: bytes) -> None:
    """Odd formatting, repeated members, non-objects: right answer or a fall-back."""
    spec = TransformSpec(mask=["lead.ssn", "lead.dob"], exclude=["vars.lead.ip"])
    stage = TransformStage(spec, name="t")
    event = PageDecoder({("vars", "lead", "id")}).decode(body, "u")[0]
    edited = _check(stage, event)
    if edited is not None and edited is not event:
        assert b"\\u00e9" in bytes(edited.raw) or b"\\u00e9" not in body


def test_a_chain_of_raw_transforms_equals_the_whole_event_chain() -> None:
    """Two transforms in a row on raw JSON give what they give on whole events."""
    first = TransformStage(TransformSpec(exclude=["vars.lead.ip"]), name="a")
    second = TransformStage(TransformSpec(mask=["lead.ssn", "lead.ip"]), name="b")
    for event in PageDecoder(DECODED).decode(PAGE, "u")[:50]:
        once = first.process_raw(event)
        assert once is not None
        twice = second.process_raw(once)
        assert twice is not None
        assert orjson.loads(bytes(twice.raw)) == second.process(first.process(event.full()) or {})


def _counting_mask() -> tuple[list[str], Any]:
    calls: list[str] = []

    def edit(value: Any, key: str) -> Any:
        calls.append(key)
        return mask(value, key)

    return calls, edit


def test_a_unit_seen_before_is_answered_from_memory_and_stays_exact() -> None:
    """Events of one lead share ``vars.lead``: its edit runs once, each event stays exact."""
    calls, edit = _counting_mask()
    edits = RawEdits([(("vars", "lead", "ssn"), edit)])
    lead = {"id": "l1", "ssn": "123-45-6789", "city": "Austin"}
    events = [
        {"id": f"6b0f7f39e44da7f2260ed90{i}", "type": kind, "vars": {"lead": lead, "n": i}}
        for i, kind in enumerate(["source", "filter", "recipient"])
    ]
    other = {**events[0], "vars": {"lead": {**lead, "ssn": "987-65-4321"}}}
    page = orjson.dumps([*events, other])
    for event in PageDecoder({("type",)}).decode(page, "u"):
        edited = edits.apply(event)  # type: ignore[arg-type]
        assert edited is not None
        expected = _paths.edit(event.full(), ("vars", "lead", "ssn"), mask)
        assert orjson.loads(bytes(edited.raw)) == expected
    assert calls == ["ssn", "ssn"]  # once for the shared lead, once for the other one


def test_the_same_bytes_under_other_units_or_edits_are_not_confused() -> None:
    """The same lead bytes under ``vars`` (masked and cut) and at the top level (only
    masked: ``vars.lead.city`` is not there) get their own answers; so does no change."""
    spec = TransformSpec(mask=["lead.ssn"], exclude=["vars.lead.city"])
    stage = TransformStage(spec, name="t")
    lead = {"ssn": "123-45-6789", "city": "Austin"}
    bodies = [
        {"id": "6b0f7f39e44da7f2260ed901", "vars": {"lead": lead}},
        {"id": "6b0f7f39e44da7f2260ed902", "lead": lead, "vars": {"x": 1}},
        {"id": "6b0f7f39e44da7f2260ed903", "vars": {"lead": lead}},
        {"id": "6b0f7f39e44da7f2260ed904", "lead": lead},
        {"id": "6b0f7f39e44da7f2260ed905", "vars": {"lead": {"other": 1}}},
        {"id": "6b0f7f39e44da7f2260ed906", "vars": {"lead": {"other": 1}}},
    ]
    events = PageDecoder({("id",)}).decode(orjson.dumps(bodies), "u")
    answered = [_check(stage, e) for e in events]
    assert all(a is not None for a in answered)
    assert answered[4] is events[4]  # unchanged: the same event back
    assert answered[5] is events[5]  # and again, from memory


def test_what_is_remembered_is_bounded() -> None:
    """At most ``_MEMO`` units per set of edits are kept, the oldest dropped first."""
    calls, edit = _counting_mask()
    edits = RawEdits([(("vars", "lead", "ssn"), edit)])
    page = orjson.dumps(
        [
            {"id": f"6b0f7f39e44da7f2260e{i:04x}", "vars": {"lead": {"ssn": str(i)}}}
            for i in range(3 * MEMO)
        ]
    )
    events = PageDecoder({("type",)}).decode(page, "u")
    for event in [*events, events[0], events[-1]]:
        assert edits.apply(event) is not None  # type: ignore[arg-type]
    assert edits.remembered() == MEMO
    assert len(calls) == 3 * MEMO + 1  # the first one was forgotten, the last one not


def test_two_units_are_spliced_only_where_both_are_certain() -> None:
    """Two edited objects: both spliced; a copy of either one: the whole event instead."""
    stage = TransformStage(TransformSpec(mask=["lead.ssn", "submission.ip"]), name="t")
    lead, submission = {"ssn": "123-45-6789"}, {"ip": "10.0.0.1"}
    bodies = [
        {"id": "6b0f7f39e44da7f2260ed901", "vars": {"lead": lead, "submission": submission}},
        {"id": "6b0f7f39e44da7f2260ed902", "vars": {"lead": lead, "submission": submission},
         "appended": {"submission": submission}},
    ]  # fmt: skip
    events = PageDecoder({("id",)}).decode(orjson.dumps(bodies), "u")
    both, copied = (_check(stage, e) for e in events)
    assert both is not None
    assert b"10.0.0.1" not in bytes(both.raw)
    assert copied is None


def test_an_absent_top_level_edit_leaves_the_event_as_it_is() -> None:
    """Top-level edits make ``vars`` a unit (edited in order); absent, nothing changes."""
    stage = TransformStage(TransformSpec(exclude=["appended", "vars.lead.ip"]), name="t")
    body = {"id": "6b0f7f39e44da7f2260ed901", "vars": {"lead": {"ssn": "1"}}}
    event = PageDecoder({("id",)}).decode(orjson.dumps([body]), "u")[0]
    assert stage.process_raw(event) is event


def test_large_units_are_edited_but_not_remembered() -> None:
    """A unit over ``MEMO_UNIT`` bytes is edited every time, so the memory stays small."""
    calls, edit = _counting_mask()
    edits = RawEdits([(("vars", "lead", "ssn"), edit)])
    lead = {"ssn": "123-45-6789", "notes": "x" * MEMO_UNIT}
    body = {"id": "6b0f7f39e44da7f2260ed901", "vars": {"lead": lead}}
    event = PageDecoder({("type",)}).decode(orjson.dumps([body]), "u")[0]
    for _ in range(2):
        edited = edits.apply(event)  # type: ignore[arg-type]
        assert edited is not None
        assert orjson.loads(bytes(edited.raw)) == _paths.edit(body, ("vars", "lead", "ssn"), mask)
    assert calls == ["ssn", "ssn"]
    assert edits.remembered() == 0
