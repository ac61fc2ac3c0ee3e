"""route: event against real SeaweedFS and Azurite: an unwritable route is dead-lettered."""

from __future__ import annotations

import base64
import collections
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from daemon_helpers import API_KEY, settings_dict
from servers import (
    AzuriteServer,
    S3Server,
    connection_string,
    credential_config,
    make_bucket,
    read_objects,
)

from streamer.checkpoint.state import Checkpoint
from streamer.daemon.app import run
from streamer.observability.metrics import Metrics
from streamer.pipeline.layout import is_data_key, iter_events
from streamer.settings.loader import parse_settings
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = [pytest.mark.anyio, pytest.mark.servers]
EVENTS = 300


def dead_lines(objects: dict[str, bytes]) -> list[dict[str, Any]]:
    """Every dead-letter line of a listing."""
    return [
        line
        for key, data in objects.items()
        if "/_dead_letter/" in key
        for line in iter_events(data, key)
    ]


def data_ids(objects: dict[str, bytes]) -> list[str]:
    """Event ids in the data objects of a listing."""
    return [e["id"] for k, v in objects.items() if is_data_key(k) for e in iter_events(v, k)]


async def run_once(cfg: dict[str, Any], metrics: Metrics | None = None) -> Any:
    """The daemon until caught up."""
    with anyio.fail_after(120):
        return await run(
            parse_settings(cfg, base=Path()),
            until_caught_up=True,
            handle_signals=False,
            metrics=metrics,
        )


def missing_bucket_config(
    url: str, tmp: Path, s3: S3Server, azurite: AzuriteServer, buckets: tuple[str, str, str, str]
) -> dict[str, Any]:
    """Route by event to two static services; each event names ``missing`` for aws and
    ``own`` for azure. ``buckets`` is (static S3 bucket, static container, missing, own)."""
    static_bucket, static_container, missing, own = buckets
    cfg = settings_dict(url, tmp)
    cfg["credentials"] = {"s3": credential_config(s3), "az": credential_config(azurite)}
    cfg["firehose"] = {
        "route": "event",
        "prefix": "dlq-test",
        "services": {
            "aws": {"enabled": True, "credential_id": "s3", "bucket": static_bucket},
            "azure": {"enabled": True, "credential_id": "az", "bucket": static_container},
        },
    }
    cfg["pipeline"] = [
        {"transform": {"set": {"firehose.services.aws.bucket": missing,
                               "firehose.services.azure.bucket": own}}}
    ]  # fmt: skip
    return cfg


def dead_letters_counted(metrics: Metrics, reason: str) -> float:
    """``streamer_dead_letters_total`` for one reason, over every label set."""
    return sum(
        s.value
        for m in metrics.registry.collect()
        if m.name == "streamer_dead_letters"
        for s in m.samples
        if s.name == "streamer_dead_letters_total" and s.labels["reason"] == reason
    )


async def test_missing_bucket_is_dead_lettered_other_cloud_written_exactly_once(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """Events naming a missing S3 bucket go to the dead letters of both static services.

    Their Azure route still works, the checkpoint reaches the end, and a re-run from an
    empty checkpoint adds nothing: neither to the archive nor to the dead letters.
    """
    static_bucket, static_container = make_bucket(s3_server), make_bucket(azurite_server)
    own_container = make_bucket(azurite_server)  # the events' own (working) azure route
    missing = f"no-such-{uuid.uuid4().hex[:12]}"
    metrics = Metrics()
    async with start_simulator(SimulatorOptions(events=EVENTS, seed=41, api_key=API_KEY)) as sim:
        buckets = (static_bucket, static_container, missing, own_container)
        cfg = missing_bucket_config(sim.url, tmp_path, s3_server, azurite_server, buckets)
        summary = await run_once(cfg, metrics)
        events = sim.state.all_events()
        ids = sorted(e["id"] for e in events)
        first = {
            "aws": read_objects(s3_server, static_bucket),
            "azure": read_objects(azurite_server, static_container),
        }
        (tmp_path / "state" / "checkpoint.json").unlink()
        await run_once(cfg)
    checkpoint = Checkpoint.from_bytes(
        (tmp_path / "state" / "checkpoint.json").read_bytes(), where="test"
    )
    assert summary.fetched == EVENTS
    assert checkpoint.cursor == ids[-1]
    assert checkpoint.intents == []
    assert sorted(data_ids(read_objects(azurite_server, own_container))) == ids
    for name, objects in first.items():
        lines = dead_lines(objects)
        assert sorted(line["event"]["id"] for line in lines) == ids, name
        assert {line["reason"] for line in lines} == {"no_such_bucket"}
        assert {line["target"]["bucket"] for line in lines} == {missing}
        assert all(k.startswith(f"dlq-test/_dead_letter/aws/{missing}/dt=") for k in objects)
        assert data_ids(objects) == []
    assert read_objects(s3_server, static_bucket) == first["aws"]
    assert read_objects(azurite_server, static_container) == first["azure"]
    assert dead_letters_counted(metrics, "no_such_bucket") == EVENTS


async def test_refused_credentials_in_both_clouds_are_dead_lettered_locally(
    tmp_path: Path, s3_server: S3Server, azurite_server: AzuriteServer
) -> None:
    """A 403 from S3 and from Azure (wrong secrets) dead-letters to the static local service."""
    bucket, container = make_bucket(s3_server), make_bucket(azurite_server)
    wrong_key = base64.b64encode(b"not the account key, at all").decode()
    bad_s3 = {**credential_config(s3_server), "secret_access_key": "not-the-secret"}
    bad_az = {
        "service": "azure",
        "connection_string": connection_string(
            azurite_server.blob_endpoint, azurite_server.account, wrong_key
        ),
    }
    async with start_simulator(SimulatorOptions(events=EVENTS, seed=43, api_key=API_KEY)) as sim:
        cfg = settings_dict(sim.url, tmp_path)
        cfg["credentials"] = {"s3-bad": bad_s3, "az-bad": bad_az}
        cfg["firehose"]["route"] = "event"
        cfg["pipeline"] = [
            {
                "transform": {
                    "set": {
                        "firehose.services.aws.credential_id": "s3-bad",
                        "firehose.services.aws.bucket": bucket,
                        "firehose.services.azure.credential_id": "az-bad",
                        "firehose.services.azure.bucket": container,
                    }
                }
            }
        ]
        summary = await run_once(cfg)
        ids = sorted(e["id"] for e in sim.state.all_events())
    root = tmp_path / "out"
    local = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    lines = dead_lines(local)
    by_service = collections.defaultdict(list)
    for line in lines:
        by_service[line["target"]["service"]].append(line)
    assert summary.fetched == EVENTS
    for service, credential in (("aws", "s3-bad"), ("azure", "az-bad")):
        got = by_service[service]
        assert sorted(line["event"]["id"] for line in got) == ids, service
        assert {line["reason"] for line in got} == {"forbidden"}, service
        assert {line["target"]["credential_id"] for line in got} == {credential}
        assert all("not-the-secret" not in line["detail"] for line in got)
    assert data_ids(local) == []
    assert read_objects(s3_server, bucket) == {}
    assert read_objects(azurite_server, container) == {}
    checkpoint = Checkpoint.from_bytes(
        (tmp_path / "state" / "checkpoint.json").read_bytes(), where="test"
    )
    assert checkpoint.cursor == ids[-1]
