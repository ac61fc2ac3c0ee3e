"""Injected failures: what a flaky LeadConduit (or the proxies in front of it) can do.

Each kind exercises a different client path: `429` (with `Retry-After`) and `5xx` are plain
retriable statuses; `reset` drops the connection with no response; `truncate` promises more
bytes than it sends; `badjson` is a complete 200 whose body does not parse; `html` is a
200 maintenance page (what a proxy or CDN in front of the API serves); `empty` is a 200
with no body; `repeat` (built in the server, which knows the events) sends the page plus
events at and 30 s below `after_id`, out of order, and one event twice.
"""

from __future__ import annotations

import random

from aiohttp import web

from streamer.simulator.options import SimulatorOptions

__all__ = ["FaultPlan", "respond_with_fault"]

_STATUS_TEXT = {
    "429": "Too Many Requests",
    "500": "Internal Server Error",
    "502": "Bad Gateway",
    "503": "Service Unavailable",
}


MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><h1>We'll be back shortly</h1></body></html>"
)


class FaultPlan:
    """Decides, request by request, whether to fail and how, reproducibly from the seed."""

    def __init__(self, options: SimulatorOptions) -> None:
        self._options = options
        self._rng = random.Random(f"{options.seed}:faults")
        self._seen = 0

    def next(self) -> str | None:
        """The fault for the next eligible request, or None to serve it normally."""
        opts = self._options
        n = self._seen - opts.fault_after
        self._seen += 1
        if n < 0:
            return None
        if n < opts.fail_first:
            return opts.faults[n % len(opts.faults)]
        if opts.fail_rate and self._rng.random() < opts.fail_rate:
            return self._rng.choice(opts.faults)
        return None


def _format_seconds(seconds: float) -> str:
    """Whole seconds as HTTP wants them; fractions kept so tests can use short waits."""
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def respond_with_fault(
    request: web.Request, kind: str, options: SimulatorOptions, body: bytes
) -> web.StreamResponse:
    """Send (or fail to send) the response for fault `kind`; `body` is the real page."""
    if kind in _STATUS_TEXT:
        headers = {}
        if kind == "429" and options.retry_after is not None:
            headers["Retry-After"] = _format_seconds(options.retry_after)
        return web.json_response({"error": _STATUS_TEXT[kind]}, status=int(kind), headers=headers)
    if kind == "badjson":
        return web.Response(body=body[: max(len(body) // 2, 1)], content_type="application/json")
    if kind == "truncate":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body) + 1
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        _abort(request)
        return response
    if kind == "html":
        return web.Response(body=MAINTENANCE_PAGE, content_type="text/html")
    if kind == "empty":
        return web.Response(body=b"", content_type="application/json")
    if kind == "reset":
        _abort(request)
        return web.Response(status=500)
    raise ValueError(f"unknown fault kind {kind!r}")
