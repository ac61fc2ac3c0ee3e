"""A rule set answered for a whole page (``CompiledRuleSet.matches_page``) answers exactly
what a fresh compile answers for each event, whatever the values and shapes on the page:
values that are equal in Python but not in JSON, numbers, typed values, missing fields,
values under ``vars``, and objects on the way that are lists, strings or null.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from test_rules_memo import RULE_SETS, VALUES
from test_rules_vectors_data import RULE_SET_VECTORS, VECTORS

from streamer.rules import compile_rule_set
from streamer.rules.pagewise import column
from streamer.rules.paths import make_getter
from streamer.source.decode import PageDecoder, PartialEvent

ODD: list[Any] = [
    {},
    {"vars": None},
    {"vars": []},
    {"vars": "flat"},
    {"vars": {"lead": None}},
    {"vars": {"lead": []}},
    {"vars": {"lead": ["a", "b"]}},
    {"vars": {"lead": "flat"}},
    {"vars": {"lead": {}}},
    {"lead": None},
    {"lead": {"state": {"normal": "OH"}}},
    {"lead": ["x"], "vars": {"lead": {"state": "XX"}}},
    {"vars": {"vars": {"lead": {"state": "XX"}}}},
    {"type": 1, "outcome": True},
    {"type": "filter", "outcome": "continue"},
    {"vars": {"type": "filter", "outcome": "continue"}},
    {"type": "filter", "vars": {"outcome": "continue"}},
    {"type": ["filter"], "outcome": {"a": 1}},
    {"type": "filter", "outcome": "continue", "vars": []},
]  # fmt: skip

PATHS = [
    ("type",),
    ("lead",),
    ("vars",),
    ("state",),
    ("lead", "state"),
    ("vars", "lead"),
    ("lead", "0"),
    ("vars", "lead", "state"),
    ("vars", "lead", "0"),
    ("lead", "state", "normal"),
    ("vars", "lead", "state", "normal"),
]


def _short(value: Any) -> bool:
    try:
        return len(orjson.dumps(value)) <= 512
    except TypeError:  # an integer beyond 64 bits
        return False


def _pages(values: list[Any]) -> list[list[dict[str, Any]]]:
    """Pages holding each value at ``lead.state`` and ``vars.lead.state``, odd shapes,
    both alone and mixed: pages the fast path answers (values it can key, with and
    without numbers), and pages that force every fall-back (long or huge values)."""
    short = [v for v in values if _short(v)]
    plain = [{"vars": {"lead": {"state": v}}} for v in short]
    flat = [{"lead": {"state": v}} for v in short]
    keyable = [e for e in plain if type(e["vars"]["lead"]["state"]) not in (int, float)]
    no_floats = [e for e in plain if type(e["vars"]["lead"]["state"]) is not float]
    every = [{"vars": {"lead": {"state": v}}} for v in values]
    mixed = every + flat + ODD
    random.Random(3).shuffle(mixed)
    pages = [plain, keyable, flat, ODD, mixed, every, no_floats, keyable[::-1], plain[::-1]]
    return pages + [_partial(page) for page in pages]


def _partial(page: list[dict[str, Any]]) -> list[Any]:
    """The page as the daemon's decoder gives it: ``PartialEvent`` structs holding the
    paths of this file's rules and columns (``id`` added: a page's events have one)."""
    paths = {("id",), ("outcome",), ("vars", "outcome"), *PATHS}
    paths |= {("vars", *p) for p in PATHS if p[0] != "vars"}
    events = [{**e, "id": f"6b05acada3d811737835{n:04x}"} for n, e in enumerate(page)]
    decoded = PageDecoder(paths).decode(json.dumps(events).encode(), "test")
    assert all(isinstance(e, PartialEvent) for e in decoded)
    return decoded


def _assert_page_answers(rule_set: Any, pages: list[list[dict[str, Any]]]) -> None:
    compiled = compile_rule_set(rule_set)
    for page in pages + pages:  # the second round answers from a filled memo
        got = compiled.matches_page(page)
        want = [compile_rule_set(rule_set).matches(event) for event in page]
        assert len(got) == len(want)
        for event, a, b in zip(page, got, want, strict=True):
            assert a is b, (rule_set, event)


@pytest.mark.parametrize("path", PATHS, ids=".".join)
def test_a_column_holds_what_the_getter_finds(path: tuple[str, ...]) -> None:
    """Value for value (the same objects), on fast pages and on every fall-back."""
    get = make_getter(path)
    for page in _pages(VALUES):
        got = column(path)(page)
        assert len(got) == len(page)
        for event, value in zip(page, got, strict=True):
            assert value is get(event), (path, event)


EQUALS: list[Any] = [
    [{"lhv": "lead.state", "op": "is equal to", "rhv": rhv}] for rhv in ("1", "1.0", "true", "0")
]


@pytest.mark.parametrize("rule_set", RULE_SETS + EQUALS)
def test_one_field_sets_answer_a_page_as_a_fresh_compile(rule_set: Any) -> None:
    """Typed values, ``True``/``1``, long and huge values, missing ones, odd shapes."""
    _assert_page_answers(rule_set, _pages(VALUES))


def test_every_operator_of_the_vectors_answers_a_page_as_a_fresh_compile() -> None:
    """Each operator and rhv of the conformance vectors, over every vector's value."""
    values = [v["lhv_value"] for v in VECTORS]
    seen: set[str] = set()
    for vector in VECTORS:
        key = repr((vector["op"], vector.get("rhv")))
        if key in seen:
            continue
        seen.add(key)
        rule: dict[str, Any] = {"lhv": "lead.state", "op": vector["op"]}
        if vector.get("rhv") is not None:
            rule["rhv"] = vector["rhv"]
        _assert_page_answers([rule], _pages(values)[:5] + _pages(values)[-5:])


MULTI: list[Any] = [
    {
        "op": "and",
        "rules": [
            {"lhv": "type", "op": "is equal to", "rhv": "filter"},
            {"lhv": "outcome", "op": "is equal to", "rhv": "continue"},
        ],
    },
    {
        "op": "or",
        "rules": [
            {"lhv": "type", "op": "is equal to", "rhv": "1"},
            {"lhv": "outcome", "op": "is true"},
            {"lhv": "vars.lead.state", "op": "is blank"},
        ],
    },
    {
        "op": "and",
        "rules": [
            {"lhv": "type", "op": "is not blank"},
            {"lhv": "lead.state", "op": "format is valid"},
            {"lhv": "vars.lead.state", "op": "is not included in", "rhv": "XX, ZZ"},
            {"lhv": "outcome", "op": "is not equal to", "rhv": "continue"},
        ],
    },
]


@pytest.mark.parametrize("rule_set", MULTI)
def test_sets_of_several_fields_answer_a_page_as_a_fresh_compile(rule_set: Any) -> None:
    """Keys are tuples of the fields' keys: no two values that differ may share one."""
    rng = random.Random(9)
    kinds: list[Any] = ["filter", "continue", "1", 1, True, None, "", {"normal": "XX"}]
    page = [
        {
            "type": rng.choice(kinds),
            "outcome": rng.choice(kinds),
            "vars": {"lead": {"state": rng.choice(VALUES)}},
        }
        for _ in range(300)
    ]
    strings = [e for e in page if all(type(e[k]) is str for k in ("type", "outcome"))]
    _assert_page_answers(rule_set, [page, strings, ODD, strings + ODD, _partial(page + ODD)])


@pytest.mark.parametrize("vector", RULE_SET_VECTORS, ids=[v["id"] for v in RULE_SET_VECTORS])
def test_rule_set_vectors_answer_a_page_as_expected(vector: dict[str, Any]) -> None:
    """Nested, and/or, empty sets: the vector's outcome, event by event and page-wide."""
    event = {"id": "x", "vars": vector["context"]}
    compiled = compile_rule_set(vector["rule_set"])
    assert compiled.matches_page([event, event]) == [vector["expected"]] * 2
    _assert_page_answers(vector["rule_set"], [[event], ODD, [event, *ODD], _partial([event, *ODD])])


def test_a_memo_that_is_full_still_answers_new_values() -> None:
    """Past ``MEMO_SIZE`` distinct values nothing more is kept, every answer still right."""
    from streamer.rules import closures

    rule_set = MULTI[0]
    compiled = compile_rule_set(rule_set)
    page = [{"type": f"t{i}", "outcome": "continue"} for i in range(closures.MEMO_SIZE + 50)]
    page += [{"type": "filter", "outcome": "continue"}]
    assert compiled.matches_page(page) == [False] * (len(page) - 1) + [True]
    assert compiled.matches_page(page[-60:]) == [False] * 59 + [True]
