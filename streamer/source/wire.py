"""One plain-HTTP/1.1 connection that reads a ``Content-Length`` body in one piece.

Why: through httpcore and h11 a 2.8 MB page body is copied four or five times (h11's
receive buffer, its slicing, httpcore's ``bytes``, the caller's join) and travels the
whole stack once per read: ~1.75 ms of CPU per page against ~0.4 ms with
``http.client`` (issue 17). Here h11 still writes the request and parses the response
head (status line, headers, framing rules), but a body of known length is then taken
from the socket with as few ``recv`` calls as the kernel allows, and joined at most
once: when the body is already buffered, one ``recv`` makes the page's ``bytes``.
Chunked and close-delimited bodies (and 1xx/204/304 answers) keep going through h11.

Every failure is an httpx transport error (retriable for the client): a connection
closed before the whole body, a malformed head, a head over :data:`MAX_HEAD`, a body
over :data:`MAX_BODY`. Timeouts are httpx's: ``read`` bounds every wait for bytes,
``write`` every wait to send.
"""

# ruff: noqa: ASYNC109  (timeouts are httpx's per-operation values, not a deadline)
from __future__ import annotations

import errno
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import h11
import httpx

#: the most a response head (status line and headers) may take
MAX_HEAD = 64 * 1024
#: the largest response body accepted (a 1000-event page is ~3 MB)
MAX_BODY = 256 * 1024 * 1024
#: the most one read takes for a chunked or a close-delimited body
READ_SIZE = 1 << 20
#: how much is looked at to find the end of a response head (heads are ~200 bytes)
PEEK_SIZE = 16 * 1024
_END = b"\r\n\r\n"


async def _wait(sock: socket.socket, timeout: float | None, *, write: bool = False) -> None:
    """Wait until ``sock`` can be read (or written), as httpx's timeout error if too long."""
    try:
        with anyio.fail_after(timeout):
            if write:
                await anyio.wait_writable(sock)
            else:
                await anyio.wait_readable(sock)
    except TimeoutError:
        raise (httpx.WriteTimeout if write else httpx.ReadTimeout)("timed out") from None
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
        error = httpx.WriteError if write else httpx.ReadError
        raise error(str(exc) or type(exc).__name__) from exc


def _length(method: bytes, head: h11.Response) -> int | None:
    """The body's length when ``Content-Length`` alone frames it, else None (h11 reads it)."""
    if method == b"HEAD" or head.status_code in (204, 304):
        return None
    length = None
    for name, value in head.headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)  # h11 checked it is one non-negative integer
    if length is not None and length > MAX_BODY:
        raise httpx.RemoteProtocolError(f"response body of {length} bytes is over {MAX_BODY}")
    return length


def _keeps_alive(head: h11.Request | h11.Response) -> bool:
    """HTTP/1.1 without ``Connection: close`` (h11's own rule)."""
    if head.http_version < b"1.1":
        return False
    return not any(
        name == b"connection" and b"close" in value.lower() for name, value in head.headers
    )


class Wire:
    """A connected non-blocking socket, one request/response at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reusable = False  # set once a whole response was read and both sides keep alive
        self.idle_since = 0.0
        self._h11 = h11.Connection(h11.CLIENT)
        self._method = b"GET"
        self._keep = False  # both sides asked for keep-alive

    def close(self) -> None:
        """Close the socket (waking any task waiting on it)."""
        self.reusable = False
        if self.sock.fileno() >= 0:
            anyio.notify_closing(self.sock)
            self.sock.close()

    def stale(self) -> bool:
        """Whether an idle connection has data or EOF waiting (then it must not be reused)."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True  # unexpected bytes, or b"" at EOF: either way the connection is done

    async def send(self, request: h11.Request, body: bytes, timeout: float | None) -> None:
        """Write the request (h11 checks and frames it)."""
        self._h11 = h11.Connection(h11.CLIENT)
        self._method = request.method
        self.reusable = False
        try:
            data = self._h11.send(request) or b""
            if body:
                data += self._h11.send(h11.Data(data=body)) or b""
            data += self._h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        self._keep = _keeps_alive(request)
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                await _wait(self.sock, timeout, write=True)
                continue
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            view = view[sent:]

    async def recv(self, size: int, timeout: float | None) -> bytes:
        """Up to ``size`` bytes, waiting (at most ``timeout``) only when none are buffered."""
        while True:
            try:
                return self.sock.recv(size)
            except BlockingIOError:
                pass
            except OSError as exc:
                raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
            await _wait(self.sock, timeout)

    async def _head_bytes(self, timeout: float | None) -> bytes:
        """Take one response head off the socket, leaving the body's bytes in the kernel.

        The head is found by peeking, so that the body can then be read in one ``recv``
        of its length (one copy) instead of a first chunk joined to the rest.
        """
        buf = b""
        while True:
            while True:
                try:
                    peeked = self.sock.recv(PEEK_SIZE, socket.MSG_PEEK)
                    break
                except BlockingIOError:
                    await _wait(self.sock, timeout)
                except OSError as exc:
                    raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
            if not peeked:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            end = (buf[-3:] + peeked).find(_END)
            if end >= 0:
                want = end + len(_END) - len(buf[-3:])
                while want:
                    more = await self.recv(want, timeout)  # already buffered: never waits
                    if not more:  # pragma: no cover - peeked bytes are there unless reset
                        raise httpx.RemoteProtocolError(
                            "Server disconnected inside a response head."
                        )
                    buf, want = buf + more, want - len(more)
                if len(buf) > MAX_HEAD:
                    raise httpx.RemoteProtocolError(f"response head over {MAX_HEAD} bytes")
                return buf
            buf += await self.recv(len(peeked), timeout)  # an incomplete head: wait for more
            if len(buf) > MAX_HEAD:
                raise httpx.RemoteProtocolError(f"response head over {MAX_HEAD} bytes")

    async def head(self, timeout: float | None) -> tuple[h11.Response, int | None]:
        """The final response head and the body's length if ``Content-Length`` frames it."""
        while True:
            try:
                self._h11.receive_data(await self._head_bytes(timeout))
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(f"malformed response head: {exc}") from exc
            if isinstance(event, h11.Response):
                self._keep = self._keep and _keeps_alive(event)
                return event, _length(self._method, event)
            if not isinstance(event, h11.InformationalResponse):  # pragma: no cover - h11
                raise httpx.RemoteProtocolError(
                    f"unexpected {type(event).__name__} in a response head"
                )

    async def body(self, length: int, timeout: float | None) -> bytes:
        """Exactly ``length`` body bytes; fewer before EOF is an error, never a short body."""
        chunks: list[bytes] = []
        got = 0
        while got < length:
            chunk = await self.recv(length - got, timeout)
            if not chunk:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body: "
                    f"received {got} bytes, expected {length}"
                )
            chunks.append(chunk)
            got += len(chunk)
        self.reusable = self._keep
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def framed(self, timeout: float | None) -> AsyncIterator[bytes]:
        """A body h11 frames (chunked, until close, or none), as h11 hands it out."""
        conn, got = self._h11, 0
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await self.recv(READ_SIZE, timeout))
                elif isinstance(event, h11.Data):
                    got += len(event.data)
                    if got > MAX_BODY:
                        raise httpx.RemoteProtocolError(f"response body over {MAX_BODY} bytes")
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self.reusable = self._keep and conn.their_state is h11.DONE
                    self.reusable = self.reusable and not conn.trailing_data[0]
                    return
                else:  # pragma: no cover - h11 raises on a close before the end
                    raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc


async def connect(host: str, port: int, timeout: float | None) -> Wire:
    """A :class:`Wire` to the first address of ``host`` that accepts, within ``timeout``."""
    last: OSError = OSError(f"no address for {host}")
    try:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for family, kind, proto, _name, address in infos:
                sock = socket.socket(family, kind, proto)
                try:
                    await _connect(sock, address)
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                except BaseException:
                    sock.close()
                    raise
                return Wire(sock)
    except TimeoutError:
        raise httpx.ConnectTimeout("timed out") from None
    except OSError as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    raise httpx.ConnectError(str(last) or type(last).__name__)


async def _connect(sock: socket.socket, address: Any) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = sock.connect_ex(address)
    if code not in (0, errno.EINPROGRESS):
        raise OSError(code, os.strerror(code))
    if code:
        await anyio.wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code))
