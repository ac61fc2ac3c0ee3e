"""``streamer report`` errors and edge cases: each is one clear line with the right exit code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from report_helpers import report_json, run_cli, write_archive, write_config

from streamer.report.reader import TimeRange, object_overlaps, plan_batched
from streamer.simulator import generate_events
from streamer.sinks.local import LocalSink

pytestmark = pytest.mark.anyio
END = 1_790_000_000


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A small gzip archive over about 40 minutes before END."""
    write_archive(tmp_path / "out", generate_events(300, seed=5, end_ts=END, span_seconds=2400))
    return write_config(tmp_path, tmp_path / "out")


def _range(start: int, end: int) -> tuple[str, ...]:
    return ("--start", str(start), "--end", str(end))


def test_empty_range_exits_0_with_zero_rows(cfg: Path) -> None:
    """A range with no objects prints an empty report, says so on stderr, and exits 0."""
    code, _out, err = run_cli("report", "-c", str(cfg), *_range(END + 86400, END + 90000), "--json")
    assert code == 0
    assert "no data objects between" in err
    assert err.count("\n") == 1
    doc = report_json("-c", str(cfg), *_range(END + 86400, END + 90000))
    assert doc["rows"] == []
    assert doc["total"]["source-submitted"] == 0
    assert doc["total"]["avg-cost-per-lead"] is None


def test_unknown_group_by_field_exits_2(cfg: Path) -> None:
    """A group-by field that no event has is named in a one-line error, exit 2."""
    code, out, err = run_cli("report", "-c", str(cfg), *_range(END - 3000, END), "--group-by",
                             "vars.flow.id", "--group-by", "vars.nope.id")  # fmt: skip
    assert code == 2
    assert out == ""
    assert err.startswith("streamer report: --group-by vars.nope.id: no event")
    assert err.count("\n") == 1


def test_bad_rules_exit_2_with_rule_path(tmp_path: Path, cfg: Path) -> None:
    """A bad rules file reports the file and the rule's path, exit 2."""
    rules = tmp_path / "bad.yaml"
    rules.write_text("op: and\nrules:\n  - {lhv: type, op: is equalish to, rhv: source}\n")
    code, _out, err = run_cli("report", "-c", str(cfg), *_range(END - 3000, END), "--rules",
                              str(rules))  # fmt: skip
    assert code == 2
    assert str(rules) in err
    assert "rule_set.rules[0].op" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--start", "2026-09-21T14:00:00Z", "--end", "2026-09-21T14:00:00Z"), "must be before"),
        (("--start", "2026-09-21", "--end", "2026-09-20"), "must be before"),
        (("--start", "yesterday", "--end", "2026-09-20"), "--start: 'yesterday' is not a time"),
        (("--start", "0", "--end", "9", "--columns", "cots"), "did you mean 'cost'"),
        (
            ("--start", "0", "--end", "9", "--from", "aws"),
            "--from aws: that service is not enabled",
        ),
        (
            ("--start", "0", "--end", "9", "--recipient-id", "x"),
            "are for 'streamer report transitions'",
        ),
        (
            ("transitions", "--start", "0", "--end", "9", "--group-by", "type"),
            "for the columns report",
        ),
        (("transitions", "--start", "0", "--end", "9", "--lookback", "soon"), "--lookback:"),
    ],
)
def test_usage_errors_exit_2(cfg: Path, argv: tuple[str, ...], message: str) -> None:
    """Bad flags: exit 2 and one line that says what is wrong."""
    code, out, err = run_cli("report", "-c", str(cfg), *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1


def test_missing_local_directory_exits_1(tmp_path: Path) -> None:
    """A local service whose directory does not exist is a read failure (exit 1), not empty."""
    cfg = write_config(tmp_path, tmp_path / "missing")
    code, _out, err = run_cli("report", "-c", str(cfg), *_range(0, 10))
    assert code == 1
    assert "directory does not exist" in err
    assert not (tmp_path / "missing").exists()


def test_object_names_decide_overlap() -> None:
    """An object is read only when the ids in its name can fall in the range."""
    rng = TimeRange(0x6AB10000, 0x6AB10100)
    first, last = "6ab0ffff" + "0" * 16, "6ab10000" + "0" * 16
    assert object_overlaps(f"p/dt=x/hour=y/{first}_{last}.jsonl.gz", rng)
    assert not object_overlaps(f"p/dt=x/hour=y/{first}_{first}.jsonl.gz", rng)
    assert not object_overlaps(f"p/lead/{'6ab10100' + '0' * 16}.json", rng)
    assert object_overlaps("p/dt=x/hour=y/not-an-id.jsonl", rng)


async def test_plan_lists_only_needed_partitions(tmp_path: Path) -> None:
    """Only the range's hours and one hour before are planned, across a day boundary."""
    sink = LocalSink(tmp_path, fsync=False)
    day = END - END % 86400
    keys = []
    for hour in range(-3, 3):
        sec = day + hour * 3600 + 60
        tm = time.gmtime(sec)
        first, last = f"{sec:08x}" + "0" * 16, f"{sec + 3700:08x}" + "0" * 16
        key = f"lc/dt={time.strftime('%Y-%m-%d', tm)}/hour={tm.tm_hour:02d}/{first}_{last}.jsonl"
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"")
        keys.append(key)
    rng = TimeRange(day, day + 3600)
    planned = [info.key async for info in plan_batched(sink, "lc", rng, extra_hours=1)]
    assert planned == [keys[2], keys[3]]
