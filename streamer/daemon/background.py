"""What runs beside a daemon's pipeline: gauges, the lease heartbeat, the progress line.

Three small tasks, one concern each, started by ``Runtime.background`` and cancelled
with the pipeline. (The health server runs for the whole process, see ``app.run``.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import structlog

from streamer.ids import id_seconds
from streamer.pipeline.writer import Writer
from streamer.source.leadconduit import LeadConduitSource

log = structlog.get_logger("streamer.runtime")
SAMPLE_PERIOD = 1.0


async def sample_gauges(sample: Callable[[], None], period: float = SAMPLE_PERIOD) -> None:
    """Refresh the clock-driven gauges (lag, retention left) even while nothing is written."""
    while True:
        await anyio.sleep(period)
        sample()


async def lease_heartbeat(writer: Writer, beat: float) -> None:
    """Keep the lease fresh: save when the writer has not saved for ``beat`` seconds.

    ``beat`` is a third of ``checkpoint.lease_ttl``. The save goes through the writer
    (serialized with its own saves), so it also makes durable a commit that no next
    batch has carried yet.
    """
    while True:
        await anyio.sleep(max(0.0, writer.last_save + beat - anyio.current_time()))
        if anyio.current_time() - writer.last_save >= beat:
            await writer.save()


async def progress_lines(writer: Writer, source: LeadConduitSource, interval: float) -> None:
    """Log ``streamer.progress`` every ``interval``: written, rate, cursor and lag."""
    since, before = time.monotonic(), 0
    while True:
        await anyio.sleep(interval)
        now, written = time.monotonic(), writer.events_written
        cursor = writer.checkpoint.cursor
        lag = time.time() - id_seconds(cursor) if cursor else None
        log.info(
            "streamer.progress",
            events_written=written,
            rate=round((written - before) / (now - since), 1),
            fetched=source.fetched,
            read=source.read,
            cursor=cursor,
            lag_seconds=round(lag, 1) if lag is not None else None,
            late_caught=source.late_caught,
        )
        since, before = now, written
