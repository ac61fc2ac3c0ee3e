"""The simulator over HTTP: LeadConduit's paging, parameters, auth, faults and late events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import orjson
import pytest
from clock import ManualClock

from streamer.simulator import SimulatorOptions, id_time, start_simulator, synthetic_id
from streamer.simulator.server import RunningSimulator

pytestmark = pytest.mark.anyio
JSON = {"Accept": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio: aiohttp needs it."""
    return "asyncio"


@asynccontextmanager
async def running(
    clock: Callable[[], float] = time.time, **kwargs: Any
) -> AsyncIterator[tuple[RunningSimulator, httpx.AsyncClient]]:
    kwargs.setdefault("events", 1500)
    async with (
        start_simulator(SimulatorOptions(**kwargs), clock=clock) as sim,
        httpx.AsyncClient(
            base_url=sim.url, auth=("API", kwargs.get("api_key", "demo-key")), headers=JSON
        ) as client,
    ):
        yield sim, client


async def page_all(client: httpx.AsyncClient, after: str | None = None) -> list[str]:
    """Page with sort=asc&after_id until an empty page; return the ids in order."""
    ids: list[str] = []
    while True:
        params: dict[str, str | int] = {"sort": "asc", "limit": 1000}
        if after is not None:
            params["after_id"] = after
        response = await client.get("/events", params=params)
        assert response.status_code == 200
        page = response.json()
        if not page:
            return ids
        ids.extend(e["id"] for e in page)
        after = page[-1]["id"]


async def test_paging_returns_every_id_once_in_order() -> None:
    """sort=asc with after_id walks the whole store, each id exactly once, ascending."""
    with anyio.fail_after(30):
        async with running(events=2500) as (sim, client):
            ids = await page_all(client)
            assert ids == sorted(set(ids))
            assert ids == sim.state.visible_ids()
            assert len(ids) == 2500
            assert sim.state.events_served == 2500


async def test_default_sort_is_desc_and_limit_100() -> None:
    """Without parameters the newest 100 events come first."""
    with anyio.fail_after(10):
        async with running() as (sim, client):
            page = (await client.get("/events")).json()
            ids = sim.state.visible_ids()
            assert [e["id"] for e in page] == ids[::-1][:100]


async def test_limit_bounds() -> None:
    """limit caps the page at 1..1000; outside that range it is a 400."""
    with anyio.fail_after(10):
        async with running() as (_, client):
            assert len((await client.get("/events", params={"limit": 1000})).json()) == 1000
            assert len((await client.get("/events", params={"limit": 1})).json()) == 1
            for bad in ("0", "1001", "ten"):
                response = await client.get("/events", params={"limit": bad})
                assert response.status_code == 400
                assert "limit" in response.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {"after_id": "xyz"},
        {"before_id": "5fd4371e940df5a34a3888b"},
        {"sort": "up"},
        {"start": "yesterday"},
        {"include": "id", "exclude": "vars"},
        {"rules": "[not json"},
        {"rules": '[{"lhv": "type", "op": "no such op", "rhv": 1}]'},
    ],
)
async def test_bad_parameters_are_400(params: dict[str, str]) -> None:
    """Malformed parameters get a 400 with an error message."""
    with anyio.fail_after(10):
        async with running(events=10) as (_, client):
            response = await client.get("/events", params=params)
            assert response.status_code == 400
            assert response.json()["error"]


async def test_wrong_key_is_401_and_user_is_ignored() -> None:
    """The password must be the API key; any user name works, as on LeadConduit."""
    with anyio.fail_after(10):
        async with running(events=10, api_key="s3cret") as (sim, client):
            assert (await client.get("/events")).status_code == 200
            good = await client.get("/events", auth=("x", "s3cret"))
            assert good.status_code == 200
            bad = await client.get("/events", auth=("API", "wrong"))
            assert bad.status_code == 401
            assert bad.json() == {"error": "Unauthorized"}
            async with httpx.AsyncClient(base_url=sim.url, headers=JSON) as anonymous:
                assert (await anonymous.get("/events")).status_code == 401


async def test_missing_accept_is_403() -> None:
    """Without Accept: application/json the API answers 403 with the csrf error."""
    with anyio.fail_after(10):
        async with running(events=10) as (_, client):
            for accept in ("*/*", "text/html"):
                response = await client.get("/events", headers={"Accept": accept})
                assert response.status_code == 403
                expected = "misconfigured csrf: check Accept header is set properly"
                assert response.json() == {"error": expected}


async def test_include_and_exclude() -> None:
    """include keeps only the named paths (and id); exclude drops them; all encodings work."""
    with anyio.fail_after(10):
        async with running(events=50) as (_, client):
            for query in (
                "include=type&include=vars.lead.email",
                "include[]=type&include[]=vars.lead.email",
                "include=type,vars.lead.email",
            ):
                page = (await client.get(f"/events?{query}&limit=5")).json()
                assert len(page) == 5
                for ev in page:
                    assert set(ev) == {"id", "type", "vars"}
                    assert set(ev["vars"]) == {"lead"}
                    assert set(ev["vars"]["lead"]) == {"email"}
            page = (await client.get("/events?exclude=firehose,vars.lead&limit=5")).json()
            for ev in page:
                assert "firehose" not in ev
                assert "lead" not in ev["vars"]
                assert "account" in ev["vars"]


async def test_before_id_and_time_bounds() -> None:
    """before_id is exclusive; start/end select by the id's second, inclusive."""
    with anyio.fail_after(10):
        async with running(events=1000) as (sim, client):
            ids = sim.state.visible_ids()
            pivot = ids[500]
            page = (await client.get("/events", params={"before_id": pivot, "limit": 3})).json()
            assert [e["id"] for e in page] == ids[497:500][::-1]
            sec = id_time(pivot)
            start = iso(sec)
            page = (
                await client.get(
                    "/events", params={"start": start, "end": start, "sort": "asc", "limit": 1000}
                )
            ).json()
            assert [e["id"] for e in page] == [i for i in ids if id_time(i) == sec]
            page = (await client.get("/events", params={"end": iso(sec - 1)})).json()
            assert page[0]["id"] == max(i for i in ids if id_time(i) < sec)


def iso(sec: int) -> str:
    """An ISO 8601 UTC string for an epoch second."""
    return datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_after_id_may_be_synthetic() -> None:
    """A synthetic after_id (time + zeros) is accepted and bounds by time."""
    with anyio.fail_after(10):
        async with running(events=500) as (sim, client):
            ids = sim.state.visible_ids()
            cursor = synthetic_id(id_time(ids[250]))
            page = (await client.get("/events", params={"after_id": cursor, "sort": "asc"})).json()
            assert page[0]["id"] == next(i for i in ids if i > cursor)


async def test_rules_filter_server_side() -> None:
    """rules is a JSON array of rules, ANDed, evaluated against the event root."""
    with anyio.fail_after(10):
        async with running(events=800) as (sim, client):
            rules = [
                {"lhv": "type", "op": "is equal to", "rhv": "recipient"},
                {"lhv": "outcome", "op": "is equal to", "rhv": "skip"},
            ]
            params: dict[str, str | int] = {
                "rules": orjson.dumps(rules).decode(),
                "limit": 1000,
                "sort": "asc",
            }
            page = (await client.get("/events", params=params)).json()
            expected = [
                e["id"]
                for e in sim.state.all_events()
                if e["type"] == "recipient" and e["outcome"] == "skip"
            ]
            assert [e["id"] for e in page] == expected
            assert expected


async def test_post_events_takes_the_query_as_json() -> None:
    """POST /events accepts the EventQuery body, rules as a real array."""
    with anyio.fail_after(10):
        async with running(events=300) as (_, client):
            body = {"rules": [{"lhv": "type", "op": "is equal to", "rhv": "filter"}], "limit": 7}
            page = (await client.post("/events", json=body)).json()
            assert len(page) == 7
            assert {e["type"] for e in page} == {"filter"}


async def test_get_single_event() -> None:
    """GET /events/{id} returns that event; unknown ids are 404, malformed 400."""
    with anyio.fail_after(10):
        async with running(events=50) as (sim, client):
            eid = sim.state.visible_ids()[10]
            response = await client.get(f"/events/{eid}")
            assert response.json()["id"] == eid
            assert (await client.get(f"/events/{synthetic_id(1)}")).status_code == 404
            assert (await client.get("/events/nope")).status_code == 400


@pytest.mark.parametrize(
    ("kind", "status"), [("429", 429), ("500", 500), ("502", 502), ("503", 503)]
)
async def test_status_faults(kind: str, status: int) -> None:
    """Status faults answer with that status and a JSON error; 429 carries Retry-After."""
    with anyio.fail_after(10):
        async with running(events=20, faults=(kind,), fail_first=2, retry_after=0.5) as (
            sim,
            client,
        ):
            for _ in range(2):
                response = await client.get("/events")
                assert response.status_code == status
                assert response.json()["error"]
                assert response.headers.get("Retry-After") == ("0.5" if kind == "429" else None)
            assert (await client.get("/events")).status_code == 200
            assert sim.state.faults[kind] == 2


async def test_429_without_retry_after() -> None:
    """retry_after=None sends 429 with no Retry-After header."""
    with anyio.fail_after(10):
        async with running(events=5, faults=("429",), fail_first=1, retry_after=None) as (_, c):
            response = await c.get("/events")
            assert response.status_code == 429
            assert "Retry-After" not in response.headers


@pytest.mark.parametrize("kind", ["reset", "truncate"])
async def test_connection_faults(kind: str) -> None:
    """reset drops the connection without a response; truncate cuts the body short."""
    with anyio.fail_after(10):
        async with running(events=200, faults=(kind,), fail_first=1) as (sim, client):
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/events")
            assert (await client.get("/events")).status_code == 200
            assert sim.state.faults[kind] == 1


async def test_badjson_fault() -> None:
    """badjson is a complete 200 whose body is not valid JSON."""
    with anyio.fail_after(10):
        async with running(events=200, faults=("badjson",), fail_first=1) as (_, client):
            response = await client.get("/events")
            assert response.status_code == 200
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(response.content)
            assert len(orjson.loads((await client.get("/events")).content)) == 100


async def test_include_id_serves_ids_only_within_bounds() -> None:
    """include=id (how the daemon re-scans) returns just the ids, honouring both bounds."""
    with anyio.fail_after(10):
        async with running(events=300) as (sim, client):
            ids = sim.state.visible_ids()
            params = {"include": "id", "sort": "asc", "limit": 1000,
                      "after_id": ids[10], "before_id": ids[20]}
            page = (await client.get("/events", params=params)).json()
            assert page == [{"id": i} for i in ids[11:20]]
            ruled = (await client.get("/events", params={
                **params, "rules": orjson.dumps([{"lhv": "type", "op": "is equal to",
                                                 "rhv": "source"}]).decode()})).json()
            sources = {e["id"] for e in sim.state.all_events() if e["type"] == "source"}
            assert ruled == [{"id": i} for i in ids[11:20] if i in sources]


async def test_html_and_empty_faults_are_200_without_json() -> None:
    """html is a 200 maintenance page, empty a 200 with no body; the next request is normal."""
    with anyio.fail_after(10):
        async with running(events=50, faults=("html", "empty"), fail_first=2) as (sim, c):
            html = await c.get("/events")
            assert html.status_code == 200
            assert html.headers["content-type"].startswith("text/html")
            assert html.content.lstrip().startswith(b"<")
            empty = await c.get("/events")
            assert (empty.status_code, empty.content) == (200, b"")
            assert len((await c.get("/events")).json()) == 50
            assert sim.state.faults == {"html": 1, "empty": 1}


async def test_repeat_fault_sends_ids_at_or_below_after_id() -> None:
    """repeat: the page, events at and 30 s below after_id, then the page's first id again."""
    with anyio.fail_after(10):
        async with running(events=1000, faults=("repeat",), fail_first=1) as (sim, client):
            ids = sim.state.visible_ids()
            params = {"sort": "asc", "limit": 5, "after_id": ids[500]}
            got = [e["id"] for e in (await client.get("/events", params=params)).json()]
            back = [i for i in ids if id_time(i) < id_time(ids[500]) - 30][-2:]
            assert got == [*ids[501:506], *back, ids[500], ids[501]]
            again = [e["id"] for e in (await client.get("/events", params=params)).json()]
            assert again == ids[501:506]


async def test_fail_rate_is_deterministic() -> None:
    """The same seed fails the same requests the same way."""

    async def statuses() -> list[str]:
        out = []
        async with running(events=20, fail_rate=0.5, faults=("500", "503", "reset")) as (_, c):
            for _ in range(30):
                try:
                    out.append(str((await c.get("/events", params={"limit": 1})).status_code))
                except httpx.RemoteProtocolError:
                    out.append("reset")
        return out

    with anyio.fail_after(20):
        first = await statuses()
        assert first == await statuses()
        assert {"200", "500", "503", "reset"} <= set(first)


async def test_late_events_appear_later_with_lower_ids() -> None:
    """Late backlog events are invisible at first, then show up below ids already served."""
    clock = ManualClock.at_wall_time()
    with anyio.fail_after(20):
        async with running(clock, events=1000, late_fraction=0.2, late_delay=1.0) as (sim, client):
            first = await page_all(client)
            assert 700 < len(first) < 900
            assert sim.state.pending_count() == 1000 - len(first)
            clock.now += 1.2
            second = await page_all(client)
            assert len(second) == 1000
            late = set(second) - set(first)
            assert late
            assert min(late) < first[-1]
            # a late event can also sort after the last id served at first
            above = sorted(i for i in late if i > first[-1])
            assert await page_all(client, after=first[-1]) == above


async def test_live_rate_adds_events() -> None:
    """With a live rate, new events with current ids keep appearing after the backlog."""
    clock = ManualClock.at_wall_time()
    with anyio.fail_after(20):
        async with running(clock, events=100, live_rate=200) as (sim, client):
            backlog = await page_all(client)
            newer: list[str] = []
            while len(newer) < 50:
                clock.now += 0.3
                newer.extend(await page_all(client, after=(newer or backlog)[-1]))
            assert min(newer) > backlog[-1]
            assert newer == sorted(newer)
            assert len(sim.state.all_events()) > 150
