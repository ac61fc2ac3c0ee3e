"""``streamer serve -c FILE``: a read-only report API over the archive.

Scripts written against LeadConduit's report API (``GET /reports``, ``GET
/reports/{id}/run``, seed 000) or Close's lead status change report (``GET
/report/statuses/lead/{org_id}/``, seeds 001/003) run unchanged against the archive:

* Basic auth as LeadConduit does it, user ``API`` and the key as password (Close's form,
  the key as user and an empty password, is accepted too); compared in constant time.
* Bound to 127.0.0.1 unless ``report_api.bind`` says otherwise: the archive is the whole
  event history, so exposing it is a decision, not a default.
* A request that would read more than ``report_api.max_events`` events is refused (400)
  instead of occupying the machine; at most one report runs at a time, so memory stays
  that of one report.
* Errors are JSON ``{"error": "..."}`` with 400 (bad range or query), 401, 404.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import re
import time
from typing import Any

import anyio
import anyio.abc
import orjson
import structlog
from aiohttp import web

from streamer.errors import ConfigError
from streamer.observability.metrics import serve_app
from streamer.report.columns import parse_columns
from streamer.report.options import UsageError, parse_time, pick_service
from streamer.report.reader import TimeRange, TooManyEvents
from streamer.report.run import ReadOptions, columns_report, leadconduit_report, read
from streamer.report.scan import Spec, consumer_for
from streamer.report.settings import SavedReport, find
from streamer.report.transitions import TransitionTracker
from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.serve")
CLOSE_KEYS = ("status_overview", "status_transitions", "status_transitions_summary")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
LOADED: web.AppKey[LoadedConfig] = web.AppKey("loaded", LoadedConfig)
RUNNING: web.AppKey[anyio.Lock] = web.AppKey("running", anyio.Lock)


def _error(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]
    headers = {"WWW-Authenticate": 'Basic realm="streamer"'} if status == 401 else None
    return cls(
        text=orjson.dumps({"error": message}).decode(),
        content_type="application/json",
        headers=headers,
    )


def _authorized(header: str, key: str) -> bool:
    """Basic ``API:key`` (LeadConduit) or ``key:`` (Close), compared in constant time."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given, wanted = (password, key) if user == "API" else (user, key if not password else "")
    return hmac.compare_digest(given.encode(), wanted.encode()) and bool(given)


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    key = request.app[LOADED].settings.report_api.api_key
    assert key is not None  # checked at start-up
    if not _authorized(request.headers.get("Authorization", ""), key.get_secret_value()):
        raise _error(401, "authentication required: Basic auth, user API, the report API key")
    response: web.StreamResponse = await handler(request)
    return response


def _json(doc: Any) -> web.Response:
    return web.Response(body=orjson.dumps(doc), content_type="application/json")


def _definition(report: SavedReport) -> dict[str, Any]:
    run = leadconduit_report(report, [], {}, [], list(report.group_by))
    return {"id": report.id, **run, "columns": parse_columns(report.columns)}


async def list_reports(request: web.Request) -> web.Response:
    """``GET /reports``: the saved definitions (``columns`` as column names)."""
    return _json([_definition(r) for r in request.app[LOADED].settings.reports])


def _time(request: web.Request, name: str, *, default: float | None = None) -> float:
    value = request.query.get(name)
    if not value:
        if default is not None:
            return default
        raise _error(400, f"{name} is required: an ISO 8601 time, or epoch seconds or ms")
    try:
        return parse_time(value, name)
    except UsageError as exc:
        raise _error(400, str(exc)) from None


def inclusive_end(end: float) -> float:
    """LeadConduit's ``end`` counts events *at* it; events carry whole seconds."""
    return math.floor(end) + 1


async def _guarded(request: web.Request, work: Any) -> Any:
    """Run one report at a time; too large a range is a 400 naming the limit."""
    async with request.app[RUNNING]:
        began = time.monotonic()
        try:
            result = await work()
        except TooManyEvents as exc:
            raise _error(400, str(exc)) from None
        log.info("report_api.ran", path=request.path, seconds=round(time.monotonic() - began, 3))
        return result


def _options(loaded: LoadedConfig) -> ReadOptions:
    return ReadOptions(max_events=loaded.settings.report_api.max_events)


async def run_report(request: web.Request) -> web.Response:
    """``GET /reports/{id}/run?start=&end=``: LeadConduit's Report array; ``end`` inclusive."""
    loaded = request.app[LOADED]
    ref = request.match_info["id"]
    report = find(list(loaded.settings.reports), ref)
    if report is None or ref == report.name != report.token:
        raise _error(404, f"no report with id or token {ref!r}")
    start, end = _time(request, "start"), _time(request, "end")
    if start > end:
        raise _error(400, "start must not be after end")
    rng = TimeRange(start, inclusive_end(end))
    service = pick_service(loaded, loaded.settings.report_api.service)
    columns = parse_columns(report.columns)
    group_by = list(report.group_by)
    rules, options = report.rules_json(), _options(loaded)
    agg, _stats = await _guarded(
        request, lambda: columns_report(loaded, service, rng, group_by, rules, options)
    )
    rows, total = agg.rows(columns), agg.total(columns)
    return _json([leadconduit_report(report, rows, total, columns, group_by)])


def _close_end(value: str | None, request: web.Request) -> float:
    if value and _DATE.fullmatch(value.strip()):
        return _time(request, "date_end") + 86400  # a date means through that day
    return _time(request, "date_end", default=time.time())


async def lead_statuses(request: web.Request) -> web.Response:
    """``GET /report/statuses/lead/{org_id}/``: Close's lead status change report."""
    loaded = request.app[LOADED]
    api = loaded.settings.report_api
    if api.org_id is not None and request.match_info["org_id"] != api.org_id:
        raise _error(404, f"no organization {request.match_info['org_id']!r}")
    start = _time(request, "date_start", default=0.0)
    end = _close_end(request.query.get("date_end"), request)
    if start >= end:
        raise _error(400, "date_start must be before date_end")
    rules = _query_rules(request.query.get("query"))
    spec = Spec("transitions", 0.0, end, (), rules, start)
    tracker = consumer_for(spec)
    service = pick_service(loaded, api.service)
    read_range, report_range, options = TimeRange(0.0, end), TimeRange(start, end), _options(loaded)
    await _guarded(
        request, lambda: read(loaded, service, read_range, report_range, spec, tracker, options)
    )
    assert isinstance(tracker, TransitionTracker)
    doc = tracker.report()
    return _json({k: doc[k] for k in CLOSE_KEYS})


def _query_rules(query: str | None) -> str | None:
    """``query`` is a rule set as JSON (docs/rules.md forms); validated like the config's."""
    if not query:
        return None
    from streamer.rules import RuleError, compile_rule_set

    try:
        doc = orjson.loads(query)
        compile_rule_set(doc, path="query")
    except orjson.JSONDecodeError:
        raise _error(400, "query must be a rule set as JSON (see docs/rules.md)") from None
    except RuleError as exc:
        raise _error(400, str(exc)) from None
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def build_app(loaded: LoadedConfig) -> web.Application:
    """The API's routes over ``loaded``'s archive (checked: a key is configured)."""
    if loaded.settings.report_api.api_key is None:
        raise ConfigError(["report_api.api_key: required (or api_key_file) to serve reports"])
    try:
        pick_service(loaded, loaded.settings.report_api.service)
    except UsageError as exc:
        raise ConfigError([f"report_api.service: {exc}"]) from None
    app = web.Application(middlewares=[_auth])
    app[LOADED] = loaded
    app[RUNNING] = anyio.Lock()
    app.router.add_get("/reports", list_reports)
    app.router.add_get("/reports/{id}/run", run_report)
    app.router.add_get("/report/statuses/lead/{org_id}/", lead_statuses)
    app.router.add_get("/report/statuses/lead/{org_id}", lead_statuses)
    return app


async def serve(
    loaded: LoadedConfig,
    bind: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled (SIGINT/SIGTERM in ``main``); started once it listens."""
    await serve_app(
        build_app(loaded), bind, port, what="report_api", key="report_api.port",
        task_status=task_status, reports=len(loaded.settings.reports),
    )


__all__ = ["build_app", "inclusive_end", "serve"]
