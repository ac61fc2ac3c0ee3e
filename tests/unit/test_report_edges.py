"""``streamer report`` at the edges (issue 16 req. 3-4): exotic numbers, group values, time
bounds, and the streaming reader (worker processes, byte budget, corrupt objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_helpers import expected_columns, report_json, run_cli, write_archive, write_config

from streamer.report.columns import money
from streamer.report.options import parse_time
from streamer.simulator import generate_events
from streamer.simulator.ids import make_id

BASE = 1_790_000_000


def _event(sec: int, n: int, **fields: Any) -> dict[str, Any]:
    event = {"id": make_id(sec, b"\x01\x02\x03\x04\x05", n), "type": "recipient",
             "outcome": "success", "vars": {"lead": {"id": f"L{n}"}}}  # fmt: skip
    event.update(fields)
    return event


def _cfg(tmp_path: Path, events: list[dict[str, Any]], **kw: Any) -> str:
    write_archive(tmp_path / "out", events, **kw)
    return str(write_config(tmp_path, tmp_path / "out"))


@pytest.mark.parametrize(
    ("value", "want"),
    [("NaN", 0.0), ("Infinity", 0.0), ("-Infinity", 0.0), ("1_000", 0.0), ("1e3", 0.0),
     ("$1,100", 1100.0), (" 12.5 ", 12.5), ({"normal": "3"}, 3.0), (True, 0.0), (7, 7.0),
     (float("inf"), 0.0), ("abc", 0.0)],
)  # fmt: skip
def test_money_parses_like_the_rules(value: Any, want: float) -> None:
    """Money is parsed as the rules parse numbers: non-finite and exotic strings are 0."""
    assert money(value) == want


def test_nan_cost_is_zero_not_null(tmp_path: Path) -> None:
    """A "NaN" or "Infinity" cost string counts 0, so the group's cost stays a number."""
    events = [_event(BASE, 1, cost="NaN", revenue="Infinity"), _event(BASE, 2, cost="2.5")]
    doc = report_json("-c", _cfg(tmp_path, events), "--start", str(BASE), "--end", str(BASE + 1))
    assert doc["total"]["cost"] == 2.5
    assert doc["total"]["revenue"] == 0.0


def test_numeric_groups_sort_numerically_and_merge_text(tmp_path: Path) -> None:
    """Groups 9, 10, "5" and 5 sort as numbers, and 5 and "5" are one group; "05" is text."""
    values: list[Any] = [10, 9, "5", 5, 5.0, "05", None, True]
    events = [_event(BASE, i, vars={"lead": {"id": f"L{i}"}, "n": v}) for i, v in enumerate(values)]
    events.append(_event(BASE, 99))  # no vars.n at all: the same group as null
    doc = report_json("-c", _cfg(tmp_path, events), "--start", str(BASE), "--end", str(BASE + 1),
                      "--group-by", "vars.n")  # fmt: skip
    got = [(r["group"]["vars.n"], r["recipient-success"]) for r in doc["rows"]]
    assert got == [(5, 3), (9, 1), (10, 1), ("05", 1), (True, 1), (None, 2)]


def test_epoch_milliseconds_and_seconds_are_the_same_bound() -> None:
    """--start in epoch ms (LeadConduit's unit) means the same instant as epoch seconds."""
    assert parse_time("1795162112000", "--start") == parse_time("1795162112", "--start")
    assert parse_time("1795162112500", "--start") == 1795162112.5


def test_fractional_bounds_are_honoured(tmp_path: Path) -> None:
    """[:32.5, :34.5) counts the events at :33 and :34, not the one at :32."""
    events = [_event(BASE + 32, 1), _event(BASE + 33, 2), _event(BASE + 34, 3)]
    cfg = _cfg(tmp_path, events)
    doc = report_json("-c", cfg, "--start", f"{BASE + 32}.5", "--end", f"{BASE + 34}.5")
    assert doc["total"]["recipient-success"] == 2
    ms = report_json("-c", cfg, "--start", f"{BASE + 32}500", "--end", f"{BASE + 34}500")
    assert ms["total"]["recipient-success"] == 2


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_worker_processes_and_byte_budget_agree_with_plain_loops(
    tmp_path: Path, compression: str
) -> None:
    """Large objects scanned in worker processes, one at a time, give the documented columns."""
    events = generate_events(3000, seed=11, end_ts=BASE, span_seconds=3000)
    cfg = _cfg(tmp_path, events, compression=compression, max_events=1500)
    rng = ("--start", str(BASE - 3000), "--end", str(BASE + 1))
    doc = report_json("-c", cfg, *rng, "--group-by", "vars.flow.id", "--workers", "2",
                      "--max-mb", "0.000001")  # fmt: skip
    want = expected_columns(events, BASE - 3000, BASE + 1, lambda e: e["vars"]["flow"]["id"])
    assert {r["group"]["vars.flow.id"] for r in doc["rows"]} == set(want)
    for row in doc["rows"]:
        for name, value in want[row["group"]["vars.flow.id"]].items():
            assert row[name] == pytest.approx(value, abs=1e-4), name
    assert doc["stats"]["events_read"] == 3000


def test_corrupt_object_names_the_object_and_exits_1(tmp_path: Path) -> None:
    """An object with a line that is not JSON fails the report with exit 1, naming it."""
    cfg = _cfg(tmp_path, [_event(BASE, 1), _event(BASE, 2)], compression="none")
    (obj,) = (tmp_path / "out").rglob("*.jsonl")
    obj.write_bytes(obj.read_bytes() + b'{"id": broken\n')
    code, _out, err = run_cli("report", "-c", cfg, "--start", str(BASE), "--end", str(BASE + 1))
    assert code == 1
    assert obj.name in err
    assert "not valid JSON" in err


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_lines_cut_anywhere_decode_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Decompressed chunks cut mid-line (or smaller than a line) lose and repeat nothing."""
    from streamer.report import scan

    events = generate_events(60, seed=2, end_ts=BASE, span_seconds=600)
    write_archive(tmp_path / "out", events, compression="gzip")
    (obj,) = (tmp_path / "out").rglob("*.jsonl.gz")
    spec = scan.Spec("columns", 0, 2**32, ("type",))
    whole = scan.scan(str(obj), obj.name, spec)
    monkeypatch.setattr(scan, "CHUNK", chunk)
    cut = scan.scan(str(obj), obj.name, spec)
    assert cut.events_read == whole.events_read == 60
    assert cut.state[0] == whole.state[0]


def test_transitions_in_worker_processes_match_in_process(tmp_path: Path) -> None:
    """Per-lead states merged from worker processes give the in-process transitions report."""
    events = generate_events(3000, seed=12, end_ts=BASE, span_seconds=3000)
    cfg = _cfg(tmp_path, events, max_events=1500)
    args = ("transitions", "-c", cfg, "--start", str(BASE - 1500), "--end", str(BASE + 1),
            "--type", "recipient")  # fmt: skip
    alone = report_json(*args, "--workers", "0")
    pooled = report_json(*args, "--workers", "2", "--max-mb", "0.000001")
    assert pooled == alone
    assert alone["leads"] > 0
    assert alone["status_transitions"]


def test_rules_in_worker_processes_match_in_process(tmp_path: Path) -> None:
    """A rule set (including a vars-fallback path) filters the same in workers and in-process."""
    events = generate_events(3000, seed=14, end_ts=BASE, span_seconds=3000)
    cfg = _cfg(tmp_path, events, max_events=1500)
    rules = tmp_path / "rules.yaml"
    rules.write_text("op: or\nrules:\n  - {lhv: lead.state, op: is included in, rhv: 'TX,CA'}\n"
                     "  - {lhv: type, op: is equal to, rhv: source}\n")  # fmt: skip
    args = ("-c", cfg, "--start", str(BASE - 3000), "--end", str(BASE + 1), "--group-by",
            "vars.lead.state", "--rules", str(rules))  # fmt: skip
    alone = report_json(*args, "--workers", "0")
    pooled = report_json(*args, "--workers", "2", "--max-mb", "0.000001")
    assert pooled == alone
    assert 0 < alone["events_counted"] < 3000
