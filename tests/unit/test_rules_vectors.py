"""Every vector of research/rules_vectors.json, parametrized by its id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_rules_vectors_data import RULE_SET_VECTORS, VECTORS

from streamer.rules import compile_rule_set, matches

SHARED = Path("/work/shared/research/rules_vectors.json")

# Vectors whose expected outcome we deliberately do not follow: id -> reason. Empty: the
# engine agrees with every vector (docs/rules.md, "Conformance").
DISAGREE: dict[str, str] = {}


def _event_for(value: Any) -> dict[str, Any]:
    return {"id": "5fd4371e940df5a34a3888b2", "type": "source", "vars": {"lead": {"field": value}}}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
@pytest.mark.parametrize("lhv", ["lead.field", "vars.lead.field"])
def test_single_rule_vector(vector: dict[str, Any], lhv: str) -> None:
    """The operator gives the vector's expected outcome, flow-style and event-rooted lhv."""
    rule: dict[str, Any] = {"lhv": lhv, "op": vector["op"]}
    if vector.get("rhv") is not None:
        rule["rhv"] = vector["rhv"]
    compiled = compile_rule_set({"op": "and", "rules": [rule]})
    event = _event_for(vector["lhv_value"])
    expected = not vector["expected"] if vector["id"] in DISAGREE else vector["expected"]
    assert compiled.matches(event) is expected
    assert (compiled.explain(event) is None) is expected


@pytest.mark.parametrize("vector", RULE_SET_VECTORS, ids=[v["id"] for v in RULE_SET_VECTORS])
def test_rule_set_vector(vector: dict[str, Any]) -> None:
    """Nested/OR/empty rule sets evaluate as the vector says, in every form it gives."""
    event = {"id": "x", "vars": vector["context"]}
    assert matches(vector["rule_set"], event) is vector["expected"]
    if "rules_legacy_format" in vector:
        assert matches(vector["rules_legacy_format"], event) is vector["expected"]


@pytest.mark.skipif(not SHARED.exists(), reason="shared research folder not mounted")
def test_embedded_copy_matches_research_file() -> None:
    """The embedded copy has exactly the research file's vectors and outcomes."""
    data = json.loads(SHARED.read_text())
    theirs = {
        v["id"]: (v["lhv_value"], v["op"], v.get("rhv"), v["expected"]) for v in data["vectors"]
    }
    ours = {v["id"]: (v["lhv_value"], v["op"], v.get("rhv"), v["expected"]) for v in VECTORS}
    assert ours == theirs
    assert [v["id"] for v in data["rule_set_vectors"]] == [v["id"] for v in RULE_SET_VECTORS]


def test_vector_counts() -> None:
    """The suite covers all 109 single-rule vectors present (ids run to v158) and 5 sets."""
    assert len(VECTORS) == 109
    assert len(RULE_SET_VECTORS) == 5
