"""Reports over an archive written by the real daemon from the real simulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from daemon_helpers import API_KEY, loaded_config, settings_dict
from report_helpers import assert_row, expected_columns, id_time, run_cli

from streamer.daemon.app import run
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


async def _archive(tmp_path: Path, compression: str) -> tuple[Path, list[dict[str, Any]]]:
    """Run the daemon until caught up; return the config file and the simulator's events."""
    opts = SimulatorOptions(events=6000, seed=21, api_key=API_KEY)
    async with start_simulator(opts) as sim:
        sections = {"batch": {"compression": compression, "max_events": 500}}
        with anyio.fail_after(120):
            await run(
                loaded_config(sim.url, tmp_path, **sections),
                until_caught_up=True,
                handle_signals=False,
            )
        events = list(sim.state.all_events())
        cfg = tmp_path / "streamer.yaml"
        cfg.write_text(yaml.safe_dump(settings_dict(sim.url, tmp_path, **sections)))
    return cfg, events


async def _report(*argv: str) -> dict[str, Any]:
    code, out, err = await anyio.to_thread.run_sync(lambda: run_cli("report", *argv, "--json"))
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
async def test_columns_by_recipient_match_simulator(tmp_path: Path, compression: str) -> None:
    """Every column, per vars.recipient.id, equals a hand count of what the simulator served."""
    cfg, events = await _archive(tmp_path, compression)
    times = sorted(id_time(e) for e in events)
    start, end = times[len(times) // 5], times[-1] - 30
    doc = await _report("-c", str(cfg), "--start", str(start), "--end", str(end),
                        "--group-by", "vars.recipient.id")  # fmt: skip

    def key(e: dict[str, Any]) -> Any:
        return (e["vars"].get("recipient") or {}).get("id")

    want = expected_columns(events, start, end, key)
    got = {r["group"]["vars.recipient.id"]: r for r in doc["rows"]}
    assert set(got) == set(want)
    assert len(got) > 3
    for name, row in want.items():
        assert_row(got[name], row)
    assert doc["events_counted"] == sum(1 for e in events if start <= id_time(e) < end)


async def test_transitions_account_for_every_lead(tmp_path: Path) -> None:
    """For delivery events, started/ended sums equal the leads with a status then."""
    cfg, events = await _archive(tmp_path, "gzip")
    times = sorted(id_time(e) for e in events)
    t1, t2 = times[len(times) // 3], times[2 * len(times) // 3]
    doc = await _report("transitions", "-c", str(cfg), "--start", str(t1), "--end", str(t2),
                        "--type", "recipient")  # fmt: skip
    latest_before: dict[str, tuple[str, str]] = {}
    latest_end: dict[str, tuple[str, str]] = {}
    for e in events:
        if e["type"] != "recipient":
            continue
        lead = e["vars"]["lead"]["id"]
        if id_time(e) < t1:
            latest_before[lead] = max(latest_before.get(lead, ("", "")), (e["id"], e["outcome"]))
        if id_time(e) < t2:
            latest_end[lead] = max(latest_end.get(lead, ("", "")), (e["id"], e["outcome"]))
    started = {r["status_id"]: r["started"] for r in doc["status_overview"]}
    ended = {r["status_id"]: r["ended"] for r in doc["status_overview"]}
    for status in ("success", "failure", "error", "skip"):
        assert started.get(status, 0) == sum(1 for _, o in latest_before.values() if o == status)
        assert ended.get(status, 0) == sum(1 for _, o in latest_end.values() if o == status)
    assert doc["leads"] == len(latest_end)
