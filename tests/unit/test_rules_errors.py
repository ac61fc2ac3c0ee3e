"""Compile-time validation: every kind of bad rule is a RuleError naming path and operator."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.rules import RuleError, compile_rule_set

BASE = "pipeline[0].filter.rule_set"


def err(rule_set: Any) -> RuleError:
    """Compile and return the RuleError raised."""
    with pytest.raises(RuleError) as info:
        compile_rule_set(rule_set, path=BASE)
    return info.value


def ok_rule() -> dict[str, Any]:
    """A valid rule to put before a bad one, so the index in the path is exercised."""
    return {"lhv": "type", "op": "is equal to", "rhv": "source"}


def test_unknown_operator_suggests() -> None:
    """An unknown operator names its path and the likely intended operator."""
    e = err({"op": "and", "rules": [ok_rule(), {"lhv": "lead.state", "op": "equals", "rhv": "TX"}]})
    assert str(e) == f"{BASE}.rules[1].op: unknown operator 'equals'; did you mean 'is equal to'?"
    assert e.path == f"{BASE}.rules[1].op"
    assert e.loc == ("rules", 1, "op")
    assert isinstance(e, ValueError)
    assert "'is included in'" in str(err([{"lhv": "a", "op": "is includd in", "rhv": "x"}]))


def test_missing_lhv() -> None:
    """A rule without lhv is reported at .lhv with its operator."""
    e = err({"op": "and", "rules": [ok_rule(), {"op": "is equal to", "rhv": 1}]})
    assert e.path == f"{BASE}.rules[1].lhv"
    assert "'is equal to'" in e.problem


def test_bad_lhv_path() -> None:
    """An empty segment or non-string lhv is an error."""
    assert err([{"lhv": "vars..lead", "op": "is blank"}]).path == f"{BASE}[0].lhv"
    assert err([{"lhv": 5, "op": "is blank"}]).path == f"{BASE}[0].lhv"


def test_binary_without_rhv() -> None:
    """A binary operator without rhv (or rhv: null) names the operator."""
    e = err([{"lhv": "lead.a", "op": "is greater than"}])
    assert e.path == f"{BASE}[0].rhv"
    assert "'is greater than' needs an rhv" in str(e)
    assert "'includes'" in str(err([{"lhv": "lead.a", "op": "includes", "rhv": None}]))


def test_unary_with_rhv() -> None:
    """A unary operator with a real rhv is an error; null and '' are allowed."""
    e = err([{"lhv": "lead.a", "op": "is blank", "rhv": "x"}])
    assert e.path == f"{BASE}[0].rhv"
    assert "'is blank' takes no rhv" in str(e)
    compile_rule_set([{"lhv": "lead.a", "op": "is blank", "rhv": None}])
    compile_rule_set([{"lhv": "lead.a", "op": "is true", "rhv": ""}])


@pytest.mark.parametrize(
    ("op", "rhv", "fragment"),
    [
        ("is between", "abc", "needs a range"),
        ("is between", [1, 2, 3], "needs a range"),
        ("is between", {"min": 1}, "needs a range"),
        ("is between", "20-10", "min > max"),
        ("is not between", [1, "2024-01-01"], "both ends"),
        ("is less than", "abc", "needs a number or a date"),
        ("is greater than", [1], "needs a number or a date"),
        ("is included in", [], "needs a list"),
        ("is included in", {"a": 1}, "needs a list"),
        ("is equal to", {"a": 1}, "needs a string, number, boolean or list"),
        ("includes", "", "non-empty"),
        ("matches pattern", "([a-z", "invalid regular expression"),
        ("matches pattern", "/abc/q", "unknown regex flag"),
        ("matches pattern", 5, "needs a regular expression"),
        ("is equal to", "{{format lead.x format='HHmm'}}", "only {{path}} references"),
    ],
)
def test_rhv_of_wrong_shape(op: str, rhv: Any, fragment: str) -> None:
    """A malformed rhv fails at compile time, naming the path and the operator."""
    e = err({"op": "and", "rules": [ok_rule(), {"lhv": "lead.x", "op": op, "rhv": rhv}]})
    assert e.path == f"{BASE}.rules[1].rhv"
    assert repr(op) in str(e)
    assert fragment in str(e)


def test_bad_rule_set_shapes() -> None:
    """Bad set ops, modes, keys and containers are reported where they are."""
    assert err({"op": "xor", "rules": []}).path == f"{BASE}.op"
    assert err({"mode": "some", "rules": []}).path == f"{BASE}.mode"
    assert err({"op": "and", "mode": "all", "rules": []}).path == f"{BASE}.mode"
    assert err({"op": "and"}).path == f"{BASE}.rules"
    assert err({"op": "and", "rules": [], "extra": 1}).path == f"{BASE}.extra"
    assert err([{"lhv": "a", "op": "is blank", "rhs": 1}]).path == f"{BASE}[0].rhs"
    assert err("lead.a is blank").path == BASE
    assert err([5]).path == f"{BASE}[0]"


def test_nested_error_paths() -> None:
    """Errors inside a rule's rule_set or legacy rules carry the full nested path."""
    nested = {
        "op": "and",
        "rules": [
            {
                **ok_rule(),
                "rule_set": {"op": "or", "rules": [ok_rule(), {"lhv": "a", "op": "nope"}]},
            }
        ],
    }
    assert err(nested).path == f"{BASE}.rules[0].rule_set.rules[1].op"
    legacy = [ok_rule(), {**ok_rule(), "rules": [{"lhv": "a", "op": "is between", "rhv": "x"}]}]
    assert err(legacy).path == f"{BASE}[1].rules[0].rhv"
    assert (
        err([{**ok_rule(), "rule_set": {"op": "and", "rules": []}, "rules": []}]).path
        == f"{BASE}[0].rules"
    )


def test_default_path_is_rule_set() -> None:
    """Without a path argument, errors start at 'rule_set'."""
    with pytest.raises(
        RuleError,
        match=r"^rule_set\.rules\[0\]\.op: unknown operator 'gt'; "
        r"did you mean 'is greater than'\?$",
    ):
        compile_rule_set({"op": "and", "rules": [{"lhv": "a", "op": "gt", "rhv": 1}]})
