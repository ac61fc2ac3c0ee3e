"""The daemon against the simulator into SeaweedFS (S3) and Azurite at once."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from daemon_helpers import API_KEY, duplicates, settings_dict
from servers import AzuriteServer, S3Server, credential_config, make_bucket, read_objects

from streamer.daemon.app import run
from streamer.pipeline.layout import is_data_key, iter_events
from streamer.settings.loader import parse_settings
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = [pytest.mark.anyio, pytest.mark.servers]


def cloud_config(
    url: str, tmp: Path, s3: S3Server, az: AzuriteServer, bucket: str, container: str, **extra: Any
) -> dict[str, Any]:
    """Both clouds plus the local directory, each from the same firehose section."""
    cfg = settings_dict(url, tmp, **extra)
    cfg["credentials"] = {"s3": credential_config(s3), "az": credential_config(az)}
    cfg["firehose"]["services"].update(
        aws={"enabled": True, "credential_id": "s3", "bucket": bucket},
        azure={"enabled": True, "credential_id": "az", "bucket": container},
    )
    return cfg


def ids_of(objects: dict[str, bytes]) -> list[str]:
    """Event ids in the data objects of a listing."""
    return [e["id"] for k, v in objects.items() if is_data_key(k) for e in iter_events(v, k)]


async def test_every_event_once_in_each_cloud_and_rerun_adds_nothing(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """All events land once per service; a re-run from an empty checkpoint duplicates nothing."""
    bucket, container = make_bucket(s3_server), make_bucket(azurite_server)
    async with start_simulator(SimulatorOptions(events=3000, seed=31, api_key=API_KEY)) as sim:
        cfg = cloud_config(sim.url, tmp_path, s3_server, azurite_server, bucket, container)
        loaded = parse_settings(cfg, base=Path())
        with anyio.fail_after(120):
            first = await run(loaded, until_caught_up=True, handle_signals=False)
        expected = sorted(e["id"] for e in sim.state.all_events())
        before = {
            "aws": read_objects(s3_server, bucket, "lc/"),
            "azure": read_objects(azurite_server, container, "lc/"),
        }
        (tmp_path / "state" / "checkpoint.json").unlink()
        with anyio.fail_after(120):
            await run(loaded, until_caught_up=True, handle_signals=False)
    after = {
        "aws": read_objects(s3_server, bucket, "lc/"),
        "azure": read_objects(azurite_server, container, "lc/"),
    }
    assert first.written == 3000
    for name in ("aws", "azure"):
        ids = ids_of(after[name])
        assert duplicates(ids) == [], name
        assert sorted(ids) == expected, name
        assert after[name].keys() == before[name].keys(), name
    assert before["aws"].keys() == before["azure"].keys()


async def test_per_event_layout_matches_leadconduit(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """layout: per_event writes <prefix>/<lead id>/<event id>.json with the event as JSON."""
    bucket, container = make_bucket(s3_server), make_bucket(azurite_server)
    async with start_simulator(SimulatorOptions(events=300, seed=32, api_key=API_KEY)) as sim:
        # 600 small uploads: a loaded machine must not turn the drain into a forced stop
        cfg = cloud_config(sim.url, tmp_path, s3_server, azurite_server, bucket, container,
                           layout="per_event", shutdown={"grace": "90s"})
        with anyio.fail_after(120):
            await run(parse_settings(cfg, base=Path()), until_caught_up=True,
                      handle_signals=False)
        events = {e["id"]: e for e in sim.state.all_events()}
    for objects in (read_objects(s3_server, bucket, "lc/"),
                    read_objects(azurite_server, container, "lc/")):
        assert len(objects) == 300
        for key, data in objects.items():
            prefix, lead_id, name = key.rsplit("/", 2)
            event = orjson.loads(data)
            assert prefix == "lc/events"
            assert name == f"{event['id']}.json"
            assert lead_id == events[event["id"]]["vars"]["lead"]["id"]
            assert event == events[event["id"]]


async def test_route_by_each_events_own_firehose_object(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """route: event writes each event to its own firehose bucket and prefix in both clouds."""
    for server in (s3_server, azurite_server):
        with contextlib.suppress(Exception):  # already created earlier in this session
            make_bucket(server, name="lc-events")
    async with start_simulator(SimulatorOptions(events=600, seed=33, api_key=API_KEY)) as sim:
        cfg = cloud_config(sim.url, tmp_path, s3_server, azurite_server, "lc-events", "lc-events")
        cfg["firehose"]["route"] = "event"
        cfg["firehose"]["services"]["local"]["enabled"] = False
        with anyio.fail_after(120):
            summary = await run(parse_settings(cfg, base=Path()), until_caught_up=True,
                                handle_signals=False)
        events = sim.state.all_events()
    assert summary.written == 600
    prefixes = {e["firehose"]["services"]["aws"]["prefix"] for e in events}
    for server in (s3_server, azurite_server):
        seen: list[str] = []
        for prefix in prefixes:
            objects = read_objects(server, "lc-events", prefix + "/dt=")
            for key, data in objects.items():
                for event in iter_events(data, key):
                    assert event["firehose"]["services"]["aws"]["prefix"] == prefix
                    seen.append(event["id"])
        assert sorted(seen) == sorted(e["id"] for e in events)
