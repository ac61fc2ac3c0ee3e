"""Operability over real HTTP: /metrics, /healthz, /readyz of the running daemon."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from daemon_helpers import API_KEY, KEEP_RECIPIENTS, free_port, sample, settings_dict

from streamer.daemon.app import run
from streamer.daemon.runstate import RunState, State
from streamer.errors import RetriableSinkError, RetriableSourceError
from streamer.observability.metrics import Metrics, error_kind, health_app
from streamer.settings.loader import LoadedConfig, parse_settings
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


async def wait_until_ready(client: httpx.AsyncClient) -> httpx.Response:
    """Poll /readyz until it answers 200."""
    while True:
        try:
            response = await client.get("/readyz")
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        await anyio.sleep(0.05)


async def wait_settled(http: httpx.AsyncClient, metrics: Metrics) -> str:
    """Poll /metrics until the source is drained and everything kept is durable."""
    while True:
        text = (await http.get("/metrics")).text
        kept = sample(text, "streamer_events_kept_total")
        written = sample(text, "streamer_events_written_total", service="local")
        inflight = sample(text, "streamer_inflight_bytes")
        if metrics.idle and kept and written == kept and not inflight:
            return text
        await anyio.sleep(0.1)


async def serve_until_settled(
    loaded: LoadedConfig, port: int, metrics: Metrics
) -> tuple[httpx.Response, httpx.Response, str]:
    """Run the daemon until drained; return /healthz, /readyz and the /metrics text then."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: run(loaded, shutdown_trigger=stop.wait, handle_signals=False, metrics=metrics)
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            with anyio.fail_after(30):
                ready = await wait_until_ready(http)
                assert ready.json()["ready"] is True
                assert ready.json()["state"] == "running"
                text = await wait_settled(http, metrics)
                health = await http.get("/healthz")
                ready = await http.get("/readyz")
        stop.set()
    return health, ready, text


def assert_every_metric_exported(text: str) -> None:
    """The counters add up for 2500 events with 3 injected 500s, and every gauge is there."""
    assert sample(text, "streamer_events_fetched_total") == 2500
    kept = sample(text, "streamer_events_kept_total")
    dropped = sample(text, "streamer_events_dropped_total", stage="recipients-only")
    assert kept is not None
    assert dropped is not None
    assert kept > 0
    assert dropped > 0
    assert kept + dropped == 2500
    assert sample(text, "streamer_events_written_total", service="local") == kept
    assert (sample(text, "streamer_bytes_written_total", service="local") or 0) > 0
    assert (sample(text, "streamer_objects_written_total", service="local",
                   outcome="created") or 0) >= 1
    assert (sample(text, "streamer_batch_write_seconds_count", service="local") or 0) >= 1
    assert (sample(text, "streamer_retries_total", component="source") or 0) >= 3
    assert (sample(text, "streamer_errors_total", component="source", kind="http_500") or 0) >= 3
    assert (sample(text, "streamer_checkpoint_timestamp_seconds") or 0) > 1.7e9
    lag = sample(text, "streamer_checkpoint_lag_seconds")
    assert lag is not None
    assert 0 <= lag < 3600
    assert sample(text, "streamer_late_events_caught_total") == 0
    assert sample(text, "streamer_late_events_beyond_window_total") == 0
    assert sample(text, "streamer_inflight_bytes") is not None
    assert (sample(text, "streamer_checkpoint_retention_days_left") or 0) > 89
    assert (sample(text, "process_resident_memory_bytes") or 0) > 10_000_000
    assert sample(text, "streamer_up") == 1
    assert sample(text, "streamer_run_state", state="running") == 1
    assert sample(text, "streamer_run_state", state="starting") == 0


@pytest.mark.usefixtures("no_backoff")
async def test_metrics_health_and_readiness_over_http(tmp_path: Path) -> None:
    """With metrics.port set, every listed metric is served and the probes answer."""
    port = free_port()
    opts = SimulatorOptions(events=2500, seed=7, api_key=API_KEY, fail_first=3, faults=("500",))
    async with start_simulator(opts) as sim:
        cfg = settings_dict(
            sim.url, tmp_path,
            pipeline=[KEEP_RECIPIENTS],
            metrics={"port": port, "host": "127.0.0.1"},
            batch={"max_age": "0.5s"},
            logging={"level": "warning", "progress_interval": "1s"},
        )
        loaded = parse_settings(cfg, base=Path())
        health, ready, text = await serve_until_settled(loaded, port, Metrics())
    assert health.status_code == 200
    assert health.json() == {"status": "alive", "state": "running"}
    assert ready.status_code == 200
    body = ready.json()
    assert body["stuck"] is False
    assert body["cursor"]
    assert_every_metric_exported(text)


async def test_probes_follow_the_run_state() -> None:
    """/readyz is 503 before running and when stuck; /healthz fails only when stuck with work."""
    metrics = Metrics()
    state = RunState(metrics, stuck_after=60)
    app = health_app(metrics, state)
    async with TestClient(TestServer(app)) as client:
        with anyio.fail_after(10):
            starting = await client.get("/readyz")
            assert starting.status == 503
            assert (await starting.json())["state"] == "starting"
            metrics.last_progress -= 600  # a long start-up is not a stall
            assert (await client.get("/healthz")).status == 200
            state.enter(State.RUNNING)
            assert (await client.get("/readyz")).status == 200
            metrics.last_progress -= 61
            stuck = await client.get("/readyz")
            assert stuck.status == 503
            assert (await stuck.json())["stuck"] is True
            assert (await client.get("/healthz")).status == 503
            metrics.idle = True  # caught up: nothing to do is not stuck
            assert (await client.get("/readyz")).status == 200
            assert (await client.get("/healthz")).status == 200
            state.writing_since = time.monotonic() - 61  # but a hanging write is
            assert (await client.get("/healthz")).status == 503
            state.enter(State.DRAINING)
            assert (await client.get("/readyz")).status == 503
            assert (await client.get("/healthz")).status == 200


def test_error_kinds_are_a_small_vocabulary() -> None:
    """Retried errors are labelled by their typed kind, set where raised, never by message."""
    import httpx
    from botocore.exceptions import EndpointConnectionError

    from streamer.sinks._aws import classify as classify_s3
    from streamer.source.client import classify, parse_page

    with pytest.raises(RetriableSourceError) as too_many:
        classify(httpx.Response(429), "http://x/events")
    assert error_kind(too_many.value) == ("source", "http_429")
    with pytest.raises(RetriableSourceError) as malformed:
        parse_page(b"not json", "http://x/events")
    assert error_kind(malformed.value) == ("source", "malformed_page")
    unreachable = classify_s3(
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), label="s3", doing="Put k",
        bucket="b",
    )
    assert error_kind(unreachable) == ("sink", "unreachable")
    # the message is prose for people: rewording it cannot change a label
    worded = RetriableSinkError("LeadConduit answered 429 for http://x", kind="timeout")
    assert error_kind(worded) == ("sink", "timeout")
    assert error_kind(RetriableSourceError("no kind given")) == (
        "source", "RetriableSourceError",
    )
    assert error_kind(ValueError("x")) == ("other", "ValueError")


async def test_check_connect_all_ok(tmp_path: Path) -> None:
    """``connect_all``: api, checkpoint and each sink pass against a healthy setup."""
    from streamer.cli.check import connect_all

    async with start_simulator(SimulatorOptions(events=20, api_key=API_KEY)) as sim:
        loaded = parse_settings(settings_dict(sim.url, tmp_path), base=Path())
        with anyio.fail_after(30):
            rows = await connect_all(loaded)
    assert [name for name, _ok, _msg in rows] == ["api", "checkpoint", "local"]
    assert all(ok for _name, ok, _msg in rows), rows
    assert "accepted the API key" in rows[0][2]
    assert "no checkpoint yet" in rows[1][2]
    assert rows[2][2].startswith("ok: wrote and deleted lc/events/leadconduit_verification_")
    assert not list((tmp_path / "out").rglob("*.txt"))
