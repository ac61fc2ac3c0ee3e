"""The live LeadConduit poller: ``sort=asc`` + ``after_id``, plus a lag-window re-scan.

Why a re-scan: ids carry a one-second timestamp and are minted by many hosts, and an
event is stored only after its step finished, so an event can become visible after
events with higher ids were served. A poller that only moves ``after_id`` forward misses
it. Whenever the main stream is caught up, the poller re-reads the ``lag_window`` behind
its cursor and yields events it has not seen (``known`` is the dedupe set, persisted in
the checkpoint). Every few cycles it also reads a second window further back and counts
anything new there as *late beyond the window* (delivered too, and logged as a warning
with the ids, so the operator can widen ``lag_window``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
import structlog

from streamer.config import Settings
from streamer.dedupe import DedupeWindow
from streamer.ids import id_seconds, synthetic_id
from streamer.records import Page
from streamer.source.client import LeadConduitClient
from streamer.source.decode import PageDecoder

log = structlog.get_logger("streamer.source")
DEEP_SCAN_EVERY = 10


def api_query(settings: Settings) -> dict[str, Any]:
    """``source.query`` as request parameters (server-side selection, fewer bytes travel).

    ``include`` always adds ``id`` and ``vars.lead.id``: the cursor and the per-event
    layout need them.
    """
    query = settings.source.query
    params: dict[str, Any] = {}
    if query.rules:
        params["rules"] = orjson.dumps(query.rules).decode()
    if query.include:
        params["include"] = sorted({*query.include, "id", "vars.lead.id"})
    if query.exclude:
        params["exclude"] = list(query.exclude)
    return params


class LeadConduitSource:
    """Pages through ``GET /events`` from a cursor, forever."""

    def __init__(
        self,
        client: LeadConduitClient,
        *,
        page_size: int = 1000,
        poll_interval: float = 5.0,
        lag_window: float = 120.0,
        query: dict[str, Any] | None = None,
        on_late: Callable[[list[str], bool], None] | None = None,
        decoder: PageDecoder | None = None,
    ) -> None:
        self.client = client
        self.decoder = decoder
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.lag_window = lag_window
        self.query = query or {}
        self.on_late = on_late
        # re-scans never read below this id: a backfill owns what lies before it
        self.floor: str | None = None
        self.fetched = 0
        self.late_caught = 0
        self.late_beyond = 0
        self._cycles = 0

    async def _fetch(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.decoder is None:
            return await self.client.events(params)
        return await self.client.events(params, self.decoder)

    def _params(self, after_id: str) -> dict[str, Any]:
        params: dict[str, Any] = {"sort": "asc", "limit": self.page_size, "after_id": after_id}
        params.update(self.query)
        return params

    async def pages(self, cursor: str, known: DedupeWindow) -> AsyncIterator[Page]:
        """Main stream from ``cursor``; a re-scan and a caught-up page when drained."""
        while True:
            raw = await self._fetch(self._params(cursor))
            self.fetched += len(raw)
            events, cursor, late = self._order(raw, cursor, known)
            known.evict_below(synthetic_id(id_seconds(cursor) - 2 * self.lag_window - 1))
            if late:
                yield Page(late, cursor, late=True)
            if events or raw:
                log.debug("poller.page_fetched", events=len(raw), cursor=cursor)
                yield Page(events, cursor)
            if len(raw) < self.page_size:
                async for page in self._rescan(cursor, known):
                    yield page
                yield Page([], cursor, caught_up=True)
                await anyio.sleep(self.poll_interval)

    def _order(
        self, raw: list[dict[str, Any]], cursor: str, known: DedupeWindow
    ) -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
        """Check the page instead of trusting it: sort, drop repeats, split off stragglers."""
        ids = [e["id"] for e in raw]
        if any(a >= b for a, b in itertools.pairwise(ids)) or (ids and ids[0] <= cursor):
            log.warning("poller.page_out_of_order", first=ids[0], last=ids[-1], cursor=cursor)
            raw = sorted({e["id"]: e for e in raw}.values(), key=lambda e: str(e["id"]))
        events: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        for event in raw:
            event_id = event["id"]
            if event_id in known:
                continue
            known.add(event_id)
            if event_id <= cursor:
                late.append(event)
            else:
                events.append(event)
        if raw:
            cursor = max(cursor, raw[-1]["id"])
        return events, cursor, late

    async def _rescan(self, cursor: str, known: DedupeWindow) -> AsyncIterator[Page]:
        """Re-read the lag window behind ``cursor``; yield what was not seen yet."""
        if self.lag_window <= 0:
            return
        self._cycles += 1
        top = id_seconds(cursor)
        window_start = synthetic_id(top - self.lag_window)
        deep = self._cycles % DEEP_SCAN_EVERY == 0
        after = synthetic_id(top - 2 * self.lag_window) if deep else window_start
        if self.floor is not None:
            after = max(after, self.floor)
        while True:
            raw = await self._fetch(self._params(after))
            self.fetched += len(raw)
            fresh: list[dict[str, Any]] = []
            for event in raw:
                event_id = event["id"]
                if event_id > cursor:
                    break
                if event_id not in known:
                    known.add(event_id)
                    fresh.append(event)
            if fresh:
                beyond = [e["id"] for e in fresh if e["id"] < window_start]
                within = [e["id"] for e in fresh if e["id"] >= window_start]
                if within:
                    self.late_caught += len(within)
                    log.info("poller.late_events_caught", count=len(within), ids=within[:20])
                if beyond:
                    self.late_beyond += len(beyond)
                    log.warning(
                        "poller.late_events_beyond_window",
                        count=len(beyond),
                        ids=beyond[:50],
                        lag_window=self.lag_window,
                        hint="delivered, but widen source.lag_window",
                    )
                if self.on_late is not None:
                    self.on_late(within, False)
                    self.on_late(beyond, True)
                yield Page(fresh, cursor, late=True)
            if len(raw) < self.page_size or not raw or raw[-1]["id"] >= cursor:
                return
            after = raw[-1]["id"]
