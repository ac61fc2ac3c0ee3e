"""Checks on what the API sends back, and the grouping of ids to fetch: pure functions.

Pages are not trusted: an id at or below the request's ``after_id`` (a server that does
not honour the bound exactly), an id at or above ``before_id``, an id twice, or ids out of
order would otherwise turn into duplicates or a cursor that skips events.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Container, Sequence
from typing import Any

import structlog

from streamer.source.decode import event_ids

log = structlog.get_logger("streamer.source")


def trust(
    raw: list[dict[str, Any]],
    after: str | None,
    before: str | None = None,
    dropped: Counter[str] | None = None,
) -> list[dict[str, Any]]:
    """``raw`` without ids outside ``(after, before)`` or repeated, sorted by id.

    Drops are counted into ``dropped`` by reason (``below_after_id``, ``above_before_id``,
    ``repeat``). A well-behaved page (the usual case) is returned as is, in one pass.
    """
    ids = event_ids(raw)
    if not ids or (
        (after is None or ids[0] > after)
        and (before is None or ids[-1] < before)
        and all(a < b for a, b in itertools.pairwise(ids))
    ):
        return raw
    counts: Counter[str] = Counter()
    kept: dict[str, dict[str, Any]] = {}
    for event in raw:
        event_id = event["id"]
        if after is not None and event_id <= after:
            counts["below_after_id"] += 1
        elif before is not None and event_id >= before:
            counts["above_before_id"] += 1
        elif event_id in kept:
            counts["repeat"] += 1
        else:
            kept[event_id] = event
    out = sorted(kept.values(), key=lambda e: str(e["id"]))
    log.warning(
        "poller.page_untrusted",
        first=ids[0],
        last=ids[-1],
        after_id=after,
        before_id=before,
        dropped=dict(counts),
        out_of_order=any(a > b for a, b in itertools.pairwise(ids)),
    )
    if dropped is not None:
        dropped.update(counts)
    return out


def missing_runs(
    ids: Sequence[str], known: Container[str], *, max_gap: int = 2, max_len: int = 1000
) -> list[tuple[str, str, int]]:
    """Group the ids not in ``known`` into ``(first, last, span)`` runs to fetch.

    ``ids`` is a sorted scan result. Missing ids separated by at most ``max_gap`` known
    ones share a run (a few known events cost less than another request); ``span`` is
    how many scanned ids the run covers, known ones included: the ``limit`` to ask for.
    """
    runs: list[tuple[str, str, int]] = []
    start = last = -1
    for i, event_id in enumerate(ids):
        if event_id in known:
            continue
        if start >= 0 and i - last - 1 <= max_gap and i - start < max_len:
            last = i
            continue
        if start >= 0:
            runs.append((ids[start], ids[last], last - start + 1))
        start = last = i
    if start >= 0:
        runs.append((ids[start], ids[last], last - start + 1))
    return runs
