"""Value objects that travel between the poller, the stages, the batcher and the sinks."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


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
