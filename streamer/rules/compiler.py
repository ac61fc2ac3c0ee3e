"""Compile a LeadConduit rule set into closures, validating everything up front.

The pipeline evaluates every event against every filter, so all parsing (paths, numbers,
ranges, regexes, CSV lists) happens here once; evaluation is a few dict lookups and
comparisons. Any mistake in a rule is a ``RuleError`` naming its path, raised here, so a
bad config fails at start-up instead of silently dropping events later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streamer.rules.closures import (
    Event,
    Explain,
    Test,
    explainer,
    mark_reads,
    reads,
    static_test,
    templated_test,
)
from streamer.rules.errors import Loc, RuleError, render_path
from streamer.rules.operators import UNARY, canonical, suggest
from streamer.rules.ops import BINARY_FACTORIES, NEGATIONS, UNARY_PREDICATES
from streamer.rules.pagewise import Answers, answering
from streamer.rules.paths import Getter, make_getter, make_template, split_path

_SET_KEYS = frozenset({"op", "rules", "id", "mode"})
_RULE_KEYS = frozenset({"lhv", "op", "rhv", "id", "rule_set", "rules"})


class CompiledRuleSet:
    """A validated rule set: ``matches(event)``, ``matches_page(events)`` (its answers for
    a page: ``streamer.rules.pagewise``) and ``explain`` (why not)."""

    __slots__ = ("_explain", "matches", "matches_page")

    matches: Test
    matches_page: Answers
    _explain: Explain

    def __init__(self, test: Test, explain: Explain, page: Answers) -> None:
        self.matches = test
        self.matches_page = page
        self._explain = explain

    def explain(self, event: Event) -> str | None:
        """None when ``event`` passes; otherwise a one-line reason naming the failing rule."""
        return self._explain(event)


def compile_rule_set(
    obj: Mapping[str, Any] | Sequence[Any], *, path: str = "rule_set"
) -> CompiledRuleSet:
    """Validate and compile ``obj`` (any accepted form, see docs/rules.md).

    Raises:
        RuleError: the problems found, with their paths under ``path``; sibling rules are
            all checked, so ``err.all`` lists every problem of one fix-up round.
    """
    test, explain = _compile_set(obj, path, ())
    test, page = answering(test)
    return CompiledRuleSet(test, explain, page)


def _fail(base: str, loc: Loc, problem: str) -> RuleError:
    return RuleError(render_path(base, loc), problem, loc=loc)


def _compile_set(obj: Any, base: str, loc: Loc) -> tuple[Test, Explain]:
    if isinstance(obj, Mapping):
        if "lhv" in obj:
            return _compile_rule(obj, base, loc)
        for key in obj:
            if key not in _SET_KEYS:
                raise _fail(
                    base,
                    (*loc, str(key)),
                    f"unknown key {key!r} in a rule set; allowed: op, rules, id (or legacy mode)",
                )
        if "op" in obj and "mode" in obj:
            raise _fail(
                base, (*loc, "mode"), "give 'op: and|or' or legacy 'mode: all|any', not both"
            )
        combine = _combinator(obj, base, loc)
        rules = obj.get("rules")
        if not isinstance(rules, list | tuple):
            raise _fail(
                base,
                (*loc, "rules"),
                "a rule set needs 'rules': a list of rules or nested rule sets",
            )
        return _combine(combine, _compile_items(rules, base, (*loc, "rules")))
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return _combine("and", _compile_items(obj, base, loc))
    raise _fail(
        base,
        loc,
        "expected a rule set ({op: and|or, rules: [...]} or a list of rules), "
        f"got {type(obj).__name__}",
    )


def _combinator(obj: Mapping[str, Any], base: str, loc: Loc) -> str:
    if "mode" in obj:
        mode = str(obj["mode"]).lower()
        if mode not in ("all", "any"):
            raise _fail(
                base, (*loc, "mode"), f"legacy mode must be 'all' or 'any', got {obj['mode']!r}"
            )
        return "and" if mode == "all" else "or"
    op = obj.get("op", "and")
    if isinstance(op, str) and op.lower() in ("and", "or"):
        return op.lower()
    if isinstance(op, str) and canonical(op) is not None:
        raise _fail(
            base,
            (*loc, "lhv"),
            f"missing lhv for operator {op!r}: give the dotted path of the field to test, "
            "e.g. vars.lead.state",
        )
    raise _fail(base, (*loc, "op"), f"a rule set's op must be 'and' or 'or', got {op!r}")


def _compile_items(items: Sequence[Any], base: str, loc: Loc) -> list[tuple[Test, Explain]]:
    """Every item compiled, or one RuleError carrying the problems of all of them."""
    children: list[tuple[Test, Explain]] = []
    errors: list[RuleError] = []
    for i, item in enumerate(items):
        try:
            children.append(_compile_item(item, base, (*loc, i)))
        except RuleError as err:
            errors.append(err)
    if errors:
        raise RuleError.combine(errors)
    return children


def _compile_item(obj: Any, base: str, loc: Loc) -> tuple[Test, Explain]:
    if not isinstance(obj, Mapping):
        raise _fail(
            base, loc, f"expected a rule {{lhv, op, rhv}} or a nested rule set, got {obj!r}"
        )
    if "lhv" not in obj and "rules" in obj:
        return _compile_set(obj, base, loc)
    return _compile_rule(obj, base, loc)


def _combine(kind: str, children: list[tuple[Test, Explain]]) -> tuple[Test, Explain]:
    tests = tuple(t for t, _ in children)
    explains = tuple(x for _, x in children)
    if not tests:
        return (lambda _e: True), (lambda _e: None)
    if len(tests) == 1:
        return children[0]
    if kind == "and":

        def all_(e: Event) -> bool:
            # A plain loop: measurably faster than all() over a generator on the hot path.
            for t in tests:  # noqa: SIM110
                if not t(e):
                    return False
            return True

        def explain_all(e: Event) -> str | None:
            for x in explains:
                reason = x(e)
                if reason is not None:
                    return reason
            return None

        return _marked(all_, tests), explain_all

    def any_(e: Event) -> bool:
        for t in tests:  # noqa: SIM110 - see all_
            if t(e):
                return True
        return False

    def explain_any(e: Event) -> str | None:
        reasons = [x(e) for x in explains]
        if any(r is None for r in reasons):
            return None
        return "no rule of the 'or' set passed: " + "; ".join(str(r) for r in reasons)

    return _marked(any_, tests), explain_any


def _marked(test: Test, parts: Sequence[Test]) -> Test:
    """Mark a combination as reading what its parts read, when each reads fixed paths."""
    found = [reads(part) for part in parts]
    if all(paths is not None for paths in found):
        mark_reads(test, frozenset().union(*(p for p in found if p is not None)))
    return test


def _compile_rule(obj: Mapping[str, Any], base: str, loc: Loc) -> tuple[Test, Explain]:
    for key in obj:
        if key not in _RULE_KEYS:
            raise _fail(
                base,
                (*loc, str(key)),
                f"unknown key {key!r} in a rule; allowed: lhv, op, rhv, id, rule_set",
            )
    lhv, parts = _lhv(obj, base, loc)
    op = _operator(obj, lhv, base, loc)
    get = make_getter(parts)
    test, rhv_shown = _test(op, get, obj.get("rhv"), base, loc, parts)
    label = f"{lhv} {op}{rhv_shown}"
    if obj.get("id") is not None:
        label = f"rule {obj['id']}: {label}"
    explain = explainer(test, get, label, op)
    nested = _nested(obj, base, loc)
    if nested is None:
        return test, explain
    ntest, nexplain = nested

    def both(e: Event) -> bool:
        return test(e) and ntest(e)

    def explain_both(e: Event) -> str | None:
        return explain(e) or nexplain(e)

    return _marked(both, [test, ntest]), explain_both


def _lhv(obj: Mapping[str, Any], base: str, loc: Loc) -> tuple[str, tuple[str, ...]]:
    """The field a rule tests, as written and as path parts."""
    lhv = obj.get("lhv")
    parts = split_path(lhv) if isinstance(lhv, str) else None
    if parts is None or not isinstance(lhv, str):
        what = f"missing lhv for operator {obj.get('op')!r}" if lhv is None else f"bad lhv {lhv!r}"
        raise _fail(
            base,
            (*loc, "lhv"),
            f"{what}: give the dotted path of the field to test, e.g. vars.lead.state",
        )
    return lhv, parts


def _operator(obj: Mapping[str, Any], lhv: str, base: str, loc: Loc) -> str:
    """The canonical operator name (aliases and spelling variants accepted)."""
    raw_op = obj.get("op")
    if not isinstance(raw_op, str):
        raise _fail(base, (*loc, "op"), f"missing operator for lhv {lhv!r}; e.g. 'is equal to'")
    op = canonical(raw_op)
    if op is None:
        hint = suggest(raw_op)
        tip = f"; did you mean {hint!r}?" if hint else "; see docs/rules.md for the list"
        raise _fail(base, (*loc, "op"), f"unknown operator {raw_op!r}{tip}")
    return op


def _test(
    op: str, get: Getter, rhv: Any, base: str, loc: Loc, parts: tuple[str, ...]
) -> tuple[Test, str]:
    """The rule's predicate (negated operators wrap their positive form) and its rhv shown."""
    positive = NEGATIONS.get(op, op)
    negate = positive != op
    if op in UNARY:
        if rhv not in (None, ""):
            raise _fail(base, (*loc, "rhv"), f"operator {op!r} takes no rhv; remove rhv ({rhv!r})")
        return mark_reads(static_test(get, UNARY_PREDICATES[positive], negate), [parts]), ""
    if rhv is None:
        raise _fail(
            base, (*loc, "rhv"), f"operator {op!r} needs an rhv (the value to compare with)"
        )
    factory = BINARY_FACTORIES[positive]
    dynamic = None
    if isinstance(rhv, str):
        try:
            dynamic = make_template(rhv)
        except ValueError as err:
            raise _fail(base, (*loc, "rhv"), f"{op!r}: {err}") from None
    if dynamic is not None:
        return templated_test(get, dynamic, factory, negate), f" {rhv!r}"
    try:
        pred = factory(rhv)
    except ValueError as err:
        raise _fail(base, (*loc, "rhv"), f"operator {op!r} {err}") from None
    return mark_reads(static_test(get, pred, negate), [parts]), f" {rhv!r}"


def _nested(obj: Mapping[str, Any], base: str, loc: Loc) -> tuple[Test, Explain] | None:
    """A rule's own ``rule_set`` (or legacy ``rules``), ANDed with the rule."""
    found = [(k, obj[k]) for k in ("rule_set", "rules") if obj.get(k) is not None]
    if len(found) > 1:
        raise _fail(
            base, (*loc, "rules"), "give either rule_set or legacy rules on a rule, not both"
        )
    if not found:
        return None
    key, value = found[0]
    if key == "rules" and not isinstance(value, list | tuple):
        raise _fail(base, (*loc, "rules"), "a rule's nested 'rules' must be a list of rules")
    return _compile_set(value, base, (*loc, key))
