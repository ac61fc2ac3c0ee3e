"""kill -9 at random points and SIGTERM, with the CLI in a subprocess, into local, S3 and Azure."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, duplicates, settings_dict
from servers import AzuriteServer, S3Server, credential_config, make_bucket, read_objects

from streamer.pipeline.layout import is_data_key, iter_events

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamer", *args]


def start_simulator(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """``streamer simulate`` in its own process; returns it and its URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        _cli("simulate", "--port", str(port), "--api-key", API_KEY, *extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/events", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
        else:
            return proc, url
    proc.kill()
    raise RuntimeError("simulator did not start")


def all_source_ids(url: str) -> list[str]:
    """Every id the simulator serves now (paged the documented way)."""
    ids: list[str] = []
    after = "0" * 24
    with httpx.Client(auth=("API", API_KEY), headers={"Accept": "application/json"}) as http:
        while True:
            page = http.get(f"{url}/events", params={"sort": "asc", "limit": 1000,
                                                      "after_id": after}, timeout=30).json()
            ids += [e["id"] for e in page]
            if len(page) < 1000:
                return ids
            after = page[-1]["id"]


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition`` (files a subprocess writes: no event to wait on) for up to 60 s."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def local_ids(root: Path) -> list[str]:
    """Event ids in every data object of a local sink."""
    out: list[str] = []
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_file() and is_data_key(key):
            out += [e["id"] for e in iter_events(path.read_bytes(), key)]
    return out


def cloud_ids(server: S3Server | AzuriteServer, bucket: str) -> list[str]:
    """Event ids in every data object of a bucket/container."""
    objects = read_objects(server, bucket, "lc/")
    return [e["id"] for k, v in objects.items() if is_data_key(k) for e in iter_events(v, k)]


def write_config(tmp: Path, url: str, services: dict[str, Any], creds: dict[str, Any]) -> Path:
    """A YAML config file for the CLI."""
    cfg = settings_dict(url, tmp, batch={"max_events": 400, "max_age": "30s"},
                        source={"page_size": 250})
    cfg["firehose"]["services"].update(services)
    cfg["credentials"] = creds
    cfg["logging"] = {"level": "warning", "format": "json"}
    cfg["checkpoint"]["lease_ttl"] = "3s"
    path = tmp / "streamer.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.servers
@pytest.mark.slow
def test_kill_9_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """Four kill -9s mid-run, then a restart: each service holds every event exactly once."""
    bucket, container = make_bucket(s3_server), make_bucket(azurite_server)
    sim, url = start_simulator("--events", "12000", "--seed", "21", "--latency", "0.02")
    try:
        config = write_config(
            tmp_path, url,
            {"aws": {"enabled": True, "credential_id": "s3", "bucket": bucket},
             "azure": {"enabled": True, "credential_id": "az", "bucket": container}},
            {"s3": credential_config(s3_server), "az": credential_config(azurite_server)},
        )
        rng = random.Random(21)
        for _ in range(4):
            proc = subprocess.Popen(_cli("run", "-c", str(config)), cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(1.0, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        done = subprocess.run(_cli("run", "-c", str(config), "--until-caught-up"), cwd=tmp_path,
                              capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        expected = sorted(all_source_ids(url))
    finally:
        sim.kill()
    assert len(expected) == 12000
    for name, ids in (("local", local_ids(tmp_path / "out")),
                      ("aws", cloud_ids(s3_server, bucket)),
                      ("azure", cloud_ids(azurite_server, container))):
        assert duplicates(ids) == [], name
        assert sorted(ids) == expected, name


def test_sigterm_flushes_saves_and_exits_zero(tmp_path: Path) -> None:
    """SIGTERM during a live tail: open batch flushed, checkpoint saved, exit 0, nothing lost."""
    sim, url = start_simulator("--events", "3000", "--seed", "22", "--rate", "200")
    try:
        config = write_config(tmp_path, url, {}, {})
        proc = subprocess.Popen(_cli("run", "-c", str(config)), cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: len(local_ids(tmp_path / "out")) >= 2800, "backlog not written")
        started = time.monotonic()  # the backlog is written: a live tail, a batch open
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
        assert code == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
        source = [i for i in all_source_ids(url) if i <= state["cursor"]]
    finally:
        sim.kill()
    assert took < 10
    assert state["intents"] == []
    assert state["owner"] is None
    ids = local_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert set(source) <= set(ids)
    assert state["totals"]["events_written"] == len(ids)


@pytest.mark.slow
def test_sigterm_then_downtime_longer_than_lag_window_loses_nothing(tmp_path: Path) -> None:
    """SIGTERM (exit 0), down three lag windows, restart: late events once each, none lost."""
    from streamer.simulator import id_time

    lag = 3.0
    sim, url = start_simulator("--events", "0", "--seed", "23", "--rate", "40",
                               "--late-fraction", "0.2", "--late-delay", "1")
    try:
        config = write_config(tmp_path, url, {}, {})
        cfg = yaml.safe_load(config.read_text())
        cfg["source"].update(lag_window=f"{lag}s", poll_interval="0.1s")
        cfg["batch"]["max_age"] = "0.3s"
        config.write_text(yaml.safe_dump(cfg))

        def until(condition: Any, what: str) -> None:
            deadline = time.monotonic() + 60
            while not condition():
                assert time.monotonic() < deadline, what
                time.sleep(0.2)

        def daemon() -> subprocess.Popen[bytes]:
            return subprocess.Popen(_cli("run", "-c", str(config)), cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        first = daemon()
        until(lambda: len(local_ids(tmp_path / "out")) >= 150, "first run wrote nothing")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        time.sleep(3 * lag)  # the downtime itself: what this test is about
        restarted = time.time()
        required = {i for i in all_source_ids(url) if id_time(i) < restarted - 1}
        second = daemon()
        until(lambda: required <= set(local_ids(tmp_path / "out")), "late events were lost")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        sim.kill()
    ids = local_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert required - set(ids) == set()
