"""The LeadConduit HTTP client against httpx.MockTransport: headers, retries, fatal errors."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest
import stamina

from streamer.errors import FatalSourceError, RetriableSourceError
from streamer.source.client import LeadConduitClient, classify, parse_page

pytestmark = pytest.mark.anyio

KEY = "sk-super-secret-api-key-1234"
EVENT = {"id": "5fd4371e940df5a34a3888b2", "type": "source"}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """Stamina test mode: no waits, at most 5 attempts."""
    with stamina.set_testing(True, attempts=5):
        yield


class Script:
    """Answers requests with a scripted list of responses (or exceptions), recording them."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(handler: Handler, **kwargs: object) -> LeadConduitClient:
    """A client for http://lc.test whose transport is ``handler``."""
    return LeadConduitClient(
        "http://lc.test/", KEY, transport=httpx.MockTransport(handler), **kwargs  # type: ignore[arg-type]
    )


def ok(body: object = None) -> httpx.Response:
    """A 200 JSON page."""
    return httpx.Response(200, json=[EVENT] if body is None else body)


async def test_request_shape() -> None:
    """Every call sends Accept JSON, Basic auth user API, and sort/limit/after_id params."""
    script = Script(ok())
    c = client(script)
    with anyio.fail_after(5):
        events = await c.events({"sort": "asc", "limit": 1000, "after_id": EVENT["id"]})
    await c.aclose()
    assert events == [EVENT]
    (req,) = script.requests
    assert req.url.path == "/events"
    assert req.headers["accept"] == "application/json"
    scheme, token = req.headers["authorization"].split()
    assert scheme == "Basic"
    assert base64.b64decode(token).decode() == f"API:{KEY}"
    assert dict(req.url.params) == {"sort": "asc", "limit": "1000", "after_id": EVENT["id"]}
    assert c.requests == 1
    assert c.retries == 0


async def test_list_params_repeat_and_none_dropped() -> None:
    """List values become repeated params; None values are left out."""
    script = Script(ok([]))
    c = client(script)
    with anyio.fail_after(5):
        await c.events({"include": ["a", "b"], "after_id": None, "sort": "asc"})
    await c.aclose()
    params = script.requests[0].url.params
    assert params.get_list("include") == ["a", "b"]
    assert "after_id" not in params


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retriable_statuses_are_retried(status: int, no_backoff: None) -> None:
    """429 and 5xx are retried until a good page arrives."""
    script = Script(httpx.Response(status), httpx.Response(status), ok())
    c = client(script)
    with anyio.fail_after(5):
        assert await c.events({}) == [EVENT]
    await c.aclose()
    assert len(script.requests) == 3
    assert c.retries == 2


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
    ],
)
async def test_connection_errors_are_retried(error: Exception, no_backoff: None) -> None:
    """Refused connections, timeouts and resets are retried."""
    script = Script(error, ok())
    c = client(script)
    with anyio.fail_after(5):
        assert await c.events({}) == [EVENT]
    await c.aclose()
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, content=b"[{\"id\": \"5fd4371e940df5a3"),
        httpx.Response(200, json={"events": []}),
        httpx.Response(200, json=[{"type": "source"}]),
        httpx.Response(200, json=[{"id": "short"}]),
        httpx.Response(200, json=[EVENT, "x"]),
    ],
)
async def test_malformed_pages_are_retried(bad: httpx.Response, no_backoff: None) -> None:
    """Truncated JSON, non-lists and events without a valid id are fetched again."""
    script = Script(bad, ok())
    c = client(script)
    with anyio.fail_after(5):
        assert await c.events({}) == [EVENT]
    await c.aclose()
    assert len(script.requests) == 2


async def test_attempts_bound_retries() -> None:
    """With attempts=2 a persistent 503 is raised as RetriableSourceError after two tries."""
    script = Script(httpx.Response(503))
    c = client(script, attempts=2, max_backoff=0.01)
    with anyio.fail_after(5), pytest.raises(RetriableSourceError, match="503"):
        await c.events({})
    await c.aclose()
    assert len(script.requests) == 2
    assert c.retries == 1


async def test_retry_after_is_honoured() -> None:
    """A 429 with Retry-After waits that long (longer than the default first backoff)."""
    script = Script(httpx.Response(429, headers={"Retry-After": "0.8"}), ok())
    c = client(script, attempts=3)
    start = time.monotonic()
    with anyio.fail_after(5):
        assert await c.events({}) == [EVENT]
    elapsed = time.monotonic() - start
    await c.aclose()
    assert 0.75 <= elapsed < 2.0  # default first wait is 0.2 s + up to 0.5 s jitter


async def test_backoff_does_not_block_the_event_loop() -> None:
    """Other tasks keep running while the client waits out a Retry-After."""
    script = Script(httpx.Response(429, headers={"Retry-After": "0.5"}), ok())
    c = client(script, attempts=3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.02)
            ticks += 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await c.events({})
            tg.cancel_scope.cancel()
    await c.aclose()
    assert ticks >= 10


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (401, "refused the API key (401)"),
        (403, "403"),
        (404, "no events API"),
        (400, "rejected the request"),
        (422, "rejected the request"),
    ],
)
async def test_fatal_statuses(status: int, fragment: str, no_backoff: None) -> None:
    """401/403/404/other 4xx raise FatalSourceError at once, without the API key."""
    script = Script(httpx.Response(status, json={"error": "nope"}))
    c = client(script)
    with anyio.fail_after(5), pytest.raises(FatalSourceError) as info:
        await c.events({"after_id": EVENT["id"]})
    await c.aclose()
    assert len(script.requests) == 1
    message = str(info.value)
    assert fragment in message
    assert KEY not in message
    assert "http://lc.test/events" in message


async def test_bad_request_includes_api_error_detail() -> None:
    """A 400 carries the API's own error text (truncated), which helps fix the query."""
    script = Script(httpx.Response(400, json={"error": "include and exclude " + "x" * 500}))
    c = client(script)
    with anyio.fail_after(5), pytest.raises(FatalSourceError) as info:
        await c.events({})
    await c.aclose()
    assert ": include and exclude" in str(info.value)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("ctype", ["text/html; charset=utf-8", ""])
async def test_html_page_is_not_the_api(ctype: str) -> None:
    """A 200 HTML answer means base_url is wrong: fatal, no retry."""
    headers = {"content-type": ctype} if ctype else {}
    script = Script(httpx.Response(200, content=b"  <!doctype html><html>", headers=headers))
    c = client(script)
    with anyio.fail_after(5), pytest.raises(FatalSourceError, match="not the LeadConduit API"):
        await c.events({})
    await c.aclose()
    assert len(script.requests) == 1


async def test_messages_never_contain_the_key() -> None:
    """Even retried failures carry no secret in their messages."""
    script = Script(httpx.ConnectError(f"boom {KEY}"))
    c = client(script, attempts=1)
    with anyio.fail_after(5), pytest.raises(RetriableSourceError) as info:
        await c.events({})
    await c.aclose()
    assert KEY not in str(info.value)
    assert "ConnectError" in str(info.value)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "3"}, 3.0), ({"Retry-After": "soon"}, None), ({}, None)],
)
def test_classify_sets_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """classify turns a 429 into a RetriableSourceError carrying Retry-After when numeric."""
    with pytest.raises(RetriableSourceError) as info:
        classify(httpx.Response(429, headers=headers), "u")
    assert info.value.retry_after == expected


def test_classify_accepts_2xx() -> None:
    """A 2xx passes classify silently."""
    classify(httpx.Response(204), "u")


def test_parse_page_accepts_empty_and_valid() -> None:
    """An empty list and a list of events with ids are valid pages."""
    assert parse_page(b"[]", "u") == []
    assert parse_page(b'[{"id": "5fd4371e940df5a34a3888b2"}]', "u") == [{"id": EVENT["id"]}]


async def test_empty_200_at_start_is_not_the_api() -> None:
    """An empty 200 before any JSON page also means base_url is wrong: fatal, no retry."""
    script = Script(httpx.Response(200, content=b""))
    c = client(script)
    with anyio.fail_after(5), pytest.raises(FatalSourceError, match="empty body"):
        await c.events({})
    await c.aclose()
    assert len(script.requests) == 1


@pytest.mark.parametrize("body", [b"<!doctype html><html>maintenance</html>", b"", b"  \n"])
async def test_html_or_empty_200_after_json_is_retried(no_backoff: None, body: bytes) -> None:
    """Once the API answered JSON, an HTML or empty 200 is a transient page: retried."""
    html = httpx.Response(200, content=body, headers={"content-type": "text/html"})
    script = Script(ok(), html, ok())
    c = client(script)
    with anyio.fail_after(5):
        assert await c.events({}) == [EVENT]
        assert await c.events({}) == [EVENT]
    await c.aclose()
    assert len(script.requests) == 3
    assert c.retries == 1


async def test_bytes_read_counts_every_body() -> None:
    """``bytes_read`` adds up response bodies, failed attempts included."""
    page = httpx.Response(200, json=[EVENT])
    script = Script(httpx.Response(503, content=b"busy"), page)
    c = client(script, attempts=2)
    with stamina.set_testing(True, attempts=2), anyio.fail_after(5):
        await c.events({})
    await c.aclose()
    assert c.bytes_read == len(b"busy") + len(page.content)


async def test_httpcore_finds_sniffio_without_a_failed_import() -> None:
    """httpcore imports ``sniffio`` on every request; missing, each is a failed import (~30 µs).

    The dependency is pinned for that alone (issue 17), so its absence must fail here.
    """
    import sniffio

    assert sniffio.current_async_library() == "asyncio"
