"""The daemon config the benchmark uses: a realistic pipeline, one sink set per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

API_KEY = "bench-key"

PIPELINE: list[dict[str, Any]] = [
    {
        "filter": {
            "name": "drop-test-leads",
            "action": "drop",
            "rule_set": {"op": "and", "rules": [{"lhv": "vars.lead.is_test", "op": "is true"}]},
        }
    },
    {
        "filter": {
            "name": "drop-passed-filter-steps",
            "action": "drop",
            "rule_set": {
                "op": "and",
                "rules": [
                    {"lhv": "type", "op": "is equal to", "rhv": "filter"},
                    {"lhv": "outcome", "op": "is equal to", "rhv": "continue"},
                ],
            },
        }
    },
    {
        "filter": {
            "name": "known-states",
            "rule_set": {
                "op": "or",
                "rules": [
                    {"lhv": "vars.lead.state", "op": "is blank"},
                    {
                        "lhv": "vars.lead.state",
                        "op": "is not included in",
                        "rhv": "XX, ZZ",
                    },
                ],
            },
        }
    },
    {"transform": {"mask": ["vars.lead.ssn", "vars.lead.dob"], "exclude": ["vars.lead.ip"]}},
]
FILTERS = PIPELINE[:3]  # the same filters without the transform: raw bytes pass through


def config(
    url: str,
    state: Path,
    *,
    local: Path | None = None,
    s3: dict[str, Any] | None = None,
    azure: dict[str, Any] | None = None,
    page_size: int = 1000,
    **sections: Any,
) -> dict[str, Any]:
    """A config dict: the simulator at ``url`` into the given sinks, gzip, 5000-event batches.

    ``s3``/``azure`` are ``{"credential": {...}, "bucket": name}``.
    """
    services: dict[str, Any] = {}
    credentials: dict[str, Any] = {}
    if local is not None:
        services["local"] = {"enabled": True, "path": str(local), "fsync": True}
    for kind, spec in (("aws", s3), ("azure", azure)):
        if spec is not None:
            credentials[kind] = spec["credential"]
            services[kind] = {
                "enabled": True,
                "credential_id": kind,
                "bucket": spec["bucket"],
                "timeout": spec.get("timeout", "60s"),
            }
    cfg: dict[str, Any] = {
        "source": {
            "base_url": url,
            "api_key": API_KEY,
            "page_size": page_size,
            "poll_interval": "1s",
            "lag_window": "off",
            "start": {"after_id": "0" * 24},
        },
        "pipeline": PIPELINE,
        "credentials": credentials,
        "firehose": {"enabled": True, "prefix": "bench/events", "services": services},
        "batch": {
            "max_events": 5000,
            "max_bytes": "16MiB",
            "max_age": "30s",
            "compression": "gzip",
        },
        "checkpoint": {"path": str(state / "checkpoint.json")},
        "logging": {"level": "warning", "progress_interval": "1h"},
        "shutdown": {"grace": "60s"},
    }
    cfg.update(sections)
    return cfg
