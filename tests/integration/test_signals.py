"""Signals to the real CLI in a subprocess: SIGTERM during start-up, SIGHUP reloads the config."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, duplicates, free_port, settings_dict
from test_crash import _cli, local_ids, start_simulator

KEEP_RECIPIENTS = {
    "filter": {
        "name": "recipients-only",
        "rule_set": {"op": "and", "rules": [{"lhv": "type", "op": "is equal to",
                                             "rhv": "recipient"}]},
    }
}


def config(tmp: Path, url: str, port: int, name: str = "streamer.yaml", **sections: Any) -> Path:
    """A YAML config for the CLI: local sink, 1 s batches, JSON logs, metrics on ``port``."""
    cfg = settings_dict(url, tmp, batch={"max_events": 400, "max_age": "1s"},
                        metrics={"port": port, "host": "127.0.0.1"}, **sections)
    cfg["logging"] = {"level": "info", "format": "json"}
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg))
    return path


class Daemon:
    """``streamer run`` in a subprocess, its JSON log in a file."""

    def __init__(self, tmp: Path, config: Path, port: int, name: str = "daemon") -> None:
        self.log = tmp / f"{name}.log"
        self.port = port
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(_cli("run", "-c", str(config)), cwd=tmp, stdout=out,
                                         stderr=subprocess.STDOUT)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Log lines so far (JSON ones), optionally only those with ``event == name``."""
        out = []
        for line in self.log.read_bytes().splitlines():
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and (name is None or doc.get("event") == name):
                out.append(doc)
        return out

    def wait_log(self, name: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until ``count`` lines named ``name`` were logged; fail if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.05)
        raise AssertionError(f"no {name} within {timeout}s:\n{self.log.read_text()[-3000:]}")

    def readyz(self, state: str, timeout: float = 60) -> dict[str, Any]:
        """Wait until /readyz reports ``state``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                body = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).json()
            except httpx.HTTPError:
                body = {}
            if body.get("state") == state:
                return dict(body)
            time.sleep(0.05)
        raise AssertionError(f"/readyz never said {state}:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit status."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def source_events(url: str) -> list[dict[str, Any]]:
    """Every event the simulator serves now (id and type)."""
    events: list[dict[str, Any]] = []
    after = "0" * 24
    with httpx.Client(auth=("API", API_KEY), headers={"Accept": "application/json"}) as http:
        while True:
            page = http.get(f"{url}/events", params={"sort": "asc", "limit": 1000,
                                                      "after_id": after}, timeout=30).json()
            events += [{"id": e["id"], "type": e.get("type")} for e in page]
            if len(page) < 1000:
                return events
            after = page[-1]["id"]


@pytest.mark.slow
def test_sigterm_while_waiting_for_the_lease_is_logged_and_exits_zero(tmp_path: Path) -> None:
    """A second daemon waits for the lease with its probes up; SIGTERM then exits 0, logged."""
    sim, url = start_simulator("--events", "500", "--seed", "30")
    first = second = None
    try:
        first_port, second_port = free_port(), free_port()
        first = Daemon(tmp_path, config(tmp_path, url, first_port), first_port, "first")
        first.readyz("running")
        second = Daemon(tmp_path, config(tmp_path, url, second_port, "second.yaml"),
                        second_port, "second")
        waiting = second.readyz("waiting_for_lease")
        health = httpx.get(f"http://127.0.0.1:{second_port}/healthz", timeout=2)
        second_code = second.stop()
        first_code = first.stop()
    finally:
        sim.kill()
        for daemon in (first, second):
            if daemon is not None:
                daemon.kill()
    assert waiting["waiting_for"] == "lease"
    assert health.status_code == 200
    assert second_code == 0, second.log.read_text()[-3000:]
    assert first_code == 0
    stops = second.events("shutdown.requested")
    assert [(s["signal"], s["state"]) for s in stops] == [("SIGTERM", "waiting_for_lease")]
    states = [e["state"] for e in second.events("run.state_changed")]
    assert states[:2] == ["starting", "waiting_for_lease"]
    assert "running" not in states


@pytest.mark.slow
def test_sighup_applies_a_new_filter_without_loss_or_duplicates(tmp_path: Path) -> None:
    """SIGHUP with a filter added: later events are filtered, nothing is lost or duplicated."""
    sim, url = start_simulator("--events", "1500", "--seed", "31", "--rate", "150")
    daemon = None
    try:
        port = free_port()
        path = config(tmp_path, url, port)
        daemon = Daemon(tmp_path, path, port)
        daemon.readyz("running")
        daemon.wait_log("sink.batch_written", 3)
        config(tmp_path, url, port, pipeline=[KEEP_RECIPIENTS])
        daemon.proc.send_signal(signal.SIGHUP)
        reloaded = daemon.wait_log("config.reloaded")[0]
        written = len(daemon.events("sink.batch_written"))
        daemon.wait_log("sink.batch_written", written + 3)
        ready = daemon.readyz("running")
        code = daemon.stop()
        state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
        source = source_events(url)
    finally:
        sim.kill()
        if daemon is not None:
            daemon.kill()
    assert code == 0, daemon.log.read_text()[-3000:]
    assert reloaded["changed"] == ["pipeline"]
    assert ready["ready"] is True
    boundary, cursor = reloaded["cursor"], state["cursor"]
    assert state["owner"] is None
    ids = local_ids(tmp_path / "out")
    assert duplicates(ids) == []
    types = {e["id"]: e["type"] for e in source}
    before = [e["id"] for e in source if e["id"] <= boundary]
    after = [e for e in source if boundary < e["id"] <= cursor]
    assert {e["type"] for e in after} - {"recipient"}, "no event for the new filter to drop"
    assert set(before) <= set(ids)
    assert {e["id"] for e in after if e["type"] == "recipient"} <= set(ids)
    assert {types[i] for i in ids if i > boundary} == {"recipient"}
    assert state["totals"]["events_written"] == len(ids)
    assert len(daemon.events("run.state_changed")) >= 5  # ... running, draining, starting, running


@pytest.mark.slow
def test_sighup_with_a_bad_config_keeps_the_old_one(tmp_path: Path) -> None:
    """An invalid file, a checkpoint move, a sink that cannot be opened: each logged with its
    problems; the daemon keeps running on the old config and exits 0 on SIGTERM, nothing lost
    or duplicated."""
    sim, url = start_simulator("--events", "1500", "--seed", "32", "--rate", "100")
    daemon = None
    try:
        port = free_port()
        path = config(tmp_path, url, port)
        good = path.read_text()
        daemon = Daemon(tmp_path, path, port)
        daemon.readyz("running")
        daemon.wait_log("sink.batch_written", 2)
        bad = yaml.safe_load(good)
        bad["source"]["poll_intervall"] = "1s"
        bad["pipeline"] = [{"filter": {"rule_set": {"op": "and", "rules": [
            {"lhv": "type", "op": "is equals to", "rhv": "recipient"}]}}}]
        path.write_text(yaml.safe_dump(bad))
        daemon.proc.send_signal(signal.SIGHUP)
        invalid = daemon.wait_log("config.reload_failed")[0]
        moved = yaml.safe_load(good)
        moved["checkpoint"]["path"] = str(tmp_path / "elsewhere.json")
        path.write_text(yaml.safe_dump(moved))
        daemon.proc.send_signal(signal.SIGHUP)
        refused = daemon.wait_log("config.reload_failed", 2)[1]
        (tmp_path / "a-file").write_text("not a directory")
        unusable = yaml.safe_load(good)
        unusable["firehose"]["services"]["local"]["path"] = str(tmp_path / "a-file" / "out")
        path.write_text(yaml.safe_dump(unusable))
        daemon.proc.send_signal(signal.SIGHUP)
        unopened = daemon.wait_log("config.reload_failed", 3)[2]
        written = len(daemon.events("sink.batch_written"))
        daemon.wait_log("sink.batch_written", written + 2)
        ready = daemon.readyz("running")
        code = daemon.stop()
        state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
        source = [e["id"] for e in source_events(url) if e["id"] <= state["cursor"]]
    finally:
        sim.kill()
        if daemon is not None:
            daemon.kill()
    assert code == 0, daemon.log.read_text()[-3000:]
    assert len(invalid["problems"]) == 2, invalid
    assert any("poll_intervall" in p for p in invalid["problems"])
    assert any("is equals to" in p for p in invalid["problems"])
    assert refused["problems"] == [
        "checkpoint.path: cannot change on reload (the checkpoint, its lease and the health "
        "server stay); restart the daemon to apply it"
    ]
    assert len(unopened["problems"]) == 1
    assert "a-file/out): directory is not writable" in unopened["problems"][0]
    assert ready["ready"] is True
    assert daemon.events("config.reloaded") == []
    assert not (tmp_path / "elsewhere.json").exists()
    ids = local_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert set(source) <= set(ids)
    assert API_KEY not in daemon.log.read_text()


@pytest.mark.slow
def test_sighup_while_a_sink_is_unreachable_at_start_up_applies_the_fix(tmp_path: Path) -> None:
    """Start-up waits for an unreachable bucket (/readyz says so); a SIGHUP with that service
    removed cancels the wait and the daemon runs on the new config, then exits 0."""
    sim, url = start_simulator("--events", "500", "--seed", "33")
    daemon = None
    try:
        port = free_port()
        path = config(tmp_path, url, port)
        fixed = path.read_text()
        broken = yaml.safe_load(fixed)
        broken["credentials"] = {"s3": {
            "service": "aws", "access_key_id": "k", "secret_access_key": "s",
            "endpoint_url": f"http://127.0.0.1:{free_port()}", "addressing_style": "path"}}
        broken["firehose"]["services"]["aws"] = {"enabled": True, "credential_id": "s3",
                                                 "bucket": "b"}
        path.write_text(yaml.safe_dump(broken))
        daemon = Daemon(tmp_path, path, port)
        deadline = time.monotonic() + 60
        while daemon.readyz("starting").get("waiting_for") != "sink aws":
            assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
            time.sleep(0.1)
        path.write_text(fixed)
        daemon.proc.send_signal(signal.SIGHUP)
        reloaded = daemon.wait_log("config.reloaded")[0]
        daemon.readyz("running")
        daemon.wait_log("sink.batch_written")
        code = daemon.stop()
    finally:
        sim.kill()
        if daemon is not None:
            daemon.kill()
    assert code == 0, daemon.log.read_text()[-3000:]
    assert "credentials" in reloaded["changed"]
    assert any(key.startswith("firehose.services") for key in reloaded["changed"])
    assert local_ids(tmp_path / "out")
