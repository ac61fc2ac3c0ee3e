"""Saved reports (issue 16 req. 1): the ``reports:`` section, ``--name`` and
``--format leadconduit`` in the exact Report array shape of LeadConduit's API (seed 000)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from report_helpers import expected_columns, report_json, run_cli, write_archive, write_config

from streamer.report.columns import COLUMNS
from streamer.simulator import generate_events

END = 1_790_000_000
REPORT_ID = "5fd4371e940df5a34a3888b2"
SEED_KEYS = ["name", "description", "columns", "rules", "group_by", "token", "created_at",
             "updated_at"]  # fmt: skip
SAVED = {
    "id": REPORT_ID,
    "token": "flows-sources",
    "name": "by flow",
    "description": "sources per flow",
    "rules": [{"lhv": "type", "op": "is equal to", "rhv": "source"}],
    "group_by": ["vars.flow.id"],
    "columns": ["source-submitted", "source-success", "cost"],
    "created_at": "2026-11-01T10:00:00Z",
}


def with_reports(cfg: Path, reports: list[dict[str, Any]]) -> Path:
    """The config at ``cfg`` plus a ``reports:`` section."""
    doc = yaml.safe_load(cfg.read_text())
    doc["reports"] = reports
    cfg.write_text(yaml.safe_dump(doc))
    return cfg


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    """About an hour of simulated events (generated once for the module; read-only)."""
    return generate_events(600, seed=9, end_ts=END, span_seconds=3000)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, Any]]) -> Path:
    """An archive of ``events``, written once for the module (reports only read it)."""
    root = tmp_path_factory.mktemp("report-saved") / "out"
    write_archive(root, events)
    return root


@pytest.fixture
def cfg(tmp_path: Path, archive: Path) -> Path:
    """A config reading the module's archive, with one saved report."""
    return with_reports(write_config(tmp_path, archive), [SAVED])


RANGE = ("--start", str(END - 3000), "--end", str(END + 1))


@pytest.mark.parametrize("ref", ["by flow", REPORT_ID, REPORT_ID.upper(), "flows-sources"])
def test_name_runs_the_saved_definition(cfg: Path, events: list[dict[str, Any]], ref: str) -> None:
    """--name (a name, id or token) runs the saved rules, group-by and columns."""
    doc = report_json("-c", str(cfg), *RANGE, "--name", ref)
    sources = [e for e in events if e["type"] == "source"]
    want = expected_columns(sources, END - 3000, END + 1, lambda e: e["vars"]["flow"]["id"])
    assert doc["columns"] == SAVED["columns"]
    assert {r["group"]["vars.flow.id"]: r["source-success"] for r in doc["rows"]} == {
        k: v["source-success"] for k, v in want.items()
    }


def test_leadconduit_format_is_the_seed_shape(cfg: Path) -> None:
    """--format leadconduit prints an array of one Report with exactly the seed's keys."""
    code, out, err = run_cli("report", "-c", str(cfg), *RANGE, "--name", "by flow",
                             "--format", "leadconduit")  # fmt: skip
    assert code == 0, err
    (report,) = json.loads(out)
    assert list(report) == SEED_KEYS
    assert report["name"] == "by flow"
    assert report["token"] == "flows-sources"
    assert report["rules"] == SAVED["rules"]
    assert report["created_at"] == "2026-11-01T10:00:00Z"
    assert report["updated_at"] is None
    for column in report["columns"]:
        assert list(column) == ["vars.flow.id", "source-submitted", "source-success", "cost"]
    assert len({c["vars.flow.id"] for c in report["columns"]}) == len(report["columns"]) > 1


def test_leadconduit_format_without_group_by_has_one_totals_object(cfg: Path) -> None:
    """An ad hoc report without group-by gives one column object with all 34 columns."""
    code, out, _err = run_cli("report", "-c", str(cfg), *RANGE, "--format", "leadconduit")
    assert code == 0
    (report,) = json.loads(out)
    assert list(report) == SEED_KEYS
    (totals,) = report["columns"]
    assert list(totals) == list(COLUMNS)
    assert len(totals) == 34


@pytest.mark.parametrize(
    ("bad", "message"),
    [({"name": "x"}, "give the report an id"),
     ({"name": "x", "id": "123"}, "24 hex"),
     ({"name": "x", "token": "t", "columns": ["costt"]}, "did you mean 'cost'"),
     ({"name": "x", "token": "t", "rules": [{"lhv": "a", "op": "is eq", "rhv": 1}]},
      "reports[0].rules: rules[0].op"),
     ({"name": "x", "token": "t", "colour": "red"}, "colour")],
)  # fmt: skip
def test_bad_saved_reports_fail_config_validation(
    cfg: Path, bad: dict[str, Any], message: str
) -> None:
    """A bad saved report is a config error naming the report and what is wrong."""
    with_reports(cfg, [bad])
    code, _out, err = run_cli("report", "-c", str(cfg), *RANGE)
    assert code == 2
    assert message in err


def test_unknown_name_and_mixed_flags_exit_2(cfg: Path) -> None:
    """An unknown --name, or --name with --group-by, is a one-line usage error."""
    code, _out, err = run_cli("report", "-c", str(cfg), *RANGE, "--name", "nope")
    assert code == 2
    assert "no such report" in err
    assert "by flow" in err
    code, _out, err = run_cli("report", "-c", str(cfg), *RANGE, "--name", "by flow",
                              "--group-by", "type")  # fmt: skip
    assert code == 2
    assert "drop --group-by" in err


def test_columns_only_forms_are_refused_for_transitions(cfg: Path) -> None:
    """--sql, --format html|leadconduit with the transitions report: one line, exit 2."""
    for extra in (["--sql", "duckdb"], ["--format", "html"], ["--format", "leadconduit"]):
        code, out, err = run_cli("report", "transitions", "-c", str(cfg), *RANGE, *extra)
        assert code == 2
        assert out == ""
        assert "for the columns report" in err
