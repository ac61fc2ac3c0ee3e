"""Run state from t = 0: probes while waiting at start-up, /healthz when stuck, the watchdog."""

from __future__ import annotations

import io
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from daemon_helpers import API_KEY, free_port, sample, settings_dict

from streamer.cli.status import print_status
from streamer.daemon.app import RunSummary, run
from streamer.errors import FatalError
from streamer.observability.metrics import Metrics
from streamer.settings.loader import parse_settings
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


async def readyz_until(http: httpx.AsyncClient, state: str) -> httpx.Response:
    """Poll /readyz until it reports ``state`` (connection refused counts as not yet)."""
    while True:
        try:
            response = await http.get("/readyz")
            if response.json().get("state") == state:
                return response
        except httpx.TransportError:
            pass
        await anyio.sleep(0.05)


async def test_probes_answer_while_waiting_for_the_lease(tmp_path: Path) -> None:
    """A second daemon on a held checkpoint serves /healthz 200, /readyz 503 'lease',
    streamer_run_state and status from the first second, and stops cleanly while waiting."""
    first_port, second_port = free_port(), free_port()
    async with start_simulator(SimulatorOptions(events=300, api_key=API_KEY)) as sim:
        first = parse_settings(settings_dict(sim.url, tmp_path, metrics={
            "port": first_port, "host": "127.0.0.1"}), base=Path())
        second = parse_settings(settings_dict(sim.url, tmp_path, metrics={
            "port": second_port, "host": "127.0.0.1"}), base=Path())
        stop_first, stop_second = anyio.Event(), anyio.Event()
        out = io.StringIO()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run(first, shutdown_trigger=stop_first.wait,
                                      handle_signals=False))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first_port}") as http:
                with anyio.fail_after(30):
                    await readyz_until(http, "running")
            summaries: list[RunSummary] = []
            second_done = anyio.Event()

            async def second_daemon() -> None:
                summaries.append(await run(second, shutdown_trigger=stop_second.wait,
                                           handle_signals=False, metrics=Metrics()))
                second_done.set()

            tg.start_soon(second_daemon)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{second_port}") as http:
                with anyio.fail_after(30):
                    ready = await readyz_until(http, "waiting_for_lease")
                    health = await http.get("/healthz")
                    text = (await http.get("/metrics")).text
                    await print_status(second, as_json=True, out=out)
            stop_second.set()
            with anyio.fail_after(30):
                await second_done.wait()
            stop_first.set()
    assert ready.status_code == 503
    assert ready.json()["waiting_for"] == "lease"
    assert ready.json()["ready"] is False
    assert health.status_code == 200
    assert sample(text, "streamer_run_state", state="waiting_for_lease") == 1
    assert sample(text, "streamer_run_state", state="running") == 0
    assert summaries[0].written == 0
    assert summaries[0].forced is False
    doc = orjson.loads(out.getvalue())
    assert doc["daemon"]["state"] == "waiting_for_lease"
    assert doc["daemon"]["waiting_for"] == "lease"


async def test_readyz_names_the_sink_start_up_waits_for(tmp_path: Path) -> None:
    """With S3 unreachable at start, /readyz says 503 'sink aws' and /healthz stays 200."""
    port, dead = free_port(), free_port()
    cfg = settings_dict("http://127.0.0.1:9", tmp_path,
                        metrics={"port": port, "host": "127.0.0.1"})
    cfg["credentials"] = {"s3": {"service": "aws", "access_key_id": "k", "secret_access_key": "s",
                                 "endpoint_url": f"http://127.0.0.1:{dead}",
                                 "addressing_style": "path"}}
    cfg["firehose"]["services"]["aws"] = {"enabled": True, "credential_id": "s3", "bucket": "b"}
    loaded = parse_settings(cfg, base=Path())
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run(loaded, shutdown_trigger=stop.wait, handle_signals=False))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            with anyio.fail_after(60):
                while True:
                    ready = await readyz_until(http, "starting")
                    if ready.json()["waiting_for"] == "sink aws":
                        break
                    await anyio.sleep(0.1)
                health = await http.get("/healthz")
        stop.set()
    assert ready.status_code == 503
    assert health.status_code == 200
    assert health.json()["state"] == "starting"


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A real unix datagram socket standing in for systemd's NOTIFY_SOCKET (200 ms watchdog)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        path = f"{folder}/notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        try:
            yield sock
        finally:
            sock.close()


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on ``sock``."""
    out: list[str] = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.mark.slow  # stuck_after (1 s) and five silent watchdog periods are real time
async def test_healthz_fails_and_watchdog_stops_when_stuck(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    """READY=1 and WATCHDOG=1 arrive; once the source fails for stuck_after with work to do,
    /healthz is 503 and the pings stop; STOPPING=1 arrives on shutdown."""
    port = free_port()
    opts = SimulatorOptions(events=500, api_key=API_KEY, fail_first=10**9, faults=("500",))
    async with start_simulator(opts) as sim:
        cfg = settings_dict(sim.url, tmp_path, metrics={"port": port, "host": "127.0.0.1",
                                                        "stuck_after": "1s"},
                            source={"max_backoff": "0.2s"})
        loaded = parse_settings(cfg, base=Path())
        stop = anyio.Event()
        messages: list[str] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run(loaded, shutdown_trigger=stop.wait, handle_signals=False))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                with anyio.fail_after(30):
                    while "WATCHDOG=1" not in messages:
                        messages += received(notify_socket)
                        await anyio.sleep(0.05)
                    while True:
                        health = await http.get("/healthz")
                        if health.status_code == 503:
                            break
                        await anyio.sleep(0.1)
                    ready = await http.get("/readyz")
                messages += received(notify_socket)
                await anyio.sleep(1.0)  # five watchdog periods
                while_stuck = received(notify_socket)
            stop.set()
        with anyio.fail_after(10):
            while "STOPPING=1" not in messages:
                messages += received(notify_socket)
                await anyio.sleep(0.05)
    assert "READY=1" in messages
    assert health.json()["status"] == "stuck"
    assert ready.status_code == 503
    assert ready.json()["stuck"] is True
    assert "WATCHDOG=1" not in while_stuck


async def test_busy_metrics_port_is_one_clear_error(tmp_path: Path) -> None:
    """A metrics port already in use stops the run at once with a one-line FatalError."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        loaded = parse_settings(settings_dict("http://127.0.0.1:9", tmp_path, metrics={
            "port": port, "host": "127.0.0.1"}), base=Path())
        with anyio.fail_after(30), pytest.raises(FatalError) as caught:
            await run(loaded, handle_signals=False)
    assert str(caught.value).startswith(f"metrics: cannot listen on 127.0.0.1:{port}")
    assert "change metrics.port" in str(caught.value)
    assert not (tmp_path / "state").exists()
