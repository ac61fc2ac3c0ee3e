"""The offline ``match`` command: rules files, JSONL input, --explain and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson

from streamer.cli.match import run_match

EVENTS = [
    {"id": "a1", "type": "source", "vars": {"lead": {"state": "TX"}}},
    {"id": "b2", "type": "source", "vars": {"lead": {"state": "CA"}}},
    {
        "id": "c3",
        "type": "recipient",
        "vars": {"lead": {"state": {"normal": "TX", "raw": "Texas", "valid": True}}},
    },
]
RULES_YAML = """\
op: and
rules:
  - {lhv: lead.state, op: is equal to, rhv: TX}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write ``text`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def jsonl(events: list[dict[str, Any]]) -> bytes:
    """Encode events as JSONL."""
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def run(
    rules: str, events: str | None, *, explain: bool = False, stdin: bytes = b""
) -> tuple[int, str, str]:
    """Run match and capture exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = run_match(rules, events, explain=explain, out=out, err=err, stdin=io.BytesIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_file_input_prints_matching_events(tmp_path: Path) -> None:
    """Matching events from a file are printed as JSONL, in order."""
    rules = write(tmp_path, "rules.yaml", RULES_YAML)
    events = tmp_path / "events.jsonl"
    events.write_bytes(jsonl(EVENTS))
    code, out, err = run(rules, str(events))
    assert code == 0
    assert err == ""
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a1", "c3"]


def test_stdin_input_and_json_rules(tmp_path: Path) -> None:
    """Events come from stdin when no file is given; JSON rule lists work."""
    rules = write(
        tmp_path,
        "rules.json",
        json.dumps([{"lhv": "type", "op": "is equal to", "rhv": "recipient"}]),
    )
    code, out, _ = run(rules, None, stdin=jsonl(EVENTS) + b"\n")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["c3"]


def test_wrappers_rule_set_and_filter_stage(tmp_path: Path) -> None:
    """{rule_set: ...} and {filter: {rule_set: ...}} documents are accepted."""
    for doc in (
        {
            "rule_set": {
                "op": "and",
                "rules": [{"lhv": "lead.state", "op": "is equal to", "rhv": "CA"}],
            }
        },
        {
            "filter": {
                "action": "drop",
                "rule_set": [{"lhv": "lead.state", "op": "is equal to", "rhv": "CA"}],
            }
        },
    ):
        rules = write(tmp_path, "w.json", json.dumps(doc))
        code, out, _ = run(rules, None, stdin=jsonl(EVENTS))
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == ["b2"]


def test_explain_reports_non_matching(tmp_path: Path) -> None:
    """--explain prints '<id>: <reason>' on stderr for each non-matching event."""
    rules = write(tmp_path, "rules.yaml", RULES_YAML)
    code, out, err = run(rules, None, explain=True, stdin=jsonl(EVENTS))
    assert code == 0
    assert len(out.splitlines()) == 2
    assert err == "b2: lead.state is equal to 'TX' failed: value was 'CA'\n"


def test_bad_rules_exit_2_with_path(tmp_path: Path) -> None:
    """A bad rule exits 2 with one line naming the file, the rule path and the operator."""
    rules = write(
        tmp_path, "bad.yaml", "filter:\n  rule_set:\n    - {lhv: lead.state, op: equals, rhv: TX}\n"
    )
    code, out, err = run(rules, None, stdin=jsonl(EVENTS))
    assert code == 2
    assert out == ""
    problem = "unknown operator 'equals'; did you mean 'is equal to'?"
    assert err == f"error: {rules}: filter.rule_set[0].op: {problem}\n"


def test_unreadable_or_invalid_rules_file_exit_2(tmp_path: Path) -> None:
    """A missing file, broken YAML or a scalar document exits 2 with one line."""
    for path in (
        str(tmp_path / "missing.yaml"),
        write(tmp_path, "broken.yaml", "op: [and\n"),
        write(tmp_path, "s.yaml", "hello\n"),
    ):
        code, _, err = run(path, None)
        assert code == 2
        assert err.count("\n") == 1
        assert err.startswith(f"error: {path}: ")


def test_malformed_jsonl_exit_1_with_line_number(tmp_path: Path) -> None:
    """A malformed line stops with exit 1 naming its line number; earlier matches are printed."""
    rules = write(tmp_path, "rules.yaml", RULES_YAML)
    data = jsonl(EVENTS[:1]) + b"{not json\n"
    code, out, err = run(rules, None, stdin=data)
    assert code == 1
    assert len(out.splitlines()) == 1
    assert err.startswith("error: <stdin>:2: malformed JSON")
    code, _, err = run(rules, None, stdin=b"[1, 2]\n")
    assert code == 1
    assert err == "error: <stdin>:1: expected a JSON object, got list\n"


def test_missing_events_file_exit_1(tmp_path: Path) -> None:
    """An unreadable events file is a runtime failure (exit 1)."""
    rules = write(tmp_path, "rules.yaml", RULES_YAML)
    code, _, err = run(rules, str(tmp_path / "nope.jsonl"))
    assert code == 1
    assert "cannot read events" in err
