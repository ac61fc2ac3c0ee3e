"""``streamer verify -c FILE``: prove every service holds each event exactly once.

For each enabled service it lists the data objects under the service's prefix (batched
``*.jsonl[.gz|.zst]`` and, for ``layout: per_event``, ``<lead id>/<event id>.json``),
reads them a few at a time, counts events and reports **duplicates**: an id found on more
than one line, in one object or across objects. With ``--source`` it also pages the API
with the daemon's own query from the start point up to the checkpoint cursor, runs every
event through the configured pipeline, and reports **gaps**: ids that passed the
pipeline but are in no object of the service. Exit 0 when clean, 1 otherwise.

Gaps are only counted up to the checkpoint cursor: what is above it has not been
promised yet. Events the API no longer has (older than 90 days) cannot be checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson

from streamer.config_loader import LoadedConfig
from streamer.errors import ConfigError
from streamer.ids import id_before, is_id, synthetic_id
from streamer.layout import is_data_key, iter_events
from streamer.services import ResolvedService
from streamer.sinks.base import Sink
from streamer.sinks.factory import build_sink
from streamer.source.leadconduit import api_query

READ_CONCURRENCY = 8
SHOW = 20


@dataclass
class ServiceReport:
    """What one service holds."""

    name: str
    label: str
    objects: int = 0
    events: int = 0
    bytes: int = 0
    ids: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, list[str]] = field(default_factory=dict)
    bad_objects: list[str] = field(default_factory=list)
    gaps: list[str] | None = None
    expected: int | None = None

    def add(self, key: str, events: Iterable[dict[str, Any]]) -> None:
        """Account for the events of one object."""
        for event in events:
            self.events += 1
            event_id = event.get("id") if isinstance(event, dict) else None
            if not isinstance(event_id, str):
                self.bad_objects.append(f"{key}: an event without an id")
                continue
            first = self.ids.get(event_id)
            if first is None:
                self.ids[event_id] = key
            else:
                self.duplicates.setdefault(event_id, [first]).append(key)

    @property
    def clean(self) -> bool:
        """No duplicates, no gaps, no unreadable objects."""
        return not self.duplicates and not self.gaps and not self.bad_objects

    def as_dict(self) -> dict[str, Any]:
        """Stable ``--json`` form (lists are capped; counts are exact)."""
        dups = sorted(self.duplicates)
        return {
            "service": self.name,
            "label": self.label,
            "objects": self.objects,
            "events": self.events,
            "unique_ids": len(self.ids),
            "bytes": self.bytes,
            "duplicates": len(dups),
            "duplicate_ids": {i: self.duplicates[i] for i in dups[:SHOW]},
            "bad_objects": self.bad_objects[:SHOW],
            "expected": self.expected,
            "gaps": None if self.gaps is None else len(self.gaps),
            "gap_ids": None if self.gaps is None else self.gaps[:SHOW],
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


async def scan_service(sink: Sink, service: ResolvedService) -> ServiceReport:
    """List and read every data object of one service, a few at a time."""
    report = ServiceReport(service.name, service.label)
    prefix = service.prefix.strip("/")
    keys = [
        (info.key, info.size)
        async for info in sink.list(f"{prefix}/" if prefix else "")
        if is_archive_key(info.key, prefix)
    ]
    limiter = anyio.CapacityLimiter(READ_CONCURRENCY)

    async def read(key: str, size: int) -> None:
        async with limiter:
            data = await sink.get(key)
        try:
            events = iter_events(data, key)
        except (ValueError, OSError, orjson.JSONDecodeError) as exc:
            report.bad_objects.append(f"{key}: cannot decode ({type(exc).__name__})")
            return
        report.objects += 1
        report.bytes += size
        report.add(key, events)

    async with anyio.create_task_group() as tg:
        for key, size in keys:
            tg.start_soon(read, key, size)
    return report


def _start(loaded: LoadedConfig, reports: list[ServiceReport], after_id: str | None) -> str | None:
    if after_id:
        return after_id
    start = loaded.settings.source.start
    if start.after_id:
        return start.after_id
    if start.at is not None:
        return synthetic_id(start.at.timestamp())
    lowest = min((min(r.ids) for r in reports if r.ids), default=None)
    return id_before(lowest) if lowest else None


async def expected_ids(loaded: LoadedConfig, after_id: str, upto: str) -> list[str]:
    """Ids in ``(after_id, upto]`` that the API returns and the pipeline keeps."""
    from streamer.source.client import LeadConduitClient
    from streamer.stages.base import build_pipeline, run_pipeline

    src = loaded.settings.source
    stages = build_pipeline(loaded.settings.pipeline)
    client = LeadConduitClient(
        src.base_url, src.api_key.get_secret_value(), timeout=src.timeout,
        max_backoff=min(src.max_backoff, 10.0), attempts=8,
    )
    kept: list[str] = []
    cursor = after_id
    try:
        while True:
            params = {"sort": "asc", "limit": src.page_size, "after_id": cursor}
            params.update(api_query(loaded.settings))
            page = await client.events(params)
            for event in page:
                event_id = event["id"]
                if event_id > upto:
                    return kept
                if run_pipeline(stages, event) is not None:
                    kept.append(event_id)
            if len(page) < src.page_size or page[-1]["id"] <= cursor:
                return kept
            cursor = page[-1]["id"]
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()


async def verify(
    loaded: LoadedConfig,
    *,
    service: str | None = None,
    source: bool = False,
    after_id: str | None = None,
) -> tuple[list[ServiceReport], dict[str, Any]]:
    """Scan the services (and the source); return the reports and run facts."""
    from streamer.runtime import build_store

    services = [s for s in loaded.services if service in (None, s.name)]
    if not services:
        names = ", ".join(s.name for s in loaded.services) or "none"
        raise ConfigError(f"--service {service}: not an enabled service (enabled: {names})")
    store = build_store(loaded.settings)
    try:
        checkpoint = await store.load()
    finally:
        await store.aclose()
    cursor = checkpoint.cursor if checkpoint else None
    reports: list[ServiceReport] = [ServiceReport(s.name, s.label) for s in services]

    async def one(index: int, svc: ResolvedService) -> None:
        sink = build_sink(svc)
        try:
            await sink.open()
            reports[index] = await scan_service(sink, svc)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await sink.aclose()

    async with anyio.create_task_group() as tg:
        for index, svc in enumerate(services):
            tg.start_soon(one, index, svc, name=f"verify {svc.name}")
    facts: dict[str, Any] = {
        "cursor": cursor,
        "open_intents": len(checkpoint.intents) if checkpoint else 0,
        "source_checked": False,
        "from_id": None,
    }
    if source:
        start = _start(loaded, reports, after_id)
        if cursor is None or start is None:
            facts["source_note"] = "no checkpoint cursor yet: nothing promised, no gaps to check"
        else:
            facts["source_checked"] = True
            facts["from_id"] = start
            wanted = await expected_ids(loaded, start, cursor)
            for report in reports:
                report.expected = len(wanted)
                report.gaps = [i for i in wanted if i not in report.ids]
    return reports, facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer verify``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--service", choices=["aws", "azure", "local"], help="only this one")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--source", action="store_true",
        help="also compare with the API's ids up to the checkpoint cursor (gaps)",
    )
    parser.add_argument(
        "--after-id", default=None,
        help="with --source: start here (default: source.start, else the oldest archived id)",
    )


def _render(reports: list[ServiceReport], facts: dict[str, Any], out: Any) -> None:
    w = out.write
    w(f"checkpoint cursor: {facts['cursor'] or 'none'}; open intents: {facts['open_intents']}\n")
    for r in reports:
        verdict = "ok" if r.clean else "PROBLEMS"
        gaps = "" if r.gaps is None else f", {len(r.gaps)} gap(s) of {r.expected} expected"
        w(f"{verdict:8} {r.label}: {r.objects} object(s), {r.events} event(s), "
          f"{len(r.duplicates)} duplicate id(s){gaps}\n")
        for event_id in sorted(r.duplicates)[:SHOW]:
            w(f"  duplicate {event_id} in {', '.join(r.duplicates[event_id])}\n")
        for event_id in (r.gaps or [])[:SHOW]:
            w(f"  missing   {event_id}\n")
        for bad in r.bad_objects[:SHOW]:
            w(f"  unreadable {bad}\n")
    if facts.get("source_note"):
        w(f"source: {facts['source_note']}\n")


def main(args: argparse.Namespace) -> int:
    """``streamer verify``: 0 when every service is clean, 1 on duplicates or gaps."""
    from streamer.cli import _load

    if args.after_id and not is_id(args.after_id):
        raise ConfigError(f"--after-id {args.after_id!r}: not a 24-character hex event id")
    loaded = _load(args)
    reports, facts = anyio.run(
        lambda: verify(loaded, service=args.service, source=args.source, after_id=args.after_id)
    )
    if args.json:
        doc = {
            **facts,
            "clean": all(r.clean for r in reports),
            "services": {r.name: r.as_dict() for r in reports},
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    else:
        _render(reports, facts, sys.stdout)
    return 0 if all(r.clean for r in reports) else 1
