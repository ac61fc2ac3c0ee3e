"""Reading one service's archive for ``streamer verify``: its ids into sorted runs.

Objects are listed page by page and read :data:`READ_CONCURRENCY` at a time; only their
ids (decoded with msgspec, the rest of each line skipped) go on, to
:class:`streamer.audit.idsort.IdRuns` on disk. One merge then gives exact counts, duplicates and
gaps in bounded memory, whatever the archive's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from streamer.audit.idsort import IdCheck, IdRuns
from streamer.ids import is_id
from streamer.pipeline.layout import decompress, is_data_key
from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink

READ_CONCURRENCY = 8
SHOW = 20


class _Id(msgspec.Struct):
    """Only the id of an event line: the rest of the line is skipped, not decoded."""

    id: Any = None


_decode_id = msgspec.json.Decoder(_Id).decode


@dataclass
class ServiceReport:
    """What one service holds. Counts are exact; id and key lists show the first few."""

    name: str
    label: str
    objects: int = 0
    events: int = 0
    bytes: int = 0
    unique_ids: int = 0
    lowest: str | None = None
    duplicate_count: int = 0
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    bad_objects: list[str] = field(default_factory=list)
    gap_count: int | None = None
    gaps: list[str] | None = None
    expected: int | None = None
    #: missing late events the daemon has not re-checked yet (not a gap: not promised yet)
    not_due_count: int | None = None
    not_due: list[str] | None = None

    @property
    def clean(self) -> bool:
        """No duplicates, no gaps, no unreadable objects."""
        return not self.duplicate_count and not self.gap_count and not self.bad_objects

    def as_dict(self) -> dict[str, Any]:
        """Stable ``--json`` form (lists are capped; counts are exact)."""
        return {
            "service": self.name,
            "label": self.label,
            "objects": self.objects,
            "events": self.events,
            "unique_ids": self.unique_ids,
            "bytes": self.bytes,
            "duplicates": self.duplicate_count,
            "duplicate_ids": {i: self.duplicates[i] for i in sorted(self.duplicates)[:SHOW]},
            "bad_objects": self.bad_objects[:SHOW],
            "expected": self.expected,
            "gaps": self.gap_count,
            "gap_ids": None if self.gaps is None else self.gaps[:SHOW],
            "not_due": self.not_due_count,
            "not_due_ids": None if self.not_due is None else self.not_due[:SHOW],
            "clean": self.clean,
        }


def is_archive_key(key: str, prefix: str) -> bool:
    """A data object of either layout under ``prefix`` (verification files never are)."""
    if is_data_key(key):
        return True
    if not key.endswith(".json"):
        return False
    rest = key[len(prefix) + 1 :] if prefix else key
    parts = rest.split("/")
    return len(parts) == 2 and is_id(parts[1][: -len(".json")])


def object_ids(data: bytes, key: str) -> list[str]:
    """The ids of one object's events (ValueError for an undecodable object or line)."""
    raw = decompress(data, key)
    lines = [raw] if key.endswith(".json") else [line for line in raw.splitlines() if line]
    ids = []
    for line in lines:
        event_id = _decode_id(line).id
        if not isinstance(event_id, str) or not is_id(event_id):
            raise ValueError("an event without a valid id")
        ids.append(event_id)
    return ids


@dataclass
class Scan:
    """One service's scan: the report, its sorted id runs and its object-number -> key file."""

    report: ServiceReport
    runs: IdRuns
    keys: Path


async def scan_service(sink: Sink, service: ResolvedService, work: Path) -> Scan:
    """Stream every data object of one service (a few at a time) into sorted id runs.

    Keys are listed in pages and read as they come; only the ids go on, to disk.
    """
    report = ServiceReport(service.name, service.label)
    runs = IdRuns(work)
    keys_path = work / "keys.txt"
    prefix = service.prefix.strip("/")
    send, receive = anyio.create_memory_object_stream[tuple[int, str, int]](READ_CONCURRENCY)

    async def lister() -> None:
        with send, keys_path.open("w", encoding="utf-8") as keys:
            number = 0
            async for info in sink.list(f"{prefix}/" if prefix else ""):
                if is_archive_key(info.key, prefix):
                    keys.write(info.key + "\n")
                    await send.send((number, info.key, info.size))
                    number += 1

    async def reader(items: Any) -> None:
        async with items:
            async for number, key, size in items:
                data = await sink.get(key)
                try:
                    ids = await anyio.to_thread.run_sync(object_ids, data, key)
                except (ValueError, OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                    report.bad_objects.append(f"{key}: cannot decode ({exc})")
                    continue
                report.objects += 1
                report.bytes += size
                report.events += len(ids)
                for event_id in ids:
                    runs.add(event_id, number)
                low = min(ids, default=None)
                if low is not None and (report.lowest is None or low < report.lowest):
                    report.lowest = low

    async with anyio.create_task_group() as tg:
        tg.start_soon(lister)
        with receive:
            for _ in range(READ_CONCURRENCY):
                tg.start_soon(reader, receive.clone())
    return Scan(report, runs, keys_path)


def check_scan(
    scan: Scan, expected: IdRuns | None, not_due: Callable[[bytes], bool] | None = None
) -> None:
    """Merge the runs: duplicates (and gaps against ``expected``) into the report.

    A missing id for which ``not_due`` is true is counted apart: the daemon has not
    promised it yet (see :func:`streamer.cli.verify.not_due`).
    """
    check = IdCheck(show=SHOW, not_due=not_due)
    check.run(scan.runs.merged(), expected.merged() if expected is not None else None)
    report = scan.report
    report.unique_ids = check.unique
    report.duplicate_count = check.duplicate_count
    wanted = {n for holders in check.duplicates.values() for n in holders}
    names: dict[int, str] = {}
    with scan.keys.open(encoding="utf-8") as keys:
        for number, line in enumerate(keys):
            if number in wanted:
                names[number] = line.rstrip("\n")
    report.duplicates = {
        event_id: [names[n] for n in holders] for event_id, holders in check.duplicates.items()
    }
    if expected is not None:
        report.expected = expected.count
        report.gap_count = check.gap_count
        report.gaps = check.gaps
        report.not_due_count = check.not_due_count
        report.not_due = check.not_due_ids
