"""SIGTERM cuts every wait short: a sink open in backoff at start-up, the source in backoff.

The CLI runs in a subprocess; each test waits until the daemon logged a retry with a long
wait ahead, sends SIGTERM and expects a prompt, clean exit 0 (nothing was fetched that is
not durable).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, reaped, settings_dict
from servers import closed_port_url

from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    lines = log.read_bytes().splitlines()
    return [e for e in (orjson.loads(x) for x in lines if x.startswith(b"{"))
            if e.get("event") == name]


async def _sigterm_after(cfg: dict[str, Any], tmp: Path, event: str, waits: int) -> int:
    """Run the CLI; after ``waits`` ``event`` lines, SIGTERM; return its exit status."""
    config = tmp / "streamer.yaml"
    config.write_text(yaml.safe_dump({**cfg, "logging": {"level": "info", "format": "json"}}))
    log = tmp / "daemon.log"
    with log.open("wb") as out:
        proc = await anyio.open_process(
            [sys.executable, "-m", "streamer", "run", "-c", str(config)], cwd=tmp,
            stdout=out, stderr=subprocess.STDOUT,
        )
    async with reaped(proc):
        with anyio.fail_after(90):
            while len(_events(log, event)) < waits:
                assert proc.returncode is None, log.read_text()[-2000:]
                await anyio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            return await proc.wait()


async def test_sigterm_while_a_sink_open_is_in_backoff_exits_zero(tmp_path: Path) -> None:
    """S3 unreachable at start-up (HeadBucket retried): SIGTERM ends the wait, exit 0."""
    async with start_simulator(SimulatorOptions(events=10, api_key=API_KEY)) as sim:
        cfg = settings_dict(sim.url, tmp_path)
        cfg["firehose"]["services"] = {"aws": {"enabled": True, "credential_id": "s3",
                                               "bucket": "nowhere", "timeout": "2s"}}
        cfg["credentials"] = {"s3": {"service": "aws", "access_key_id": "k",
                                     "secret_access_key": "s", "region": "us-east-1",
                                     "endpoint_url": closed_port_url()}}
        code = await _sigterm_after(cfg, tmp_path, "sink.retry_scheduled", 5)
    assert code == 0, (tmp_path / "daemon.log").read_text()[-2000:]
    assert _events(tmp_path / "daemon.log", "shutdown.requested")


async def test_sigterm_while_the_source_is_in_backoff_exits_zero(tmp_path: Path) -> None:
    """The API answers only 503s (no Retry-After): SIGTERM ends the source's wait, exit 0."""
    opts = SimulatorOptions(events=10, api_key=API_KEY, fail_rate=1.0, faults=("503",),
                            retry_after=None)
    async with start_simulator(opts) as sim:
        cfg = settings_dict(sim.url, tmp_path)
        code = await _sigterm_after(cfg, tmp_path, "source.retry_scheduled", 6)
    log = tmp_path / "daemon.log"
    assert code == 0, log.read_text()[-2000:]
    state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
    assert state["intents"] == []
    assert state["owner"] is None
