"""A rule set whose rules all read one field answers from a memo (``closures.remembered``).

Every answer, asked again, must be what a fresh compile gives: values that compare
equal in Python but differ in JSON (``True``/``1``, ``False``/``0``, ``1``/``1.0``), typed
values that differ in one member or in member order, lists, huge integers, long values.
"""

from __future__ import annotations

from typing import Any

from streamer.rules import compile_rule_set

RULE_SETS: list[Any] = [
    {
        "op": "or",
        "rules": [
            {"lhv": "lead.state", "op": "is blank"},
            {"lhv": "lead.state", "op": "is not included in", "rhv": "XX, ZZ"},
        ],
    },
    {
        "op": "and",
        "rules": [
            {"lhv": "lead.state", "op": "format is valid"},
            {"lhv": "lead.state", "op": "is equal to", "rhv": "1"},
        ],
    },
    {
        "op": "or",
        "rules": [
            {"lhv": "lead.state", "op": "is true"},
            {"lhv": "lead.state", "op": "is false"},
        ],
    },
    {"op": "and", "rules": [{"lhv": "lead.state", "op": "is not blank"}]},
]

VALUES: list[Any] = [
    "XX", "xx", "OH", "", " ", "1", 1, 1.0, True, False, 0, None, 2**70, [], ["XX"], ["1", 1],
    {"normal": "XX", "raw": "x", "valid": True},
    {"normal": "XX", "raw": "x", "valid": 1},
    {"normal": "1", "raw": "1", "valid": False},
    {"normal": "1", "raw": "1", "valid": 0},
    {"raw": "1", "normal": "1", "valid": True},
    {"normal": None, "raw": "derp", "valid": False},
    {"normal": None, "raw": "", "valid": False},
    {"normal": 2**70, "raw": "big", "valid": True},
    {"normal": "y" * 600, "raw": "long", "valid": True},
    {"normal": "OH", "raw": "Ohio", "name": "Ohio", "valid": True},
]  # fmt: skip


def test_one_field_rule_sets_remember_exactly_what_a_fresh_compile_answers() -> None:
    events: list[dict[str, Any]] = [{"lead": {"state": v}} for v in VALUES]
    events += [{}, {"lead": {}}, {"vars": {"lead": {"state": "XX"}}}, {"lead": "flat"}]
    for rule_set in RULE_SETS:
        memoized = compile_rule_set(rule_set)
        for _ in range(3):
            for event in events:
                fresh = compile_rule_set(rule_set).matches(event)
                assert memoized.matches(event) is fresh, (rule_set, event)
