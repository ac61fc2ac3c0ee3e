"""deploy/grafana and deploy/prometheus: every metric they query is exported by a real daemon."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest
import yaml
from daemon_helpers import API_KEY, settings_dict

from streamer.simulator import SimulatorOptions, start_simulator

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "streamer.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yaml"
PROMTOOL = REPO / ".tools" / "prometheus" / "promtool"
METRIC = re.compile(r"\b((?:streamer|process)_[a-z0-9_]+)\b")


def free_port() -> int:
    """A free loopback TCP port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def strings(node: Any, key: str) -> list[str]:
    """Every string value stored under ``key`` anywhere in a JSON/YAML tree."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k == key and isinstance(v, str)]
        return found + [s for v in node.values() for s in strings(v, key)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v, key)]
    return []


def dashboard_queries() -> list[str]:
    """The PromQL of every panel target and template variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return strings(dashboard, "expr") + strings(dashboard, "definition")


def alert_queries() -> list[str]:
    """The PromQL of every alert rule."""
    return strings(yaml.safe_load(ALERTS.read_text()), "expr")


def exported(text: str) -> set[str]:
    """Metric names a /metrics page exports: samples, plus HELP/TYPE of unlabelled-yet ones."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            names.add(line.split()[2])
        elif line.startswith("# TYPE ") and line.split()[3] == "histogram":
            base = line.split()[2]
            names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_queries_name_metrics() -> None:
    """Both artefacts query streamer metrics at all (the scrape test below is not vacuous)."""
    assert len({m for q in dashboard_queries() for m in METRIC.findall(q)}) >= 15
    assert len({m for q in alert_queries() for m in METRIC.findall(q)}) >= 7


def test_dashboard_is_importable() -> None:
    """A Grafana dashboard: uid, unique panel ids, a Prometheus data-source variable."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "streamer"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("in and out", "dropped", "lag", "late", "requests", "bytes read", "events read",
                  "latency", "retries", "checkpoint age", "memory", "dead letters"):
        assert topic in titles, topic


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the pinned promtool (installed by `make test` via scripts/install-promtool.sh)."""
    assert PROMTOOL.exists(), f"{PROMTOOL} is missing: run `make promtool`"
    return subprocess.run(
        [str(PROMTOOL), *args], cwd=ALERTS.parent, capture_output=True, text=True,
        timeout=120, check=False,
    )


def test_promtool_check_rules() -> None:
    """`promtool check rules` accepts deploy/prometheus/alerts.yaml."""
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_alerts() -> None:
    """`promtool test rules`: each alert fires on its failure, not on the healthy look-alike."""
    result = promtool("test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    """No alert rule without a firing case in alerts.test.yaml."""
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((ALERTS.parent / "alerts.test.yaml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]
    }
    assert {rule["alert"] for rule in rules} == fired
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


@pytest.mark.slow  # a `streamer run` process, whose backoff waits no test clock reaches
@pytest.mark.anyio
async def test_every_queried_metric_is_exported_by_a_running_daemon(tmp_path: Path) -> None:
    """`streamer run` (simulator, local sink) serves every metric the dashboard and alerts use."""
    port = free_port()
    opts = SimulatorOptions(events=1500, seed=3, api_key=API_KEY, fail_first=2, faults=("500",))
    async with start_simulator(opts) as sim:
        config = settings_dict(
            sim.url, tmp_path, metrics={"port": port, "host": "127.0.0.1"},
            batch={"max_age": "0.5s"}, logging={"level": "warning"},
        )
        path = tmp_path / "streamer.yaml"
        path.write_text(yaml.safe_dump(config))
        log = (tmp_path / "daemon.log").open("wb")
        process = await anyio.open_process(
            [sys.executable, "-m", "streamer", "run", "-c", str(path)],
            stdout=log, stderr=log, cwd=tmp_path,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                with anyio.fail_after(60):
                    text = await scrape_after_first_write(http, process, tmp_path)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with anyio.fail_after(30):
                code = await process.wait()
            log.close()
    assert code == 0, (tmp_path / "daemon.log").read_text()[-2000:]
    have = exported(text)
    for source, queries in (("dashboard", dashboard_queries()), ("alerts", alert_queries())):
        wanted = {m for q in queries for m in METRIC.findall(q)}
        missing = sorted(wanted - have)
        assert not missing, f"{source} queries metrics /metrics does not export: {missing}"
    assert 'streamer_build_info{version="' in text


async def scrape_after_first_write(
    http: httpx.AsyncClient, process: anyio.abc.Process, tmp_path: Path
) -> str:
    """/metrics once the daemon has durably written at least one object."""
    while True:
        if process.returncode is not None:
            log = (tmp_path / "daemon.log").read_text()[-2000:]
            pytest.fail(f"the daemon exited with {process.returncode}: {log}")
        try:
            text = (await http.get("/metrics")).text
        except httpx.TransportError:
            text = ""
        if re.search(r'^streamer_events_written_total\{service="local"\} [1-9]', text, re.M):
            return text
        await anyio.sleep(0.1)


def test_no_created_series() -> None:
    """/metrics has no *_created series (they doubled the series count for nothing)."""
    from streamer.observability.metrics import Metrics

    metrics = Metrics()
    metrics.fetched.inc()
    metrics.written_events.labels("local").inc()
    assert "_created" not in metrics.render().decode()
