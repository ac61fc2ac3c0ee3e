"""Run state, watchdog interval and the reload diff, without a daemon."""

from __future__ import annotations

import os
from pathlib import Path

from daemon_helpers import loaded_config, sample

from streamer.daemon.reload import changed_keys
from streamer.daemon.runstate import RunState, State, watchdog_interval
from streamer.observability.metrics import Metrics

RULE = {"filter": {"name": "a", "rule_set": {"op": "and", "rules": [
    {"lhv": "type", "op": "is equal to", "rhv": "recipient"}]}}}


def test_state_changes_move_the_gauge() -> None:
    """streamer_run_state is 1 for exactly the current state."""
    metrics = Metrics()
    state = RunState(metrics, stuck_after=60)
    state.enter(State.WAITING_FOR_LEASE, waiting_for="lease")
    text = metrics.render().decode()
    assert sample(text, "streamer_run_state", state="waiting_for_lease") == 1
    assert sample(text, "streamer_run_state", state="starting") == 0
    assert state.readiness()[1]["waiting_for"] == "lease"
    state.enter(State.RUNNING)
    text = metrics.render().decode()
    assert [s.value for s in State if sample(text, "streamer_run_state", state=s.value)] == [
        "running"
    ]


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WATCHDOG_USEC=30s pings every 15 s; another pid's watchdog or none at all: no pings."""
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_changed_keys_are_dotted_names_never_values(tmp_path: Path) -> None:
    """A rule value, the API key and page size changed: three names, no secret value."""
    old = loaded_config("http://127.0.0.1:9", tmp_path, pipeline=[RULE])
    rule = {"filter": {**RULE["filter"], "rule_set": {"op": "and", "rules": [
        {"lhv": "type", "op": "is equal to", "rhv": "source"}]}}}
    new = loaded_config("http://127.0.0.1:9", tmp_path, pipeline=[rule],
                        source={"api_key": "rotated-key-1234", "page_size": 10})
    assert changed_keys(old, new) == [
        "pipeline[0].filter.rule_set.rules[0].rhv", "source.api_key", "source.page_size"
    ]
    assert changed_keys(loaded_config("http://127.0.0.1:9", tmp_path), old) == ["pipeline"]
    assert changed_keys(old, old) == []
