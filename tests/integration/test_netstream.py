"""The plain-HTTP transport (big reads) against the real simulator: same bytes, same errors."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import httpx
import pytest
import stamina

from streamer.errors import RetriableSourceError
from streamer.simulator import SimulatorOptions, start_simulator
from streamer.source.client import LeadConduitClient
from streamer.source.netstream import PlainTransport, transport_for

pytestmark = pytest.mark.anyio
KEY = "demo-key"
JSON = {"Accept": "application/json"}
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio: aiohttp (the simulator) needs it."""
    return "asyncio"


def test_transport_for_plain_http_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """http:// gets the plain transport; https:// and a configured proxy keep httpx's own."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(transport_for("http://127.0.0.1:1", LIMITS), PlainTransport)
    assert transport_for("https://app.leadconduit.com", LIMITS) is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert transport_for("http://127.0.0.1:1", LIMITS) is None


async def _pages(transport: httpx.AsyncBaseTransport, url: str) -> list[bytes]:
    bodies: list[bytes] = []
    async with httpx.AsyncClient(
        base_url=url, auth=("API", KEY), headers=JSON, transport=transport
    ) as http:
        after = "0" * 24
        while True:
            params: dict[str, Any] = {"sort": "asc", "limit": 1000, "after_id": after}
            response = await http.get("/events", params=params)
            assert response.status_code == 200
            page = response.json()
            if not page:
                return bodies
            bodies.append(response.content)
            after = page[-1]["id"]


async def test_same_bytes_as_httpx_default_transport() -> None:
    """Paging a 3000-event backlog returns byte-identical pages on one keep-alive connection."""
    with anyio.fail_after(60):
        async with start_simulator(SimulatorOptions(events=3000)) as sim:
            plain = await _pages(PlainTransport(LIMITS), sim.url)
            default = await _pages(httpx.AsyncHTTPTransport(), sim.url)
    assert len(plain) == 3
    assert plain == default


async def test_client_uses_it_and_survives_resets_and_truncation() -> None:
    """A reset and a truncated body are retried by the client and the page still arrives."""
    with stamina.set_testing(True, attempts=5), anyio.fail_after(30):
        options = SimulatorOptions(events=500, faults=("reset", "truncate"), fail_first=2)
        async with start_simulator(options) as sim:
            client = LeadConduitClient(sim.url, KEY)
            try:
                assert isinstance(client._http._transport, PlainTransport)
                page = await client.events({"sort": "asc", "limit": 100, "after_id": "0" * 24})
            finally:
                await client.aclose()
            assert client.retries == 2
    assert len(page) == 100


async def test_refused_connection_is_retriable() -> None:
    """Nothing listening: one attempt fails as a retriable error naming the URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LeadConduitClient(f"http://127.0.0.1:{port}", KEY, attempts=1)
    try:
        with pytest.raises(RetriableSourceError, match=f"127.0.0.1:{port}/events"):
            await client.events({"limit": 1})
    finally:
        await client.aclose()


async def test_idle_connection_closed_by_server_is_replaced() -> None:
    """After the server restarts (keep-alive socket dead), the next request reconnects."""
    with anyio.fail_after(30):
        async with start_simulator(SimulatorOptions(events=50)) as sim:
            port = int(sim.url.rsplit(":", 1)[1])
            client = LeadConduitClient(sim.url, KEY, attempts=1)
            try:
                assert len(await client.events({"limit": 10})) == 10
            except BaseException:
                await client.aclose()
                raise
        try:
            async with start_simulator(SimulatorOptions(events=50), port=port) as sim2:
                assert sim2.url == sim.url
                assert len(await client.events({"limit": 10})) == 10
        finally:
            await client.aclose()


async def test_slow_answer_is_a_retriable_timeout() -> None:
    """A server slower than source.timeout fails the attempt as a retriable timeout."""
    with anyio.fail_after(30):
        async with start_simulator(SimulatorOptions(events=50, latency=2.0)) as sim:
            client = LeadConduitClient(sim.url, KEY, timeout=0.2, attempts=1)
            try:
                with pytest.raises(RetriableSourceError, match="ReadTimeout"):
                    await client.events({"limit": 10})
            finally:
                await client.aclose()
