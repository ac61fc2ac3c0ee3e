"""The live poller: main stream paging, order checks, lag-window re-scan and deep scan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from streamer.dedupe import DedupeWindow
from streamer.records import Page
from streamer.source.leadconduit import DEEP_SCAN_EVERY, LeadConduitSource

pytestmark = pytest.mark.anyio

T0 = 0x6560_0000
LAG = 60.0


def sid(seconds: int, tail: int = 1) -> str:
    """An id minted ``seconds`` after T0."""
    return f"{T0 + seconds:08x}{tail:016x}"


def ev(event_id: str) -> dict[str, Any]:
    """A minimal event."""
    return {"id": event_id}


class FakeServer:
    """Answers ``events(params)`` like the API: ids > after_id, ascending, up to limit."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids)
        self.calls: list[dict[str, Any]] = []
        self.override: list[list[dict[str, Any]]] = []

    async def events(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append(dict(params))
        if self.override:
            return self.override.pop(0)
        after, limit = params["after_id"], params["limit"]
        return [ev(i) for i in self.ids if i > after][:limit]


def source(server: FakeServer, **kwargs: Any) -> LeadConduitSource:
    """A poller over ``server`` that never sleeps."""
    kwargs.setdefault("page_size", 2)
    kwargs.setdefault("lag_window", LAG)
    return LeadConduitSource(server, poll_interval=0, **kwargs)  # type: ignore[arg-type]


async def collect(
    pages: AsyncIterator[Page], stop: Callable[[list[Page]], bool], limit: int = 500
) -> list[Page]:
    """Pages until ``stop(pages)`` holds (bounded in count and time)."""
    out: list[Page] = []
    with anyio.fail_after(5):
        async for page in pages:
            out.append(page)
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
    pages = await collect(source(server).pages(sid(0), DedupeWindow()), caught_up(1))
    main = [p for p in pages if not p.late and not p.caught_up]
    assert [ids_of([p]) for p in main] == [ids[:2], ids[2:4], ids[4:]]
    assert [p.cursor for p in main] == [ids[1], ids[3], ids[4]]
    main_calls = server.calls[:3]
    assert [c["after_id"] for c in main_calls] == [sid(0), ids[1], ids[3]]
    assert all(c["sort"] == "asc" and c["limit"] == 2 for c in server.calls)


async def test_caught_up_after_short_page() -> None:
    """A short page is followed by a caught-up page at the current cursor."""
    server = FakeServer([sid(5)])
    pages = await collect(source(server, page_size=10).pages(sid(0), DedupeWindow()), caught_up(1))
    assert pages[0].events == [ev(sid(5))]
    assert pages[-1] == Page([], sid(5), caught_up=True)


async def test_empty_source_yields_only_caught_up() -> None:
    """With nothing to read, the poller reports caught up at the starting cursor."""
    server = FakeServer([])
    pages = await collect(source(server).pages(sid(100), DedupeWindow()), caught_up(2))
    assert [p for p in pages if p.events] == []
    assert all(p.cursor == sid(100) for p in pages)


async def test_query_is_passed_with_every_request() -> None:
    """The configured query params go with every call."""
    server = FakeServer([])
    src = source(server, query={"include": ["vars.lead"]})
    await collect(src.pages(sid(0), DedupeWindow()), caught_up(1))
    assert server.calls
    assert all(c["include"] == ["vars.lead"] for c in server.calls)


async def test_known_ids_are_skipped_and_new_ones_remembered() -> None:
    """Ids already in ``known`` are not yielded again; yielded ids are added to it."""
    ids = [sid(s) for s in (10, 11, 12)]
    known = DedupeWindow([ids[1]])
    pages = await collect(
        source(FakeServer(ids), page_size=10).pages(sid(0), known), caught_up(1)
    )
    assert ids_of(pages) == [ids[0], ids[2]]
    assert set(ids) <= set(known)


async def test_out_of_order_and_duplicate_page_is_sorted_and_deduped() -> None:
    """A page with ids out of order and repeated is delivered sorted, once each."""
    a, b, c = sid(10), sid(11), sid(12)
    server = FakeServer([])
    server.override = [[ev(c), ev(a), ev(c), ev(b)]]
    pages = await collect(source(server, page_size=10).pages(sid(0), DedupeWindow()), caught_up(1))
    assert ids_of(pages) == [a, b, c]
    assert pages[0].cursor == c


async def test_main_page_ids_below_cursor_become_late_page() -> None:
    """Unseen ids at or below the cursor in a main page are split off as a late page."""
    cursor = sid(50)
    low, high = sid(40), sid(60)
    server = FakeServer([])
    server.override = [[ev(low), ev(high)]]
    pages = await collect(source(server, page_size=10).pages(cursor, DedupeWindow()), caught_up(1))
    assert pages[0] == Page([ev(low)], sid(60), late=True)
    assert pages[1] == Page([ev(high)], sid(60))


async def test_lag_window_rescan_yields_late_events() -> None:
    """An id below the cursor that appears later is found by the re-scan and marked late."""
    ids = [sid(100), sid(110)]
    server = FakeServer(ids)
    late_id = sid(105, tail=9)
    reported: list[tuple[list[str], bool]] = []
    src = source(server, page_size=10, on_late=lambda i, beyond: reported.append((i, beyond)))
    pages = src.pages(sid(0), DedupeWindow())
    out: list[Page] = []
    with anyio.fail_after(5):
        async for page in pages:
            out.append(page)
            if page.caught_up and sum(p.caught_up for p in out) == 1:
                server.ids = sorted([*server.ids, late_id])  # becomes visible late
            if sum(p.caught_up for p in out) == 2:
                break
    await pages.aclose()  # type: ignore[attr-defined]
    late_pages = [p for p in out if p.late]
    assert late_pages == [Page([ev(late_id)], sid(110), late=True)]
    assert ids_of(out, late=False) == ids
    assert src.late_caught == 1
    assert src.late_beyond == 0
    assert ([late_id], False) in reported


async def test_rescan_starts_at_window_start() -> None:
    """The re-scan asks for ids after cursor time minus lag_window."""
    server = FakeServer([sid(1000)])
    await collect(source(server, page_size=10).pages(sid(0), DedupeWindow()), caught_up(1))
    rescans = [c["after_id"] for c in server.calls[1:]]
    assert rescans == [f"{T0 + 1000 - int(LAG):08x}" + "0" * 16]


async def test_rescan_pages_through_a_full_window() -> None:
    """A re-scan with more unseen ids than a page keeps paging up to the cursor."""
    top = sid(1000)
    late = [sid(990, tail=t) for t in range(2, 7)]
    server = FakeServer([top])
    pages = source(server, page_size=2).pages(sid(0), DedupeWindow())
    out: list[Page] = []
    with anyio.fail_after(5):
        async for page in pages:
            out.append(page)
            if page.caught_up and sum(p.caught_up for p in out) == 1:
                server.ids = sorted([*server.ids, *late])
            if sum(p.caught_up for p in out) == 2:
                break
    await pages.aclose()  # type: ignore[attr-defined]
    assert sorted(ids_of(out, late=True)) == late


async def test_no_rescan_when_lag_window_is_zero() -> None:
    """lag_window 0 turns the re-scan off: one request per cycle."""
    server = FakeServer([sid(10)])
    await collect(
        source(server, page_size=10, lag_window=0).pages(sid(0), DedupeWindow()), caught_up(3)
    )
    assert len(server.calls) == 3


async def test_deep_scan_every_tenth_cycle_reports_beyond_window() -> None:
    """Every 10th cycle reads two windows back and reports late ids beyond the window."""
    top = 10_000
    server = FakeServer([sid(top)])
    beyond_id = sid(top - int(1.5 * LAG), tail=7)  # older than lag_window, within 2x
    reported: list[tuple[list[str], bool]] = []
    src = source(server, page_size=10, on_late=lambda i, b: reported.append((i, b)))
    pages = src.pages(sid(0), DedupeWindow())
    out: list[Page] = []
    with anyio.fail_after(5):
        async for page in pages:
            out.append(page)
            n = sum(p.caught_up for p in out)
            if page.caught_up and n == 1:
                server.ids = sorted([*server.ids, beyond_id])
            if page.caught_up and n < DEEP_SCAN_EVERY:
                assert ids_of(out, late=True) == []  # ordinary re-scans do not see it
            if n == DEEP_SCAN_EVERY:
                break
    await pages.aclose()  # type: ignore[attr-defined]
    assert ids_of(out, late=True) == [beyond_id]
    assert ([beyond_id], True) in reported
    assert src.late_beyond == 1
    assert src.late_caught == 0
    deep_after = f"{T0 + top - 2 * int(LAG):08x}" + "0" * 16
    assert server.calls[-1]["after_id"] == deep_after


async def test_fetched_counts_every_event_read() -> None:
    """``fetched`` counts events read by main stream and re-scans."""
    server = FakeServer([sid(10), sid(11), sid(12)])
    src = source(server, page_size=10)
    await collect(src.pages(sid(0), DedupeWindow()), caught_up(1))
    assert src.fetched == 6  # three on the main stream, the same three again in the re-scan


async def test_known_is_evicted_far_behind_the_cursor() -> None:
    """Ids more than twice the lag window behind the cursor leave the dedupe set."""
    old = sid(0, tail=5)
    known = DedupeWindow([old])
    server = FakeServer([sid(1000)])
    await collect(source(server, page_size=10).pages(sid(1), known), caught_up(1))
    assert old not in known
    assert sid(1000) in known
