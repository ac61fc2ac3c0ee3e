"""A plain-TCP network backend for httpx that reads what the socket holds in one go.

Why: httpx (through httpcore and anyio's asyncio stream) receives a 2-3 MB page in about
90 chunks of ~32 KB, and every chunk travels the whole stack (event-loop wake-up, anyio,
httpcore, h11, httpx): ~45 µs of Python per chunk, ~4 µs of CPU per event, where
``http.client`` needs under 1 µs for the same bytes. This backend keeps httpx, httpcore
and h11 but gives them big reads: ``read`` takes everything the kernel already buffered
(up to :data:`READ_SIZE`) with non-blocking ``recv`` calls and waits on the event loop
only when the socket is empty.

Only plain ``http://`` uses it (the simulator, a local proxy); TLS connections keep
httpx's default transport, see :func:`transport_for`.
"""

# ruff: noqa: ASYNC109  (the `timeout` parameters are httpcore's interface)
from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import anyio
import httpcore
import httpx

#: the most one ``read`` returns; h11 accepts any size, httpcore asks for 64 KiB
READ_SIZE = 1 << 20
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


@contextlib.contextmanager
def _mapped(timeout_error: type[Exception], os_error: type[Exception]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise timeout_error(str(exc) or "timed out") from exc
    except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
        raise os_error(str(exc) or type(exc).__name__) from exc


class SocketStream(httpcore.AsyncNetworkStream):
    """One connected non-blocking TCP socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Up to ``max(max_bytes, READ_SIZE)`` bytes: whatever is buffered, waiting if none."""
        want = max(max_bytes, READ_SIZE)
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError), anyio.fail_after(timeout):
            while True:
                try:
                    first = self._sock.recv(want)
                    break
                except BlockingIOError:
                    await anyio.wait_readable(self._sock)
        if not first or len(first) >= want:
            return first
        chunks, got = [first], len(first)
        while got < want:
            try:
                more = self._sock.recv(want - got)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # reported by the next read, after what arrived is handed over
            if not more:
                break  # end of stream: the next read returns b""
            chunks.append(more)
            got += len(more)
        return b"".join(chunks) if len(chunks) > 1 else first

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of ``buffer``."""
        view = memoryview(buffer)
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError), anyio.fail_after(timeout):
            while view:
                try:
                    sent = self._sock.send(view)
                except BlockingIOError:
                    await anyio.wait_writable(self._sock)
                    continue
                view = view[sent:]

    async def aclose(self) -> None:
        """Close the socket (waking any task waiting on it)."""
        if self._sock.fileno() >= 0:
            anyio.notify_closing(self._sock)
            self._sock.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Not supported: TLS connections use httpx's default transport."""
        raise httpcore.ConnectError("TLS over the plain-HTTP transport is not supported")

    def get_extra_info(self, info: str) -> Any:
        """What httpcore asks: the socket, and whether an idle connection was closed."""
        if info == "socket":
            return self._sock
        if info == "is_readable":
            return _readable(self._sock)
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "client_addr":
            return self._sock.getsockname()
        return None


def _readable(sock: socket.socket) -> bool:
    """Whether an idle keep-alive socket has data or EOF (then it must not be reused)."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True  # unexpected bytes, or b"" at EOF: either way the connection is done


class Backend(httpcore.AsyncNetworkBackend):
    """Opens :class:`SocketStream` connections."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host`` and connect to the first address that answers."""
        last: OSError = OSError(errno.EHOSTUNREACH, f"no address for {host}")
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError), anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for family, kind, proto, _name, address in infos:
                sock = socket.socket(family, kind, proto)
                try:
                    await _connect(sock, address, local_address, socket_options or ())
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return SocketStream(sock)
            raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:  # pragma: no cover - never configured
        """Not used by streamer."""
        raise httpcore.ConnectError("unix sockets are not supported by this backend")

    async def sleep(self, seconds: float) -> None:
        """httpcore's retry pause."""
        await anyio.sleep(seconds)


async def _connect(
    sock: socket.socket,
    address: Any,
    local_address: str | None,
    options: Iterable[SocketOption],
) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for option in options:
        sock.setsockopt(*option)
    if local_address:
        sock.bind((local_address, 0))
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS):
        raise OSError(code, os.strerror(code))
    if code:
        await anyio.wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))


class PlainTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with :class:`Backend` underneath (plain HTTP only)."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(verify=False, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=Backend(),
        )


def transport_for(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The plain-HTTP transport for an ``http://`` URL without a proxy, else None (httpx's)."""
    if not base_url.startswith("http://"):
        return None
    proxies = urllib.request.getproxies()
    if "http" in proxies or "all" in proxies:
        return None
    return PlainTransport(limits)
