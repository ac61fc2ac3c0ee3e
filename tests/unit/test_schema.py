"""``streamer config schema``: the JSON Schema that editors and CI validate YAML against."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import structlog
import yaml

from streamer.cli import main as cli
from streamer.cli.config import config_schema

REPO = Path(__file__).resolve().parents[2]
SHIPPED = [
    "config/streamer.example.yaml",
    "config/local.yaml",
    "deploy/streamer.yaml",
    "streamer/cli/demo.yaml",
]
MINIMAL: dict[str, Any] = {"source": {"api_key": "${LEADCONDUIT_API_KEY}"}}


@cache
def validator() -> jsonschema.protocols.Validator:
    """A draft 2020-12 validator of the generated schema."""
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def as_json(document: Any) -> Any:
    """What an editor sees: YAML timestamps are plain strings in JSON."""
    return json.loads(json.dumps(document, default=str))


def errors(document: Any) -> list[str]:
    """Every schema violation of ``document``, as 'path: message'."""
    found = validator().iter_errors(as_json(document))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_validate_against_the_schema(name: str) -> None:
    """Every config the project ships is valid against the schema it publishes."""
    assert errors(yaml.safe_load((REPO / name).read_text())) == []


def test_committed_schema_file_is_current() -> None:
    """config/streamer.schema.json is exactly `streamer config schema` (regenerate it)."""
    committed = json.loads((REPO / "config" / "streamer.schema.json").read_text())
    assert committed == config_schema(), (
        "run: .venv/bin/streamer config schema > config/streamer.schema.json"
    )


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`streamer config schema` writes the schema as JSON on stdout, exit 0."""
    try:
        assert cli.main(["config", "schema"]) == 0
    finally:
        structlog.reset_defaults()  # main() configured logging onto the captured stdout
    assert json.loads(capsys.readouterr().out) == config_schema()


def test_unknown_key_is_refused() -> None:
    """A typo'd key fails in the editor as it does in `check`."""
    document = {"source": {**MINIMAL["source"], "poll_intervall": "5s"}}
    assert any("poll_intervall" in e for e in errors(document))


@pytest.mark.parametrize("value", ["30s", "250ms", "5m", "1h", "2d", 10, 0.5])
def test_durations_accept_numbers_and_unit_strings(value: object) -> None:
    """Durations may be seconds or strings with a unit, as the loader parses them."""
    assert errors({**MINIMAL, "batch": {"max_age": value}}) == []


@pytest.mark.parametrize("value", ["soon", "-5m", "5 minutes", True])
def test_bad_durations_are_refused(value: object) -> None:
    """A duration the loader would refuse is refused by the schema too."""
    assert errors({**MINIMAL, "batch": {"max_age": value}}) != []


@pytest.mark.parametrize(("value", "ok"), [("16MiB", True), ("500KB", True), (2048, True),
                                           ("lots", False), ("16 furlongs", False)])
def test_sizes(value: object, *, ok: bool) -> None:
    """Sizes may be bytes or strings like 16MiB; anything else is refused."""
    assert (errors({**MINIMAL, "batch": {"max_bytes": value}}) == []) is ok


def test_secret_may_come_from_a_file_but_not_both() -> None:
    """`api_key_file` replaces `api_key`; giving both, or neither, is refused."""
    assert errors({"source": {"api_key_file": "/run/credentials/streamer/api-key"}}) == []
    both = {"source": {"api_key": "k", "api_key_file": "/x"}}
    assert errors(both) != []
    assert errors({"source": {}}) != []


def test_enums_are_listed() -> None:
    """Choices such as batch.compression are enumerated for completion."""
    assert errors({**MINIMAL, "batch": {"compression": "brotli"}}) != []
    assert errors({**MINIMAL, "batch": {"compression": "zstd"}}) == []


@pytest.mark.parametrize("name", ["config/streamer.example.yaml", "config/local.yaml"])
def test_editor_modeline_points_at_the_schema(name: str) -> None:
    """The yaml-language-server comment on line 1 names the committed schema file."""
    first = (REPO / name).read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    target = (REPO / name).parent / first.removeprefix(prefix)
    assert target.resolve() == (REPO / "config" / "streamer.schema.json").resolve()
