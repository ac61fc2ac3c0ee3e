"""Per-type event bodies. Pure functions over already-drawn values, kept apart from the
lead/flow logic in `events.py` so each stays short."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from streamer.simulator.catalog import Flow, Source, Step

HANDLER_VERSION = "4.112.3"
SCHEMA_VERSION = "2.0.0"
RETENTION_SECONDS = 90 * 86400
FAILURE_REASONS = ("Duplicate lead", "Invalid phone number", "Outside service area", "Cap reached")
ERROR_REASONS = ("Timeout after 10000ms", "Unexpected status 502", "Connection reset by peer")
_SOURCE_MODULE = "leadconduit-default.inbound"
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_RESPONSE_HEADERS = {"Content-Type": "application/json"}
_MAPPINGS = [
    {"property": "first_name", "value": "{{lead.first_name}}"},
    {"property": "email", "value": "{{lead.email}}"},
    {"property": "phone", "value": "{{lead.phone_1}}"},
]
_iso_cache: dict[int, str] = {}


def iso_second(sec: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` for an epoch second, cached: generation calls it per event."""
    text = _iso_cache.get(sec)
    if text is None:
        if len(_iso_cache) > 200_000:
            _iso_cache.clear()
        text = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _iso_cache[sec] = text
    return text


def iso_ms(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, as LeadConduit writes timestamps."""
    ms = int(ts * 1000)
    return f"{iso_second(ms // 1000)}.{ms % 1000:03d}Z"


def common(
    eid: str, t: float, ms: int, lead_start: float, host: str, flow: Flow,
    vars_: dict[str, Any], rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    """Fields every event has; the type-specific builders fill `type`, `outcome`, `reason`.

    `start_timestamp` is kept inside the id's second so `id` time and timestamps agree.
    """
    sec = int(t)
    start_ms = min(int(t * 1000), sec * 1000 + 999)
    overhead = rng.randrange(1, 12)
    return {
        "id": eid,
        "type": None,
        "outcome": None,
        "reason": None,
        "vars": vars_,
        "host": host,
        "start_timestamp": start_ms,
        "end_timestamp": start_ms + ms,
        "firehose": flow.firehose,
        "ms": ms,
        "wait_ms": max(ms - overhead, 0),
        "overhead_ms": overhead,
        "lag_ms": rng.randrange(0, 40),
        "total_ms": start_ms + ms - int(lead_start * 1000),
        "handler_version": HANDLER_VERSION,
        "version": SCHEMA_VERSION,
        "expires_at": iso_second(sec + RETENTION_SECONDS) + "Z",
    }


def filter_event(
    ev: dict[str, Any], step: Step, outcome: str, reason: str | None
) -> dict[str, Any]:
    """A filter step's event: outcome `continue` or `stop`."""
    ev["type"] = "filter"
    ev["outcome"] = outcome
    ev["reason"] = reason
    ev["step_id"] = step.id
    ev["rule_set"] = step.rule_set
    return ev


def recipient_event(
    ev: dict[str, Any], step: Step, outcome: str, reason: str | None, lead_id: str,
    mapped_json: str, rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    """An enhancement or delivery step's event, with its outbound HTTP transaction."""
    deliver = step.kind == "deliver"
    earned = step.price if deliver and outcome == "success" else 0
    ev["type"] = "recipient"
    ev["outcome"] = outcome
    ev["reason"] = reason
    ev["step_id"] = step.id
    ev["key"] = step.key
    ev["cost"] = 0 if deliver or outcome == "skip" else step.price
    ev["revenue"] = earned
    ev["purchase_price"] = earned
    ev["sale_price"] = earned
    ev["module_id"] = step.module_id
    ev["package_version"] = "3.8.1"
    ev["rule_set"] = step.rule_set
    ev["mappings"] = _MAPPINGS if deliver else []
    if outcome == "skip":
        ev["transactions"] = []
        return ev
    status, status_text = (200, "OK") if outcome != "error" else (502, "Bad Gateway")
    start_ms = ev["start_timestamp"]
    body = mapped_json if deliver else f'{{"lead_id":"{lead_id}"}}'
    ev["transactions"] = [
        {
            "request": {
                "method": "POST",
                "uri": f"https://api.{step.key}.example.com/v2/leads",
                "version": "1.1",
                "headers": _JSON_HEADERS,
                "body": body,
                "timestamp": start_ms,
            },
            "response": {
                "version": "1.1",
                "status": status,
                "status_text": status_text,
                "headers": _RESPONSE_HEADERS,
                "body": f'{{"result":"{outcome}","ref":"{rng.getrandbits(32):08x}"}}',
                "timestamp": ev["end_timestamp"],
            },
            "ms": ev["ms"],
        }
    ]
    return ev


def appended_namespace(
    step: Step, outcome: str, reason: str | None, rng: random.Random
) -> dict[str, Any]:
    """What a step appends under `vars.<step.key>` (and the source event's `appended`)."""
    billable = int(outcome == "success")
    ns: dict[str, Any] = {"outcome": outcome, "reason": reason, "billable": billable}
    if step.key == "trustedform":
        ns["age_in_seconds"] = rng.randrange(5, 600)
        ns["is_mobile"] = rng.random() < 0.4
    elif step.key == "suppressionlist":
        ns["found"] = outcome != "success"
    elif step.kind == "deliver":
        ns["price"] = step.price if outcome == "success" else 0
    return ns


def source_event(
    eid: str, start: float, end: float, host: str, flow: Flow, source: Source,
    vars_: dict[str, Any], appended: dict[str, Any], form_json: str, lead_id: str,
    result: tuple[str, str | None], steps: int, rng: random.Random,
) -> dict[str, Any]:  # fmt: skip
    """The source event: minted at submission (lowest id of the lead), recorded last."""
    outcome, reason = result
    ev = common(eid, start, int((end - start) * 1000), start, host, flow, vars_, rng)
    ev["type"] = "source"
    ev["outcome"] = outcome
    ev["reason"] = reason
    ev["cost"] = source.cost if outcome == "success" else 0
    ev["module_id"] = _SOURCE_MODULE
    ev["package_version"] = "1.14.0"
    ev["acceptance_criteria"] = {
        "rule_set": {"op": "and", "rules": [{"lhv": "lead.email", "op": "is not blank"}]},
        "outcome": "success",
        "reason": None,
    }
    ev["step_count"] = steps
    ev["appended"] = appended
    ev["request"] = {
        "method": "POST",
        "uri": f"https://app.leadconduit.com/flows/{flow.id}/sources/{source.id}/submit",
        "version": "1.1",
        "headers": _JSON_HEADERS,
        "body": form_json,
        "timestamp": ev["start_timestamp"],
    }
    ev["response"] = {
        "version": "1.1",
        "headers": _RESPONSE_HEADERS,
        "body": f'{{"outcome":"{outcome}","lead":{{"id":"{lead_id}"}}}}',
        "timestamp": ev["end_timestamp"],
        "status": 201,
        "status_text": "Created",
    }
    return ev


def retry_event(
    ev: dict[str, Any], rev: dict[str, Any], status: str, outcome: str
) -> dict[str, Any]:
    """A retry of an errored recipient event, carrying that event's recipient fields."""
    ev["type"] = "retry"
    ev["outcome"] = outcome
    ev["reason"] = None if outcome == "success" else rev["reason"]
    ev["retry_status"] = status
    for key in ("step_id", "key", "cost", "revenue", "module_id", "rule_set", "transactions"):
        ev[key] = rev[key]
    return ev


def feedback_event(
    ev: dict[str, Any], type_: str, step: Step, recipient_event_id: str, kind: str
) -> dict[str, Any]:
    """A return or conversion reported by a buyer (`-received`) or passed on (`-sent`)."""
    ev["type"] = type_
    ev["outcome"] = "success"
    ev["module_id"] = step.module_id
    ev["recipient_event_id"] = recipient_event_id
    ev["step_id"] = step.id
    ev["feedback"] = {
        "rule_set": {"op": "and", "rules": []},
        "integration": f"{step.module_id.rsplit('.', 1)[0]}.feedback.{kind}",
    }
    return ev
