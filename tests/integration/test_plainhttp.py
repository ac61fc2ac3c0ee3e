"""The plain-HTTP transport against a scripted raw TCP server: framing, errors, the pool.

Each server answer is raw bytes, so malformed heads, short bodies and stalls are exact.
Every failure must surface as an httpx transport error (the client's retriable errors),
never as a short body.
"""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

from streamer.errors import FatalSourceError, RetriableSourceError
from streamer.source import wire
from streamer.source.client import LeadConduitClient
from streamer.source.netstream import PlainTransport

pytestmark = pytest.mark.anyio
LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)
STALL = b"<stall>"  # an answer that never comes (the server holds the connection open)
CLOSE = b"<close>"  # close the connection instead of answering


def ok(body: bytes = b"[]", *extra: bytes) -> bytes:
    """A 200 with ``Content-Length`` framing and extra header lines."""
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@dataclass
class Server:
    """Answers requests, across connections, with the scripted answers in order."""

    answers: list[bytes]
    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    async def handle(self, stream: SocketStream) -> None:
        self.connections += 1
        buf = b""
        async with stream:
            while self.answers:
                while b"\r\n\r\n" not in buf:
                    try:
                        buf += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.requests.append(head)
                answer = self.answers.pop(0)
                if answer == STALL:
                    await anyio.sleep_forever()
                if answer == CLOSE:
                    return
                closes = answer.endswith(CLOSE)
                await stream.send(answer.removesuffix(CLOSE))
                if closes:
                    return


@asynccontextmanager
async def serve(*answers: bytes) -> AsyncIterator[Server]:
    """A :class:`Server` on a free local port for the duration of the block."""
    server = Server(list(answers))
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    server.url = f"http://127.0.0.1:{port}"
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, server.handle)
        with anyio.fail_after(20):
            yield server
        tg.cancel_scope.cancel()


@asynccontextmanager
async def http(server: Server, **kwargs: object) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over the plain transport, as the LeadConduit client builds it."""
    limits = kwargs.pop("limits", LIMITS)
    assert isinstance(limits, httpx.Limits)
    transport = PlainTransport(limits)
    async with httpx.AsyncClient(base_url=server.url, transport=transport, **kwargs) as client:  # type: ignore[arg-type]
        yield client


async def test_keep_alive_reuses_one_connection() -> None:
    """Five pages over one connection, each body exactly as sent."""
    bodies = [b'[{"id":"%d"}]' % i * 1000 for i in range(5)]
    async with serve(*(ok(b) for b in bodies)) as server, http(server) as client:
        got = [(await client.get("/events", params={"limit": 5})).content for _ in bodies]
    assert got == bodies
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /events?limit=5 HTTP/1.1\r\n")


async def test_connection_close_and_server_close_reconnect() -> None:
    """``Connection: close``, a server that just hangs up, stray bytes: the next request
    opens a new connection and succeeds."""
    answers = [ok(b"[1]", b"Connection: close"), ok(b"[2]") + CLOSE, ok(b"[3]") + b"junk", ok()]
    async with serve(*answers) as server, http(server) as client:
        got = [(await client.get("/")).content for _ in answers]
    assert got == [b"[1]", b"[2]", b"[3]", b"[]"]
    assert server.connections == 4


async def test_http10_answer_is_not_kept() -> None:
    """An HTTP/1.0 answer (no keep-alive) is read, then its connection closed."""
    answers = [b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]", ok()]
    async with serve(*answers) as server, http(server) as client:
        for _ in answers:
            assert (await client.get("/")).content == b"[]"
    assert server.connections == 2


async def test_truncated_body_is_an_error_never_a_short_page() -> None:
    """Closed after 500 of 1000 announced bytes: a protocol error, then a whole page."""
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500 + CLOSE
    async with serve(short, short, ok(b"[" + b" " * 998 + b"]")) as server:
        async with http(server) as client:
            with pytest.raises(httpx.RemoteProtocolError, match="received 500 bytes, expected"):
                await client.get("/")
        client = LeadConduitClient(server.url, "key", attempts=2)
        try:
            page = await client.get("/events", [])
        finally:
            await client.aclose()
    assert len(page) == 1000
    assert client.retries == 1


MALFORMED = [
    b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n[]",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\n[]",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n[]",
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (wire.MAX_HEAD + 10) + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Many: a\r\n" * (wire.MAX_HEAD // 10) + b"\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (wire.MAX_BODY + 1),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",  # then closed
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",  # head cut short, then closed
    b"",  # closed without a word
]


@pytest.mark.parametrize("answer", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_answer_is_a_retriable_error(answer: bytes) -> None:
    """Each malformed head or body: an httpx transport error, a retriable source error."""
    async with serve(answer + CLOSE, answer + CLOSE) as server:
        async with http(server) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/")
        client = LeadConduitClient(server.url, "key", attempts=1)
        try:
            with pytest.raises(RetriableSourceError, match=r"request to .* failed"):
                await client.get("/events", [])
        finally:
            await client.aclose()


async def test_body_over_the_cap_is_refused_from_its_head() -> None:
    """A ``Content-Length`` over :data:`MAX_BODY` fails at once, before any body is read."""
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n[" % (wire.MAX_BODY + 1)
    async with serve(huge) as server, http(server) as client:
        with pytest.raises(httpx.RemoteProtocolError, match=f"over {wire.MAX_BODY}"):
            await client.get("/")


async def test_chunked_body_over_the_cap_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunked body is counted too: over :data:`MAX_BODY` it is an error, not kept."""
    monkeypatch.setattr(wire, "MAX_BODY", 100)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n"
    async with serve(chunked) as server, http(server) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="over 100"):
            await client.get("/")


async def test_chunked_gzip_informational_and_empty_answers() -> None:
    """h11 frames what Content-Length does not; httpx decodes gzip; the connection is kept."""
    page = b'[{"id":"a"}]' * 300
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (page[:100], page[100:]))
    chunked += b"0\r\n\r\n"
    zipped = ok(gzip.compress(page), b"Content-Encoding: gzip")
    continued = b"HTTP/1.1 100 Continue\r\n\r\n" + ok(page)
    empty = b"HTTP/1.1 204 No Content\r\n\r\n"
    answers = (chunked, zipped, continued, empty, ok(page))
    async with serve(*answers) as server, http(server) as client:
        for _ in range(3):
            assert (await client.get("/")).content == page
        response = await client.get("/")
        assert (response.status_code, response.content) == (204, b"")
        response = await client.get("/")
    assert response.content == page
    assert (response.http_version, response.reason_phrase) == ("HTTP/1.1", "OK")
    assert server.connections == 1


async def test_status_classification_and_retry_after_unchanged() -> None:
    """429 with Retry-After and 503 are retriable, 404 fatal, as through httpx's own transport."""
    too_many = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"
    down = b"HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\n\r\ndown"
    missing = b'HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}'
    async with serve(too_many, down, missing) as server:
        client = LeadConduitClient(server.url, "key", attempts=1)
        try:
            with pytest.raises(RetriableSourceError) as caught:
                await client.get("/events", [])
            assert (caught.value.retry_after, caught.value.kind) == (7.0, "http_429")
            with pytest.raises(RetriableSourceError, match="503"):
                await client.get("/events", [])
            with pytest.raises(FatalSourceError, match="404"):
                await client.get("/events", [])
        finally:
            await client.aclose()
    assert server.connections == 1


async def test_read_timeout_before_the_head_and_inside_the_body() -> None:
    """No answer, or a body that stops: a read timeout each time (then a new connection)."""
    stalled_body = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"
    timeout = httpx.Timeout(5, read=0.2)
    async with serve(STALL, stalled_body, ok()) as server, http(server, timeout=timeout) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/")
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/")
        assert (await client.get("/")).content == b"[]"
    assert server.connections == 3


async def test_pool_timeout_and_a_cancelled_request_frees_its_slot() -> None:
    """One connection allowed: a second request waits at most the pool timeout; a request
    cancelled mid-body gives its slot back."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    stalled = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"
    timeout = httpx.Timeout(5, pool=0.2)
    async with serve(stalled, ok()) as server, http(server, limits=limits, timeout=timeout) as c:
        async with c.stream("GET", "/") as held:
            with pytest.raises(httpx.PoolTimeout):
                await c.get("/")
            with anyio.move_on_after(0.2):
                await held.aread()
        assert (await c.get("/")).content == b"[]"
    assert server.connections == 2


async def test_write_timeout_when_the_server_does_not_read() -> None:
    """A request body nobody takes (a listener that never accepts): a write timeout."""
    with socket.socket() as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited, fixed
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        transport = PlainTransport(LIMITS)
        timeout = httpx.Timeout(5, write=0.3)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            with anyio.fail_after(10), pytest.raises(httpx.WriteTimeout):
                await client.post(url, content=b"x" * (64 << 20))


async def test_connect_timeout_and_refused_connection() -> None:
    """A listener whose queue is full drops the handshake: a connect timeout. Nothing
    listening: a connect error."""
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for sock in queued:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        try:
            transport = PlainTransport(LIMITS)
            timeout = httpx.Timeout(5, connect=0.3)
            async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
                with anyio.fail_after(10), pytest.raises(httpx.ConnectTimeout):
                    await client.get(f"http://127.0.0.1:{port}/")
        finally:
            for sock in queued:
                sock.close()
    async with httpx.AsyncClient(transport=PlainTransport(LIMITS)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
