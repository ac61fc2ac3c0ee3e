"""Config loading: interpolation, secret files, every problem with its YAML path, services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamer.errors import ConfigError
from streamer.settings.loader import load_config, parse_settings

LOCAL = {"services": {"local": {"enabled": True, "path": "./out"}}}


def minimal(**sections: Any) -> dict[str, Any]:
    """A valid config (local sink only) with ``sections`` replaced."""
    raw: dict[str, Any] = {"source": {"api_key": "k3y-value"}, "firehose": LOCAL}
    raw.update(sections)
    return raw


def problems(raw: object, env: dict[str, str] | None = None, base: Path = Path()) -> list[str]:
    """The ConfigError problems parse_settings reports for ``raw``."""
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, base=base, env=env or {})
    return info.value.problems


def services(raw: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    """(name, bucket, prefix, credential_id) of each resolved service."""
    loaded = parse_settings(raw, base=Path(), env={})
    return [(s.name, s.bucket, s.prefix, s.credential_id) for s in loaded.services]


CREDS = {
    "aws-main": {"service": "aws", "access_key_id": "AKIA1", "secret_access_key": "s3cret-aws"},
    "aws-other": {"service": "aws"},
    "azure-main": {"service": "azure", "connection_string": "AccountName=a;AccountKey=zz=="},
}


def test_minimal_config_defaults() -> None:
    """A minimal config validates and fills documented defaults."""
    loaded = parse_settings(minimal(), base=Path(), env={})
    s = loaded.settings
    assert s.source.page_size == 1000
    assert s.source.poll_interval == 5.0
    assert s.source.lag_window == 120.0
    assert s.batch.max_bytes == 16 * 1024 * 1024
    assert s.batch.compression == "gzip"
    assert s.layout == "batched"
    assert [svc.name for svc in loaded.services] == ["local"]


def test_durations_and_sizes_in_yaml_are_parsed() -> None:
    """``30s``/``5m``/``16MiB`` become seconds and bytes."""
    raw = minimal(batch={"max_age": "30s", "max_bytes": "2MiB"})
    raw["source"] |= {"poll_interval": "1m", "lag_window": "1h"}
    s = parse_settings(raw, base=Path(), env={}).settings
    assert (s.batch.max_age, s.batch.max_bytes) == (30.0, 2 * 1024**2)
    assert (s.source.poll_interval, s.source.lag_window) == (60.0, 3600.0)


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${KEY}", {"KEY": "from-env"}, "from-env"),
        ("${KEY:-fallback}", {}, "fallback"),
        ("${KEY:-fallback}", {"KEY": ""}, "fallback"),
        ("${KEY:-fallback}", {"KEY": "set"}, "set"),
        ("pre-${A}-${B:-b}", {"A": "a"}, "pre-a-b"),
        ("no-vars", {}, "no-vars"),
    ],
)
def test_env_interpolation(value: str, env: dict[str, str], expected: str) -> None:
    """``${VAR}`` and ``${VAR:-default}`` are replaced from the environment."""
    raw = minimal(source={"api_key": value})
    loaded = parse_settings(raw, base=Path(), env=env)
    assert loaded.settings.source.api_key.get_secret_value() == expected


def test_env_interpolation_inside_lists_and_non_string_fields() -> None:
    """Interpolated strings reach nested lists and are coerced to the field type."""
    raw = minimal(batch={"max_events": "${N:-7}"})
    raw["source"]["query"] = {"include": ["${F}"]}
    s = parse_settings(raw, base=Path(), env={"F": "vars.lead"}).settings
    assert s.batch.max_events == 7
    assert s.source.query.include == ["vars.lead"]


def test_missing_env_variable_names_path_and_variable() -> None:
    """An unset ``${VAR}`` without default is a problem at its YAML path."""
    found = problems(minimal(source={"api_key": "${MISSING_KEY}"}))
    assert any(
        p.startswith("source.api_key: environment variable MISSING_KEY is not set") for p in found
    )


def test_secret_file_is_read_and_stripped(tmp_path: Path) -> None:
    """``api_key_file`` reads the secret (trailing newline removed) relative to base."""
    (tmp_path / "key.txt").write_text("file-secret\n", encoding="utf-8")
    raw = minimal(source={"api_key_file": "key.txt"})
    loaded = parse_settings(raw, base=tmp_path, env={})
    assert loaded.settings.source.api_key.get_secret_value() == "file-secret"
    assert "file-secret" in loaded.secrets()


def test_secret_file_for_credentials(tmp_path: Path) -> None:
    """Credential secrets can come from files too."""
    secret = tmp_path / "aws"
    secret.write_text("from-file", encoding="utf-8")
    raw = minimal(
        credentials={
            "c": {"service": "aws", "access_key_id": "AK", "secret_access_key_file": str(secret)}
        }
    )
    loaded = parse_settings(raw, base=Path(), env={})
    cred = loaded.settings.credentials["c"]
    assert cred.secret_access_key is not None
    assert cred.secret_access_key.get_secret_value() == "from-file"


def test_secret_file_missing_is_reported(tmp_path: Path) -> None:
    """An unreadable secret file is a problem naming the key and the file."""
    found = problems(minimal(source={"api_key_file": "nope.txt"}), base=tmp_path)
    assert any(p.startswith("source.api_key_file: cannot read secret file") for p in found)
    assert any("nope.txt" in p for p in found)


def test_secret_and_secret_file_together_is_an_error(tmp_path: Path) -> None:
    """Giving both ``api_key`` and ``api_key_file`` is refused."""
    (tmp_path / "k").write_text("x", encoding="utf-8")
    found = problems(minimal(source={"api_key": "a", "api_key_file": "k"}), base=tmp_path)
    assert found == ["source.api_key_file: give api_key or api_key_file, not both"]


@pytest.mark.parametrize(
    ("raw", "path_prefix"),
    [
        (minimal(source={"api_key": "k", "page_size": 0}), "source.page_size:"),
        (minimal(source={"api_key": "k", "page_size": 1001}), "source.page_size:"),
        (minimal(source={"api_key": "k", "poll_interval": "soon"}), "source.poll_interval:"),
        (minimal(source={"api_key": "k", "lag_window": "-1m"}), "source.lag_window:"),
        (minimal(source={"api_key": "k", "base_url": "ftp://x"}), "source.base_url:"),
        (minimal(source={"api_key": "   "}), "source.api_key:"),
        (minimal(source={"api_key": "k", "start": {"after_id": "xyz"}}), "source.start.after_id:"),
        (minimal(batch={"max_bytes": "lots"}), "batch.max_bytes:"),
        (minimal(batch={"max_events": 0}), "batch.max_events:"),
        (minimal(batch={"compression": "brotli"}), "batch.compression:"),
        (minimal(layout="flat"), "layout:"),
        (
            minimal(source={"api_key": "k", "query": {"include": ["a"], "exclude": ["b"]}}),
            "source.query:",
        ),
        (minimal(source={}), "source.api_key: required key is missing"),
    ],
)
def test_bad_values_are_reported_with_yaml_path(raw: dict[str, Any], path_prefix: str) -> None:
    """Each validator rejects bad input and names the YAML path."""
    found = problems(raw)
    assert any(p.startswith(path_prefix) for p in found), found


@pytest.mark.parametrize("size", [1, 500, 1000])
def test_page_size_bounds_accepted(size: int) -> None:
    """page_size 1..1000 is accepted."""
    raw = minimal(source={"api_key": "k", "page_size": size})
    assert parse_settings(raw, base=Path(), env={}).settings.source.page_size == size


def test_include_with_exclude_message() -> None:
    """include+exclude says why it is refused."""
    found = problems(
        minimal(source={"api_key": "k", "query": {"include": ["a"], "exclude": ["b"]}})
    )
    assert any("include and exclude cannot be used together" in p for p in found)


def test_all_problems_reported_at_once() -> None:
    """Several independent mistakes are listed together in one ConfigError."""
    raw = minimal(batch={"max_bytes": "lots", "max_age": "never"})
    raw["source"] = {"api_key": "k", "page_size": 0, "poll_intervl": "5s"}
    found = problems(raw)
    assert len(found) == 4, found
    joined = "\n".join(found)
    for path in ("source.page_size", "source.poll_intervl", "batch.max_bytes", "batch.max_age"):
        assert path in joined


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (minimal(batchh={}), "batchh: unknown key; did you mean 'batch'?"),
        (
            minimal(source={"api_key": "k", "poll_intervl": 1}),
            "source.poll_intervl: unknown key; did you mean 'poll_interval'?",
        ),
        (
            minimal(batch={"max_event": 5}),
            "batch.max_event: unknown key; did you mean 'max_events'?",
        ),
    ],
)
def test_unknown_keys_suggest_the_nearest(raw: dict[str, Any], expected: str) -> None:
    """A typo is an error with the closest valid key suggested."""
    assert expected in problems(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            minimal(credentials={"a": {"service": "aws", "acess_key_id": "x"}}),
            "credentials.a.acess_key_id: unknown key; did you mean 'access_key_id'?",
        ),
        pytest.param(
            minimal(pipeline=[{"filter": {"rule_set": {"op": "and", "rules": []}, "actoin": "x"}}]),
            "pipeline[0].filter.actoin: unknown key; did you mean 'action'?",
        ),
        pytest.param(
            minimal(pipeline=[{"transform": {"exclud": ["a"]}}]),
            "pipeline[0].transform.exclud: unknown key; did you mean 'exclude'?",
        ),
    ],
)
def test_unknown_keys_in_union_items_suggest_the_nearest(
    raw: dict[str, Any], expected: str
) -> None:
    """Typos inside credentials and pipeline stages get a suggestion from the right model."""
    assert any(p.startswith(expected) for p in problems(raw))


def test_bad_rule_in_pipeline_has_full_path() -> None:
    """A bad operator in a filter rule is reported down to the rule's key."""
    rule = {"op": "and", "rules": [{"lhv": "type", "op": "is bogus", "rhv": "x"}]}
    found = problems(minimal(pipeline=[{"filter": {"rule_set": rule}}]))
    assert any(p.startswith("pipeline[0].filter.rule_set.rules[0].op:") for p in found), found


def test_pipeline_item_of_unknown_kind() -> None:
    """A stage that is neither filter nor transform says what is expected."""
    found = problems(minimal(pipeline=[{"mangle": {}}]))
    assert found == ["pipeline[0]: each pipeline stage is {filter: ...} or {transform: ...}"]


@pytest.mark.parametrize(
    ("raw", "fragment"), [(None, "empty"), ([1, 2], "mapping"), ("x", "mapping")]
)
def test_document_must_be_a_mapping(raw: object, fragment: str) -> None:
    """An empty or non-mapping document is one clear problem."""
    assert fragment in " ".join(problems(raw))


def test_secret_values_never_in_problems() -> None:
    """A secret with a wrong type is reported without echoing the value."""
    raw = minimal(
        credentials={"c": {"service": "aws", "access_key_id": "AK", "secret_access_key": 12345}}
    )
    raw["source"] = {"api_key": ["leaky-api-key-value"]}
    joined = "\n".join(problems(raw))
    assert "source.api_key" in joined
    assert "leaky-api-key-value" not in joined
    assert "12345" not in joined


# ------------------------------------------------------------------ firehose services


def test_services_inherit_top_level_fields() -> None:
    """services.aws/azure take enabled/credential_id/bucket/prefix from the top level."""
    raw = minimal(
        credentials=CREDS,
        firehose={
            "enabled": True,
            "credential_id": "aws-main",
            "bucket": "lc-events",
            "prefix": "/leadconduit/events/",
            "services": {"aws": {}, "azure": {"credential_id": "azure-main", "prefix": "az"}},
        },
    )
    assert services(raw) == [
        ("aws", "lc-events", "leadconduit/events", "aws-main"),
        ("azure", "lc-events", "az", "azure-main"),
    ]


def test_service_overrides_win_over_top_level() -> None:
    """A service's own bucket and credential_id override the top level."""
    raw = minimal(
        credentials=CREDS,
        firehose={
            "credential_id": "aws-main",
            "bucket": "top",
            "prefix": "p",
            "services": {"aws": {"credential_id": "aws-other", "bucket": "own", "prefix": ""}},
        },
    )
    assert services(raw) == [("aws", "own", "", "aws-other")]


def test_service_enabled_overrides_top_level_disabled() -> None:
    """services.aws.enabled: true enables aws even when the top level is disabled."""
    raw = minimal(
        firehose={"enabled": False, "bucket": "b", "services": {"aws": {"enabled": True}}}
    )
    assert services(raw) == [("aws", "b", "", None)]


def test_disabled_service_is_skipped() -> None:
    """A service with enabled: false is not resolved even when the top level is on."""
    raw = minimal(
        credentials=CREDS,
        firehose={
            "bucket": "b",
            "credential_id": "aws-main",
            "services": {"aws": {"enabled": False}, "local": {"enabled": True, "path": "/o"}},
        },
    )
    assert services(raw) == [("local", "/o", "", None)]


def test_legacy_form_means_aws() -> None:
    """Without services, the top-level bucket and credential are S3."""
    raw = minimal(
        credentials=CREDS,
        firehose={"credential_id": "aws-main", "bucket": "legacy", "prefix": "x/y"},
    )
    loaded = parse_settings(raw, base=Path(), env={})
    assert [(s.name, s.bucket, s.prefix, s.credential_id) for s in loaded.services] == [
        ("aws", "legacy", "x/y", "aws-main")
    ]
    assert loaded.services[0].credential is loaded.settings.credentials["aws-main"]


def test_legacy_form_disabled_means_nothing_enabled() -> None:
    """A disabled legacy firehose with no other service is a problem."""
    found = problems(minimal(firehose={"enabled": False, "bucket": "b"}))
    assert found == [
        "firehose: no service is enabled; enable services.aws, services.azure or services.local"
    ]


def test_unknown_credential_id() -> None:
    """An unknown credential_id names the known ones."""
    raw = minimal(
        credentials=CREDS,
        firehose={"bucket": "b", "credential_id": "nope", "services": {"aws": {}}},
    )
    found = problems(raw)
    assert len(found) == 1
    assert found[0].startswith("firehose.services.aws.credential_id: unknown credential_id 'nope'")
    assert "aws-main" in found[0]


def test_enabled_service_without_bucket() -> None:
    """An enabled service with no bucket anywhere is a problem at its path."""
    raw = minimal(credentials=CREDS, firehose={"services": {"aws": {"credential_id": "aws-main"}}})
    assert problems(raw) == [
        "firehose.services.aws.bucket: required when aws is enabled; set it here or at "
        "firehose.bucket"
    ]


def test_credential_of_wrong_service() -> None:
    """An aws credential referenced from services.azure is refused."""
    raw = minimal(
        credentials=CREDS,
        firehose={"bucket": "b", "services": {"azure": {"credential_id": "aws-main"}}},
    )
    assert problems(raw) == [
        "firehose.services.azure.credential_id: credential 'aws-main' is for aws, not azure"
    ]


def test_azure_without_credential() -> None:
    """services.azure without any credential_id is a problem."""
    raw = minimal(firehose={"bucket": "b", "services": {"azure": {}}})
    assert problems(raw) == [
        "firehose.services.azure.credential_id: azure needs a credential "
        "(connection_string or account_url)"
    ]


def test_aws_credential_pair_must_be_complete() -> None:
    """An access key id without its secret is refused, without echoing anything."""
    raw = minimal(credentials={"c": {"service": "aws", "access_key_id": "AKIAXYZ"}})
    found = problems(raw)
    assert found == [
        "credentials.c: access_key_id and secret_access_key go together: set both or neither"
    ]


def test_checkpoint_in_bucket_needs_bucket_and_credential() -> None:
    """An azure checkpoint store needs a bucket and a credential."""
    found = problems(minimal(checkpoint={"store": "azure"}))
    assert "checkpoint.bucket: required when checkpoint.store is azure" in found
    assert "checkpoint.credential_id: required when checkpoint.store is azure" in found


def test_route_event_needs_no_static_service() -> None:
    """firehose.route: event is valid without any statically enabled service."""
    raw = minimal(firehose={"route": "event"})
    assert parse_settings(raw, base=Path(), env={}).services == []


# ------------------------------------------------------------------ load_config (files)


def test_load_config_from_yaml(tmp_path: Path) -> None:
    """load_config reads, interpolates and validates a file and remembers its path."""
    file = tmp_path / "c.yaml"
    file.write_text(
        "source:\n  api_key: ${LC_KEY}\n  poll_interval: 2s\n"
        "firehose:\n  services:\n    local: {enabled: true, path: /tmp/o}\n",
        encoding="utf-8",
    )
    loaded = load_config(file, env={"LC_KEY": "abc123"})
    assert loaded.path == file
    assert loaded.settings.source.poll_interval == 2.0
    assert loaded.secrets() == ["abc123"]


def test_load_config_missing_file(tmp_path: Path) -> None:
    """A missing file is one problem saying to pass -c."""
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_load_config_invalid_yaml_names_line(tmp_path: Path) -> None:
    """Broken YAML is reported with line and column."""
    file = tmp_path / "c.yaml"
    file.write_text("source:\n  api_key: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(file, env={})
    assert "invalid YAML" in info.value.problems[0]
    assert " line " in info.value.problems[0]


def test_example_configs_are_valid() -> None:
    """The shipped example configs validate (with their variables set)."""
    root = Path(__file__).resolve().parents[2] / "config"
    env = {
        "LEADCONDUIT_API_KEY": "k",
        "AWS_SECRET": "s",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ACCESS_KEY_ID": "a",
        "AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;AccountKey=b",
    }
    for name in ("local.yaml", "streamer.example.yaml"):
        assert load_config(root / name, env=env).services
def test_infinite_size_is_a_config_error() -> None:
    """``max_bytes: .inf`` is reported as a config problem, not a crash."""
    found = problems(minimal(batch={"max_bytes": float("inf")}))
    assert any(p.startswith("batch.max_bytes:") for p in found)
