"""Where a run starts reading, and how its pages are decoded.

Shared by the daemon (``streamer.daemon.runtime``), backfill and replay: the decoder a
pipeline's leading filters allow, the resume point (checkpoint, ``source.start``, or
now), and the warning when that point is (nearly) past LeadConduit's retention.
"""

from __future__ import annotations

import time

import structlog

from streamer.checkpoint.state import Checkpoint
from streamer.ids import id_seconds, synthetic_id
from streamer.observability.metrics import Metrics
from streamer.settings.model import Settings
from streamer.source.decode import PageDecoder

log = structlog.get_logger("streamer.runtime")
RETENTION_DAYS = 90
RETENTION_WARN_DAYS = 80


def page_decoder(settings: Settings) -> PageDecoder | None:
    """A partial decoder when the pipeline starts with filters (or has no stages)."""
    from streamer.rules.paths import rule_paths
    from streamer.stages.config import FilterStageConfig

    paths: set[tuple[str, ...]] = {("vars", "lead", "id")}
    if settings.firehose.route == "event":
        paths.add(("firehose",))
    head = 0
    for stage in settings.pipeline:
        if not isinstance(stage, FilterStageConfig):
            break
        paths |= rule_paths(stage.filter.rule_set)
        head += 1
    if settings.pipeline and head == 0:
        return None  # a transform first needs whole events anyway
    return PageDecoder(paths)


def start_cursor(settings: Settings, checkpoint: Checkpoint) -> str:
    """Resume point: the checkpoint, else ``start.after_id``, ``start.at``, or now."""
    if checkpoint.cursor:
        return checkpoint.cursor
    start = settings.source.start
    if start.after_id:
        return start.after_id
    if start.at is not None:
        return synthetic_id(start.at.timestamp())
    return synthetic_id(time.time())


def retention_check(cursor: str, metrics: Metrics, *, from_checkpoint: bool = True) -> None:
    """Say loudly when the resume point is (nearly) past LeadConduit's 90-day retention."""
    age_days = (time.time() - id_seconds(cursor)) / 86400
    metrics.retention_days_left.set(RETENTION_DAYS - age_days)
    if not from_checkpoint and age_days >= RETENTION_DAYS:
        log.info("checkpoint.starting_at_oldest_retained", start=cursor)
    elif age_days >= RETENTION_DAYS:
        log.error(
            "checkpoint.beyond_retention",
            cursor=cursor,
            age_days=round(age_days, 1),
            hint="LeadConduit deleted events older than 90 days; those cannot be fetched",
        )
    elif age_days >= RETENTION_WARN_DAYS:
        log.warning(
            "checkpoint.near_retention",
            cursor=cursor,
            age_days=round(age_days, 1),
            hint="catch up soon: LeadConduit deletes events after 90 days",
        )
