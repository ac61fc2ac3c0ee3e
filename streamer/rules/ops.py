"""One predicate factory per positive operator.

``BINARY_FACTORIES[op](rhv)`` checks and pre-parses the rhv once (raising ValueError with
a user-facing message when its shape is wrong) and returns ``pred(value) -> bool`` for the
resolved lhv. Negated operators are not here: the compiler builds them as ``not pred``,
which makes every negation the exact complement of its positive form (see docs/rules.md).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from streamer.rules.obscene import is_obscene
from streamer.rules.pattern import matches_pattern
from streamer.rules.values import (
    MISSING,
    fold,
    is_blank,
    is_typed,
    parse_date,
    parse_date_range,
    parse_range,
    scalar,
    split_csv,
    strict_number,
    text,
    to_bool,
    to_date,
    to_number,
)

Pred = Callable[[Any], bool]


def _is_scalar_rhv(rhv: Any) -> bool:
    return isinstance(rhv, str | int | float | bool)


def equal_to(rhv: Any) -> Pred:
    """``is equal to``: case-insensitive strings, numbers across types, sorted arrays."""
    if isinstance(rhv, list | tuple):
        want = _sorted_key(rhv)

        def eq_list(v: Any) -> bool:
            v = scalar(v)
            if v is MISSING or v is None:
                return False
            return _sorted_key(v if type(v) is list else [v]) == want

        return eq_list
    if not _is_scalar_rhv(rhv):
        raise ValueError("needs a string, number, boolean or list rhv")
    s = fold(rhv)
    n = strict_number(rhv) if type(rhv) is not bool else None
    b = to_bool(rhv) if type(rhv) in (bool, str) else None
    rhv_is_bool = type(rhv) is bool

    def eq(v: Any) -> bool:
        t = type(v)
        if t is dict:
            v = scalar(v)
            t = type(v)
        if t is str:
            if v == rhv or v.casefold() == s:
                return True
            if n is not None:
                m = strict_number(v)
                if m is not None:
                    return m == n
            return rhv_is_bool and to_bool(v) is b
        if t is int or t is float:
            return n is not None and v == n
        if t is bool:
            return b is v
        if t is list:
            return any(eq(e) for e in v)
        return False

    return eq


def _key(v: Any) -> tuple[int, Any]:
    v = scalar(v)
    if type(v) is bool:
        return (0, v)
    n = strict_number(v)
    if n is not None:
        return (1, n)
    if v is None or v is MISSING:
        return (3, "")
    return (2, fold(v))


def _sorted_key(values: Any) -> list[tuple[int, Any]]:
    return sorted(_key(v) for v in values)


def _ordering(cmp: Callable[[float, float], bool]) -> Callable[[Any], Pred]:
    def factory(rhv: Any) -> Pred:
        if type(rhv) is not bool and isinstance(rhv, str | int | float):
            n = to_number(rhv)
            if n is not None:
                return lambda v: (x := to_number(v)) is not None and cmp(x, n)
            d = parse_date(rhv) if isinstance(rhv, str) else None
            if d is not None:
                return lambda v: (x := to_date(v)) is not None and cmp(x, d)
        raise ValueError(f"needs a number or a date rhv, got {rhv!r}")

    return factory


def _bound(value: Any) -> tuple[str, float] | None:
    if type(value) is bool:
        return None
    n = strict_number(value)
    if n is not None:
        return "num", n
    d = parse_date(value) if isinstance(value, str) else None
    return ("date", d) if d is not None else None


def _between_bounds(rhv: Any) -> tuple[str, float, float]:
    shape = (
        "needs a range: 'min-max' (e.g. '10-20' or '2024-01-01 - 2024-02-01'), "
        "[min, max] or {min: .., max: ..}"
    )
    if isinstance(rhv, str):
        nums = parse_range(rhv)
        if nums is not None:
            return "num", nums[0], nums[1]
        dates = parse_date_range(rhv)
        if dates is not None:
            return "date", dates[0], dates[1]
        raise ValueError(f"{shape}; got {rhv!r}")
    if isinstance(rhv, dict) and "min" in rhv and "max" in rhv:
        pair: Any = (rhv["min"], rhv["max"])
    elif isinstance(rhv, list | tuple) and len(rhv) == 2:
        pair = rhv
    else:
        raise ValueError(f"{shape}; got {rhv!r}")
    lo, hi = _bound(pair[0]), _bound(pair[1])
    if lo is None or hi is None or lo[0] != hi[0]:
        raise ValueError(f"{shape}; both ends must be numbers or both dates, got {rhv!r}")
    return lo[0], lo[1], hi[1]


def between(rhv: Any) -> Pred:
    """``is between``: inclusive; ``is not between`` is its complement (strictly outside)."""
    kind, lo, hi = _between_bounds(rhv)
    if lo > hi:
        raise ValueError(
            f"range {rhv!r} has min > max; for a window that wraps (e.g. overnight) use "
            "'is not between' on the complementary range"
        )
    if kind == "num":
        return lambda v: (x := to_number(v)) is not None and lo <= x <= hi
    return lambda v: (x := to_date(v)) is not None and lo <= x <= hi


def _items(rhv: Any, what: str) -> list[Any]:
    if isinstance(rhv, str):
        items: list[Any] = split_csv(rhv) if "," in rhv or '"' in rhv else [rhv.strip()]
    elif isinstance(rhv, list | tuple):
        items = list(rhv)
    elif isinstance(rhv, int | float):
        items = [rhv]
    else:
        raise ValueError(f"needs {what}, got {rhv!r}")
    if not items or any(not _is_scalar_rhv(i) for i in items):
        raise ValueError(f"needs {what} of strings/numbers/booleans, got {rhv!r}")
    return items


def included_in(rhv: Any) -> Pred:
    """``is included in``: membership in an array or a CSV string (quotes respected)."""
    items = _items(rhv, "a list (array or comma-separated string)")
    strs = frozenset(fold(i) for i in items)
    nums = frozenset(
        n for i in items if type(i) is not bool and (n := strict_number(i)) is not None
    )
    bools = frozenset(b for i in items if (b := to_bool(i)) is not None)

    def member(v: Any) -> bool:
        t = type(v)
        if t is dict:
            v = scalar(v)
            t = type(v)
        if t is str:
            if v.casefold() in strs:
                return True
            m = strict_number(v) if nums else None
            return m is not None and m in nums
        if t is int or t is float:
            return v in nums
        if t is bool:
            return v in bools
        if t is list:
            return any(member(e) for e in v)
        return False

    return member


def includes(rhv: Any) -> Pred:
    """``includes``: array membership, or case-insensitive substring of a string lhv."""
    needles = (
        _items(rhv, "a value (or a list of values, any of which may match)")
        if not isinstance(rhv, str)
        else [rhv]
    )
    if any(text(n) == "" for n in needles):
        raise ValueError("needs a non-empty value (an empty string is included in everything)")
    eqs = [equal_to(n) for n in needles]
    subs = [fold(text(n)) for n in needles]

    def inc(v: Any) -> bool:
        v = scalar(v)
        t = type(v)
        if t is list:
            return any(e(x) for x in v for e in eqs)
        if v is MISSING or v is None or t is dict:
            return False
        if t is bool:
            return any(e(v) for e in eqs)
        s = fold(text(v))
        return any(n in s for n in subs)

    return inc


def format_valid(v: Any) -> bool:
    """Typed values: their ``valid`` flag; plain values: valid unless blank."""
    if is_typed(v):
        valid = v.get("valid")
        return valid is True or (valid is None and not is_blank(v))
    return not is_blank(v)


def format_invalid(v: Any) -> bool:
    """Only a typed value that failed to parse (``valid: false``) is invalid."""
    return is_typed(v) and v.get("valid") is False


def obscene(v: Any) -> bool:
    """Whether the text (or any array element) contains a listed word."""
    v = scalar(v)
    if type(v) is list:
        return any(obscene(e) for e in v)
    return type(v) is str and is_obscene(v)


BINARY_FACTORIES: dict[str, Callable[[Any], Pred]] = {
    "is equal to": equal_to,
    "is less than": _ordering(operator.lt),
    "is less than or equal to": _ordering(operator.le),
    "is greater than": _ordering(operator.gt),
    "is greater than or equal to": _ordering(operator.ge),
    "is included in": included_in,
    "includes": includes,
    "is between": between,
    "matches pattern": matches_pattern,
}

UNARY_PREDICATES: dict[str, Pred] = {
    "is blank": is_blank,
    "is true": lambda v: to_bool(v) is True,
    "is false": lambda v: to_bool(v) is False,
    "format is valid": format_valid,
    "format is invalid": format_invalid,
    "is obscene": obscene,
}

#: negated operator -> the positive operator it complements.
NEGATIONS: dict[str, str] = {
    "is not equal to": "is equal to",
    "is not included in": "is included in",
    "does not include": "includes",
    "is not between": "is between",
    "does not match pattern": "matches pattern",
    "is not blank": "is blank",
    "is not true": "is true",
    "is not false": "is false",
    "is not obscene": "is obscene",
}
