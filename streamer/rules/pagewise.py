"""A rule set answered for a whole page of events at once: the filters' hot path.

Asked event by event, a rule set that reads a few fields costs a chain of Python calls
per event (the test, its getters, the memo). Most of that is not needed: the values at a
path are fetched for the whole page in one comprehension of C-level dict lookups, each
value becomes a memo key (the value itself for strings, booleans, null and missing; its
JSON for objects and lists, which tells apart exactly what Python's ``==`` would not:
``true``/``1``, member order), and the page's answers are one ``map`` over the memo.
What the fast path cannot vouch for falls back to asking the test event by event, so the
answers are always the ones ``test`` gives:

- a value on the way to the field that is not an object (a list, a string, null): the
  whole page goes through the path's getter;
- a number anywhere in a column (``1 == True`` in Python, and ``1``/``1.0`` would share a
  key), a JSON key longer than :data:`MEMO_JSON`, an integer beyond 64 bits: the page is
  asked event by event (the one-field memo still remembers what it can);
- a key the memo does not hold yet: that event's test runs, and its answer is kept while
  the memo holds fewer than :data:`MEMO_SIZE` keys.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from itertools import repeat
from types import MappingProxyType
from typing import Any

import orjson

from streamer.records import UNSET, field_attr
from streamer.rules.closures import MEMO_JSON, MEMO_SIZE, Event, Test, reads, remembered
from streamer.rules.paths import make_getter
from streamer.rules.values import MISSING

Page = Sequence[Event]
Answers = Callable[[Page], list[Any]]
Column = Callable[[Page], list[Any]]

#: rule sets reading up to this many fields are answered page-wide, keyed by the tuple
MAX_PATHS = 4
#: the default of a lookup on the way down: an object with nothing in it (never changed)
_EMPTY: Any = MappingProxyType({})
#: value types that are their own memo key; objects and lists are keyed by their JSON
_KEY_KINDS = frozenset({str, bool, type(None), type(MISSING), bytes})


def answering(test: Test) -> tuple[Test, Answers]:
    """A compiled rule set's test for one event and its answers for a page.

    A set whose rules read one field remembers its answers per value (the test becomes
    ``closures.remembered``); one that reads up to :data:`MAX_PATHS` fixed fields is
    answered page-wide from a memo (:func:`remembered_page`); any other is asked event
    by event.
    """
    paths = reads(test)
    if paths is None or not 0 < len(paths) <= MAX_PATHS:
        return test, each(test)
    memo: dict[Any, Any] = {}
    ordered = sorted(paths)
    single = remembered(test, ordered[0], memo) if len(ordered) == 1 else test
    return single, remembered_page(test, ordered, memo, single)


def each(test: Test) -> Answers:
    """``test`` asked once per event of the page (the default of any rule set)."""

    def answers(events: Page) -> list[Any]:
        return list(map(test, events))

    return answers


def column(parts: tuple[str, ...], *, keyed: bool = False) -> Column:
    """The values at ``parts`` for every event, as ``make_getter(parts)`` finds them, or
    (``keyed``) their memo keys, made in the same pass (the JSON of an object or a list;
    ``TypeError`` for an integer beyond 64 bits).

    The top-level member is read for the whole page at once: one C ``getattr`` per
    partial event (``records.PartialEvent``; UNSET members fall back to ``vars`` as the
    getter's), or one comprehension over whole events (dicts). Up to two segments below
    it are one comprehension of ``dict.get`` with an empty object as the default on the
    way down, which finds what the getter finds whenever every value on the way is an
    object or missing; anything else raises ``AttributeError`` (a list, a string or null
    has no ``get``) and the page goes through the getter instead.
    """
    get = make_getter(parts)
    first, rest = parts[0], parts[1:]
    if len(rest) > 2:
        return _keyed(each(get)) if keyed else each(get)
    top, member = make_getter((first,)), operator.attrgetter(field_attr(first))
    absent = MISSING if not rest else _EMPTY  # what a missing top-level member becomes
    below = _below(rest, keyed)

    def tops(events: Page) -> list[Any]:
        try:
            found = list(map(member, events))
        except AttributeError:  # whole events (dicts), or partial ones without the member
            return [
                e[first] if first in e else e.get("vars", _EMPTY).get(first, absent)
                for e in events
            ]
        if any(map(operator.is_, found, repeat(UNSET))):  # absent: look under vars
            found = [
                v if v is not UNSET else _or(top(e), absent)
                for v, e in zip(found, events, strict=True)
            ]
        return found

    def values(events: Page) -> list[Any]:
        try:
            return below(tops(events))
        except AttributeError:  # something on the way is not an object
            found = list(map(get, events))
            return _keys(found) if keyed else found

    return values


def _or(value: Any, absent: Any) -> Any:
    return absent if value is MISSING else value


def _below(rest: tuple[str, ...], keyed: bool) -> Callable[[list[Any]], list[Any]]:
    """The values (or keys) ``rest`` (up to two segments) below each top-level value."""
    dumps = orjson.dumps
    if not rest:
        return _keys if keyed else _same
    if len(rest) == 1:
        (second,) = rest
        if keyed:
            return lambda found: [
                dumps(x) if type(x := v.get(second, MISSING)) is dict or type(x) is list else x
                for v in found
            ]
        return lambda found: [v.get(second, MISSING) for v in found]
    second, third = rest
    if keyed:
        return lambda found: [
            dumps(x)
            if type(x := v.get(second, _EMPTY).get(third, MISSING)) is dict or type(x) is list
            else x
            for v in found
        ]
    return lambda found: [v.get(second, _EMPTY).get(third, MISSING) for v in found]


def _same(found: list[Any]) -> list[Any]:
    return found


def _keys(found: list[Any]) -> list[Any]:
    dumps = orjson.dumps
    return [dumps(v) if type(v) is dict or type(v) is list else v for v in found]


def _keyed(values: Column) -> Column:
    return lambda events: _keys(values(events))


def checked(keys: list[Any]) -> list[Any] | None:
    """``keys`` when the memo may answer for them (see the module docstring), else None:
    a number (``1 == True``, and ``1``/``1.0`` would share a key), or JSON too long."""
    kinds = set(map(type, keys))
    if not kinds <= _KEY_KINDS:
        return None
    if bytes in kinds:
        jsons = keys if len(kinds) == 1 else [k for k in keys if type(k) is bytes]
        if max(map(len, jsons)) > MEMO_JSON:
            return None
    return keys


def remembered_page(
    test: Test, paths: Sequence[tuple[str, ...]], memo: dict[Any, Any], per_event: Test
) -> Answers:
    """Answers of ``test`` (a function of the values at ``paths`` alone) for a page.

    ``memo`` maps a key (one path: the value's key; several: the tuple of them) to the
    answer; with one path it is the memo ``per_event`` (the rule set's own test) keeps
    too. Pages the keys cannot describe are answered by ``per_event``, event by event.
    """
    columns = [column(p, keyed=True) for p in paths]
    single = len(columns) == 1

    def answers(events: Page) -> list[Any]:
        keyed = []
        for key_column in columns:
            try:
                keys = checked(key_column(events))
            except TypeError:  # an integer beyond 64 bits
                keys = None
            if keys is None:
                return list(map(per_event, events))
            keyed.append(keys)
        keys = keyed[0] if single else list(zip(*keyed, strict=True))
        try:
            return list(map(memo.__getitem__, keys))
        except KeyError:
            return _filling(keys, events)

    def _filling(keys: list[Any], events: Page) -> list[Any]:
        out = []
        known = memo.get
        for key, event in zip(keys, events, strict=True):
            answer = known(key)
            if answer is None:
                answer = test(event)
                if len(memo) < MEMO_SIZE:
                    memo[key] = answer
            out.append(answer)
        return out

    return answers
