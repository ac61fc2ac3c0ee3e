"""The closures a compiled rule is made of: the test against the event, and its explanation.

Kept apart from :mod:`streamer.rules.compiler` (which validates and assembles) because these
run per event: they are the hot path of every filter.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson

from streamer.rules.ops import Pred
from streamer.rules.paths import Getter, make_getter
from streamer.rules.values import MISSING, is_typed, scalar

Event = Mapping[str, Any]
Test = Callable[[Event], bool]
Explain = Callable[[Event], "str | None"]


#: distinct string values a static test remembers its answer for (then it stops adding)
MEMO_SIZE = 4096
#: longest JSON of an object or array value a rule set remembers its answer for
MEMO_JSON = 512

#: the paths a test reads, for tests that depend on those values alone (static rules and
#: and/or sets of them); templated rules are not here
_READS: weakref.WeakKeyDictionary[Test, frozenset[tuple[str, ...]]] = (
    weakref.WeakKeyDictionary()
)


def mark_reads(test: Test, paths: Iterable[tuple[str, ...]]) -> Test:
    """Record that ``test`` is a pure function of the values at ``paths``."""
    _READS[test] = frozenset(paths)
    return test


def reads(test: Test) -> frozenset[tuple[str, ...]] | None:
    """The paths ``test`` depends on alone, or None when it depends on more."""
    return _READS.get(test)


def remembered(test: Test, path: tuple[str, ...], memo: dict[Any, Any] | None = None) -> Test:
    """``test`` (a function of the value at ``path`` alone) answering from a memo.

    For a rule set whose rules all read one field (``state is blank or state is not
    included in ...``), where every rule would otherwise look the value up and judge it
    again; rich typed values (objects) are remembered by their JSON, which tells two
    values apart exactly (types, members, order), so the answer is the one ``test``
    gives. Numbers and very long values are judged every time. ``memo`` (value key ->
    answer) may be shared with the page-wide answers (``streamer.rules.pagewise``).
    """
    get = make_getter(path)
    if memo is None:
        memo = {}
    dumps = orjson.dumps

    def memo_test(e: Event) -> Any:
        value = get(e)
        t = type(value)
        if t is dict or t is list:
            try:
                key: Any = dumps(value)
            except TypeError:  # an integer beyond 64 bits: judged every time
                return test(e)
            if len(key) > MEMO_JSON:
                return test(e)
        elif t is str or t is bool or value is None or value is MISSING:
            key = value  # no int or float is a key, so True never meets 1
        else:
            return test(e)
        answer = memo.get(key)
        if answer is None:
            answer = test(e)
            if len(memo) < MEMO_SIZE:
                memo[key] = answer
        return answer

    return memo_test


def static_test(get: Getter, pred: Pred, negate: bool) -> Test:
    """A predicate against a fixed rhv, prepared once at compile time.

    Its answer for a string value is remembered: the values rules test (types, outcomes,
    states, flags) repeat from event to event, and a dict lookup is cheaper than a
    case-folding comparison. Predicates are pure functions of the value, so this answers
    exactly as calling them would.
    """
    memo: dict[Any, Any] = {}  # str, MISSING or None -> the answer

    def test(e: Event) -> Any:
        value = get(e)
        if type(value) is not str and value is not MISSING and value is not None:
            return (not pred(value)) if negate else pred(value)
        answer = memo.get(value)
        if answer is None:
            answer = (not pred(value)) if negate else pred(value)
            if len(memo) < MEMO_SIZE:
                memo[value] = answer
        return answer

    return test


def templated_test(
    get: Getter, rhv_get: Getter, factory: Callable[[Any], Pred], negate: bool
) -> Test:
    """An rhv that refers to another field: prepared per event, cached per distinct value."""
    cached = lru_cache(maxsize=256)(factory)

    def test(e: Event) -> bool:
        r = rhv_get(e)
        if not (type(r) is dict and "min" in r and "max" in r):
            r = scalar(r)
        ok = False
        if r is not MISSING and r is not None:
            try:
                pred = cached(r) if isinstance(r, str | int | float | bool) else factory(r)
            except ValueError:
                pred = None
            ok = pred is not None and pred(get(e))
        return ok != negate

    return test


def explainer(test: Test, get: Getter, label: str, op: str) -> Explain:
    """Why ``test`` failed on an event: the rule and the value it saw (None: it passed)."""
    def explain(e: Event) -> str | None:
        if test(e):
            return None
        return f"{label} failed: value was {_show(get(e), op)}"

    return explain


def _show(value: Any, op: str) -> str:
    if value is MISSING:
        return "missing"
    shown = repr(scalar(value))
    if len(shown) > 80:
        shown = shown[:77] + "..."
    if "format" in op and is_typed(value):
        shown += f" (valid={value.get('valid')!r})"
    return shown
