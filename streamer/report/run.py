"""Run a report: shared by ``streamer report``, ``streamer serve`` and the tests.

Opens the service read-only, plans the objects of a range and streams them through the
scanner; also builds LeadConduit's Report shape (seed 000) from a computed report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from streamer.errors import FatalSinkError
from streamer.records import ObjectInfo
from streamer.report.aggregate import Aggregator
from streamer.report.reader import (
    ReadStats,
    TimeRange,
    extra_hours_for,
    plan_all,
    plan_batched,
    read_events,
)
from streamer.report.scan import Consumer, Spec, consumer_for
from streamer.report.settings import SavedReport
from streamer.settings.loader import LoadedConfig
from streamer.settings.services import ResolvedService
from streamer.sinks.base import Sink
from streamer.sinks.factory import build_sink

LIST_ALL_AFTER = 62 * 86400


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How hard to read: tasks fetching, compressed bytes in flight, worker processes."""

    concurrency: int = 16
    max_bytes: int = 32_000_000
    workers: int | None = None
    max_events: int | None = None


async def read(
    loaded: LoadedConfig,
    service: ResolvedService,
    read_range: TimeRange,
    report_range: TimeRange,
    spec: Spec,
    consumer: Consumer,
    options: ReadOptions,
) -> ReadStats:
    """Open the service read-only, plan the objects of ``read_range`` and stream them."""
    settings = loaded.settings
    if service.name == "local" and not await anyio.Path(service.bucket).is_dir():
        raise FatalSinkError(
            f"sink {service.label}: directory does not exist; check firehose.services.local.path"
        )
    sink: Sink = build_sink(service)
    if service.name != "local":  # local open() would create the directory: reports only read
        await sink.open()
    try:
        plan: AsyncIterator[ObjectInfo]
        # Day-by-day listing pays one LIST per day even for empty days: past ~two months
        # (or a long transitions lookback) one listing of the whole prefix is cheaper.
        long = read_range.end - read_range.start > LIST_ALL_AFTER
        lookback = read_range.start < report_range.start - 86400 * 2
        if settings.layout == "per_event" or long or lookback:
            plan = plan_all(sink, service.prefix, read_range)
        else:
            extra = extra_hours_for(settings.source.lag_window)
            plan = plan_batched(sink, service.prefix, read_range, extra_hours=extra)
        return await read_events(
            sink,
            plan,
            spec,
            consumer,
            concurrency=options.concurrency,
            max_bytes=options.max_bytes,
            workers=options.workers,
            max_events=options.max_events,
        )
    finally:
        await sink.aclose()


async def columns_report(
    loaded: LoadedConfig,
    service: ResolvedService,
    rng: TimeRange,
    group_by: list[str],
    rules: str | None,
    options: ReadOptions,
) -> tuple[Aggregator, ReadStats]:
    """The columns report of ``rng``: its aggregator and what was read."""
    spec = Spec("columns", rng.start, rng.end, tuple(group_by), rules)
    agg = consumer_for(spec)
    assert isinstance(agg, Aggregator)
    stats = await read(loaded, service, rng, rng, spec, agg, options)
    return agg, stats


def _when(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def leadconduit_report(
    report: SavedReport | None,
    rows: list[dict[str, Any]],
    total: dict[str, Any],
    columns: list[str],
    group_by: list[str],
    rules: Any = None,
) -> dict[str, Any]:
    """One Report object of ``GET /reports/{id}/run`` (seed 000).

    ``columns`` holds one object per group, in the report's group order, each with the
    group-by fields' values under their field names followed by the report columns; with
    no ``group_by`` it holds one object, the totals.
    """
    if group_by:
        objects = [{**row["group"], **{c: row[c] for c in columns}} for row in rows]
    else:
        objects = [{c: total[c] for c in columns}]
    return {
        "name": report.name if report else "ad hoc",
        "description": report.description if report else "",
        "columns": objects,
        "rules": (report.rules if report else rules) or [],
        "group_by": list(group_by),
        "token": report.token if report else None,
        "created_at": _when(report.created_at) if report else None,
        "updated_at": _when(report.updated_at) if report else None,
    }
