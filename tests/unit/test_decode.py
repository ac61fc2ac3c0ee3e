"""Partial page decoding: same rule results as whole events, raw bytes kept exactly."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamer.errors import RetriableSourceError
from streamer.rules import compile_rule_set
from streamer.rules.paths import rule_paths
from streamer.simulator import generate_events
from streamer.source.decode import PageDecoder, PartialEvent, full_event, ids_valid, raw_lines

EVENTS = generate_events(600, seed=41)
PAGE = orjson.dumps(EVENTS)
RULE_SETS: list[Any] = [
    {"op": "and", "rules": [{"lhv": "type", "op": "is equal to", "rhv": "recipient"}]},
    {
        "op": "or",
        "rules": [
            {"lhv": "lead.state", "op": "is included in", "rhv": "TX,CA"},
            {"lhv": "vars.lead.email.domain", "op": "matches pattern", "rhv": "gmail"},
        ],
    },
    {
        "op": "and",
        "rules": [
            {"lhv": "vars.lead.mortgage.loan.amount", "op": "is greater than", "rhv": 100000},
            {"lhv": "outcome", "op": "is not equal to", "rhv": "{{vars.trustedform.outcome}}"},
        ],
    },
    [
        {
            "lhv": "transactions.0.response.status",
            "op": "is equal to",
            "rhv": 200,
            "rules": [{"lhv": "vars.recipient.name", "op": "is not blank"}],
        }
    ],
    {
        "op": "and",
        "rules": [
            {"lhv": "vars.lead.phone_1", "op": "format is valid"},
            {"lhv": "vars.lead.dob.age", "op": "is between", "rhv": "18-65"},
        ],
    },
]


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_partial_events_match_exactly_like_whole_events(rule_set: Any) -> None:
    """A rule set gives the same answer on the partial decode as on the whole event."""
    compiled = compile_rule_set(rule_set)
    partial = PageDecoder(rule_paths(rule_set)).decode(PAGE, "u")
    expected = [compiled.matches(e) for e in EVENTS]
    assert [compiled.matches(e) for e in partial] == expected
    assert 0 < sum(expected) < len(EVENTS) or rule_set is RULE_SETS[3]


def test_raw_bytes_are_the_api_bytes_and_full_decodes_to_the_event() -> None:
    """Each partial event carries its exact JSON text; full() gives back the whole event."""
    events = PageDecoder({("type",)}).decode(PAGE, "u")
    assert all(isinstance(e, PartialEvent) for e in events)
    assert set(events[0]) <= {"id", "type"}
    for event, original in zip(events, EVENTS, strict=True):
        assert bytes(raw_lines([event])[0] or b"") == orjson.dumps(original)
        assert full_event(event) == original


def test_pages_with_newlines_are_decoded_whole() -> None:
    """A pretty-printed page cannot be split into JSONL lines, so it is decoded in full."""
    pretty = orjson.dumps(EVENTS[:3], option=orjson.OPT_INDENT_2)
    events = PageDecoder({("type",)}).decode(pretty, "u")
    assert events == EVENTS[:3]
    assert raw_lines(events)[0] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"id": "x"', "invalid JSON"),
        (b'{"id": "6b05acada3d811737835bf9c"}', "expected a JSON array"),
        (b'[{"type": "source"}]', "without a valid id"),
        (b"[1, 2]", "JSON array of events"),
    ],
)
def test_malformed_pages_are_retriable(body: bytes, message: str) -> None:
    """Broken pages raise RetriableSourceError naming what is wrong, in partial mode too."""
    with pytest.raises(RetriableSourceError, match=message):
        PageDecoder({("type",)}).decode(body, "u")


GOOD_ID = "6b05acada3d811737835bf9c"


@pytest.mark.parametrize(
    ("events", "valid"),
    [
        ([], True),
        ([{"id": GOOD_ID}, {"id": "6b05acada3d811737835bf9d", "type": "x"}], True),
        ([{"id": GOOD_ID.upper()}], False),
        ([{"id": GOOD_ID[:23]}, {"id": GOOD_ID + "0"}], False),
        ([{"id": GOOD_ID + "\n"}], False),
        ([{"id": GOOD_ID}, {"id": 7}], False),
        ([{"id": GOOD_ID}, {"type": "source"}], False),
        ([{"id": GOOD_ID}, [GOOD_ID]], False),
        ([GOOD_ID], False),
    ],
)
def test_ids_valid_checks_every_event_of_the_page(events: list[object], valid: bool) -> None:
    """The page-wide id check rejects any event whose id is missing, not a string or not hex."""
    assert ids_valid(events) is valid


def test_rule_paths_cover_lhvs_templates_and_vars_fallback() -> None:
    """Paths include lhvs, template references, nested rules, and their vars.* twins."""
    paths = rule_paths(RULE_SETS[2]) | rule_paths(RULE_SETS[1])
    assert ("vars", "lead", "mortgage", "loan", "amount") in paths
    assert ("vars", "trustedform", "outcome") in paths
    assert ("lead", "state") in paths
    assert ("vars", "lead", "state") in paths
