"""Filter and transform stages, stage config validation, and pipeline order."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from pydantic import SecretStr, TypeAdapter, ValidationError

from streamer.stages import (
    FilterSpec,
    FilterStage,
    FilterStageConfig,
    StageConfig,
    TransformSpec,
    TransformStage,
    build_pipeline,
    run_pipeline,
)

ADAPTER: TypeAdapter[list[StageConfig]] = TypeAdapter(list[StageConfig])


def event() -> dict[str, Any]:
    """A source event with typed PII fields."""
    return {
        "id": "5fd4371e940df5a34a3888b2",
        "type": "source",
        "outcome": "success",
        "vars": {
            "lead": {
                "email": {"normal": "bob@gmail.com", "raw": "Bob@Gmail.com", "valid": True},
                "ssn": {
                    "normal": "123456789",
                    "raw": "123-45-6789",
                    "first_three": "123",
                    "middle_two": "45",
                    "last_four": "6789",
                    "valid": True,
                },
                "dob": {
                    "normal": "1980-05-17",
                    "raw": "5/17/1980",
                    "age": 44,
                    "year": 1980,
                    "valid": True,
                },
                "state": "TX",
                "first_name": "Bob",
            },
            "flow": {"id": "f1", "name": "Mortgage"},
        },
        "transactions": [
            {"request": {"body": "ssn=123456789"}, "ms": 5},
            {"request": {"body": "x"}, "ms": 7},
        ],
    }


def transform(**spec: Any) -> TransformStage:
    """Build a transform stage from keyword config."""
    return TransformStage(
        TransformSpec(**spec), name="t", salt=spec.get("hash_salt") and spec["hash_salt"]
    )


def pipeline(items: list[dict[str, Any]], **kw: Any) -> list[Any]:
    """Validate YAML-like stage items and build them."""
    return build_pipeline(ADAPTER.validate_python(items), **kw)


# -- filter --------------------------------------------------------------------------


def test_filter_keep_and_drop() -> None:
    """keep passes matching events on; drop removes them; the event object is not copied."""
    rule_set = {"op": "and", "rules": [{"lhv": "lead.state", "op": "is equal to", "rhv": "tx"}]}
    keep = FilterStage(FilterSpec(rule_set=rule_set), name="keep")
    drop = FilterStage(FilterSpec(rule_set=rule_set, action="drop"), name="drop")
    e = event()
    assert keep.process(e) is e
    assert drop.process(e) is None
    other = {"id": "x", "vars": {"lead": {"state": "CA"}}}
    assert keep.process(other) is None
    assert drop.process(other) is other


def test_filter_spec_bad_rule_is_validation_error_with_path() -> None:
    """A bad rule fails config validation with its location and the RuleError text."""
    bad = [
        {
            "filter": {
                "rule_set": {
                    "op": "and",
                    "rules": [
                        {"lhv": "type", "op": "is blank"},
                        {"lhv": "a", "op": "equals", "rhv": 1},
                    ],
                }
            }
        }
    ]
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python(bad)
    errors = [e for e in info.value.errors() if e["type"] == "rule_error"]
    assert len(errors) == 1
    assert errors[0]["loc"][-5:] == ("filter", "rule_set", "rules", 1, "op")
    assert errors[0]["msg"] == "unknown operator 'equals'; did you mean 'is equal to'?"
    assert errors[0]["ctx"]["rule_path"] == "rule_set.rules[1].op"


def test_stage_configs_forbid_extra_and_are_frozen() -> None:
    """Unknown keys are errors and models are immutable."""
    with pytest.raises(ValidationError):
        FilterSpec.model_validate({"rule_set": [], "actoin": "drop"})
    with pytest.raises(ValidationError):
        TransformSpec.model_validate({"exclud": ["a"]})
    spec = FilterStageConfig.model_validate({"filter": {"rule_set": []}})
    with pytest.raises(ValidationError):
        spec.filter.action = "drop"


def test_transform_include_and_exclude_together_is_error() -> None:
    """include and exclude cannot be combined, like the API's parameters."""
    with pytest.raises(ValidationError, match="include or exclude, not both"):
        TransformSpec(include=["a"], exclude=["b"])
    with pytest.raises(ValidationError, match="dotted path"):
        TransformSpec(mask=["vars..lead"])


# -- transform -----------------------------------------------------------------------


def test_include_keeps_paths_and_id() -> None:
    """include keeps only the listed paths (flow-style too) plus id."""
    out = transform(include=["type", "lead.email", "vars.flow"]).process(event())
    assert out == {
        "id": "5fd4371e940df5a34a3888b2",
        "type": "source",
        "vars": {
            "lead": {"email": event()["vars"]["lead"]["email"]},
            "flow": {"id": "f1", "name": "Mortgage"},
        },
    }


def test_exclude_removes_paths_and_wildcards() -> None:
    """exclude removes dotted paths, lead.* via vars, and * over arrays."""
    out = transform(exclude=["lead.ssn", "transactions.*.request", "nope.nothing"]).process(event())
    assert out is not None
    assert "ssn" not in out["vars"]["lead"]
    assert out["transactions"] == [{"ms": 5}, {"ms": 7}]


def test_mask_typed_values_dob_and_plain() -> None:
    """mask stars normal/raw/components, keeps valid, dob keeps its year, plain strings fully."""
    out = transform(mask=["vars.lead.ssn", "lead.dob", "lead.first_name"]).process(event())
    assert out is not None
    lead = out["vars"]["lead"]
    assert lead["ssn"] == {
        "normal": "*********",
        "raw": "***********",
        "first_three": "***",
        "middle_two": "**",
        "last_four": "****",
        "valid": True,
    }
    assert lead["dob"] == {
        "normal": "**/**/1980",
        "raw": "**/**/1980",
        "age": 44,
        "year": 1980,
        "valid": True,
    }
    assert lead["first_name"] == "***"
    plain_dob = transform(mask=["lead.dob"]).process(
        {"id": "x", "vars": {"lead": {"dob": "05/17/1980"}}}
    )
    assert plain_dob == {"id": "x", "vars": {"lead": {"dob": "**/**/1980"}}}


def test_hash_is_salted_sha256_and_deterministic() -> None:
    """hash replaces a typed value's normal (or a primitive) by sha256(salt + value)."""
    stage = transform(hash=["lead.email", "lead.state"], hash_salt="pepper")
    out = stage.process(event())
    assert out is not None
    assert out["vars"]["lead"]["email"] == hashlib.sha256(b"pepperbob@gmail.com").hexdigest()
    assert out["vars"]["lead"]["state"] == hashlib.sha256(b"pepperTX").hexdigest()
    assert stage.process(event()) == out


def test_hash_without_salt_is_refused_unless_secrets_supply_one() -> None:
    """Hashing needs a salt, from hash_salt or the secrets mapping."""
    items = [{"transform": {"hash": ["lead.email"]}}]
    with pytest.raises(ValueError, match=r"pipeline\[0\]\.transform: hash needs a salt"):
        pipeline(items)
    [stage] = pipeline(items, secrets={"hash_salt": "s"})
    out = stage.process(event())
    assert out["vars"]["lead"]["email"] == hashlib.sha256(b"sbob@gmail.com").hexdigest()
    spec = TransformSpec(hash=["lead.email"], hash_salt=SecretStr("s3cr3t-salt"))
    assert "s3cr3t-salt" not in repr(spec)


def test_set_and_rename() -> None:
    """set writes constants at dotted paths; rename moves a value; missing sources are no-ops."""
    stage = transform(
        set={"meta.pipeline": "prod", "lead.source_tag": {"a": 1}},
        rename={"lead.first_name": "lead.given_name", "lead.nope": "x"},
    )
    out = stage.process(event())
    assert out is not None
    assert out["meta"] == {"pipeline": "prod"}
    assert out["vars"]["lead"]["source_tag"] == {"a": 1}
    assert out["vars"]["lead"]["given_name"] == "Bob"
    assert "first_name" not in out["vars"]["lead"]
    assert "x" not in out


def test_transform_never_mutates_input_and_shares_untouched_parts() -> None:
    """The input dict is unchanged and untouched subtrees are shared, not copied."""
    original = event()
    snapshot = copy.deepcopy(original)
    stage = transform(
        exclude=["lead.ssn"], mask=["lead.dob"], rename={"type": "kind"}, set={"vars.lead.x": 1}
    )
    first = stage.process(original)
    second = stage.process(original)
    assert original == snapshot
    assert first == second
    assert first is not None
    assert first["vars"]["flow"] is original["vars"]["flow"]
    assert first["transactions"] is original["transactions"]


# -- pipeline ------------------------------------------------------------------------


def test_pipeline_order_and_drop_stops() -> None:
    """Stages run in order; a dropped event reaches no later stage."""
    items: list[dict[str, Any]] = [
        {"transform": {"set": {"vars.lead.state": "CA"}}},
        {"filter": {"rule_set": [{"lhv": "lead.state", "op": "is equal to", "rhv": "CA"}]}},
        {"transform": {"exclude": ["transactions"]}},
    ]
    stages = pipeline(items)
    assert [s.name for s in stages] == [
        "pipeline[0].transform",
        "pipeline[1].filter",
        "pipeline[2].transform",
    ]
    out = run_pipeline(stages, event())
    assert out is not None
    assert "transactions" not in out
    reordered = pipeline([items[1], items[0]])
    assert run_pipeline(reordered, event()) is None


def test_dropped_event_goes_no_further() -> None:
    """After a drop, later stages are never called."""
    calls: list[str] = []

    class Spy:
        name = "spy"

        def process(self, e: dict[str, Any]) -> dict[str, Any] | None:
            calls.append(e["id"])
            return e

    drop_all = pipeline([{"filter": {"rule_set": [], "action": "drop", "name": "drop everything"}}])
    assert drop_all[0].name == "drop everything"
    assert run_pipeline([*drop_all, Spy()], event()) is None
    assert calls == []
    assert run_pipeline([Spy()], event()) is not None
    assert calls == ["5fd4371e940df5a34a3888b2"]
