"""Prometheus metrics and the ``/metrics``, ``/healthz``, ``/readyz`` endpoints.

Names follow Prometheus conventions (``streamer_<noun>_<unit>_total``). Labels are
service names, stage names and error kinds: never keys, buckets' secrets or event data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import stamina.instrumentation as si
import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from streamer import version
from streamer.errors import FatalError, StreamerError

if TYPE_CHECKING:
    from aiohttp import web

    from streamer.daemon.runstate import RunState

log = structlog.get_logger("streamer.metrics")


class Metrics:
    """Every metric the daemon exports, on a private registry (tests get their own)."""

    def __init__(self) -> None:
        # no *_created series: they would double the series count for a value nobody reads
        disable_created_metrics()  # type: ignore[no-untyped-call]
        r = self.registry = CollectorRegistry()
        self._source(r)
        self._delivery(r)
        self._health(r)
        # process_resident_memory_bytes & co.: the in-flight memory an operator alerts on
        ProcessCollector(registry=r)
        self.started = time.monotonic()
        self.last_progress = time.monotonic()
        self.idle = False

    def _source(self, r: CollectorRegistry) -> None:
        """What the API sent and what the stages kept or dropped."""
        self.fetched = Counter(
            "streamer_events_fetched",
            "Events handed to the pipeline (new ids: main stream and late; repeats excluded)",
            registry=r,
        )
        self.source_requests = Counter(
            "streamer_source_requests", "Requests to the events API (retries included), by kind",
            ["kind"], registry=r,
        )
        self.source_bytes = Counter(
            "streamer_source_bytes", "Response bytes read from the events API, by kind",
            ["kind"], registry=r,
        )
        self.source_events_read = Counter(
            "streamer_source_events_read",
            "Events (or ids, for re-scans) the API sent, repeats included, by kind",
            ["kind"], registry=r,
        )
        self.source_dropped = Counter(
            "streamer_source_events_dropped",
            "Events the API sent that were not delivered (outside the bounds, repeated)",
            ["reason"], registry=r,
        )
        for kind in ("main", "rescan", "fetch_missing"):
            for counter in (self.source_requests, self.source_bytes, self.source_events_read):
                counter.labels(kind)
        self.kept = Counter("streamer_events_kept", "Events that passed every stage", registry=r)
        self.dropped = Counter(
            "streamer_events_dropped", "Events dropped, by stage", ["stage"], registry=r
        )

    def _delivery(self, r: CollectorRegistry) -> None:
        """What reached the sinks, how long it took, what failed or was retried."""
        self.written_events = Counter(
            "streamer_events_written", "Events durably written, by service", ["service"],
            registry=r,
        )
        self.written_bytes = Counter(
            "streamer_bytes_written", "Bytes durably written, by service", ["service"], registry=r
        )
        self.written_objects = Counter(
            "streamer_objects_written", "Objects created, by service", ["service", "outcome"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamer_batch_write_seconds", "Time to write one object, by service", ["service"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r,
        )
        self.errors = Counter(
            "streamer_errors", "Errors by component and kind", ["component", "kind"], registry=r
        )
        self.retries = Counter(
            "streamer_retries", "Retried requests, by component", ["component"], registry=r
        )

    def _health(self, r: CollectorRegistry) -> None:
        """Where the checkpoint stands and what state the run is in."""
        self.checkpoint_time = Gauge(
            "streamer_checkpoint_timestamp_seconds", "Creation time of the checkpoint id",
            registry=r,
        )
        self.lag = Gauge(
            "streamer_checkpoint_lag_seconds", "How far the checkpoint is behind now", registry=r
        )
        self.late_caught = Counter(
            "streamer_late_events_caught", "Late-visible events delivered by the re-scan",
            registry=r,
        )
        self.late_beyond = Counter(
            "streamer_late_events_beyond_window",
            "Late events found beyond lag_window (delivered; widen the window)", registry=r,
        )
        self.inflight_bytes = Gauge(
            "streamer_inflight_bytes", "Encoded bytes of batches not yet durable", registry=r
        )
        self.retention_days_left = Gauge(
            "streamer_checkpoint_retention_days_left",
            "Days before the checkpoint falls out of LeadConduit's 90-day retention", registry=r,
        )
        self.up = Gauge("streamer_up", "1 while the daemon runs", registry=r)
        self.run_state = Gauge(
            "streamer_run_state", "1 for the current run state (starting, waiting_for_lease, "
            "recovering, running, draining)", ["state"], registry=r,
        )
        self.dead_letters = Counter(
            "streamer_dead_letters", "Events written to a dead-letter prefix instead of their "
            "own route, by service and reason", ["service", "reason"], registry=r,
        )
        self.build_info = Gauge(
            "streamer_build_info", "Always 1; the running version is the label", ["version"],
            registry=r,
        )
        self.build_info.labels(version()).set(1)

    def progressed(self) -> None:
        """The checkpoint moved or the source answered: the daemon is not stuck."""
        self.last_progress = time.monotonic()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


_current: ContextVar[Metrics | None] = ContextVar("streamer_metrics", default=None)


def error_kind(exc: BaseException) -> tuple[str, str]:
    """``(component, kind)`` of a retried error, from its typed attributes (errors.py).

    A small, fixed vocabulary set where the error is raised: rewording a message never
    changes a label. Anything that is not a StreamerError is labelled by its class.
    """
    if isinstance(exc, StreamerError):
        return exc.component, exc.kind
    return "other", type(exc).__name__


def _on_retry(details: object) -> None:
    metrics = _current.get()
    if metrics is None:
        return
    exc = getattr(details, "caused_by", None)
    component, kind = error_kind(exc) if isinstance(exc, BaseException) else ("other", "unknown")
    metrics.retries.labels(component).inc()
    metrics.errors.labels(component, kind).inc()


@contextmanager
def count_retries(metrics: Metrics) -> Iterator[None]:
    """Count every stamina retry of this task (and the tasks it starts) into ``metrics``."""
    from streamer.observability.logs import log_retry

    hooks = [h for h in si.get_on_retry_hooks() if h is not _on_retry]
    if log_retry not in hooks:
        hooks = [log_retry]  # stamina's default hooks would log every retry a second time
    si.set_on_retry_hooks([*hooks, _on_retry])
    token = _current.set(metrics)
    try:
        yield
    finally:
        _current.reset(token)


def health_app(metrics: Metrics, state: RunState) -> web.Application:
    """``/metrics``, ``/healthz`` (alive unless stuck) and ``/readyz`` (running, not stuck)."""
    from aiohttp import web  # imported only when a port is set: ~0.1 s of start-up

    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        ok, body = state.liveness()
        return web.json_response(body, status=200 if ok else 503)

    async def readyz(_request: web.Request) -> web.Response:
        ok, body = state.readiness()
        return web.json_response(body, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve_health(
    metrics: Metrics,
    state: RunState,
    host: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve :func:`health_app` until cancelled; started before anything that can wait."""
    await serve_app(
        health_app(metrics, state), host, port, what="metrics", key="metrics.port",
        task_status=task_status,
    )


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    what: str,
    key: str,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    **fields: object,
) -> None:
    """Serve an aiohttp ``app`` on ``host:port`` until cancelled (health and report API).

    A port that cannot be bound is one line naming ``key``; ``<what>.started`` is logged
    (with ``fields``) and ``task_status`` reported once it listens; the runner is cleaned
    up even when cancelled.
    """
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise FatalError(
                f"{what}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                f"free the port or change {key}"
            ) from None
        log.info(f"{what}.started", host=host, port=port, **fields)
        task_status.started()
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
