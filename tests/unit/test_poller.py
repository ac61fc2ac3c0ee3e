"""The live poller: main-stream paging, untrusted pages, the settled-watermark re-check."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
import pytest
from clock import ManualClock

from streamer.ids import id_after, id_before
from streamer.observability.metrics import Metrics
from streamer.pipeline.dedupe import DedupeWindow
from streamer.records import Page
from streamer.source.leadconduit import LeadConduitSource
from streamer.source.pages import missing_runs, trust

pytestmark = pytest.mark.anyio

T0 = 0x6560_0000
LAG = 60.0


def sid(seconds: int, tail: int = 1) -> str:
    """An id minted ``seconds`` after T0."""
    return f"{T0 + seconds:08x}{tail:016x}"


def at(seconds: float) -> str:
    """The synthetic (smallest) id of second T0 + ``seconds``."""
    return f"{T0 + int(seconds):08x}" + "0" * 16


def ev(event_id: str) -> dict[str, Any]:
    """A minimal event."""
    return {"id": event_id, "body": "x" * 200}


class Clock(ManualClock):
    """A wall clock the test moves, starting ``seconds`` after T0."""

    def __init__(self, seconds: float) -> None:
        super().__init__(T0 + seconds)


class FakeServer:
    """Answers ``events(params)`` like the API: (after_id, before_id), ascending, limit."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids)
        self.calls: list[dict[str, Any]] = []
        self.override: list[list[dict[str, Any]]] = []
        self.hidden: set[str] = set()  # listed by id scans, not returned with bodies
        self.requests = 0
        self.bytes_read = 0

    async def events(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append(dict(params))
        self.requests += 1
        if self.override:
            out = self.override.pop(0)
        else:
            after, before = params["after_id"], params.get("before_id")
            ids_only = params.get("include") == ["id"]
            sel = [
                i for i in self.ids
                if i > after and (before is None or i < before)
                and (ids_only or i not in self.hidden)
            ][: params["limit"]]  # fmt: skip
            out = [{"id": i} if ids_only else ev(i) for i in sel]
        self.bytes_read += len(orjson.dumps(out))
        return out

    def kinds(self) -> list[str]:
        """Each call's kind: main, rescan (ids only) or fetch (bounded bodies)."""
        return [
            "rescan" if c.get("include") == ["id"] else "fetch" if "before_id" in c else "main"
            for c in self.calls
        ]


def source(server: FakeServer, clock: Clock | None = None, **kwargs: Any) -> LeadConduitSource:
    """A poller over ``server`` that never sleeps, on ``clock``."""
    kwargs.setdefault("page_size", 10)
    kwargs.setdefault("lag_window", LAG)
    return LeadConduitSource(
        server, poll_interval=0, clock=clock or Clock(10_000), **kwargs  # type: ignore[arg-type]
    )


async def collect(
    pages: AsyncIterator[Page],
    stop: Callable[[list[Page]], bool],
    on_page: Callable[[list[Page]], None] | None = None,
    limit: int = 500,
) -> list[Page]:
    """Pages until ``stop(pages)`` holds (bounded in count and time)."""
    out: list[Page] = []
    with anyio.fail_after(5):
        async for page in pages:
            out.append(page)
            if on_page is not None:
                on_page(out)
            if stop(out) or len(out) >= limit:
                break
    await pages.aclose()  # type: ignore[attr-defined]
    return out


def caught_up(n: int) -> Callable[[list[Page]], bool]:
    """Stop after the n-th caught-up page."""
    return lambda pages: sum(p.caught_up for p in pages) >= n


def ids_of(pages: list[Page], *, late: bool | None = None) -> list[str]:
    """All event ids in ``pages`` (optionally only late or only main)."""
    return [e["id"] for p in pages if late is None or p.late == late for e in p.events]


async def test_main_stream_pages_with_after_id() -> None:
    """Pages follow after_id with sort=asc and limit, the cursor rising page by page."""
    ids = [sid(s) for s in (10, 11, 12, 13, 14)]
    server = FakeServer(ids)
    pages = await collect(
        source(server, page_size=2, lag_window=0).pages(sid(0), DedupeWindow()), caught_up(1)
    )
    main = [p for p in pages if not p.late and not p.caught_up]
    assert [ids_of([p]) for p in main] == [ids[:2], ids[2:4], ids[4:]]
    assert [p.cursor for p in main] == [ids[1], ids[3], ids[4]]
    assert [c["after_id"] for c in server.calls] == [sid(0), ids[1], ids[3]]
    assert all(c["sort"] == "asc" and c["limit"] == 2 for c in server.calls)


async def test_caught_up_after_short_page() -> None:
    """A short page is followed by a caught-up page at the current cursor."""
    server = FakeServer([sid(5)])
    pages = await collect(source(server).pages(sid(0), DedupeWindow()), caught_up(1))
    assert pages[0].events == [ev(sid(5))]
    assert pages[-1].caught_up
    assert pages[-1].cursor == sid(5)


async def test_empty_source_yields_only_caught_up() -> None:
    """With nothing to read, the poller reports caught up at the starting cursor."""
    server = FakeServer([])
    pages = await collect(source(server).pages(sid(100), DedupeWindow()), caught_up(2))
    assert [p for p in pages if p.events] == []
    assert all(p.cursor == sid(100) for p in pages)


async def test_query_goes_with_main_requests_and_rules_with_id_scans() -> None:
    """Main requests carry the whole query; id scans carry include=id and the rules only."""
    server = FakeServer([sid(9_990)])
    query = {"rules": '[{"lhv":"type","op":"is equal to","rhv":"source"}]', "exclude": ["vars"]}
    await collect(source(server, query=query).pages(sid(9_900), DedupeWindow()), caught_up(1))
    kinds = server.kinds()
    assert "rescan" in kinds
    assert "main" in kinds
    for call, kind in zip(server.calls, kinds, strict=True):
        if kind == "rescan":
            assert call["include"] == ["id"]
            assert "exclude" not in call
            assert call["rules"] == query["rules"]
        else:
            assert call["exclude"] == ["vars"]
            assert call["rules"] == query["rules"]


async def test_known_ids_are_skipped_and_new_ones_remembered() -> None:
    """Ids already in ``known`` are not yielded again; yielded ids are added to it."""
    ids = [sid(s) for s in (10, 11, 12)]
    known = DedupeWindow([ids[1]])
    pages = await collect(source(FakeServer(ids)).pages(sid(0), known), caught_up(1))
    assert ids_of(pages) == [ids[0], ids[2]]
    assert set(ids) <= set(known)


async def test_out_of_order_and_duplicate_page_is_sorted_and_deduped() -> None:
    """A page with ids out of order and repeated is delivered sorted, once each."""
    a, b, c = sid(10), sid(11), sid(12)
    server = FakeServer([])
    server.override = [[ev(c), ev(a), ev(c), ev(b)]]
    metrics = Metrics()
    pages = await collect(
        source(server, lag_window=0, metrics=metrics).pages(sid(0), DedupeWindow()),
        caught_up(1),
    )
    assert ids_of(pages) == [a, b, c]
    assert pages[0].cursor == c
    assert metrics.source_dropped.labels("repeat")._value.get() == 1


async def test_main_page_ids_at_or_below_after_id_are_dropped_not_late() -> None:
    """Ids <= after_id in a main page are dropped and counted, never delivered as late."""
    cursor = sid(50)
    server = FakeServer([])
    server.override = [[ev(sid(40)), ev(cursor), ev(sid(60))]]
    metrics = Metrics()
    src = source(server, lag_window=0, metrics=metrics)
    pages = await collect(src.pages(cursor, DedupeWindow()), caught_up(1))
    assert ids_of(pages) == [sid(60)]
    assert not any(p.late for p in pages)
    assert metrics.source_dropped.labels("below_after_id")._value.get() == 2


async def test_recheck_reads_ids_then_fetches_only_the_missing() -> None:
    """A late id is listed by an id-only scan and fetched alone, with both bounds."""
    clock = Clock(120)
    server = FakeServer([sid(100), sid(110)])
    late_id = sid(105, tail=9)
    reported: list[tuple[list[str], bool]] = []
    src = source(server, clock, on_late=lambda i, beyond: reported.append((i, beyond)))

    def reveal(out: list[Page]) -> None:
        if out[-1].caught_up and sum(p.caught_up for p in out) == 1:
            server.ids = sorted([*server.ids, late_id])  # becomes visible late
            clock.now += 1

    out = await collect(src.pages(sid(0), DedupeWindow()), caught_up(2), reveal)
    assert [p.events for p in out if p.late] == [[ev(late_id)]]
    assert ids_of(out, late=False) == [sid(100), sid(110)]
    fetches = [c for c, k in zip(server.calls, server.kinds(), strict=True) if k == "fetch"]
    assert fetches == [{**fetches[0], "after_id": id_before(late_id),
                        "before_id": id_after(late_id), "limit": 1}]  # fmt: skip
    assert (src.late_caught, src.late_beyond) == (1, 0)
    assert ([late_id], False) in reported


async def test_settled_watermark_moves_to_min_of_cursor_and_now_minus_lag() -> None:
    """W moves to now - lag_window (not past the cursor) and travels on the pages."""
    clock = Clock(1_000)
    server = FakeServer([sid(900), sid(990)])
    src = source(server, clock)
    pages = await collect(src.pages(sid(800), DedupeWindow(), at(800)), caught_up(1))
    assert pages[-1].settled == at(1_000 - LAG)
    clock.now = T0 + 5_000
    pages = await collect(src.pages(sid(990), DedupeWindow(), at(800)), caught_up(1))
    assert pages[-1].settled == sid(990)  # the cursor caps it


async def test_recheck_starts_from_the_settled_watermark_after_downtime() -> None:
    """Long after a stop, late ids just below the old cursor are still found (from W)."""
    clock = Clock(100)
    late_id = sid(95, tail=9)
    server = FakeServer([sid(90), sid(99)])
    src = source(server, clock)
    first = await collect(src.pages(sid(0), DedupeWindow()), caught_up(1))
    settled, cursor = first[-1].settled, first[-1].cursor
    assert settled is not None
    assert settled < late_id < cursor
    known = DedupeWindow(ids_of(first))
    server.ids = sorted([*server.ids, late_id, sid(2_000)])
    clock.now = T0 + 2_100  # down far longer than lag_window
    again = await collect(source(server, clock).pages(cursor, known, settled), caught_up(1))
    assert ids_of(again, late=True) == [late_id]
    assert ids_of(again, late=False) == [sid(2_000)]


async def test_late_id_below_the_watermark_is_reported_beyond_the_window() -> None:
    """An id at or below W found later is delivered once and reported beyond the window."""
    clock = Clock(1_000)
    server = FakeServer([sid(999)])
    reported: list[tuple[list[str], bool]] = []
    src = source(server, clock, on_late=lambda i, b: reported.append((i, b)))
    beyond_id = sid(989, tail=7)  # below the starting W: it should have been visible by now

    def later(out: list[Page]) -> None:
        if out[-1].caught_up:
            if sum(p.caught_up for p in out) == 1:
                server.ids = sorted([*server.ids, beyond_id])
            clock.now += LAG / 2  # the stream goes on, so W keeps moving
            server.ids.append(f"{int(clock.now) - 1:08x}" + "0" * 15 + "1")

    known = DedupeWindow([sid(999)])
    out = await collect(src.pages(sid(999), known, at(999)), caught_up(8), later)
    assert ids_of(out, late=True) == [beyond_id]
    assert ([beyond_id], True) in reported
    assert (src.late_beyond, src.late_caught) == (1, 0)


async def test_rechecks_back_off_while_nothing_late_turns_up() -> None:
    """Without late events the re-check interval doubles up to lag_window / 2."""
    clock = Clock(1_000)
    server = FakeServer([sid(999)])
    src = source(server, clock, recheck_interval=1)
    times: list[float] = []

    def tick(out: list[Page]) -> None:
        if out[-1].caught_up:
            clock.now += 1

    def stop(out: list[Page]) -> bool:
        if src.rechecks > len(times):
            times.append(clock.now)
        return len(times) >= 6

    await collect(src.pages(sid(999), DedupeWindow([sid(999)]), at(999)), stop, tick, 5_000)
    gaps = [round(b - a) for a, b in itertools.pairwise(times)]
    assert gaps == [2, 4, 8, 16, 30]  # doubling after each empty re-check, capped at lag / 2


async def test_unfetched_listed_id_keeps_the_watermark_below_it() -> None:
    """An id listed by the scan but not returned with its body holds W below it."""
    hidden = sid(950, tail=3)
    server = FakeServer([sid(900), hidden, sid(990)])
    server.hidden = {hidden}
    src = source(server, Clock(2_000))
    known = DedupeWindow([sid(900), sid(990)])
    pages = await collect(src.pages(sid(990), known, at(800)), caught_up(1))
    assert pages[-1].settled == id_before(hidden)
    assert hidden not in ids_of(pages)


async def test_no_recheck_when_lag_window_is_zero() -> None:
    """lag_window 0 turns the re-check off: one request per cycle."""
    server = FakeServer([sid(10)])
    await collect(source(server, lag_window=0).pages(sid(0), DedupeWindow()), caught_up(3))
    assert server.kinds() == ["main"] * 3


async def test_known_is_evicted_a_window_below_the_watermark() -> None:
    """Ids more than lag_window below W leave the dedupe set."""
    old = sid(0, tail=5)
    known = DedupeWindow([old])
    server = FakeServer([sid(1000)])
    await collect(source(server, Clock(2_000)).pages(sid(1), known), caught_up(1))
    assert old not in known
    assert sid(1000) in known


async def test_reads_are_counted_by_kind() -> None:
    """Requests, bytes and events read are exported per kind; fetched counts new ids."""
    clock = Clock(120)
    server = FakeServer([sid(100), sid(110)])
    metrics = Metrics()
    src = source(server, clock, metrics=metrics)

    def reveal(out: list[Page]) -> None:
        if out[-1].caught_up and sum(p.caught_up for p in out) == 1:
            server.ids = sorted([*server.ids, sid(105, tail=9)])
            clock.now += 1

    await collect(src.pages(sid(0), DedupeWindow()), caught_up(2), reveal)
    kinds = server.kinds()
    for kind, label in (("main", "main"), ("rescan", "rescan"), ("fetch", "fetch_missing")):
        assert metrics.source_requests.labels(label)._value.get() == kinds.count(kind)
    total = sum(metrics.source_bytes.labels(k)._value.get()
                for k in ("main", "rescan", "fetch_missing"))  # fmt: skip
    assert total == server.bytes_read
    assert metrics.source_events_read.labels("fetch_missing")._value.get() == 1
    assert src.fetched == 3
    assert src.read == sum(metrics.source_events_read.labels(k)._value.get()
                           for k in ("main", "rescan", "fetch_missing"))  # fmt: skip


def test_trust_drops_out_of_bounds_and_repeats() -> None:
    """trust() drops ids <= after, >= before and repeats, sorts, and counts each reason."""
    from collections import Counter

    dropped: Counter[str] = Counter()
    raw = [ev(sid(5)), ev(sid(1)), ev(sid(3)), ev(sid(3)), ev(sid(9))]
    out = trust(raw, sid(1), sid(9), dropped)
    assert [e["id"] for e in out] == [sid(3), sid(5)]
    assert dropped == {"below_after_id": 1, "above_before_id": 1, "repeat": 1}
    good = [ev(sid(2)), ev(sid(3))]
    assert trust(good, sid(1), sid(9)) is good


def test_missing_runs_merge_small_gaps() -> None:
    """Missing ids close together share one fetch; span counts the known ones between."""
    ids = [sid(s) for s in range(10)]
    known = {ids[1], ids[2], ids[4], ids[5], ids[6], ids[7]}
    assert missing_runs(ids, known) == [(ids[0], ids[3], 4), (ids[8], ids[9], 2)]
    assert missing_runs(ids, set(ids)) == []
