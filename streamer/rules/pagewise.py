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

from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

import orjson

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
_PLAIN = frozenset({str, bool, type(None), type(MISSING)})
_KEYED = _PLAIN | {dict, list}


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


def column(parts: tuple[str, ...]) -> Column:
    """The values at ``parts`` for every event, as ``make_getter(parts)`` finds them.

    The usual depths (one to three segments) are one comprehension of ``dict.get`` with
    an empty object as the default on the way down, which finds what the getter finds
    whenever every value on the way is an object or missing; anything else raises
    ``AttributeError`` (a list, a string or null has no ``get``) and the page goes
    through the getter instead. The first segment falls back to ``vars`` as the getter's.
    """
    get = make_getter(parts)
    first, rest, empty = parts[0], parts[1:], _EMPTY

    def slow(events: Page) -> list[Any]:
        return list(map(get, events))

    if not rest:

        def fast(events: Page) -> list[Any]:
            return [
                e[first] if first in e else e.get("vars", empty).get(first, MISSING)
                for e in events
            ]

    elif len(rest) == 1:
        (second,) = rest

        def fast(events: Page) -> list[Any]:
            return [
                (e[first] if first in e else e.get("vars", empty).get(first, empty)).get(
                    second, MISSING
                )
                for e in events
            ]

    elif len(rest) == 2:
        second, third = rest

        def fast(events: Page) -> list[Any]:
            return [
                (e[first] if first in e else e.get("vars", empty).get(first, empty))
                .get(second, empty)
                .get(third, MISSING)
                for e in events
            ]

    else:
        return slow

    def values(events: Page) -> list[Any]:
        try:
            return fast(events)
        except AttributeError:  # something on the way is not an object
            return slow(events)

    return values


def keys_of(values: list[Any]) -> list[Any] | None:
    """Memo keys for a column (see the module docstring); None when one cannot be made."""
    kinds = set(map(type, values))
    if kinds <= _PLAIN:
        return values
    if not kinds <= _KEYED:
        return None  # numbers are judged every time
    dumps = orjson.dumps
    try:
        keys = [dumps(v) if type(v) is dict or type(v) is list else v for v in values]
    except TypeError:  # an integer beyond 64 bits
        return None
    if any(type(k) is bytes and len(k) > MEMO_JSON for k in keys):
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
    columns = [column(p) for p in paths]
    single = len(columns) == 1

    def answers(events: Page) -> list[Any]:
        keyed = []
        for values in columns:
            keys = keys_of(values(events))
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
