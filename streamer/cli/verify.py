"""``streamer verify -c FILE``: prove every service holds each event exactly once.

For each enabled service it lists the data objects under the service's prefix (batched
``*.jsonl[.gz|.zst]`` and, for ``layout: per_event``, ``<lead id>/<event id>.json``),
reads them a few at a time, counts events and reports **duplicates**: an id found on more
than one line, in one object or across objects. With ``--source`` it also pages the API
with the daemon's own query from the start point up to the checkpoint cursor, runs every
event through the configured pipeline, and reports **gaps**: ids that passed the
pipeline but are in no object of the service. Exit 0 when clean, 1 otherwise.

Gaps are only counted up to the checkpoint cursor: what is above it has not been
promised yet. Nor has a late event above the settled watermark that the daemon has not
re-checked for yet: a missing id there that is not in the checkpoint's dedupe window is
reported as **not yet due**, not as a gap (an id in the window was written, so its
absence is a gap). Events the API no longer has (older than 90 days) cannot be checked.

Memory is bounded whatever the archive's size: objects are listed page by page and read
a few at a time, only their ids are kept, and those go to sorted runs on disk (private
temp files) that one merge checks for duplicates and gaps (:mod:`streamer.audit.idsort`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from streamer.audit.idsort import IdRuns
from streamer.audit.scan import (
    SHOW,
    Scan,
    ServiceReport,
    check_scan,
    is_archive_key,
    scan_service,
)
from streamer.checkpoint.state import Checkpoint
from streamer.errors import ConfigError
from streamer.ids import id_before, is_id, synthetic_id
from streamer.settings.loader import LoadedConfig
from streamer.settings.services import ResolvedService
from streamer.sinks import registry
from streamer.sinks.factory import build_sink
from streamer.source.leadconduit import api_query

__all__ = ["ServiceReport", "is_archive_key", "verify"]

NOTHING_PROMISED = "no checkpoint cursor yet: nothing promised, no gaps to check"


def _start(loaded: LoadedConfig, reports: list[ServiceReport], after_id: str | None) -> str | None:
    if after_id:
        return after_id
    start = loaded.settings.source.start
    if start.after_id:
        return start.after_id
    if start.at is not None:
        return synthetic_id(start.at.timestamp())
    lowest = min((r.lowest for r in reports if r.lowest), default=None)
    return id_before(lowest) if lowest else None


async def expected_ids(loaded: LoadedConfig, after_id: str, upto: str, into: IdRuns) -> None:
    """Ids in ``(after_id, upto]`` that the API returns and the pipeline keeps, into runs."""
    from streamer.source.client import LeadConduitClient
    from streamer.stages.base import build_pipeline, run_pipeline

    src = loaded.settings.source
    stages = build_pipeline(loaded.settings.pipeline)
    client = LeadConduitClient(
        src.base_url, src.api_key.get_secret_value(), timeout=src.timeout,
        max_backoff=min(src.max_backoff, 10.0), attempts=8,
    )
    cursor = after_id
    try:
        while True:
            params = {"sort": "asc", "limit": src.page_size, "after_id": cursor}
            params.update(api_query(loaded.settings))
            page = await client.events(params)
            for event in page:
                event_id = event["id"]
                if event_id > upto:
                    return
                if run_pipeline(stages, event) is not None:
                    into.add(event_id)
            if len(page) < src.page_size or page[-1]["id"] <= cursor:
                return
            cursor = page[-1]["id"]
    finally:
        with anyio.CancelScope(shield=True):
            await client.aclose()


def not_due(checkpoint: Checkpoint | None) -> Callable[[bytes], bool] | None:
    """Missing ids the daemon has not promised yet: above ``settled``, never delivered.

    The daemon looks for late-visible events above its settled watermark until
    ``lag_window`` has passed; until then an event the API shows but no object holds is
    on its way. Ids in the dedupe window were delivered, so their absence is a gap.
    """
    if checkpoint is None or checkpoint.settled is None:
        return None
    settled, seen = bytes.fromhex(checkpoint.settled), checkpoint.seen
    return lambda event_id: event_id > settled and event_id.hex() not in seen


async def verify(
    loaded: LoadedConfig,
    *,
    service: str | None = None,
    source: bool = False,
    after_id: str | None = None,
) -> tuple[list[ServiceReport], dict[str, Any]]:
    """Scan the services (and the source); return the reports and run facts."""
    from streamer.checkpoint.factory import build_store

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
    with tempfile.TemporaryDirectory(prefix="streamer-verify-") as tmp:  # 0700
        scans = await _scan_all(services, Path(tmp))
        reports = [scan.report for scan in scans]
        facts: dict[str, Any] = {
            "cursor": cursor,
            "open_intents": len(checkpoint.intents) if checkpoint else 0,
            "source_checked": False,
            "from_id": None,
        }
        expected: IdRuns | None = None
        if source:
            start = _start(loaded, reports, after_id)
            if cursor is None or start is None:
                facts["source_note"] = NOTHING_PROMISED
            else:
                facts["source_checked"] = True
                facts["from_id"] = start
                (Path(tmp) / "expected").mkdir()
                expected = IdRuns(Path(tmp) / "expected")
                await expected_ids(loaded, start, cursor, expected)
        late = not_due(checkpoint)
        for scan in scans:
            await anyio.to_thread.run_sync(check_scan, scan, expected, late)
    return reports, facts


async def _scan_all(services: list[ResolvedService], work: Path) -> list[Scan]:
    scans: list[Scan | None] = [None] * len(services)

    async def one(index: int, svc: ResolvedService) -> None:
        sink = build_sink(svc)
        (work / str(index)).mkdir()
        try:
            await sink.open()
            scans[index] = await scan_service(sink, svc, work / str(index))
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await sink.aclose()

    async with anyio.create_task_group() as tg:
        for index, svc in enumerate(services):
            tg.start_soon(one, index, svc, name=f"verify {svc.name}")
    return [scan for scan in scans if scan is not None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer verify``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--service", choices=registry.names(), help="only this one")
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
        gaps = "" if r.gap_count is None else f", {r.gap_count} gap(s) of {r.expected} expected"
        if r.not_due_count:
            gaps += f", {r.not_due_count} late event(s) not yet due"
        w(f"{verdict:8} {r.label}: {r.objects} object(s), {r.events} event(s), "
          f"{r.duplicate_count} duplicate id(s){gaps}\n")
        for event_id in sorted(r.duplicates)[:SHOW]:
            w(f"  duplicate {event_id} in {', '.join(r.duplicates[event_id])}\n")
        for event_id in (r.gaps or [])[:SHOW]:
            w(f"  missing   {event_id}\n")
        for event_id in (r.not_due or [])[:SHOW]:
            w(f"  not due   {event_id} (late; the daemon re-checks above its settled watermark)\n")
        for bad in r.bad_objects[:SHOW]:
            w(f"  unreadable {bad}\n")
    if facts.get("source_note"):
        w(f"source: {facts['source_note']}\n")


def main(args: argparse.Namespace) -> int:
    """``streamer verify``: 0 when every service is clean, 1 on duplicates or gaps."""
    from streamer.cli.common import load

    if args.after_id and not is_id(args.after_id):
        raise ConfigError(f"--after-id {args.after_id!r}: not a 24-character hex event id")
    loaded = load(args)
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
