"""The archive as a table (issue 16 req. 5): ``streamer report --sql duckdb`` run by DuckDB on
a test archive gives the report's numbers; rules SQL cannot express are named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_helpers import report_json, run_cli, write_archive, write_config

from streamer.report.columns import COLUMNS
from streamer.simulator import generate_events
from streamer.simulator.ids import make_id

duckdb = pytest.importorskip("duckdb", reason="duckdb is in the test extra")
END = 1_790_000_000


def _extra_events() -> list[dict[str, Any]]:
    """Pings, typed feedback types and money strings, which the simulator never makes."""
    def ev(n: int, **fields: Any) -> dict[str, Any]:
        return {"id": make_id(END - 100, b"\x09\x09\x09\x09\x09", n), "outcome": "success",
                "vars": {"flow": {"id": "F-extra"}, "lead": {"id": f"X{n}"}}, **fields}  # fmt: skip

    return [
        ev(1, type="source", request={"uri": "https://x/flows/1/sources/2/ping?a=b"}),
        ev(2, type="source", ping=True, cost="$1,100"),
        ev(3, type="source", cost="NaN"),
        ev(4, type="recipient", cost={"normal": "2.5"}, revenue="1e3"),
        ev(5, type="feedback-received",
           vars={"flow": {"id": "F-extra"}, "feedback": {"type": {"normal": "conversion"}}}),
    ]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-hour archive with simulated and hand-made events, written once for the module
    (reports only read an archive)."""
    root = tmp_path_factory.mktemp("report-sql") / "out"
    events = generate_events(1500, seed=3, end_ts=END, span_seconds=7000) + _extra_events()
    write_archive(root, events, max_events=300)
    return root


@pytest.fixture
def cfg(tmp_path: Path, archive: Path) -> Path:
    """A config reading the module's archive."""
    return write_config(tmp_path, archive)


def _duckdb(sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        statements = [s for s in sql.split(";\n") if s.strip() and not s.strip().startswith("--")]
        for stmt in statements[:-1]:
            con.execute(stmt)
        cur = con.execute(statements[-1])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize(
    ("group_by", "rules"),
    [(["vars.flow.id"], None),
     (["day", "type"], '[{"lhv": "outcome", "op": "is not equal to", "rhv": "failure"}]'),
     ([], '{"op": "or", "rules": [{"lhv": "type", "op": "is included in",'
          ' "rhv": "source,recipient"}, {"lhv": "vars.feedback.type", "op": "is not blank"}]}')],
)  # fmt: skip
def test_duckdb_gives_the_report_numbers(
    tmp_path: Path, cfg: Path, group_by: list[str], rules: str | None
) -> None:
    """DuckDB over the printed view and query gets every column the report gets."""
    args = ["-c", str(cfg), "--start", str(END - 6000), "--end", str(END - 50)]
    for field in group_by:
        args += ["--group-by", field]
    if rules:
        (tmp_path / "rules.json").write_text(rules)
        args += ["--rules", str(tmp_path / "rules.json")]
    code, sql, err = run_cli("report", *args, "--sql", "duckdb")
    assert code == 0, err
    got = _duckdb(sql)
    want = report_json(*args)
    assert len(got) == len(want["rows"]) > 0
    for row, expected in zip(got, want["rows"], strict=True):
        assert [str(row[f]) for f in group_by] == [str(v) for v in expected["group"].values()]
        for name in COLUMNS:
            assert row[name] == pytest.approx(expected[name], abs=1e-6), name


def test_a_rule_sql_cannot_express_is_named(tmp_path: Path, cfg: Path) -> None:
    """An ordering operator (LeadConduit's number parse) has no SQL form: exit 2 naming it."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {lhv: type, op: is equal to, rhv: source}\n"
                     "- {lhv: lead.age, op: is greater than, rhv: 30}\n")  # fmt: skip
    code, out, err = run_cli("report", "-c", str(cfg), "--start", str(END - 600), "--end",
                             str(END), "--rules", str(rules), "--sql", "trino")  # fmt: skip
    assert code == 2
    assert out == ""
    assert "rules[1] (lead.age is greater than)" in err


def test_a_top_level_field_without_a_column_is_named(tmp_path: Path, cfg: Path) -> None:
    """feedback.type reads the top-level feedback object, which the table lacks: named."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {lhv: feedback.type, op: is equal to, rhv: conversion}\n")
    code, _out, err = run_cli("report", "-c", str(cfg), "--start", str(END - 600), "--end",
                              str(END), "--rules", str(rules), "--sql", "duckdb")  # fmt: skip
    assert code == 2
    assert "rules[0] (feedback.type is equal to)" in err
    assert "not a table column" in err


def test_trino_query_reads_the_table(cfg: Path) -> None:
    """The Trino form queries leadconduit_events with partition and id-second filters."""
    code, sql, _err = run_cli("report", "-c", str(cfg), "--start", str(END - 600), "--end",
                              str(END), "--group-by", "hour", "--sql", "trino")  # fmt: skip
    assert code == 0
    assert "FROM leadconduit_events" in sql
    assert "from_base(substr(id, 1, 8), 16) >=" in sql
    assert "dt BETWEEN" in sql
