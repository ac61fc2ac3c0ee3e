"""Value objects that travel between the poller, the stages, the batcher and the sinks."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

Event = dict[str, Any]
_full = msgspec.json.Decoder()
UNSET = msgspec.UNSET


def field_attr(key: str) -> str:
    """The attribute a partial event keeps a top-level JSON member ``key`` in.

    Any string can be a JSON key, so attribute names are derived (hex of the UTF-8
    bytes): they never clash with each other, with ``raw`` or with the methods.
    """
    return "f_" + key.encode().hex()


class PartialEvent(msgspec.Struct, gc=False, rename={"raw": "."}):
    """An event holding only some paths, with the event's raw JSON bytes.

    ``raw`` is a zero-copy slice of the page (no newline inside). A page decoder makes a
    subclass whose fields are the top-level members it decodes (``field_attr`` names, set
    to ``UNSET`` when the event lacks the member, so missing and null stay apart; nested
    objects are plain dicts). msgspec builds these in C, straight from the page: no dict
    per event to copy, nothing for the cyclic GC to track (``gc=False``: a partial event
    only refers to strings, numbers, dicts, lists and its raw slice), cheaper to free.

    Readers use it as a read-only mapping (``[]``, ``in``, ``get``, iteration);
    ``rules.paths`` reads the attributes directly. The raw field's JSON name ``.`` is
    never a path segment, so no decoded member can collide with it (an event that has
    such a key gets it decoded as ``Raw`` and then overwritten).
    """

    raw: msgspec.Raw = msgspec.Raw()
    #: top-level JSON key -> attribute, for the members this class decodes
    attrs: ClassVar[dict[str, str]] = {}

    def __getitem__(self, key: str) -> Any:
        attr = self.attrs.get(key)
        value = UNSET if attr is None else getattr(self, attr)
        if value is UNSET:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        attr = self.attrs.get(key) if isinstance(key, str) else None
        return attr is not None and getattr(self, attr) is not UNSET

    def get(self, key: str, default: Any = None) -> Any:
        """The member's value, ``default`` when the event lacks it (``dict.get``)."""
        attr = self.attrs.get(key)
        if attr is None:
            return default
        value = getattr(self, attr)
        return default if value is UNSET else value

    def keys(self) -> list[str]:
        """The decoded members the event has (``dict(event)`` works through this)."""
        return [key for key, attr in self.attrs.items() if getattr(self, attr) is not UNSET]

    def items(self) -> list[tuple[str, Any]]:
        """``(key, value)`` of the decoded members the event has."""
        pairs = ((key, getattr(self, attr)) for key, attr in self.attrs.items())
        return [(key, value) for key, value in pairs if value is not UNSET]

    def values(self) -> list[Any]:
        """The values of the decoded members the event has."""
        return [value for _key, value in self.items()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"PartialEvent({dict(self.items())!r})"

    def full(self) -> dict[str, Any]:
        """The whole event, decoded from its raw bytes."""
        return _full.decode(self.raw)  # type: ignore[no-any-return]

    def with_raw(self, raw: bytes | msgspec.Raw) -> PartialEvent:
        """A copy holding other raw bytes (an edit that left the decoded paths alone)."""
        raw = raw if type(raw) is msgspec.Raw else msgspec.Raw(raw)
        return msgspec.structs.replace(self, raw=raw)


Mapping.register(PartialEvent)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of raw events from the source, already checked for order and shape.

    ``cursor`` is the main-stream high-water mark after this page; ``late`` is true for
    pages from the re-check, whose events have ids below the cursor. ``settled`` is the
    source's settled watermark once this page (and every page before it) is durable.
    """

    events: list[Event]
    cursor: str | None
    late: bool = False
    caught_up: bool = False
    settled: str | None = None


class PutOutcome(enum.Enum):
    """What a conditional create did."""

    CREATED = "created"
    ALREADY_EXISTS = "already_exists"
    #: the target cannot be written; the object went to the dead-letter prefix instead
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """Headers and metadata a sink stores with each object."""

    content_type: str
    content_encoding: str | None
    sha256: str
    events: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A listed object: its key (relative to the bucket/root) and size."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class BatchObject:
    """One data object of a batch and where it goes: ``(sink name, key)`` pairs.

    Services may use different prefixes, so the key is per target; the bytes are shared.
    """

    targets: tuple[tuple[str, str], ...]
    data: bytes
    meta: ObjectMeta
    first_id: str
    last_id: str
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Batch:
    """A sealed batch: its objects, and the ids it accounts for.

    ``covered`` are all ids processed into this batch interval, kept or dropped, so the
    dedupe set can skip them on a re-scan; ``watermark`` is the main-stream cursor up to
    which everything is accounted for once this batch is durable everywhere; ``settled``
    is the settled watermark (see ``streamer.source.leadconduit``) committed with it.
    """

    seq: int
    objects: tuple[BatchObject, ...]
    covered: tuple[str, ...]
    watermark: str | None
    settled: str | None = None
    fetched: int = 0
    kept: int = 0
    dropped_by: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Events written (per sink) by this batch."""
        return sum(o.meta.events for o in self.objects) if self.objects else 0

    @property
    def nbytes(self) -> int:
        """Encoded bytes in this batch."""
        return sum(len(o.data) for o in self.objects)
