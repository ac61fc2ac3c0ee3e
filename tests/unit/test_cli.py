"""The command line: exit codes, one-line errors on stderr, and sub-command wiring."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from streamer.cli import main as cli
from streamer.observability import logs

GOOD = """\
source:
  api_key: ${CLI_TEST_KEY:-cli-test-key-secret}
firehose:
  prefix: lc/events
  services:
    local: {enabled: true, path: ./out}
"""

BAD = """\
source:
  api_key: cli-test-key-secret
  page_size: 5000
  poll_intervl: 5s
batch: {max_bytes: lots}
firehose:
  services:
    aws: {credential_id: nope}
"""


@pytest.fixture(autouse=True)
def clean_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() configures structlog and registers secrets globally; undo both."""
    monkeypatch.setattr(logs, "_secrets", [])
    yield
    structlog.reset_defaults()


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> str:
    """Write ``text`` to a file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_good_config_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check on a valid config prints ok and each service, exit 0."""
    path = write(tmp_path, GOOD)
    assert cli.main(["check", "-c", path]) == 0
    out = capsys.readouterr().out
    assert f"config ok: {path}" in out
    assert "service local (path=./out) prefix=lc/events" in out


def test_check_bad_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check on a bad config exits 2 and prints every problem with its path on stderr."""
    path = write(tmp_path, BAD)
    assert cli.main(["check", "-c", path]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert captured.out == ""
    assert "streamer: config has 3 problems:" in err
    for fragment in (
        "  source.page_size:",
        "  source.poll_intervl: unknown key; did you mean 'poll_interval'?",
        "  batch.max_bytes:",
    ):
        assert fragment in err
    assert "Traceback" not in err
    assert "cli-test-key-secret" not in err


def test_check_service_problems_after_schema_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cross-field problems (bucket, credential) are all listed too."""
    text = "source: {api_key: k3y-k3y}\nfirehose:\n  services:\n    aws: {credential_id: nope}\n"
    assert cli.main(["check", "-c", write(tmp_path, text)]) == 2
    err = capsys.readouterr().err
    assert "config has 2 problems" in err
    assert "firehose.services.aws.bucket: required" in err
    assert "firehose.services.aws.credential_id: unknown credential_id 'nope'" in err


def test_check_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing config file is exit 2 with one line naming it."""
    missing = str(tmp_path / "nope.yaml")
    assert cli.main(["check", "-c", missing]) == 2
    err = capsys.readouterr().err
    assert missing in err
    assert "not found" in err
    assert "Traceback" not in err


def test_check_invalid_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Broken YAML is exit 2 with the line number."""
    assert cli.main(["check", "-c", write(tmp_path, "source: [\n")]) == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """--help prints usage listing the sub-commands and exits 0."""
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "check", "match", "simulate", "status"):
        assert command in out


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["check"], ["run", "--bogus"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Missing or unknown commands and options are usage errors (exit 2)."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_match_prints_matching_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """match reads a rule set and JSONL events and prints only the matches."""
    rules = write(
        tmp_path,
        "op: and\nrules:\n  - {lhv: type, op: is equal to, rhv: recipient}\n",
        "rules.yaml",
    )
    events = [
        {"id": "5fd4371e940df5a34a3888b1", "type": "source"},
        {"id": "5fd4371e940df5a34a3888b2", "type": "recipient"},
        {"id": "5fd4371e940df5a34a3888b3", "type": "recipient", "x": 1},
    ]
    events_path = tmp_path / "events.jsonl"
    events_path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    assert cli.main(["match", rules, str(events_path)]) == 0
    out = capsys.readouterr().out
    assert [orjson.loads(line) for line in out.splitlines()] == events[1:]


def test_match_bad_rules_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """match with an invalid rule set exits 2 and says what is wrong."""
    rules = write(tmp_path, "op: and\nrules:\n  - {lhv: type, op: frobs, rhv: x}\n", "r.yaml")
    events = write(tmp_path, "", "e.jsonl")
    assert cli.main(["match", rules, events]) == 2
    assert "frobs" in capsys.readouterr().err


@pytest.fixture
def check_leaks_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """``streamer check`` fails unexpectedly with a registered secret in its message."""
    logs.register_secrets(["very-secret-value"])

    def boom(_args: object) -> int:
        raise RuntimeError("leaked very-secret-value")

    monkeypatch.setattr("streamer.cli.check.main", boom)


@pytest.mark.usefixtures("check_leaks_a_secret")
def test_unexpected_error_is_one_redacted_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unexpected exception exits 1 with one masked line and no traceback."""
    assert cli.main(["check", "-c", "x.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected RuntimeError" in err
    assert "very-secret-value" not in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("check_leaks_a_secret")
def test_debug_shows_redacted_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """--debug adds the traceback, still with secrets masked."""
    assert cli.main(["check", "-c", "x.yaml", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "very-secret-value" not in err


def test_secrets_from_config_are_masked_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After loading, the config's secrets are registered and masked in later errors."""
    from streamer.errors import FatalSinkError

    async def connect_fails(_loaded: object) -> list[tuple[str, bool, str]]:
        raise FatalSinkError("denied for cli-test-key-secret")

    monkeypatch.setattr("streamer.cli.check.connect_all", connect_fails)
    assert cli.main(["check", "-c", write(tmp_path, GOOD), "--connect"]) == 1
    err = capsys.readouterr().err
    assert "denied for ***" in err
    assert "cli-test-key-secret" not in err
