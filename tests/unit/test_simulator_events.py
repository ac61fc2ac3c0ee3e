"""The simulator's id helpers and event generator: layout, determinism, shapes, speed."""

from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from streamer.simulator import (
    SimulatorOptions,
    add_arguments,
    generate_events,
    id_time,
    iter_events,
    make_id,
    options_from_args,
    synthetic_id,
)

END = 1_790_000_000.0
HEX = set("0123456789abcdef")


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """A few thousand events at a fixed end time, shared by the shape tests."""
    return generate_events(6000, seed=7, end_ts=END, span_seconds=600)


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        groups[ev["type"]].append(ev)
    return groups


def test_make_id_layout() -> None:
    """An id is 4-byte time, 5-byte host part and 3-byte counter, as lowercase hex."""
    eid = make_id(0x5FD4371E, bytes.fromhex("940df5a34a"), 0x3888B2)
    assert eid == "5fd4371e940df5a34a3888b2"
    assert id_time(eid) == 0x5FD4371E


def test_make_id_counter_wraps_and_host_checked() -> None:
    """The counter wraps at 2**24 like MongoDB's, and the host part must be 5 bytes."""
    assert make_id(1, b"\x00" * 5, 2**24 + 5).endswith("000005")
    with pytest.raises(ValueError, match="5 bytes"):
        make_id(1, b"\x00" * 4, 0)


def test_synthetic_id_bounds_a_second() -> None:
    """A synthetic id sorts after every id of earlier seconds and before its own second's."""
    host = bytes.fromhex("0102030405")
    assert make_id(99, host, 0xFFFFFF) < synthetic_id(100) <= make_id(100, b"\x00" * 5, 0)
    assert synthetic_id(100) < make_id(100, host, 0)
    assert id_time(synthetic_id(100)) == 100


def test_generation_is_deterministic_by_seed() -> None:
    """The same seed and end time give identical events; another seed gives others."""
    a = generate_events(300, seed=3, end_ts=END)
    assert a == generate_events(300, seed=3, end_ts=END)
    assert [e["id"] for e in a] != [e["id"] for e in generate_events(300, seed=4, end_ts=END)]


def test_exact_count_unique_hex_ids_within_span(events: list[dict[str, Any]]) -> None:
    """Exactly `count` events, unique 24-hex ids, none created after end_ts or before the span."""
    assert len(events) == 6000
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 24 and set(i) <= HEX for i in ids)
    assert all(END - 600 - 1 <= id_time(i) <= END for i in ids)


def test_ids_within_a_second_are_not_in_creation_order(events: list[dict[str, Any]]) -> None:
    """Several hosts mint ids, so same-second ids disagree with creation order somewhere."""
    hosts = {e["id"][8:18] for e in events}
    assert 2 <= len(hosts) <= 4
    ordered = sorted(events, key=lambda e: (e["start_timestamp"], e["id"]))
    inversions = sum(
        1
        for a, b in itertools.pairwise(ordered)
        if id_time(a["id"]) == id_time(b["id"]) and a["id"] > b["id"]
    )
    assert inversions > 0


def test_timestamps_agree_with_id_and_expiry_is_90_days(events: list[dict[str, Any]]) -> None:
    """start_timestamp falls in the id's second; expires_at is id time + 90 days, ISO Z."""
    for ev in events:
        sec = id_time(ev["id"])
        assert ev["start_timestamp"] // 1000 == sec
        assert ev["end_timestamp"] >= ev["start_timestamp"]
        expected = datetime.fromtimestamp(sec, UTC) + timedelta(days=90)
        assert ev["expires_at"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_outcomes_per_type(events: list[dict[str, Any]]) -> None:
    """Every type appears, each with LeadConduit's outcome set for it."""
    allowed = {
        "source": {"success", "failure", "error"},
        "recipient": {"success", "failure", "error", "skip"},
        "filter": {"continue", "stop"},
        "feedback-received": {"success", "failure", "error"},
        "feedback-sent": {"success", "failure", "error", "skip"},
        "retry": {"success", "failure", "error", "skip"},
    }
    groups = by_type(events)
    assert set(groups) == set(allowed)
    for type_, evs in groups.items():
        assert {e["outcome"] for e in evs} <= allowed[type_], type_
    assert {e["outcome"] for e in groups["recipient"]} >= {"success", "skip"}
    assert {e["outcome"] for e in groups["filter"]} == {"continue", "stop"}


def test_common_fields_and_firehose(events: list[dict[str, Any]]) -> None:
    """Every event has the documented common fields and the seed doc's firehose object."""
    common = {"id", "type", "outcome", "reason", "vars", "host", "start_timestamp"}
    common |= {"end_timestamp", "firehose", "ms", "wait_ms", "overhead_ms", "lag_ms"}
    common |= {"total_ms", "handler_version", "version", "expires_at"}
    for ev in events:
        assert common <= ev.keys()
        fh = ev["firehose"]
        assert set(fh) == {"enabled", "credential_id", "bucket", "prefix", "services"}
        assert set(fh["services"]) == {"aws", "azure"}
        for svc in fh["services"].values():
            assert set(svc) == {"enabled", "credential_id", "bucket", "prefix"}


def test_typed_lead_fields(events: list[dict[str, Any]]) -> None:
    """Lead fields are stored typed ({normal, raw, components, valid}) with nested field ids."""
    lead = events[0]["vars"]["lead"]
    assert isinstance(lead["first_name"], str)
    assert {"normal", "raw", "valid"} <= lead["last_name"].keys()
    assert {"normal", "raw", "valid"} <= lead["email"].keys()
    valid_emails = [
        e["vars"]["lead"]["email"] for e in events if e["vars"]["lead"]["email"]["valid"]
    ]
    assert {"user", "domain", "host", "tld", "is_free"} <= valid_emails[0].keys()
    phones = [e["vars"]["lead"]["phone_1"] for e in events]
    assert any(not p["valid"] for p in phones)
    good = next(p for p in phones if p["valid"])
    assert good["normal"] == good["area"] + good["exchange"] + good["line"]
    assert {"age", "year"} <= lead["dob"].keys()
    ssn = lead["ssn"]
    assert ssn["normal"] == ssn["first_three"] + ssn["middle_two"] + ssn["last_four"]
    assert isinstance(lead["mortgage"]["loan"]["amount"], int)
    assert {"normal", "raw", "valid"} <= lead["postal_code"].keys() & lead["state"].keys()


def test_lead_id_shared_by_a_leads_events(events: list[dict[str, Any]]) -> None:
    """All events of one lead carry the same 24-hex vars.lead.id; a lead has one source event."""
    per_lead: dict[str, list[str]] = defaultdict(list)
    for ev in events:
        per_lead[ev["vars"]["lead"]["id"]].append(ev["type"])
    assert len(per_lead) > 500
    assert all(len(lid) == 24 for lid in per_lead)
    assert all(types.count("source") <= 1 for types in per_lead.values())
    assert sum(len(t) for t in per_lead.values()) / len(per_lead) > 3


def test_per_type_fields(events: list[dict[str, Any]]) -> None:
    """Source, recipient, filter, feedback and retry events carry their own fields."""
    groups = by_type(events)
    for ev in groups["source"]:
        assert {"module_id", "acceptance_criteria", "step_count", "appended", "cost"} <= ev.keys()
        assert ev["request"]["method"] == "POST"
        assert ev["response"]["status"] == 201
    for ev in groups["recipient"]:
        assert {"step_id", "key", "cost", "revenue", "module_id", "rule_set"} <= ev.keys()
        assert ev["vars"]["event_id"] == ev["id"]
        assert {"id", "name"} == ev["vars"]["recipient"].keys()
        assert isinstance(ev["transactions"], list)
    assert any(e["transactions"] and e["revenue"] > 0 for e in groups["recipient"])
    assert all("rule_set" in e and "recipient" in e["vars"] for e in groups["filter"])
    recipient_ids = {e["id"] for e in groups["recipient"]}
    for ev in groups["feedback-received"] + groups["feedback-sent"]:
        assert ev["recipient_event_id"] in recipient_ids
        assert ev["vars"]["feedback"]["type"] in {"return", "conversion"}
    assert {e["retry_status"] for e in groups["retry"]} == {"started", "completed"}


def test_appended_namespaces(events: list[dict[str, Any]]) -> None:
    """Enhancement results appear under vars.<key> with outcome and reason."""
    appended = [e["vars"]["trustedform"] for e in events if "trustedform" in e["vars"]]
    assert appended
    assert all({"outcome", "reason"} <= ns.keys() for ns in appended)


def test_average_size_is_a_few_kb(events: list[dict[str, Any]]) -> None:
    """The serialized events average between 1 and 4 KB, like real ones."""
    sizes = [len(orjson.dumps(e)) for e in events]
    assert 1000 <= sum(sizes) / len(sizes) <= 4000


def test_iter_events_is_lazy() -> None:
    """Asking for a billion events yields the first one at once."""
    started = time.perf_counter()
    first = next(iter_events(10**9, seed=1, end_ts=END))
    assert time.perf_counter() - started < 1
    assert len(first["id"]) == 24


def test_generation_speed() -> None:
    """Generation plus serialization runs well above 10k events/s (45k on a dev box)."""
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        n = sum(1 for e in iter_events(20_000, seed=2, end_ts=END) if orjson.dumps(e))
        best = max(best, n / (time.perf_counter() - started))
    assert best >= 10_000


def test_cli_arguments_round_trip() -> None:
    """add_arguments/options_from_args map every flag onto SimulatorOptions."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(
        [
            "--port",
            "9",
            "--events",
            "5",
            "--seed",
            "2",
            "--api-key",
            "k",
            "--latency",
            "0.5",
            "--fail-rate",
            "0.1",
            "--faults",
            "429,reset",
            "--fail-first",
            "3",
            "--retry-after",
            "none",
            "--rate",
            "7",
            "--late-fraction",
            "0.2",
            "--late-delay",
            "3",
        ]
    )
    assert ns.port == 9
    assert options_from_args(ns) == SimulatorOptions(
        events=5, seed=2, api_key="k", latency=0.5, fail_rate=0.1, faults=("429", "reset"),
        fail_first=3, retry_after=None, live_rate=7, late_fraction=0.2, late_delay=3,
    )  # fmt: skip
    assert options_from_args(parser.parse_args([])) == SimulatorOptions()


def test_bad_options_rejected() -> None:
    """Invalid option values raise ValueError naming each problem; bad --faults is a usage error."""
    with pytest.raises(ValueError, match="fail_rate") as info:
        SimulatorOptions(fail_rate=2, faults=("nope",))
    assert "unknown faults" in str(info.value)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--faults", "429,boom"])
