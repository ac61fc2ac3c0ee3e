"""The closures a compiled rule is made of: the test against the event, and its explanation.

Kept apart from :mod:`streamer.rules.compiler` (which validates and assembles) because these
run per event: they are the hot path of every filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from streamer.rules.ops import Pred
from streamer.rules.paths import Getter
from streamer.rules.values import MISSING, is_typed, scalar

Event = Mapping[str, Any]
Test = Callable[[Event], bool]
Explain = Callable[[Event], "str | None"]


#: distinct string values a static test remembers its answer for (then it stops adding)
MEMO_SIZE = 4096


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
