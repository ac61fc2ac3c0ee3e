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


def static_test(get: Getter, pred: Pred, negate: bool) -> Test:
    """A predicate against a fixed rhv, prepared once at compile time."""
    if negate:
        return lambda e: not pred(get(e))
    return lambda e: pred(get(e))


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
