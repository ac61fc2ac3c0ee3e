"""The transitions report on a handcrafted set of leads whose answer is worked out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_helpers import report_json, run_cli, write_archive, write_config

from streamer.report.transitions import Scope, TransitionTracker

T1 = 1_790_000_000
T2 = T1 + 3600
_n = iter(range(1, 1_000_000))


def ev(sec: int, lead: str, outcome: str, recipient: str = "r1") -> dict[str, Any]:
    """A minimal recipient event of ``lead`` at second ``sec``."""
    return {
        "id": f"{sec:08x}0000000000{next(_n):06x}",
        "type": "recipient",
        "outcome": outcome,
        "vars": {"lead": {"id": lead}, "recipient": {"id": recipient}},
    }


def scenario() -> list[dict[str, Any]]:
    """Leads A..G (see the expected tables below)."""
    return [
        ev(T1 - 100, "A", "success"), ev(T1 - 50, "A", "failure"),
        ev(T1 + 10, "A", "success"), ev(T1 + 20, "A", "failure"), ev(T1 + 30, "A", "success"),
        ev(T1 - 7000, "B", "success"),
        ev(T1 + 5, "C", "error"), ev(T1 + 6, "C", "error"),
        ev(T1 - 10, "D", "error"), ev(T1 + 100, "D", "success"), ev(T2 + 5, "D", "failure"),
        ev(T1 + 40, "E", "success", recipient="r2"),
        ev(T1, "F", "skip"), ev(T2, "F", "success"),
        ev(T1 - 1, "G", "success"), ev(T1 + 1, "G", "failure"), ev(T2 - 1, "G", "success"),
    ]  # fmt: skip


OVERVIEW = {  # status: started, ended, change, change_percent, gained, lost, entered, left
    "success": (2, 4, 2, 100.0, 2, 0, 3, 2),
    "failure": (1, 0, -1, -100.0, 0, 1, 2, 2),
    "error": (1, 1, 0, 0.0, 1, 1, 1, 1),
    "skip": (0, 1, 1, None, 1, 0, 1, 0),
}
TRANSITIONS = [(None, "error", 1), (None, "skip", 1), ("success", "failure", 2),
               ("failure", "success", 2), ("error", "success", 1)]  # fmt: skip
SUMMARY = [
    (None, "error", 1),
    (None, "skip", 1),
    ("failure", "success", 1),
    ("error", "success", 1),
]
FIELDS = ("started", "ended", "change", "change_percent", "gained", "lost", "entered", "left")


def _check(doc: dict[str, Any]) -> None:
    assert doc["leads"] == 6
    got = {row["status_id"]: tuple(row[f] for f in FIELDS) for row in doc["status_overview"]}
    assert got == OVERVIEW
    assert [row["status_id"] for row in doc["status_overview"]] == list(OVERVIEW)
    for row in doc["status_overview"]:
        assert row["status_label"] == row["status_id"]
        assert row["status_is_deleted"] is False
    for key, want in (("status_transitions", TRANSITIONS), ("status_transitions_summary", SUMMARY)):
        rows = doc[key]
        assert [(r["from_status_id"], r["to_status_id"], r["count"]) for r in rows] == want
        created = [r for r in rows if r["from_status_id"] is None]
        assert all(r["from_status_label"] is None and r["from_status_is_deleted"] is None
                   for r in created)  # fmt: skip


def test_tracker_computes_the_hand_worked_answer() -> None:
    """Started/ended/gained/lost/entered/left and both transition lists, for recipient r1."""
    tracker = TransitionTracker(T1, T2, Scope(recipient_id="r1"))
    events = scenario()
    tracker.add(events[::2])  # arrival order does not matter
    tracker.add(events[1::2])
    _check(tracker.report())


def test_cli_reads_archive_and_matches(tmp_path: Path) -> None:
    """``streamer report transitions`` over a written archive gives the same answer."""
    write_archive(tmp_path / "out", scenario(), max_events=3)
    cfg = write_config(tmp_path, tmp_path / "out")
    doc = report_json("transitions", "-c", str(cfg), "--start", str(T1), "--end", str(T2),
                      "--type", "recipient", "--recipient-id", "r1")  # fmt: skip
    _check(doc)
    assert doc["report"] == "transitions"
    assert doc["scope"]["recipient_id"] == "r1"


def test_scope_rules_file(tmp_path: Path) -> None:
    """``--scope`` takes a rule set: here it selects recipient r2 only (lead E)."""
    write_archive(tmp_path / "out", scenario())
    cfg = write_config(tmp_path, tmp_path / "out")
    rules = tmp_path / "scope.yaml"
    rules.write_text("- {lhv: vars.recipient.id, op: is equal to, rhv: r2}\n")
    doc = report_json("transitions", "-c", str(cfg), "--start", str(T1), "--end", str(T2),
                      "--scope", str(rules))  # fmt: skip
    assert doc["leads"] == 1
    assert [(r["from_status_id"], r["to_status_id"], r["count"])
            for r in doc["status_transitions"]] == [(None, "success", 1)]  # fmt: skip


def test_lookback_limits_the_starting_status(tmp_path: Path) -> None:
    """With ``--lookback 1h`` lead B (last seen ~2h before T1) has no starting status."""
    write_archive(tmp_path / "out", scenario())
    cfg = write_config(tmp_path, tmp_path / "out")
    doc = report_json("transitions", "-c", str(cfg), "--start", str(T1), "--end", str(T2),
                      "--recipient-id", "r1", "--lookback", "1h")  # fmt: skip
    success = next(r for r in doc["status_overview"] if r["status_id"] == "success")
    assert success["started"] == 1
    assert doc["leads"] == 5


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_text_formats(tmp_path: Path, fmt: str) -> None:
    """Table and CSV show the three sections with the hand-worked numbers."""
    write_archive(tmp_path / "out", scenario())
    cfg = write_config(tmp_path, tmp_path / "out")
    code, out, _ = run_cli("report", "transitions", "-c", str(cfg), "--start", str(T1),
                           "--end", str(T2), "--recipient-id", "r1", "--format", fmt)  # fmt: skip
    assert code == 0
    if fmt == "csv":
        lines = out.splitlines()
        assert lines[0].startswith("section,status_id,started,ended,change,change_percent")
        assert "status_overview,success,2,4,2,100.0,2,0,3,2,,," in lines
        assert "status_transitions,,,,,,,,,,success,failure,2" in lines
        assert "status_transitions_summary,,,,,,,,,,,error,1" in lines
    else:
        assert "status transitions summary" in out
        assert out.splitlines()[0] == "leads: 6"
