"""The columns report against an archive written by the real batcher and local sink,
checked column by column against a hand count of the simulator's events."""

from __future__ import annotations

import copy
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from report_helpers import (
    PREFIX,
    assert_row,
    expected_columns,
    id_time,
    report_json,
    run_cli,
    write_archive,
    write_config,
)

from streamer.pipeline.batcher import Batcher, static_router
from streamer.simulator import generate_events
from streamer.sinks.local import LocalSink

END = 1_790_000_000  # 2026-09-21T14:13:20Z
SPAN = 3 * 3600
START_T = END - SPAN + 1234
END_T = END - 2222


def _with_pings(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ping events (source events posted to /ping): the simulator makes none."""
    sources = [e for e in events if e["type"] == "source"][::7][:40]
    pings = []
    for i, src in enumerate(sources):
        ping = copy.deepcopy(src)
        ping["id"] = src["id"][:8] + f"ee{i:014x}"
        ping["request"]["uri"] = src["request"]["uri"].rsplit("/", 1)[0] + "/ping"
        ping["outcome"] = "success" if i % 4 else "failure"
        ping["cost"] = 0
        pings.append(ping)
    return events + pings


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """Simulated events over three hours, plus a few pings."""
    return _with_pings(generate_events(3000, seed=11, end_ts=END, span_seconds=SPAN))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> Path:
    """A gzip archive of ``events`` and its config path."""
    tmp = tmp_path_factory.mktemp("archive")
    write_archive(tmp / "out", events)
    return write_config(tmp, tmp / "out")


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _range() -> tuple[str, ...]:
    return ("--start", _iso(START_T), "--end", _iso(END_T))


def test_every_column_matches_hand_count(archive: Path, events: list[dict[str, Any]]) -> None:
    """Without grouping, the single row and the total equal the hand count in every column."""
    doc = report_json("-c", str(archive), *_range())
    want = expected_columns(events, START_T, END_T)["all"]
    assert len(doc["rows"]) == 1
    assert doc["rows"][0]["group"] == {}
    assert_row(doc["rows"][0], want)
    assert_row(doc["total"], want)
    assert want["source-submitted"] > 100
    assert want["ping-submitted"] > 0
    assert want["return-received-success"] > 0
    assert want["conversion-received-success"] > 0
    in_range = sum(1 for e in events if START_T <= id_time(e) < END_T)
    assert doc["events_counted"] == in_range == doc["stats"]["events_in_range"]


def test_group_by_flow_and_type(archive: Path, events: list[dict[str, Any]]) -> None:
    """Grouping by two fields gives one row per pair, each equal to the hand count."""
    doc = report_json(
        "-c", str(archive), *_range(), "--group-by", "vars.flow.id", "--group-by", "type"
    )
    want = expected_columns(events, START_T, END_T, lambda e: (e["vars"]["flow"]["id"], e["type"]))
    got = {(r["group"]["vars.flow.id"], r["group"]["type"]): r for r in doc["rows"]}
    assert set(got) == set(want)
    for key, row in want.items():
        assert_row(got[key], row)
    order = [(r["group"]["vars.flow.id"], r["group"]["type"]) for r in doc["rows"]]
    assert order == sorted(got)


def test_group_by_hour_and_typed_field(archive: Path, events: list[dict[str, Any]]) -> None:
    """``hour`` comes from the id; a typed lead field groups by its normal value."""
    doc = report_json(
        "-c", str(archive), *_range(), "--group-by", "hour", "--group-by", "vars.lead.state"
    )

    def key(e: dict[str, Any]) -> tuple[str, Any]:
        hour = time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(id_time(e)))
        state = e["vars"]["lead"]["state"]
        return hour, state["normal"] if isinstance(state, dict) else state

    want = expected_columns(events, START_T, END_T, key)
    got = {(r["group"]["hour"], r["group"]["vars.lead.state"]): r for r in doc["rows"]}
    assert set(got) == set(want)
    assert len({h for h, _ in got}) >= 3
    for k, row in want.items():
        assert_row(got[k], row)


def test_rules_filter(tmp_path: Path, archive: Path, events: list[dict[str, Any]]) -> None:
    """``--rules`` counts only matching events, with the pipeline's rule engine."""
    source_id = next(e["vars"]["source"]["id"] for e in events if e["type"] == "source")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"op: and\nrules:\n  - {{lhv: vars.source.id, op: is equal to, rhv: {source_id}}}\n"
    )
    doc = report_json("-c", str(archive), *_range(), "--rules", str(rules))
    kept = [e for e in events if e["vars"]["source"]["id"] == source_id]
    want = expected_columns(kept, START_T, END_T)["all"]
    assert_row(doc["total"], want)
    assert (
        want["source-submitted"]
        < expected_columns(events, START_T, END_T)["all"]["source-submitted"]
    )


def test_range_boundaries_are_half_open(archive: Path, events: list[dict[str, Any]]) -> None:
    """An event at exactly --start counts, one at exactly --end does not."""
    times = sorted({id_time(e) for e in events})
    lo, hi = times[len(times) // 3], times[len(times) // 2]
    doc = report_json("-c", str(archive), "--start", str(lo), "--end", str(hi))
    assert doc["events_counted"] == sum(1 for e in events if lo <= id_time(e) < hi)
    assert_row(doc["total"], expected_columns(events, lo, hi)["all"])
    one = report_json("-c", str(archive), "--start", str(lo), "--end", str(lo + 1))
    assert one["events_counted"] == sum(1 for e in events if id_time(e) == lo) > 0


@pytest.mark.parametrize(
    ("compression", "layout"),
    [("zstd", "batched"), ("none", "batched"), ("gzip", "per_event")],
)
def test_encodings_and_layouts(
    tmp_path: Path, events: list[dict[str, Any]], compression: str, layout: str
) -> None:
    """zstd, uncompressed and per-event archives give the same numbers as the hand count."""
    subset = [e for e in events if id_time(e) < END - SPAN + 4000]
    write_archive(tmp_path / "out", subset, compression=compression, layout=layout)
    cfg = write_config(tmp_path, tmp_path / "out", layout=layout)
    start, end = END - SPAN + 500, END - SPAN + 3900
    doc = report_json(
        "-c", str(cfg), "--start", str(start), "--end", str(end), "--group-by", "type"
    )
    want = expected_columns(subset, start, end, lambda e: e["type"])
    got = {r["group"]["type"]: r for r in doc["rows"]}
    assert set(got) == set(want)
    for key, row in want.items():
        assert_row(got[key], row)


def test_batch_that_starts_in_the_previous_hour(tmp_path: Path) -> None:
    """Events of hour H in an object filed under hour H-1 (its first id) are still counted."""
    hour = END - END % 3600
    events = generate_events(400, seed=3, end_ts=hour + 40, span_seconds=80)

    async def one_object() -> str:
        batcher = Batcher(router=static_router([("local", PREFIX)]), max_events=10_000)
        for e in sorted(events, key=lambda e: e["id"]):
            batcher.add(e["id"], e)
        batch = batcher.seal()
        assert batch is not None
        assert len(batch.objects) == 1
        obj = batch.objects[0]
        ((_, key),) = obj.targets
        await LocalSink(tmp_path / "out", fsync=False).put(key, obj.data, obj.meta)
        return key

    key = anyio.run(one_object)
    assert f"hour={time.gmtime(hour - 3600).tm_hour:02d}" in key
    cfg = write_config(tmp_path, tmp_path / "out")
    doc = report_json("-c", str(cfg), "--start", str(hour), "--end", str(hour + 3600))
    late = [e for e in events if id_time(e) >= hour]
    assert late
    assert doc["events_counted"] == len(late)
    assert_row(doc["total"], expected_columns(events, hour, hour + 3600)["all"])


def test_json_is_stable(archive: Path) -> None:
    """Two runs print byte-identical JSON with sorted keys."""
    argv = ("report", "-c", str(archive), *_range(), "--group-by", "vars.source.id", "--json")
    first, second = run_cli(*argv), run_cli(*argv)
    assert first[0] == 0
    assert first[1] == second[1]
    doc = json.loads(first[1])
    assert list(doc) == sorted(doc)
    assert list(doc["rows"][0]) == sorted(doc["rows"][0])


def test_csv_matches_json(archive: Path) -> None:
    """CSV has a header of group fields then columns, and the same values as JSON."""
    common = ("-c", str(archive), *_range(), "--group-by", "vars.flow.id",
              "--columns", "source-submitted,cost,ping-success-rate,avg-cost-per-lead")  # fmt: skip
    code, out, _ = run_cli("report", *common, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    doc = report_json(*common)
    assert list(rows[0]) == ["vars.flow.id", "source-submitted", "cost", "ping-success-rate",
                             "avg-cost-per-lead"]  # fmt: skip
    assert len(rows) == len(doc["rows"])
    for row, jrow in zip(rows, doc["rows"], strict=True):
        assert row["vars.flow.id"] == jrow["group"]["vars.flow.id"]
        assert int(row["source-submitted"]) == jrow["source-submitted"]
        assert float(row["cost"]) == pytest.approx(jrow["cost"])
        rate = jrow["ping-success-rate"]
        assert row["ping-success-rate"] == ("" if rate is None else str(rate))


def test_table_shows_groups_and_total(archive: Path, events: list[dict[str, Any]]) -> None:
    """The table lists each requested column with one column per group and a total."""
    code, out, err = run_cli(
        "report", "-c", str(archive), *_range(), "--group-by", "vars.flow.id",
        "--columns", "source-submitted,revenue",
    )  # fmt: skip
    assert code == 0
    assert "events/s" in err
    lines = out.splitlines()
    assert lines[0] == "group by: vars.flow.id"
    assert lines[1].split()[-1] == "total"
    total = expected_columns(events, START_T, END_T)["all"]["source-submitted"]
    sub = next(line for line in lines if line.startswith("source-submitted"))
    assert sub.split()[-1] == str(total)
    assert any(line.startswith("revenue") for line in lines)


def test_ping_columns(archive: Path, events: list[dict[str, Any]]) -> None:
    """Pings are source events posted to /ping: counted apart from source-* columns."""
    doc = report_json("-c", str(archive), "--start", str(END - SPAN - 10), "--end", str(END + 10))
    pings = [e for e in events if e["type"] == "source" and e["request"]["uri"].endswith("/ping")]
    assert doc["total"]["ping-submitted"] == len(pings) == 40
    assert doc["total"]["ping-success"] == 30
    assert doc["total"]["ping-success-rate"] == 0.75
    sources = [e for e in events if e["type"] == "source" and e not in pings]
    assert doc["total"]["source-submitted"] == len(sources)
