"""An external sort of event ids: exact duplicate and gap checks in bounded memory.

``streamer verify`` must work on an archive of any size, so it cannot keep every id in a
dict. Ids are packed as 16-byte records (the 12 bytes of the id, then the 4-byte index
of the object holding it), sorted in runs of :data:`RUN_RECORDS` and spilled to private
temp files; :meth:`IdRuns.merged` streams them back in id order with ``heapq.merge``.
Equal neighbours are duplicates; a second sorted stream (the ids the API says should be
there) turns missing neighbours into gaps. Memory is one run plus one read buffer per run
file, whatever the archive's size.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

#: records sorted in memory before a run is spilled (16 bytes each, ~50 as bytes objects)
RUN_RECORDS = 200_000
#: bytes read at a time from each run file while merging
READ_CHUNK = 64 * 1024
RECORD = 16


class IdRuns:
    """Collects ``(event id, object index)`` and streams them back sorted by id."""

    def __init__(self, directory: str | Path, *, run_records: int | None = None) -> None:
        self._dir = Path(directory)
        self._run_records = run_records or RUN_RECORDS
        self._buffer: list[bytes] = []
        self._runs: list[Path] = []
        self.count = 0

    def add(self, event_id: str, obj: int = 0) -> None:
        """One id (24 hex characters) found in object number ``obj``."""
        self._buffer.append(bytes.fromhex(event_id) + obj.to_bytes(4, "big"))
        self.count += 1
        if len(self._buffer) >= self._run_records:
            self._spill()

    def _spill(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort()
        fd, name = tempfile.mkstemp(prefix="ids-", suffix=".run", dir=self._dir)  # 0600
        with open(fd, "wb") as out:
            out.write(b"".join(self._buffer))
        self._runs.append(Path(name))
        self._buffer = []

    def merged(self) -> Iterator[bytes]:
        """Every record, in id order (then object order); may be iterated again."""
        self._spill()
        return heapq.merge(*(_records(path) for path in self._runs))


def _records(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        yield from _chunked(fh)


def _chunked(fh: BinaryIO) -> Iterator[bytes]:
    while chunk := fh.read(READ_CHUNK - READ_CHUNK % RECORD):
        for i in range(0, len(chunk), RECORD):
            yield chunk[i : i + RECORD]


@dataclass
class IdCheck:
    """What the merged ids say: counts are exact, samples are capped at ``show``."""

    show: int = 20
    unique: int = 0
    lowest: str | None = None
    duplicate_count: int = 0
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    gap_count: int = 0
    gaps: list[str] = field(default_factory=list)
    #: missing ids the daemon has not promised yet (late events above its settled watermark)
    not_due: Callable[[bytes], bool] | None = None
    not_due_count: int = 0
    not_due_ids: list[str] = field(default_factory=list)

    def run(self, records: Iterable[bytes], expected: Iterable[bytes] | None = None) -> None:
        """One pass over sorted ``records``, against sorted ``expected`` ids if given."""
        want = _ids(expected) if expected is not None else None
        pending = next(want, None) if want is not None else None
        prev: bytes | None = None
        holders: list[int] = []
        for record in records:
            event_id, obj = record[:12], int.from_bytes(record[12:], "big")
            if event_id == prev:
                holders.append(obj)
                continue
            self._finish(prev, holders)
            prev, holders = event_id, [obj]
            if want is not None:
                while pending is not None and pending < event_id:
                    self._gap(pending)
                    pending = next(want, None)
                if pending == event_id:
                    pending = next(want, None)
        self._finish(prev, holders)
        while want is not None and pending is not None:
            self._gap(pending)
            pending = next(want, None)

    def _finish(self, event_id: bytes | None, holders: list[int]) -> None:
        if event_id is None:
            return
        self.unique += 1
        if self.lowest is None:
            self.lowest = event_id.hex()
        if len(holders) > 1:
            self.duplicate_count += 1
            if len(self.duplicates) < self.show:
                self.duplicates[event_id.hex()] = holders

    def _gap(self, event_id: bytes) -> None:
        if self.not_due is not None and self.not_due(event_id):
            self.not_due_count += 1
            if len(self.not_due_ids) < self.show:
                self.not_due_ids.append(event_id.hex())
            return
        self.gap_count += 1
        if len(self.gaps) < self.show:
            self.gaps.append(event_id.hex())


def _ids(records: Iterable[bytes]) -> Iterator[bytes]:
    """Distinct ids of sorted records."""
    prev: bytes | None = None
    for record in records:
        event_id = record[:12]
        if event_id != prev:
            prev = event_id
            yield event_id
