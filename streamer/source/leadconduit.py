"""The live LeadConduit poller: ``sort=asc`` + ``after_id``, plus a settled-watermark re-check.

Why a re-check: ids carry a one-second timestamp and are minted by many hosts, and an
event is stored only after its step finished, so an event can become visible after
events with higher ids were served. A poller that only moves ``after_id`` forward misses
it.

The *settled watermark* ``W`` (persisted in the checkpoint, committed with the batches
like the cursor) is the id at or below which every event has been looked for at least
``lag_window`` of wall-clock time after its id's second. A re-check reads the ids (only:
``include=id``) in ``(W, cursor]``, fetches full bodies just for ids not seen yet, and
then moves ``W`` up to ``min(cursor, now - lag_window)``. Because ``W`` only moves when a
re-check (or a main-stream page read long enough after its ids' time) covered the range,
every event visible within ``lag_window`` of its id's time is delivered exactly once,
whatever happened in between: a restart, an outage, a backlog or a slow sink.

Re-checks back off while nothing late turns up (up to ``lag_window / 2``) and are paced
so their bytes stay a small share of the main stream's. Each re-check also reads, once
per id, the ids a ``lag_window`` below ``W``: anything new there was visible later than
the window allows; it is delivered too, counted and logged as *late beyond the window*.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from streamer.ids import id_after, id_before, id_seconds, synthetic_id
from streamer.pipeline.dedupe import DedupeWindow
from streamer.records import Page
from streamer.source.client import LeadConduitClient
from streamer.source.decode import PageDecoder, event_ids
from streamer.source.pages import missing_runs, trust
from streamer.source.query import api_query

if TYPE_CHECKING:
    from streamer.observability.metrics import Metrics

__all__ = ["LeadConduitSource", "api_query"]  # api_query moved; importers keep this path
log = structlog.get_logger("streamer.source")
RECHECK_SHARE = 0.1  # re-check id scans may cost about this share of the main stream's bytes
PACE_ABOVE = 64 * 1024  # ... once a re-check reads more than this (small ones run freely)
Event = dict[str, Any]


class LeadConduitSource:
    """Pages through ``GET /events`` from a cursor, forever (see the module docstring)."""

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
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        recheck_interval: float | None = None,
    ) -> None:
        self.client = client
        self.decoder = decoder
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.lag_window = lag_window
        self.query = query or {}
        # an id-only scan selects the same events (rules) but returns just their ids
        self._ids_query: dict[str, Any] = {"include": ["id"]}
        if "rules" in self.query:
            self._ids_query["rules"] = self.query["rules"]
        self.on_late = on_late
        self.metrics = metrics
        self.clock = clock
        # re-checks never read below this id: a backfill owns what lies before it
        self.floor: str | None = None
        self.settled = "0" * 24
        self._beyond = "0" * 24  # ids at or below had their beyond-the-window look
        self.fetched = 0  # events handed to the pipeline (new ids only, every kind)
        self.read = 0  # events the API sent (repeats, re-scan ids and all)
        self.late_caught = 0
        self.late_beyond = 0
        self.rechecks = 0
        # the shortest gap between re-checks (they back off from here)
        self.recheck_interval = poll_interval if recheck_interval is None else recheck_interval
        self._interval = self.recheck_interval
        self._next_recheck = float("-inf")
        self._main_bytes = 0  # since the last re-check, for pacing
        self._scan_bytes = 0
        self._last_started: float | None = None

    def initial_settled(self, cursor: str, settled: str | None) -> str:
        """``W`` to resume from: the checkpoint's, else ``lag_window`` behind the cursor.

        A checkpoint written before the watermark existed was re-scanned only over the
        window behind its cursor, hence the default.
        """
        if settled is None:
            settled = synthetic_id(id_seconds(cursor) - self.lag_window)
        settled = min(settled, cursor)
        return max(settled, self.floor) if self.floor is not None else settled

    async def pages(
        self, cursor: str, known: DedupeWindow, settled: str | None = None
    ) -> AsyncIterator[Page]:
        """Main stream from ``cursor``; re-checks when due; a caught-up page when drained."""
        self.settled = self.initial_settled(cursor, settled)
        self._beyond = self._at_floor(self._below(self.settled))
        while True:
            async for page in self._recheck(cursor, known):
                yield page
            started = self.clock()
            raw = await self._request("main", self._params(cursor), self.decoder)
            events = self._trust(raw, cursor, None)
            top = max(cursor, events[-1]["id"]) if events else cursor
            if self.settled >= cursor:  # contiguous: this page itself settles what is old
                self.settled = max(self.settled, min(top, self._settle_limit(started)))
            cursor = top
            fresh = self._unseen(events, known)
            known.evict_below(self._below(self.settled, 1))
            if fresh:
                self.fetched += len(fresh)
                log.debug("poller.page_fetched", events=len(raw), cursor=cursor)
                yield Page(fresh, cursor, settled=self.settled)
            if len(raw) < self.page_size:
                async for page in self._recheck(cursor, known):
                    yield page
                yield Page([], cursor, caught_up=True, settled=self.settled)
                await anyio.sleep(self.poll_interval)

    def _params(self, after_id: str) -> dict[str, Any]:
        params: dict[str, Any] = {"sort": "asc", "limit": self.page_size, "after_id": after_id}
        params.update(self.query)
        return params

    def _settle_limit(self, started: float) -> str:
        """Ids below this had ``lag_window`` to become visible before ``started``."""
        return synthetic_id(started - self.lag_window)

    def _below(self, event_id: str, extra: float = 0) -> str:
        return synthetic_id(id_seconds(event_id) - self.lag_window - extra)

    def _at_floor(self, event_id: str) -> str:
        return max(event_id, self.floor) if self.floor is not None else event_id

    async def _request(self, kind: str, params: dict[str, Any], decoder: PageDecoder | None
                       ) -> list[Event]:  # fmt: skip
        """One page, counted by kind (requests, bytes, events read)."""
        client = self.client
        requests, nbytes = client.requests, client.bytes_read
        raw = await (client.events(params) if decoder is None else client.events(params, decoder))
        spent = client.bytes_read - nbytes
        self.read += len(raw)
        if kind == "main":
            self._main_bytes += spent
        elif kind == "rescan":
            self._scan_bytes += spent
        if self.metrics is not None:
            self.metrics.source_requests.labels(kind).inc(client.requests - requests)
            self.metrics.source_bytes.labels(kind).inc(spent)
            self.metrics.source_events_read.labels(kind).inc(len(raw))
        return raw

    def _trust(self, raw: list[Event], after: str, before: str | None) -> list[Event]:
        dropped: Counter[str] = Counter()
        events = trust(raw, after, before, dropped)
        self._count_dropped(dropped)
        return events

    def _count_dropped(self, dropped: Counter[str]) -> None:
        if self.metrics is not None:
            for reason, count in dropped.items():
                self.metrics.source_dropped.labels(reason).inc(count)

    def _unseen(self, events: list[Event], known: DedupeWindow) -> list[Event]:
        new = known.add_new(event_ids(events))
        fresh = list(itertools.compress(events, new))
        if len(fresh) < len(events):
            self._count_dropped(Counter(repeat=len(events) - len(fresh)))
        return fresh

    async def _recheck(self, cursor: str, known: DedupeWindow) -> AsyncIterator[Page]:
        """When due: look below ``W`` once, read the ids in ``(W, cursor]``, move ``W``."""
        if self.lag_window <= 0:
            self.settled = max(self.settled, cursor)
            return
        started = self.clock()
        if started < self._next_recheck:
            return
        self.rechecks += 1
        old = self.settled
        new = max(old, min(cursor, self._settle_limit(started)))
        found = 0
        lo = max(self._beyond, self._at_floor(self._below(old)))
        hi = min(old, self._below(new))
        if lo < hi:
            async for events, _upto, _stuck in self._scan(lo, hi, known):
                if events:
                    found += len(events)
                    self._report(events, beyond=True)
                    yield Page(events, cursor, late=True, settled=self.settled)
            self._beyond = hi
        ceiling = new
        if old < cursor:
            async for events, upto, stuck in self._scan(old, cursor, known):
                if stuck is not None:  # listed but not fetched: look again next time
                    ceiling = min(ceiling, id_before(stuck))
                self.settled = max(self.settled, min(ceiling, upto))
                if events:
                    found += len(events)
                    self._report(events, beyond=False)
                    yield Page(events, cursor, late=True, settled=self.settled)
        else:
            self.settled = new
        known.evict_below(self._below(self.settled, 1))
        self._schedule(started, found)

    def _schedule(self, started: float, found: int) -> None:
        """Back off while nothing late turns up; keep id scans a small share of the bytes."""
        longest = max(self.recheck_interval, self.lag_window / 2)
        self._interval = self.recheck_interval if found else min(2 * self._interval, longest)
        wait = self._interval
        elapsed = 0.0 if self._last_started is None else started - self._last_started
        if elapsed > 0 and self._main_bytes > 0 and self._scan_bytes > PACE_ABOVE:
            main_rate = self._main_bytes / elapsed
            wait = max(wait, self._scan_bytes / (RECHECK_SHARE * main_rate))
        self._last_started = started
        self._main_bytes = self._scan_bytes = 0
        self._next_recheck = self.clock() + min(wait, longest)

    async def _scan(
        self, after: str, upto: str, known: DedupeWindow
    ) -> AsyncIterator[tuple[list[Event], str, str | None]]:
        """Ids in ``(after, upto]``, page by page: yields the unseen events (fetched), the
        id up to which the range is covered, and the first listed id that was not fetched.
        """
        before = id_after(upto)
        while after < upto:
            params = {"sort": "asc", "limit": self.page_size, "after_id": after,
                      "before_id": before, **self._ids_query}  # fmt: skip
            raw = await self._request("rescan", params, None)
            ids = [e["id"] for e in self._trust(raw, after, before)]
            events, stuck = await self._fetch_missing(ids, known)
            if len(raw) < self.page_size:
                yield events, upto, stuck
                return
            if not ids:  # a full page of nothing usable: try again on the next re-check
                yield events, after, stuck
                return
            yield events, ids[-1], stuck
            after = ids[-1]

    async def _fetch_missing(
        self, ids: list[str], known: DedupeWindow
    ) -> tuple[list[Event], str | None]:
        """Full bodies for the listed ids not in ``known``: one small request per run."""
        wanted = {i for i in ids if i not in known}
        events: list[Event] = []
        for first, last, span in missing_runs(ids, known, max_len=self.page_size):
            after, before = id_before(first), id_after(last)
            while True:
                params = {**self._params(after), "before_id": before, "limit": span}
                raw = await self._request("fetch_missing", params, self.decoder)
                got = self._trust(raw, after, before)
                for event in got:
                    wanted.discard(event["id"])
                events.extend(self._unseen(got, known))
                if len(raw) < span or not got or got[-1]["id"] >= last:
                    break
                after = got[-1]["id"]
        events.sort(key=lambda e: str(e["id"]))
        return events, min(wanted) if wanted else None

    def _report(self, events: list[Event], *, beyond: bool) -> None:
        ids = [e["id"] for e in events]
        self.fetched += len(ids)
        if beyond:
            self.late_beyond += len(ids)
            log.warning(
                "poller.late_events_beyond_window",
                count=len(ids),
                ids=ids[:50],
                lag_window=self.lag_window,
                hint="delivered, but widen source.lag_window",
            )
        else:
            self.late_caught += len(ids)
            log.info("poller.late_events_caught", count=len(ids), ids=ids[:20])
        if self.on_late is not None:
            self.on_late(ids, beyond)
