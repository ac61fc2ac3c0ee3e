"""``streamer serve``: the read-only report API over real HTTP (issue 16 req. 2): LeadConduit's
``/reports`` and ``/reports/{id}/run``, Close's lead status change report, auth and errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from daemon_helpers import free_port
from report_helpers import report_json, write_archive, write_config

from streamer.errors import ConfigError, FatalError
from streamer.report.api import build_app, serve
from streamer.settings.loader import load_config
from streamer.simulator import generate_events

pytestmark = pytest.mark.anyio
END = 1_790_000_000
KEY = "s3cr3t-report-key"
RID = "5fd4371e940df5a34a3888b2"
SAVED = {"id": RID, "token": "by-flow", "name": "by flow", "group_by": ["vars.flow.id"],
         "columns": ["source-success", "recipient-success", "cost"]}  # fmt: skip


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An hour of events, written once for the module (reports only read an archive)."""
    root = tmp_path_factory.mktemp("report-api") / "out"
    write_archive(root, generate_events(800, seed=4, end_ts=END, span_seconds=3600))
    return root


@pytest.fixture
def cfg(tmp_path: Path, archive: Path) -> Path:
    """The archive, one saved report, and a report API key read from a file."""
    path = write_config(tmp_path, archive)
    (tmp_path / "key.txt").write_text(KEY + "\n")
    doc = yaml.safe_load(path.read_text())
    doc["reports"] = [SAVED]
    doc["report_api"] = {"api_key_file": str(tmp_path / "key.txt"), "max_events": 100_000}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
async def api(cfg: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a free port of 127.0.0.1, and a client authenticated as LeadConduit's."""
    port = free_port()
    async with anyio.create_task_group() as tg:
        await tg.start(serve, load_config(str(cfg)), "127.0.0.1", port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("API", KEY),
                                     timeout=60) as client:  # fmt: skip
            yield client
        tg.cancel_scope.cancel()


async def test_list_reports(api: httpx.AsyncClient) -> None:
    """GET /reports lists the saved definitions."""
    res = await api.get("/reports")
    assert res.status_code == 200
    (report,) = res.json()
    assert report["id"] == RID
    assert report["name"] == "by flow"
    assert report["columns"] == SAVED["columns"]


@pytest.mark.parametrize("ref", [RID, "by-flow"])
async def test_run_matches_the_cli_with_an_inclusive_end(
    api: httpx.AsyncClient, cfg: Path, ref: str
) -> None:
    """/reports/{id|token}/run gives the CLI's numbers for [start, end + 1 s): end is inclusive."""
    start, end = END - 3600, END - 600
    res = await api.get(f"/reports/{ref}/run", params={"start": start, "end": end})
    assert res.status_code == 200, res.text
    (report,) = res.json()
    assert list(report) == ["name", "description", "columns", "rules", "group_by", "token",
                            "created_at", "updated_at"]  # fmt: skip
    cli = await anyio.to_thread.run_sync(
        lambda: report_json("-c", str(cfg), "--start", str(start), "--end", str(end + 1),
                            "--name", "by flow")
    )
    want = [{"vars.flow.id": r["group"]["vars.flow.id"], **{c: r[c] for c in SAVED["columns"]}}
            for r in cli["rows"]]  # fmt: skip
    assert report["columns"] == want
    assert sum(c["source-success"] for c in want) > 0


async def test_start_in_epoch_ms_and_iso(api: httpx.AsyncClient) -> None:
    """start/end take ISO 8601 and epoch ms (LeadConduit's unit) alike."""
    start, end = END - 3000, END - 1000

    def iso(sec: int) -> str:
        return dt.datetime.fromtimestamp(sec, tz=dt.UTC).isoformat()

    by_iso = await api.get(f"/reports/{RID}/run", params={"start": iso(start), "end": iso(end)})
    by_ms = await api.get(f"/reports/{RID}/run",
                          params={"start": f"{start}000", "end": f"{end}000"})  # fmt: skip
    assert by_iso.status_code == by_ms.status_code == 200
    assert by_iso.json() == by_ms.json()
    assert by_ms.json()[0]["columns"]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [(f"/reports/{RID}/run", {"start": "1"}, 400, "end is required"),
     (f"/reports/{RID}/run", {"start": "tomorrow", "end": "1"}, 400, "is not a time"),
     (f"/reports/{RID}/run", {"start": "20", "end": "10"}, 400, "must not be after"),
     ("/reports/5fd4371e940df5a34a3888b3/run", {"start": "1", "end": "2"}, 404, "no report"),
     ("/reports/by%20flow/run", {"start": "1", "end": "2"}, 404, "no report"),
     ("/report/statuses/lead/org/", {"query": "{not json"}, 400, "rule set as JSON"),
     ("/report/statuses/lead/org/", {"query": '{"op": "nope", "rules": []}'}, 400, "query"),
     ("/nothing", {}, 404, "")],
)  # fmt: skip
async def test_errors_are_json(
    api: httpx.AsyncClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    """Bad ranges and queries are 400, unknown ids 404, each with a JSON error message."""
    res = await api.get(path, params=params)
    assert res.status_code == status
    if message:
        assert message in res.json()["error"]


@pytest.mark.parametrize(
    "auth",
    [None, ("API", "wrong"), ("api", KEY), ("someone", "")],
)
async def test_wrong_or_missing_key_is_401(api: httpx.AsyncClient, auth: Any) -> None:
    """Without the key (user API, or Close's key-as-user form) every route is 401."""
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    res = await api.get("/reports", headers=headers, auth=None)  # type: ignore[arg-type]
    assert res.status_code == 401
    assert "authentication required" in res.json()["error"]
    assert KEY not in res.text


async def test_close_key_as_user_is_accepted(api: httpx.AsyncClient) -> None:
    """Close's Basic form (the key as user, empty password) is accepted too."""
    res = await api.get("/reports", auth=(KEY, ""))
    assert res.status_code == 200


async def test_close_status_report_matches_the_cli(api: httpx.AsyncClient, cfg: Path) -> None:
    """The Close route gives the transitions report of the CLI, in Close's three sections."""
    query = json.dumps({"op": "and", "rules": [{"lhv": "type", "op": "is equal to",
                                                 "rhv": "recipient"}]})  # fmt: skip
    params = {"date_start": str(END - 1800), "date_end": str(END + 1), "query": query}
    res = await api.get("/report/statuses/lead/any-org/", params=params)
    assert res.status_code == 200, res.text
    doc = res.json()
    assert sorted(doc) == ["status_overview", "status_transitions", "status_transitions_summary"]
    rules = Path(cfg).parent / "scope.json"
    rules.write_text(query)
    cli = await anyio.to_thread.run_sync(
        lambda: report_json("transitions", "-c", str(cfg), "--start", str(END - 1800),
                            "--end", str(END + 1), "--scope", str(rules))
    )
    assert doc["status_overview"] == cli["status_overview"]
    assert doc["status_transitions"] == cli["status_transitions"]
    assert sum(s["ended"] for s in doc["status_overview"]) > 0


@pytest.fixture
def tiny_cfg(cfg: Path) -> Path:
    """The same config with report_api.max_events 10."""
    doc = yaml.safe_load(cfg.read_text())
    doc["report_api"]["max_events"] = 10
    cfg.write_text(yaml.safe_dump(doc))
    return cfg


async def test_too_large_a_range_is_refused(tiny_cfg: Path) -> None:
    """A request reading more than report_api.max_events events is a 400 naming the limit."""
    cfg = tiny_cfg
    port = free_port()
    async with anyio.create_task_group() as tg:
        await tg.start(serve, load_config(str(cfg)), "127.0.0.1", port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("API", KEY),
                                     timeout=60) as client:  # fmt: skip
            res = await client.get(f"/reports/{RID}/run", params={"start": END - 3600, "end": END})
        tg.cancel_scope.cancel()
    assert res.status_code == 400
    assert "more than 10 events" in res.json()["error"]


def test_serving_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    """No report_api.api_key: the server refuses to start, naming the setting."""
    write_archive(tmp_path / "out", [])
    cfg = write_config(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"report_api\.api_key"):
        build_app(load_config(str(cfg)))


def test_default_bind_is_loopback(cfg: Path) -> None:
    """The API listens on 127.0.0.1 unless told otherwise."""
    assert load_config(str(cfg)).settings.report_api.bind == "127.0.0.1"


async def test_busy_port_is_one_clear_error(cfg: Path) -> None:
    """A port already taken is a FatalError naming report_api.port, not a raw OSError."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = r"cannot listen on 127\.0\.0\.1:\d+ .*report_api\.port"
        with pytest.raises(FatalError, match=busy):
            await serve(load_config(str(cfg)), "127.0.0.1", port)
