"""One owner at a time, for real: two daemons started together on one checkpoint.

Each round starts two ``streamer run --until-caught-up`` processes back to back on a fresh
checkpoint (file, S3 on SeaweedFS, Azure on Azurite). Exactly one may write; the other
must log ``checkpoint.lease_held``, wait, take over when the first exits, find nothing
left, and exit 0. Every event is then in the archive exactly once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, archive_ids, duplicates, reaped, settings_dict
from servers import AzuriteServer, S3Server, credential_config, make_bucket

from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2000


def _config(tmp: Path, url: str, checkpoint: dict[str, Any], creds: dict[str, Any]) -> Path:
    cfg = settings_dict(url, tmp, batch={"max_events": 300, "max_age": "30s"},
                        source={"page_size": 100})
    cfg["checkpoint"] = {**checkpoint, "lease_ttl": "30s"}
    cfg["credentials"] = creds
    cfg["logging"] = {"level": "info", "format": "json"}
    path = tmp / "streamer.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _events(stderr: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]


async def _race(config: Path, cwd: Path) -> list[tuple[int, list[dict[str, Any]], bytes]]:
    """Start two daemons at once; wait for both; their exit codes and log events."""
    cmd = [sys.executable, "-m", "streamer", "run", "-c", str(config), "--until-caught-up"]
    done: list[subprocess.CompletedProcess[bytes]] = []

    async def one() -> None:
        done.append(await anyio.run_process(cmd, cwd=cwd, check=False,
                                            stderr=subprocess.STDOUT))

    with anyio.fail_after(180):
        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
    return [(p.returncode, _events(p.stdout), p.stdout) for p in done]


def _span(events: list[dict[str, Any]]) -> tuple[str, str]:
    """When a daemon held the lease as a writer: ``streamer.started`` to its final save."""
    started = [e["timestamp"] for e in events if e["event"] == "streamer.started"]
    saved = [e["timestamp"] for e in events if e["event"] == "checkpoint.saved"]
    assert len(started) == 1, events[-5:]
    assert saved, events[-5:]
    return started[0], saved[-1]


def _check_round(results: list[tuple[int, list[dict[str, Any]], bytes]], out: Path,
                 expected: list[str]) -> bool:
    """Both exit 0, their writer spans do not overlap, every event once; True if one waited."""
    for code, _, err in results:
        assert code == 0, err.decode()[-2000:]
    (a0, a1), (b0, b1) = sorted(_span(events) for _, events, _ in results)
    assert a1 < b0, f"both daemons wrote at once: {a0}..{a1} and {b0}..{b1}"
    written = sum(e.get("events", 0) for _, events, _ in results for e in events
                  if e["event"] == "sink.batch_written")
    assert written == EVENTS
    for _, events, _ in results:
        assert not [e for e in events if e["event"] == "sink.object_already_existed"]
    ids = archive_ids(out)
    assert duplicates(ids) == []
    assert sorted(ids) == expected
    return any(e["event"] == "checkpoint.lease_held" for _, events, _ in results for e in events)


async def _rounds(tmp_path: Path, rounds: int, checkpoint: Any, creds: dict[str, Any]) -> None:
    opts = SimulatorOptions(events=EVENTS, seed=41, api_key=API_KEY, latency=0.02)
    async with start_simulator(opts) as sim:
        expected = sorted(e["id"] for e in sim.state.all_events())
        waited = 0
        for n in range(rounds):
            tmp = tmp_path / f"round{n}"
            tmp.mkdir()
            config = _config(tmp, sim.url, checkpoint(tmp, n), creds)
            waited += _check_round(await _race(config, tmp), tmp / "out", expected)
    print(f"lease races: {rounds} rounds, the second daemon waited in {waited}")
    assert waited > 0  # the daemons really started together at least once


async def test_two_daemons_on_one_file_checkpoint_take_turns(tmp_path: Path) -> None:
    """20 rounds on the file store: one writes, the other waits for the flock, no dupes."""
    await _rounds(tmp_path, 20, lambda tmp, n: {"path": str(tmp / "state" / "cp.json")}, {})


@pytest.mark.servers
async def test_two_daemons_on_one_s3_checkpoint_take_turns(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """5 rounds on the S3 store: the loser of the compare-and-swap waits, it does not exit 1."""
    bucket = make_bucket(s3_server)
    await _rounds(
        tmp_path, 5,
        lambda tmp, n: {"store": "s3", "credential_id": "s3", "bucket": bucket,
                        "key": f"round{n}/checkpoint.json"},
        {"s3": credential_config(s3_server)},
    )


@pytest.mark.servers
async def test_two_daemons_on_one_azure_checkpoint_take_turns(
    tmp_path: Path, azurite_server: AzuriteServer
) -> None:
    """5 rounds on the Azure store: the loser of the compare-and-swap waits, no exit 1."""
    container = make_bucket(azurite_server)
    await _rounds(
        tmp_path, 5,
        lambda tmp, n: {"store": "azure", "credential_id": "az", "bucket": container,
                        "key": f"round{n}/checkpoint.json"},
        {"az": credential_config(azurite_server)},
    )


async def test_a_killed_holder_frees_the_file_lease_at_once(tmp_path: Path) -> None:
    """kill -9 the lease holder: the waiting daemon takes over without waiting for lease_ttl."""
    opts = SimulatorOptions(events=EVENTS, seed=42, api_key=API_KEY, latency=0.05)
    async with start_simulator(opts) as sim:
        expected = sorted(e["id"] for e in sim.state.all_events())
        config = _config(tmp_path, sim.url, {"path": str(tmp_path / "state" / "cp.json")}, {})
        cfg = yaml.safe_load(config.read_text())
        cfg["checkpoint"]["lease_ttl"] = "1h"  # an expiry-based lease would keep B waiting
        config.write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-m", "streamer", "run", "-c", str(config)]
        holder = await anyio.open_process(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        async with reaped(holder):
            with anyio.fail_after(60):
                while not list((tmp_path / "out").rglob("*.gz")):  # noqa: ASYNC110 - files
                    await anyio.sleep(0.1)
            waiter_log = (tmp_path / "waiter.log").open("wb")
            waiter = await anyio.open_process([*cmd, "--until-caught-up"], cwd=tmp_path,
                                              stdout=waiter_log, stderr=subprocess.STDOUT)
            async with reaped(waiter):
                with anyio.fail_after(60):
                    log_file = tmp_path / "waiter.log"
                    while b"checkpoint.lease_held" not in log_file.read_bytes():  # noqa: ASYNC110
                        await anyio.sleep(0.1)
                holder.kill()
                await holder.wait()
                with anyio.fail_after(120):
                    code = await waiter.wait()
    log = (tmp_path / "waiter.log").read_text()
    assert code == 0, log[-2000:]
    assert "checkpoint.lease_taken_over" in log
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert sorted(ids) == expected
