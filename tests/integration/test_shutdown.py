"""SIGTERM is bounded: every backoff wait is cut short, durable work is committed.

The daemon runs as a real process, writing a live simulator stream to S3 (SeaweedFS)
through a proxy that can refuse connections (the store is down). SIGTERM arrives while
the batch upload is in backoff after a long outage.
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
from daemon_helpers import API_KEY, duplicates, reaped, settings_dict
from servers import S3Server, SwitchProxy, credential_config, make_bucket, read_objects

from streamer.pipeline.layout import is_data_key, iter_events
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = [pytest.mark.anyio, pytest.mark.servers, pytest.mark.slow]
OUTAGE = 14.0  # long enough for a 60 s backoff ceiling to reach a wait longer than GRACE
GRACE = 6.0


def _config(tmp: Path, url: str, proxy: SwitchProxy, server: S3Server, bucket: str) -> Path:
    cfg = settings_dict(url, tmp, batch={"max_events": 200, "max_age": "500ms"},
                        shutdown={"grace": f"{GRACE}s"})
    cfg["firehose"]["services"] = {"aws": {"enabled": True, "credential_id": "s3",
                                           "bucket": bucket, "timeout": "5s"}}
    cfg["credentials"] = {"s3": {**credential_config(server), "endpoint_url": proxy.url}}
    cfg["logging"] = {"level": "info", "format": "json"}
    path = tmp / "streamer.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _s3_ids(server: S3Server, bucket: str) -> list[str]:
    objects = read_objects(server, bucket, "lc/")
    return [e["id"] for k, v in objects.items() if is_data_key(k) for e in iter_events(v, k)]


def _checkpoint(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((tmp / "state" / "checkpoint.json").read_bytes())
    return data


async def _run(config: Path, cwd: Path, *extra: str) -> anyio.abc.Process:
    log = (cwd / "daemon.log").open("ab")
    cmd = [sys.executable, "-m", "streamer", "run", "-c", str(config), *extra]
    return await anyio.open_process(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


async def _outage_then_sigterm(tmp: Path, proxy: SwitchProxy, proc: anyio.abc.Process) -> None:
    """Let batches land, take the store down for OUTAGE seconds, then SIGTERM."""
    with anyio.fail_after(60):
        while not (tmp / "state" / "checkpoint.json").exists() or not _checkpoint(tmp).get(  # noqa: ASYNC110 - a file
            "totals", {}
        ).get("batches"):
            await anyio.sleep(0.2)
    proxy.refusing = True
    await anyio.sleep(OUTAGE)
    assert proc.returncode is None, (tmp / "daemon.log").read_text()[-2000:]
    proc.send_signal(signal.SIGTERM)


async def test_sigterm_in_sink_backoff_exits_zero_when_the_store_comes_back(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """Store down, SIGTERM, store back within the grace: exit 0, every event exactly once."""
    bucket = make_bucket(s3_server)
    port = int(s3_server.endpoint_url.rsplit(":", 1)[1].split("/")[0])
    opts = SimulatorOptions(events=300, seed=51, api_key=API_KEY, live_rate=40)
    async with start_simulator(opts) as sim, SwitchProxy.running(port) as proxy:
        proc = await _run(_config(tmp_path, sim.url, proxy, s3_server, bucket), tmp_path)
        async with reaped(proc):
            await _outage_then_sigterm(tmp_path, proxy, proc)
            await anyio.sleep(1.0)
            proxy.refusing = False
            with anyio.fail_after(60):
                code = await proc.wait()
        served = sorted(e["id"] for e in sim.state.all_events())
    log = (tmp_path / "daemon.log").read_text()
    assert code == 0, log[-3000:]
    events = [orjson.loads(line) for line in log.splitlines() if line.startswith("{")]
    waits = [e["wait_seconds"] for e in events if e["event"] == "sink.retry_scheduled"]
    assert waits, "the upload was never in backoff"
    assert max(waits) <= 10 + 0.5  # batch.max_backoff's default, plus jitter
    state = _checkpoint(tmp_path)
    assert state["intents"] == []
    assert state["owner"] is None
    ids = _s3_ids(s3_server, bucket)
    assert duplicates(ids) == []
    assert sorted(ids) == [i for i in served if i <= state["cursor"]]
    assert len(ids) == state["totals"]["events_written"]


async def test_sigterm_with_the_store_still_down_keeps_the_intent_for_the_next_run(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """Store down through the grace: non-zero exit, intent saved; the next run finishes it."""
    bucket = make_bucket(s3_server)
    port = int(s3_server.endpoint_url.rsplit(":", 1)[1].split("/")[0])
    opts = SimulatorOptions(events=300, seed=52, api_key=API_KEY, live_rate=40)
    async with start_simulator(opts) as sim, SwitchProxy.running(port) as proxy:
        config = _config(tmp_path, sim.url, proxy, s3_server, bucket)
        proc = await _run(config, tmp_path)
        async with reaped(proc):
            await _outage_then_sigterm(tmp_path, proxy, proc)
            with anyio.fail_after(60):
                code = await proc.wait()
        assert code != 0
        left = _checkpoint(tmp_path)
        assert left["intents"], "the unfinished batch's intent must be saved"
        assert left["owner"] is None
        proxy.refusing = False
        again = await _run(config, tmp_path, "--until-caught-up")
        async with reaped(again):
            with anyio.fail_after(120):
                assert await again.wait() == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        served = sorted(e["id"] for e in sim.state.all_events())
    state = _checkpoint(tmp_path)
    assert state["intents"] == []
    ids = _s3_ids(s3_server, bucket)
    assert duplicates(ids) == []
    assert sorted(ids) == [i for i in served if i <= state["cursor"]]
    assert state["cursor"] >= max(i for o in left["intents"] for i in o["covered"] or [""])
