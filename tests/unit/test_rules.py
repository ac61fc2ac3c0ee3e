"""Rule engine: forms, resolution, templates, operator semantics and aliases."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.rules import OPERATORS, CompiledRuleSet, compile_rule_set, matches


def ev(**lead: Any) -> dict[str, Any]:
    """A recipient event with ``lead`` fields."""
    return {
        "id": "5fd4371e940df5a34a3888b2",
        "type": "recipient",
        "outcome": "success",
        "vars": {"lead": lead, "submission": {"timestamp": "2024-03-05T14:30:00Z"}},
        "items": [{"sku": "A1"}, {"sku": "B2"}],
    }


def one(lhv: str, op: str, rhv: Any = None, **lead: Any) -> bool:
    """Evaluate a single rule against ``ev(**lead)``."""
    rule: dict[str, Any] = {"lhv": lhv, "op": op}
    if rhv is not None:
        rule["rhv"] = rhv
    return compile_rule_set([rule]).matches(ev(**lead))


def test_operators_tuple_lists_every_spelling() -> None:
    """OPERATORS has 14 binary, 10 unary, 2 legacy and 2 server-side spellings."""
    assert len(OPERATORS) == 28
    assert len(set(OPERATORS)) == 28
    assert {"is format valid", "is less than or equal", "is greater than or equal"} <= set(
        OPERATORS
    )


def test_every_operator_compiles() -> None:
    """Each operator in OPERATORS compiles with a suitable rhv (or none)."""
    unary_words = ("blank", "true", "false", "valid", "invalid", "obscene")
    for op in OPERATORS:
        rule: dict[str, Any] = {"lhv": "lead.x", "op": op}
        if not any(op.endswith(w) for w in unary_words):
            rule["rhv"] = "1-10" if "between" in op else "5"
        assert isinstance(compile_rule_set([rule]), CompiledRuleSet)


# -- forms ---------------------------------------------------------------------------


def test_nested_rule_sets_any_depth() -> None:
    """Rule sets nest to any depth with and/or."""
    rs = {
        "op": "or",
        "rules": [
            {
                "op": "and",
                "rules": [
                    {"op": "or", "rules": [{"lhv": "lead.a", "op": "is equal to", "rhv": 1}]}
                ],
            },
            {"lhv": "lead.b", "op": "is true"},
        ],
    }
    assert matches(rs, ev(a=1, b=False))
    assert matches(rs, ev(a=2, b="yes"))
    assert not matches(rs, ev(a=2, b="no"))


def test_rule_own_rule_set_is_anded() -> None:
    """A rule's rule_set must pass too for the rule to pass."""
    rs = [
        {
            "lhv": "lead.state",
            "op": "is equal to",
            "rhv": "TX",
            "rule_set": {
                "op": "or",
                "rules": [{"lhv": "lead.city", "op": "is equal to", "rhv": "Austin"}],
            },
        }
    ]
    assert matches(rs, ev(state="TX", city="austin"))
    assert not matches(rs, ev(state="TX", city="Dallas"))
    assert not matches(rs, ev(state="CA", city="Austin"))


def test_legacy_mode_any_and_all() -> None:
    """Legacy {mode, rules} sets: any = OR, all = AND; nested rules are ANDed."""
    rules = [
        {"lhv": "lead.a", "op": "is equal to", "rhv": "x"},
        {"lhv": "lead.b", "op": "is equal to", "rhv": "y"},
    ]
    assert matches({"mode": "any", "rules": rules}, ev(a="x", b="z"))
    assert not matches({"mode": "all", "rules": rules}, ev(a="x", b="z"))
    nested = [
        {
            "lhv": "lead.a",
            "op": "is equal to",
            "rhv": "x",
            "rules": [{"lhv": "lead.b", "op": "is blank"}],
        }
    ]
    assert matches(nested, ev(a="x"))
    assert not matches(nested, ev(a="x", b="y"))


def test_plain_list_is_anded_and_empty_passes() -> None:
    """A plain list ANDs its rules; an empty set or list passes everything."""
    rules = [
        {"lhv": "type", "op": "is equal to", "rhv": "recipient"},
        {"lhv": "outcome", "op": "is equal to", "rhv": "failure"},
    ]
    assert not matches(rules, ev())
    assert matches([], ev())
    assert matches({"op": "and", "rules": []}, ev())


def test_seed_acceptance_criteria_rule_set() -> None:
    """The acceptance_criteria rule set shape from the API docs (with ids) compiles and runs."""
    rs = {
        "op": "and",
        "id": "0d144a",
        "rules": [{"lhv": "lead.state", "op": "is equal to", "rhv": "TX", "id": "1aacd0"}],
    }
    compiled = compile_rule_set(rs)
    assert compiled.matches(ev(state="TX"))
    assert (
        compiled.explain(ev(state="CA"))
        == "rule 1aacd0: lead.state is equal to 'TX' failed: value was 'CA'"
    )


# -- lhv resolution ------------------------------------------------------------------


def test_lhv_root_first_then_vars() -> None:
    """type/outcome resolve at the root; lead.* falls back to vars.lead.*."""
    assert one("type", "is equal to", "RECIPIENT")
    assert one("lead.state", "is equal to", "tx", state="TX")
    assert one("vars.lead.state", "is equal to", "tx", state="TX")
    assert one("submission.timestamp", "is not blank")


def test_lhv_array_index_and_components() -> None:
    """Numeric segments index arrays; typed components are reachable by path."""
    assert one("items.1.sku", "is equal to", "b2")
    assert not one("items.5.sku", "is not blank")
    phone = {"normal": "5127891111", "raw": "(512) 789-1111", "area": "512", "valid": True}
    assert one("lead.phone_1.area", "is equal to", 512, phone_1=phone)
    assert one("lead.phone_1", "is equal to", "5127891111", phone_1=phone)


def test_nested_dotted_field_ids() -> None:
    """Dotted field ids nest: vars.lead.mortgage.loan.amount."""
    assert one(
        "lead.mortgage.loan.amount",
        "is greater than",
        100000,
        mortgage={"loan": {"amount": {"normal": 250000, "valid": True}}},
    )


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("is equal to", False),
        ("is not equal to", True),
        ("is less than", False),
        ("is greater than", False),
        ("is included in", False),
        ("is not included in", True),
        ("includes", False),
        ("does not include", True),
        ("is between", False),
        ("is not between", True),
        ("matches pattern", False),
        ("does not match pattern", True),
        ("is blank", True),
        ("is not blank", False),
        ("is true", False),
        ("is false", False),
        ("is not true", True),
        ("is not false", True),
        ("format is valid", False),
        ("format is invalid", False),
        ("is obscene", False),
        ("is not obscene", True),
    ],
)
def test_missing_lhv(op: str, expected: bool) -> None:
    """A missing field fails every positive test; negations are exact complements."""
    rhv = "1-10" if "between" in op else "5" if ("less" in op or "greater" in op) else "x"
    unary = op.startswith(
        ("is blank", "is not blank", "format", "is obscene", "is not obscene")
    ) or op.endswith(("true", "false"))
    assert one("lead.nothing", op, None if unary else rhv) is expected


# -- templates -----------------------------------------------------------------------


def test_template_rhv_refers_to_another_field() -> None:
    """{{path}} compares against another field, keeping its type."""
    assert one(
        "lead.email",
        "is equal to",
        "{{lead.email_confirm}}",
        email="A@b.com",
        email_confirm="a@B.com",
    )
    assert not one(
        "lead.email",
        "is equal to",
        "{{ lead.email_confirm }}",
        email="a@b.com",
        email_confirm="c@d.com",
    )
    assert one(
        "lead.bid", "is greater than", "{{lead.floor}}", bid=12, floor={"normal": 10, "valid": True}
    )
    assert one("lead.list", "includes", "{{lead.item}}", list=["a", "b"], item="B")


def test_template_missing_reference_fails_positive_passes_negated() -> None:
    """A template naming a missing field makes the rule fail (its negation pass)."""
    assert not one("lead.a", "is equal to", "{{lead.none}}", a="x")
    assert one("lead.a", "is not equal to", "{{lead.none}}", a="x")


def test_mixed_template_renders_string() -> None:
    """A template with text around variables renders to a string first."""
    assert one(
        "lead.full",
        "is equal to",
        "{{lead.first}} {{lead.last}}",
        full="Ann Lee",
        first="ann",
        last="LEE",
    )
    assert one(
        "lead.hour", "is between", "{{lead.lo}}-{{lead.hi}}", hour="0915", lo="0830", hi="1645"
    )


# -- operator semantics --------------------------------------------------------------


def test_equality_numbers_strings_arrays_booleans() -> None:
    """Numbers vs numeric strings, case folding, sorted arrays, booleans."""
    assert one("lead.n", "is equal to", "1,100", n=1100)
    assert not one("lead.s", "is equal to", 1, s="TX1")
    assert one("lead.tags", "is equal to", ["B", "a"], tags=["a", "b"])
    assert one("lead.flag", "is equal to", True, flag={"normal": True, "raw": "yes", "valid": True})
    assert one("lead.flag", "is equal to", "true", flag=True)
    assert one("lead.tags", "is equal to", "b", tags=["a", "b"])


def test_ordering_numbers_ranges_and_dates() -> None:
    """Comparisons use numbers, range averages, or epoch ms when both sides are dates."""
    assert one("lead.income", "is greater than or equal to", "$50,000", income="$60,000 per year")
    assert one(
        "lead.age",
        "is less than",
        30,
        age={"normal": "20-30", "min": 20, "max": 30, "avg": 25, "valid": True},
    )
    assert one("lead.age", "is less than", 30, age="20-30")
    assert one("submission.timestamp", "is greater than", "2024-03-01")
    assert one("submission.timestamp", "is less than or equal to", "03/05/2024 15:00") is False
    assert one(
        "lead.dob",
        "is less than",
        "2006-01-01",
        dob={"normal": "1980-05-17", "raw": "5/17/1980", "year": 1980, "valid": True},
    )
    assert not one("lead.word", "is greater than", 1, word="abc")


def test_between_forms_and_dates() -> None:
    """is between accepts 'a-b', [a, b], {min, max}, 'n+' and date ranges."""
    assert one("lead.n", "is between", [1, 10], n=10)
    assert one("lead.n", "is between", {"min": 1, "max": 10}, n="5")
    assert one("lead.n", "is between", "100+", n=1e9)
    assert one("lead.d", "is between", "2024-01-01 - 2024-12-31", d="2024-06-01")
    assert one("lead.d", "is not between", "2024-01-01 to 2024-12-31", d="2025-01-02")
    assert not one("lead.n", "is not between", "1-10", n=1)


def test_included_in_csv_quotes_and_types() -> None:
    """CSV rhv honours quotes and trims; numbers and booleans match across types."""
    assert one(
        "lead.city", "is included in", 'Austin, "Washington, DC" ,Boston', city="washington, dc"
    )
    assert one("lead.city", "is included in", "Austin , Boston", city="BOSTON")
    assert one("lead.zip", "is included in", [78701, 78702], zip="78701")
    assert one("lead.ok", "is included in", ["yes"], ok=True)
    assert one("lead.tags", "is included in", "x,y", tags=["q", "y"])
    assert not one("lead.city", "is included in", "Austin,Boston", city="Dallas")


def test_includes_substring_and_membership() -> None:
    """includes: substring (case-insensitive) on text, membership on arrays, any-of a list rhv."""
    assert one("lead.email", "includes", "GMAIL", email={"normal": "bob@gmail.com", "valid": True})
    assert one("lead.phone", "includes", 512, phone=5127891111)
    assert not one("lead.tags", "includes", "ab", tags=["abc"])
    assert one("lead.tags", "includes", ["z", "abc"], tags=["ABC"])
    assert one("lead.email", "does not include", "yahoo", email="bob@gmail.com")


def test_matches_pattern_forms() -> None:
    """Regexes: bare or /re/flags, searched, case-insensitive, JS named groups accepted."""
    assert one("lead.email", "matches pattern", r"@gmail\.com$", email="Bob@GMAIL.com")
    assert one("lead.email", "matches pattern", "/^bob/i", email="BOB@x.com")
    assert one("lead.zip", "matches pattern", r"/^(?<five>\d{5})$/", zip="78701")
    assert one("lead.zip", "does not match pattern", r"^\d{5}$", zip="7870")


def test_blank_cases() -> None:
    """Blank: missing, null, '', whitespace, [], {} and typed values with blank normal and raw."""
    blanks: list[Any] = [None, "", "   ", [], {}, {"normal": None, "raw": "", "valid": False}]
    for value in blanks:
        assert one("lead.x", "is blank", x=value), value
    filled: list[Any] = [0, False, "a", [""], {"normal": None, "raw": "derp", "valid": False}]
    for value in filled:
        assert one("lead.x", "is not blank", x=value), value


def test_booleans_and_invalid_booleans() -> None:
    """y/yes/true/t/1 and n/no/false/f/0 parse; an invalid typed boolean is neither."""
    for word in ("Y", "yes", " TRUE ", "t", "1", 1):
        assert one("lead.b", "is true", b=word)
    for word in ("n", "No", "false", "F", "0", 0):
        assert one("lead.b", "is false", b=word)
    invalid = {"normal": False, "raw": "asdf", "valid": False}
    assert not one("lead.b", "is false", b=invalid)
    assert one("lead.b", "is not false", b=invalid)


def test_format_valid_plain_and_typed() -> None:
    """Typed values use valid; a plain non-blank value counts as valid, never invalid."""
    assert one("lead.e", "format is valid", e="a@b.com")
    assert not one("lead.e", "format is invalid", e="not an email")
    assert one("lead.e", "is format invalid", e={"raw": "nope", "valid": False})
    assert not one("lead.e", "is format valid", e={"raw": "nope", "valid": False})


def test_obscene_word_list() -> None:
    """is obscene matches listed words as whole words only."""
    assert one("lead.first_name", "is obscene", first_name="Shit Head")
    assert one("lead.first_name", "is not obscene", first_name="Dick")
    assert one("lead.comments", "is not obscene", comments="classic assessment")


@pytest.mark.parametrize(
    ("alias", "canonical", "rhv"),
    [
        ("is format valid", "format is valid", None),
        ("is format invalid", "format is invalid", None),
        ("is less than or equal", "is less than or equal to", 5),
        ("is greater than or equal", "is greater than or equal to", 5),
        ("IS  Equal To", "is equal to", 5),
    ],
)
def test_aliases_behave_like_canonical(alias: str, canonical: str, rhv: Any) -> None:
    """Legacy, server-side and oddly-cased spellings evaluate like the canonical operator."""
    for value in (4, 5, 6, {"raw": "x", "valid": False}, "a"):
        assert one("lead.v", alias, rhv, v=value) is one("lead.v", canonical, rhv, v=value)


def test_explain_reasons() -> None:
    """explain is None on pass and names the failing rule and value otherwise."""
    rs = compile_rule_set(
        {"op": "and", "rules": [{"lhv": "vars.lead.state", "op": "is equal to", "rhv": "TX"}]}
    )
    assert rs.explain(ev(state="TX")) is None
    assert rs.explain(ev(state="CA")) == "vars.lead.state is equal to 'TX' failed: value was 'CA'"
    assert rs.explain(ev()) == "vars.lead.state is equal to 'TX' failed: value was missing"
    orset = compile_rule_set(
        {
            "op": "or",
            "rules": [
                {"lhv": "lead.a", "op": "is blank"},
                {"lhv": "lead.b", "op": "format is valid"},
            ],
        }
    )
    reason = orset.explain(ev(a="x", b={"raw": "q", "valid": False}))
    assert reason is not None
    assert "lead.a is blank failed: value was 'x'" in reason
    assert "lead.b format is valid failed: value was 'q' (valid=False)" in reason


def test_remembered_answers_equal_fresh_ones() -> None:
    """A static test remembers answers per string (and missing/null) value: every answer,
    asked again and past the memo's size, is what a fresh compile gives."""
    from streamer.rules import closures

    rule_sets: list[Any] = [
        {"op": "and", "rules": [{"lhv": "v", "op": "is equal to", "rhv": "1"}]},
        {"op": "and", "rules": [{"lhv": "v", "op": "is not equal to", "rhv": "true"}]},
        {"op": "and", "rules": [{"lhv": "v", "op": "is true"}]},
        {"op": "and", "rules": [{"lhv": "v", "op": "is blank"}]},
        {"op": "and", "rules": [{"lhv": "a.b.v", "op": "is not included in", "rhv": "x, 2"}]},
    ]
    values: list[Any] = ["1", "1.0", 1, 1.0, True, "true", "TRUE", "", " ", None, "x", "X", 2]
    events = [{"v": v, "a": {"b": {"v": v}}} for v in values] + [{}, {"vars": {"v": "1"}}]
    for rule_set in rule_sets:
        memoized = compile_rule_set(rule_set)
        for _ in range(2):
            for event in events:
                assert memoized.matches(event) is compile_rule_set(rule_set).matches(event)
    many = compile_rule_set(rule_sets[0])
    for i in range(closures.MEMO_SIZE + 10):
        assert many.matches({"v": str(i % 3)}) is (i % 3 == 1)
        assert many.matches({"v": f"{i}x"}) is False
