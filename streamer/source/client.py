"""HTTP access to LeadConduit's events API: one place that maps responses to errors.

Every request carries ``Accept: application/json`` (without it the API answers 403
"misconfigured csrf"), Basic auth with user ``API``, and a timeout. 429/5xx, resets,
timeouts and malformed bodies are retriable (honouring ``Retry-After``); 401/403/404 and
other 4xx are fatal with a message that says what to check. An HTML or empty 200 is fatal
only until the API has answered JSON once (before, it means a wrong ``base_url``; after,
it is a maintenance page, retried). The API key is never put
in a message: httpx keeps it in the Authorization header only.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx
import orjson
import structlog

from streamer import version
from streamer.errors import FatalSourceError, RetriableSourceError
from streamer.observability.retry import backoff
from streamer.source.budget import RequestBudget
from streamer.source.decode import PageDecoder, checked_page
from streamer.source.netstream import transport_for

if TYPE_CHECKING:
    from streamer.settings.model import SourceSettings

log = structlog.get_logger("streamer.source")
T = TypeVar("T")
Params = Sequence[tuple[str, str | int]]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(response: httpx.Response, url: str) -> None:
    """Raise the right error for a non-2xx response (the one place this is decided)."""
    status = response.status_code
    if status < 300:
        return
    if status == 429 or status >= 500:
        raise RetriableSourceError(
            f"LeadConduit answered {status} for {url}", retry_after=_retry_after(response),
            kind=f"http_{status}",
        )
    if status == 401:
        raise FatalSourceError(
            f"LeadConduit refused the API key (401) at {url}; check source.api_key "
            "(and that the account has access to Leads)", kind="http_401",
        )
    if status == 403:
        raise FatalSourceError(
            f"LeadConduit answered 403 at {url}; check source.api_key and that "
            "base_url points at LeadConduit", kind="http_403",
        )
    if status == 404:
        raise FatalSourceError(
            f"no events API at {url} (404); check source.base_url (https://app.leadconduit.com)",
            kind="http_404",
        )
    detail = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail = f": {body['error'][:200]}"
    except ValueError:
        pass
    raise FatalSourceError(
        f"LeadConduit rejected the request {url} ({status}){detail}", kind=f"http_{status}"
    )


def parse_page(body: bytes, url: str) -> list[dict[str, Any]]:
    """Decode a page; anything that is not a list of events with ids is retriable."""
    collecting = gc.isenabled()
    if collecting:
        gc.disable()  # a page is ~300k new objects; collecting while they appear is waste
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RetriableSourceError(
            f"malformed page from {url}: invalid JSON", kind="malformed_page"
        ) from None
    finally:
        if collecting:
            gc.enable()
    return checked_page(data, url)


def _gc_paused(fn: Callable[[bytes, str], T], body: bytes, url: str) -> T:
    """Run ``fn`` with the cyclic GC paused: a page makes many objects, none cyclic."""
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return fn(body, url)
    finally:
        if collecting:
            gc.enable()


async def _body(response: httpx.Response) -> bytes:
    """The response body, joined once, not kept on the response.

    A 2-3 MB page arrives in dozens of chunks. ``response.content`` would also keep the
    body on the response, which sits in a reference cycle with its stream and so lives
    until the next garbage collection: with several pages in flight that is tens of MB.
    Error responses are read in full so that :func:`classify` can look at their JSON.
    """
    if response.status_code >= 300:
        return await response.aread()
    chunks = [chunk async for chunk in response.aiter_bytes()]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _raw(body: bytes) -> bytes:
    return body


class LeadConduitClient:
    """Fetches pages with retries; shared by the live poller, backfill and ``check``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_backoff: float = 60.0,
        budget: RequestBudget | None = None,
        attempts: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._budget = budget or RequestBudget(None, 4)
        self._max_backoff = max_backoff
        self._attempts = attempts
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            auth=httpx.BasicAuth("API", api_key),
            headers={"Accept": "application/json", "User-Agent": f"streamer/{version()}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport or transport_for(self.base_url, limits),
            limits=limits,
        )
        self.requests = 0
        self.retries = 0
        self.bytes_read = 0  # response bodies, failed attempts included
        # once a page parsed, an HTML or empty 200 is transient (a maintenance page),
        # not a wrong base_url
        self.answered_json = False


    @classmethod
    def from_settings(
        cls, src: SourceSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> LeadConduitClient:
        """The client as ``source:`` configures it (key, timeout, backoff, request budget).

        One place, so the daemon and backfill cannot drift apart on politeness settings.
        """
        return cls(
            src.base_url,
            src.api_key.get_secret_value(),
            timeout=src.timeout,
            max_backoff=src.max_backoff,
            budget=RequestBudget(src.requests_per_second, src.max_concurrency),
            transport=transport,
        )
    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _once(self, path: str, params: Params) -> bytes:
        url = f"{self.base_url}{path}"
        async with self._budget:
            self.requests += 1
            started = anyio.current_time()
            try:
                async with self._http.stream("GET", path, params=list(params)) as response:
                    body = await _body(response)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self._budget.backed_off()
                raise RetriableSourceError(
                    f"request to {url} failed: {type(exc).__name__}", kind=type(exc).__name__,
                ) from None
        if response.status_code == 429 or response.status_code >= 500:
            self._budget.backed_off()
        self.bytes_read += len(body)
        classify(response, url)
        ctype = response.headers.get("content-type", "")
        html = "json" not in ctype and body.lstrip()[:1] == b"<"
        if html or not body or body.isspace():  # strip() would copy a page that ends in "\n"
            what = "HTML" if html else "an empty body"
            if not self.answered_json:
                raise FatalSourceError(
                    f"{url} answered {what}, not JSON: source.base_url is not the LeadConduit API",
                    kind="not_json",
                )
            # the same URL answered JSON before: a maintenance page or a proxy hiccup
            self._budget.backed_off()
            raise RetriableSourceError(
                f"{url} answered {what} (status 200), not JSON", kind="not_json"
            )
        self._budget.succeeded(anyio.current_time() - started)
        return body

    async def get(
        self, path: str, params: Params, parse: Callable[[bytes], T] = _raw  # type: ignore[assignment]
    ) -> T:
        """GET and ``parse`` with jittered exponential backoff on retriable errors.

        Parsing happens inside the retried block, so a truncated or invalid page is
        fetched again rather than half-processed. Retries are forever by default.
        """
        async for attempt in backoff(max_backoff=self._max_backoff, attempts=self._attempts):
            with attempt:
                if attempt.num > 1:
                    self.retries += 1
                parsed = parse(await self._once(path, params))
                self.answered_json = True
                return parsed
        raise AssertionError("unreachable")  # pragma: no cover

    async def events(
        self, params: Mapping[str, Any] | Params, decoder: PageDecoder | None = None
    ) -> list[dict[str, Any]]:
        """One page of ``GET /events``, validated (partially decoded with ``decoder``)."""
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        flat: list[tuple[str, str | int]] = []
        for key, value in items:
            if isinstance(value, list | tuple):
                flat.extend((key, str(v)) for v in value)
            elif value is not None:
                flat.append((key, value))
        url = f"{self.base_url}/events"
        if decoder is None:
            return await self.get("/events", flat, lambda body: parse_page(body, url))
        return await self.get("/events", flat, lambda body: _gc_paused(decoder.decode, body, url))
