"""The plain-HTTP transport under httpx: keep-alive connections that read a page in one piece.

Why: httpx over httpcore and h11 copies a 2.8 MB page body four or five times and hands
it through the whole stack once per read (issue 17). httpx stays the client (auth,
params, timeouts, event hooks, responses, content decoding); only the transport under
it is ours, for plain ``http://`` (the simulator, a local proxy): a pool of
:class:`~streamer.source.wire.Wire` connections, which let h11 write the request and
parse the response head, then read a ``Content-Length`` body with as few ``recv`` calls
as the kernel allows (chunked or close-delimited bodies stay with h11).

TLS connections keep httpx's own transport, see :func:`transport_for`.

The pool follows ``httpx.Limits`` as httpcore does: at most ``max_connections`` in use
(waiting at most the ``pool`` timeout for one), at most ``max_keepalive_connections``
kept idle, each for ``keepalive_expiry`` seconds; an idle connection the server closed
(EOF or stray bytes waiting) is dropped, never reused.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator

import anyio
import h11
import httpx

from streamer.source.wire import Wire, connect

Origin = tuple[str, int]


class _Body(httpx.AsyncByteStream):
    """A response body; closing it hands the connection back (kept only if fully read)."""

    def __init__(
        self,
        pool: PlainTransport,
        origin: Origin,
        wire: Wire,
        length: int | None,
        timeout: float | None,
    ) -> None:
        self._pool, self._origin, self._wire = pool, origin, wire
        self._length, self._timeout = length, timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._length is None:
            async for chunk in self._wire.framed(self._timeout):
                yield chunk
            return
        body = await self._wire.body(self._length, self._timeout)
        if body:
            yield body

    async def aclose(self) -> None:
        """Return the connection to the pool (or close it)."""
        if not self._released:
            self._released = True
            self._pool.release(self._origin, self._wire)


class PlainTransport(httpx.AsyncBaseTransport):
    """httpx's transport for ``http://`` URLs: a pool of :class:`Wire` connections."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._idle: dict[Origin, list[Wire]] = {}
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        limit = limits.max_connections
        self._slots = anyio.Semaphore(limit) if limit is not None else None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the response head; the body is read as it is iterated."""
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"the plain-HTTP transport cannot fetch {url}")
        timeouts = request.extensions.get("timeout", {})
        head = h11.Request(
            method=request.method.encode("ascii"),
            target=url.raw_path,
            headers=request.headers.raw,
        )
        content = await request.aread()
        origin = (url.host, url.port or 80)
        wire = await self._acquire(origin, timeouts)
        try:
            await wire.send(head, content, timeouts.get("write"))
            response, length = await wire.head(timeouts.get("read"))
        except BaseException:
            self.release(origin, wire)
            raise
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw_items(),
            stream=_Body(self, origin, wire, length, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
        )

    async def _acquire(self, origin: Origin, timeouts: dict[str, float | None]) -> Wire:
        """An idle live connection to ``origin``, or a new one, within the pool's limit."""
        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        if self._slots is not None:
            try:
                self._slots.acquire_nowait()
            except anyio.WouldBlock:
                try:
                    with anyio.fail_after(timeouts.get("pool")):
                        await self._slots.acquire()
                except TimeoutError:
                    raise httpx.PoolTimeout("timed out waiting for a connection") from None
        try:
            idle, now = self._idle.get(origin, []), time.monotonic()
            while idle:
                wire = idle.pop()
                if (self._expiry is None or now - wire.idle_since <= self._expiry) and not (
                    wire.stale()
                ):
                    return wire
                wire.close()
            return await connect(origin[0], origin[1], timeouts.get("connect"))
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def release(self, origin: Origin, wire: Wire) -> None:
        """Keep ``wire`` for the next request if it may be reused, else close it."""
        idle = self._idle.setdefault(origin, [])
        if (
            wire.reusable
            and not self._closed
            and (self._max_idle is None or len(idle) < self._max_idle)
        ):
            wire.idle_since = time.monotonic()
            idle.append(wire)
        else:
            wire.close()
        if self._slots is not None:
            self._slots.release()

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their response does."""
        self._closed = True
        for idle in self._idle.values():
            for wire in idle:
                wire.close()
            idle.clear()


def transport_for(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The plain-HTTP transport for an ``http://`` URL without a proxy, else None (httpx's)."""
    if not base_url.startswith("http://"):
        return None
    proxies = urllib.request.getproxies()
    if "http" in proxies or "all" in proxies:
        return None
    return PlainTransport(limits)
