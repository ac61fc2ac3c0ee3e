"""The HTTP side of the simulator: LeadConduit's `GET /events` and `GET /events/{id}`.

Authentication and headers behave like the real API: HTTP Basic whose password is the API
key (the user name is ignored, as LeadConduit ignores it), and `Accept: application/json`
is mandatory (403 otherwise). `POST /events` takes the same query as a JSON body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import orjson
import structlog
from aiohttp import web

from streamer.simulator.faults import FaultPlan, respond_with_fault
from streamer.simulator.ids import is_id
from streamer.simulator.options import SimulatorOptions
from streamer.simulator.query import QueryError, parse_query
from streamer.simulator.state import SimulatorState

__all__ = ["RunningSimulator", "build_app", "serve", "start_simulator"]

log = structlog.get_logger(__name__)
STATE_KEY = web.AppKey("state", SimulatorState)
_FAULTS_KEY = web.AppKey("faults", FaultPlan)
_CSRF_ERROR = "misconfigured csrf: check Accept header is set properly"
REPEAT_BACK = 30.0  # fault `repeat` also resends events this many seconds below after_id
SHUTDOWN_GRACE = 0.25  # seconds in-flight requests may take to finish when the simulator stops


@dataclass(frozen=True)
class RunningSimulator:
    """A started simulator: its base URL and the state behind it (for assertions)."""

    url: str
    state: SimulatorState
    app: web.Application


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _denied(request: web.Request, api_key: str) -> web.Response | None:
    """401 unless Basic auth carries the key, 403 unless JSON is explicitly accepted."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    password = ""
    if scheme.lower() == "basic":
        try:
            password = base64.b64decode(encoded, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            password = ""
    if not password or not hmac.compare_digest(password.encode(), api_key.encode()):
        return _error(401, "Unauthorized")
    accepted = (
        part.split(";")[0].strip().lower()
        for value in request.headers.getall("Accept", [])
        for part in value.split(",")
    )
    if "application/json" not in accepted:
        return _error(403, _CSRF_ERROR)
    return None


async def _prologue(request: web.Request) -> tuple[SimulatorState, web.Response | None]:
    state = request.app[STATE_KEY]
    if state.options.latency:
        await asyncio.sleep(state.options.latency)
    return state, _denied(request, state.options.api_key)


async def _serve_query(
    request: web.Request, state: SimulatorState, params: Mapping[str, Sequence[str]]
) -> web.StreamResponse:
    try:
        query = parse_query(params)
    except QueryError as exc:
        return _error(400, str(exc))
    items = state.items(query)
    fault = request.app[_FAULTS_KEY].next()
    if fault == "repeat":
        # a server that does not honour after_id exactly: the event at it and two from
        # REPEAT_BACK seconds further down come back after the page (out of order), and
        # the page's first event twice
        again = [*state.below(query, 2, REPEAT_BACK), *state.below(query, 1)]
        items = [*items, *again, *items[:1]]
    body, count = b"[" + b",".join(items) + b"]", len(items)
    state.bytes_served += len(body)
    if fault is not None and fault != "repeat":
        state.faults[fault] += 1
        log.info("simulator.fault_injected", kind=fault, request=state.requests)
        return await respond_with_fault(request, fault, state.options, body)
    if fault is not None:
        state.faults[fault] += 1
    state.events_served += count
    return web.Response(body=body, content_type="application/json")


async def _list_events(request: web.Request) -> web.StreamResponse:
    state, denied = await _prologue(request)
    state.requests += 1
    if denied is not None:
        return denied
    params = {key: request.query.getall(key) for key in set(request.query.keys())}
    return await _serve_query(request, state, params)


async def _post_events(request: web.Request) -> web.StreamResponse:
    """`POST /events`: the `EventQuery` as a JSON object, for rule sets too long for a URL."""
    state, denied = await _prologue(request)
    state.requests += 1
    if denied is not None:
        return denied
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "body must be a JSON object")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return await _serve_query(request, state, _params_from_json(body))


def _params_from_json(body: dict[str, Any]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in body.items():
        if value is None:
            continue
        if key == "rules":
            params[key] = [orjson.dumps(value).decode()]
        elif isinstance(value, list):
            params[key] = [str(v) for v in value]
        else:
            params[key] = [str(value)]
    return params


async def _get_event(request: web.Request) -> web.StreamResponse:
    state, denied = await _prologue(request)
    if denied is not None:
        return denied
    event_id = request.match_info["id"]
    if not is_id(event_id):
        return _error(400, f"id must be a 24 character hex id, got {event_id!r}")
    blob = state.get(event_id.lower())
    if blob is None:
        return _error(404, "Not Found")
    return web.Response(body=blob, content_type="application/json")


def build_app(
    options: SimulatorOptions, clock: Callable[[], float] = time.time
) -> web.Application:
    """Generate the backlog and return the aiohttp application serving it.

    Generation is synchronous (about 45k events/s); `start_simulator` runs it in a worker
    thread so a large backlog does not stall the event loop.
    """
    app = web.Application()
    app[STATE_KEY] = SimulatorState(options, clock)
    app[_FAULTS_KEY] = FaultPlan(options)
    app.router.add_get("/events", _list_events)
    app.router.add_post("/events", _post_events)
    app.router.add_get("/events/{id}", _get_event)
    return app


@asynccontextmanager
async def start_simulator(
    options: SimulatorOptions | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[RunningSimulator]:
    """Run the simulator on `host:port` (0 = a free port) for the duration of the block.

    `clock` (wall-clock seconds) drives live events and late visibility.
    """
    options = SimulatorOptions() if options is None else options
    app = await anyio.to_thread.run_sync(build_app, options, clock)
    # on exit, requests still in flight get SHUTDOWN_GRACE to finish, then are cancelled:
    # only an injected `latency` keeps a handler that long, and its client has given up
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        url = f"http://{url_host}:{bound_port}"
        log.info(
            "simulator.started",
            url=url,
            events=options.events,
            seed=options.seed,
            live_rate=options.live_rate,
        )
        yield RunningSimulator(url=url, state=app[STATE_KEY], app=app)
    finally:
        await runner.cleanup()


async def serve(options: SimulatorOptions, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the simulator until cancelled (the `streamer simulate` entry point)."""
    async with start_simulator(options, host, port):
        await anyio.sleep_forever()
