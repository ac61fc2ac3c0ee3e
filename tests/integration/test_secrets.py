"""No secret ever appears in output: logs, errors, tracebacks (--debug), check, status, metrics."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio

API_KEY = "LCKEY-s3cr3t-9f8e7d6c5b4a3210"
WRONG_KEY = "LCKEY-wr0ng-0123456789abcdef"
AWS_SECRET = "AWSSECRET-zq9x8c7v6b5n4m3l2k1j"
AZURE_ACCOUNT_KEY = "QVpVUkVLRVktc2VjcmV0LTEyMzQ1Njc4OTBhYmNkZWY="
AZURE_CONN = (
    "DefaultEndpointsProtocol=http;AccountName=devacct;"
    f"AccountKey={AZURE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:9/devacct;"
)
HASH_SALT = "SALT-pepper-0xDEADBEEF-77"
SECRETS = (API_KEY, WRONG_KEY, AWS_SECRET, AZURE_ACCOUNT_KEY, AZURE_CONN, HASH_SALT)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(url: str, api_key: str, *, clouds: bool, **more: Any) -> dict[str, Any]:
    """A config holding every kind of secret; clouds point at a closed port."""
    services: dict[str, Any] = {"local": {"enabled": True, "path": "./out", "fsync": False}}
    if clouds:
        services["aws"] = {"enabled": True, "credential_id": "aws-main", "bucket": "b"}
        services["azure"] = {"enabled": True, "credential_id": "azure-main", "bucket": "c"}
    cfg: dict[str, Any] = {
        "source": {"base_url": url, "api_key": api_key, "start": {"after_id": "0" * 24},
                   "poll_interval": "0.2s", "page_size": 200},
        "pipeline": [{"transform": {"hash": ["vars.lead.email"], "hash_salt": HASH_SALT}}],
        "credentials": {
            "aws-main": {"service": "aws", "access_key_id": "AKIATESTONLY0000",
                         "secret_access_key": AWS_SECRET, "region": "us-east-1",
                         "endpoint_url": "http://127.0.0.1:9"},
            "azure-main": {"service": "azure", "connection_string": AZURE_CONN},
        },
        "firehose": {"prefix": "lc", "services": services},
        "checkpoint": {"path": "./state/checkpoint.json"},
        "batch": {"max_age": "0.5s"},
        "logging": {"progress_interval": "0.5s"},
    }
    cfg.update(more)
    return cfg


async def cli(tmp: Path, *args: str) -> tuple[int, str]:
    """Run the CLI; return (exit code, stdout + stderr)."""
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-m", "streamer", *args], cwd=tmp, check=False,
            env={**os.environ, "COLUMNS": "200"},
        )
    return result.returncode, result.stdout.decode() + result.stderr.decode()


def assert_clean(text: str, what: str) -> None:
    """None of the secrets (nor the Azure key's tell-tale part) is in ``text``."""
    for secret in SECRETS:
        assert secret not in text, f"{what} leaks {secret[:10]}...:\n{text[-3000:]}"
    assert "AccountKey=" not in text, what


@pytest.mark.slow  # ten CLI processes, one after the other: ~4-5 s of CPU
async def test_failures_and_commands_never_print_secrets(tmp_path: Path) -> None:
    """Wrong key with --debug, check, check --connect, status, config errors: all clean."""
    (tmp_path / "ok").mkdir()
    outputs: list[tuple[str, int, str]] = []
    async with start_simulator(SimulatorOptions(events=100, api_key=API_KEY)) as sim:
        (tmp_path / "ok" / "c.yaml").write_text(
            yaml.safe_dump(config(sim.url, WRONG_KEY, clouds=True))
        )
        (tmp_path / "ok" / "local.yaml").write_text(
            yaml.safe_dump(config(sim.url, WRONG_KEY, clouds=False))
        )
        wd = tmp_path / "ok"
        for name, args in [
            ("status", ["status", "-c", "c.yaml", "--debug"]),
            ("status --json", ["status", "-c", "c.yaml", "--json"]),
            ("run 401 --debug", ["run", "-c", "local.yaml", "--debug", "--log-level", "debug",
                                 "--log-format", "json"]),
            ("run 401 console", ["run", "-c", "local.yaml", "--log-format", "console"]),
            ("check", ["check", "-c", "c.yaml", "--debug"]),
            ("check --connect", ["check", "-c", "c.yaml", "--connect", "--debug",
                                 "--log-level", "debug"]),
            ("verify", ["verify", "-c", "local.yaml", "--debug"]),
            ("status after run", ["status", "-c", "c.yaml", "--debug"]),
        ]:
            code, text = await cli(wd, *args)
            outputs.append((name, code, text))
    bad = config("http://127.0.0.1:9", API_KEY, clouds=True)
    bad["credentials"]["aws-main"].pop("access_key_id")
    bad["credentials"]["azure-main"]["connection_string"] = [AZURE_CONN]
    bad["source"]["api_key"] = {"value": API_KEY}
    bad["pipeline"][0]["transform"]["hash_salt"] = [HASH_SALT]
    bad["batch"] = {"max_evnts": AWS_SECRET}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    for name, args in [("config error", ["check", "-c", "bad.yaml"]),
                       ("config error --debug", ["run", "-c", "bad.yaml", "--debug"])]:
        code, text = await cli(tmp_path, *args)
        outputs.append((name, code, text))
    codes = {name: code for name, code, _text in outputs}
    assert codes["run 401 --debug"] == 1
    assert codes["check"] == 0
    assert codes["check --connect"] == 1
    assert codes["status"] == 0
    assert codes["config error"] == 2
    texts = {name: text for name, _code, text in outputs}
    assert "refused the API key (401)" in texts["run 401 --debug"]
    assert "Traceback" in texts["run 401 --debug"]
    assert "FAIL api" in texts["check --connect"]
    assert "FAIL aws" in texts["check --connect"]
    assert "FAIL azure" in texts["check --connect"]
    assert "no checkpoint yet" in texts["status"]
    assert "max_evnts: unknown key" in texts["config error"]
    for name, _code, text in outputs:
        assert_clean(text, name)


async def test_running_daemon_logs_and_metrics_are_clean(tmp_path: Path) -> None:
    """A live daemon (debug JSON logs, /metrics, /readyz) never shows a secret."""
    port = free_port()
    async with start_simulator(SimulatorOptions(events=600, api_key=API_KEY)) as sim:
        cfg = config(sim.url, API_KEY, clouds=False,
                     metrics={"port": port, "host": "127.0.0.1"})
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        with anyio.fail_after(60):
            async with await anyio.open_process(
                [sys.executable, "-m", "streamer", "run", "-c", "c.yaml", "--log-level", "debug",
                 "--log-format", "json", "--debug"],
                cwd=tmp_path,
            ) as proc:
                scraped = await _scrape_when_written(port)
                proc.send_signal(signal.SIGTERM)
                assert proc.stdout is not None
                assert proc.stderr is not None
                out = b"".join([chunk async for chunk in proc.stdout]).decode()
                err = b"".join([chunk async for chunk in proc.stderr]).decode()
                code = await proc.wait()
    assert code == 0, err
    assert "sink.batch_written" in out
    assert "streamer_events_written_total" in scraped
    assert_clean(out, "daemon stdout")
    assert_clean(err, "daemon stderr")
    assert_clean(scraped, "/metrics")


async def _scrape_when_written(port: int) -> str:
    """Wait for the first written object, then return /metrics + /readyz + /healthz."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while True:
            try:
                text = (await http.get("/metrics")).text
            except httpx.TransportError:
                text = ""
            if 'streamer_events_written_total{service="local"}' in text and (
                'streamer_events_written_total{service="local"} 0.0' not in text
            ):
                ready = (await http.get("/readyz")).text
                health = (await http.get("/healthz")).text
                return "\n".join([text, ready, health])
            await anyio.sleep(0.1)
