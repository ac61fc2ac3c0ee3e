"""Decode pages into *partial* events plus the raw bytes of each event.

Building Python objects for a whole 3 KB event costs ~20 µs; most of them are never
looked at. When the pipeline starts with filters (or has no stages), a page is decoded
twice, cheaply: once into ``msgspec.Raw`` slices (the exact bytes the API sent for each
event, ~1.4 µs), and once into ``PartialEvent`` structs holding only the paths the
filters, the layout and the router read (~2 µs); each struct then gets its raw slice.
msgspec builds the structs in C straight from the page, so there is no dict per event
to copy, and they are cheap to free. Kept events are written as their raw bytes, so the
archive holds the event JSON exactly as LeadConduit returned it. Stages after the first
transform get a fully decoded dict (decoded only for events that survived the filters).
"""

from __future__ import annotations

import collections
import operator
import re
import typing
from collections.abc import Iterable
from typing import Any, TypedDict

import msgspec
import orjson

from streamer.errors import RetriableSourceError
from streamer.records import UNSET, PartialEvent, field_attr

_full = msgspec.json.Decoder()
_raws = msgspec.json.Decoder(list[msgspec.Raw])
_HEX = re.compile(r"[0-9a-f]*")
_ANY_JSON = (str, int, float, bool, type(None), list[Any])
_ID = operator.attrgetter(field_attr("id"))
_SET_RAW = PartialEvent.raw.__set__  # type: ignore[attr-defined]

__all__ = [
    "PageDecoder",
    "PartialEvent",
    "checked_page",
    "event_ids",
    "full_event",
    "ids_valid",
    "raw_lines",
]


def _tree(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for parts in paths:
        node = tree
        for i, seg in enumerate(parts):
            last = i == len(parts) - 1 or parts[i + 1].isdigit()
            if last:
                node[seg] = None  # the whole value from here down
                break
            child = node.get(seg, {})
            if child is None:
                break  # a shorter path already takes the whole value
            node = node.setdefault(seg, child)
    return tree


def _typed(tree: dict[str, Any], name: str) -> Any:
    fields: dict[str, Any] = {}
    for i, (key, sub) in enumerate(tree.items()):
        if sub is None:
            fields[key] = Any
        else:
            inner = _typed(sub, f"{name}_{i}")
            fields[key] = typing.Union[inner, *_ANY_JSON]
    return TypedDict(name, fields, total=False)  # type: ignore[operator]


def _event_type(tree: dict[str, Any]) -> type[PartialEvent]:
    """The ``PartialEvent`` subclass for a tree of paths: one field per top-level member."""
    fields: list[tuple[str, Any, Any]] = []
    for i, (key, sub) in enumerate(tree.items()):
        kind = Any if sub is None else typing.Union[_typed(sub, f"Partial_{i}"), *_ANY_JSON]
        fields.append((field_attr(key), kind, UNSET))
    attrs = {key: field_attr(key) for key in tree}
    made = msgspec.defstruct(
        "DecodedPartialEvent",
        fields,
        bases=(PartialEvent,),
        module=__name__,
        namespace={"attrs": attrs},
        rename={attr: key for key, attr in attrs.items()},
        gc=False,
    )
    return typing.cast("type[PartialEvent]", made)


class PageDecoder:
    """Decodes a page into events; partial ones when ``paths`` is given."""

    def __init__(self, paths: Iterable[tuple[str, ...]] | None = None) -> None:
        self.partial = paths is not None
        self.paths = sorted({("id",), *(paths or ())})
        if self.partial:
            root = _event_type(_tree(self.paths))
            self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(list[root])  # type: ignore[valid-type]

    def decode(self, body: bytes, url: str) -> list[dict[str, Any]]:
        """A validated page; anything that is not a list of events with ids is retriable."""
        try:
            if self.partial and b"\n" not in body and b"\r" not in body:
                events = self._decode_partial(body)
            else:
                events = _full.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RetriableSourceError(
                    f"malformed page from {url}: invalid JSON", kind="malformed_page"
                ) from None
            raise RetriableSourceError(
                f"malformed page from {url}: expected a JSON array of events",
                kind="malformed_page",
            ) from None
        return checked_page(events, url)

    def _decode_partial(self, body: bytes) -> list[dict[str, Any]]:
        """Partial events (built by msgspec), each given its raw slice in one C loop."""
        events = self._decoder.decode(body)
        raws = _raws.decode(body)
        if len(events) != len(raws):  # pragma: no cover - two decodes of the same bytes
            raise msgspec.DecodeError("partial and raw decodes disagree")
        collections.deque(map(_SET_RAW, events, raws), maxlen=0)
        return events  # type: ignore[no-any-return]  # read-only mappings (see PartialEvent)


def event_ids(events: list[Any]) -> list[str]:
    """Each event's ``id`` (``event["id"]``), read in C for a page of partial events."""
    try:
        return list(map(_ID, events))
    except AttributeError:  # whole events (dicts), or a mix
        return [event["id"] for event in events]


def checked_page(events: Any, url: str) -> list[dict[str, Any]]:
    """``events`` when it is a list of events with valid ids; else a retriable error."""
    if not isinstance(events, list):
        raise RetriableSourceError(
            f"malformed page from {url}: expected a JSON array", kind="malformed_page"
        )
    if not ids_valid(events):
        raise RetriableSourceError(
            f"malformed page from {url}: an event without a valid id", kind="malformed_page"
        )
    return events


def ids_valid(events: list[Any]) -> bool:
    """Whether every item is an object whose ``id`` is a 24-hex ObjectId.

    Checked for the whole page at once (one join and one regex match in C) rather than
    one Python call per event.
    """
    try:
        ids = event_ids(events)
        joined = "".join(ids)
    except (KeyError, TypeError):
        return False
    return set(map(len, ids)) <= {24} and _HEX.fullmatch(joined) is not None


def full_event(event: dict[str, Any]) -> dict[str, Any]:
    """The whole event: decoded from raw bytes when ``event`` is partial."""
    return event.full() if isinstance(event, PartialEvent) else event


def raw_lines(events: list[Any]) -> list[msgspec.Raw | bytes | None]:
    """Each event's raw JSON (one JSONL line: no newline inside), None where it has none.

    Partial events have it; whole events (dicts) and dropped ones (None) do not. One
    comprehension for a page (the processor calls it for every page).
    """
    return [getattr(event, "raw", None) for event in events]
