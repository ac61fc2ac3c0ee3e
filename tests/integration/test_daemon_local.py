"""The real daemon against the real simulator over HTTP, into a local directory."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import orjson
import pytest
from clock import JumpClock
from daemon_helpers import API_KEY, archive_ids, duplicates, loaded_config

from streamer.daemon.app import run
from streamer.errors import FatalSourceError
from streamer.observability.metrics import Metrics
from streamer.pipeline.layout import partition
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio
NAME_RE = re.compile(
    r"^lc/events/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/([0-9a-f]{24})_([0-9a-f]{24})\.jsonl\.gz$"
)


async def test_drains_every_event_exactly_once(tmp_path: Path) -> None:
    """Every simulated event lands once, in deterministic, partitioned object names."""
    async with start_simulator(SimulatorOptions(events=3000, seed=3, api_key=API_KEY)) as sim:
        with anyio.fail_after(60):
            summary = await run(
                loaded_config(sim.url, tmp_path), until_caught_up=True, handle_signals=False
            )
        originals = {e["id"]: orjson.dumps(e) for e in sim.state.all_events()}
        expected = list(originals)
    ids = archive_ids(tmp_path / "out")
    assert sorted(ids) == sorted(expected)
    assert duplicates(ids) == []
    assert summary.fetched == summary.written == 3000
    from streamer.pipeline.layout import decompress

    sample = next((tmp_path / "out").rglob("*.gz"))
    for line in decompress(sample.read_bytes(), sample.name).splitlines():
        assert line == originals[orjson.loads(line)["id"]]
    out = tmp_path / "out"
    files = [p.relative_to(out).as_posix() for p in out.rglob("*.gz")]
    assert len(files) >= 5
    for name in files:
        match = NAME_RE.match(name)
        assert match, name
        assert name.split("/")[2:4] == partition(match.group(1)).split("/")
    checkpoint = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
    assert checkpoint["cursor"] == max(expected)
    assert checkpoint["intents"] == []
    assert checkpoint["owner"] is None


async def test_restart_continues_from_checkpoint(tmp_path: Path) -> None:
    """A stopped run resumes from its checkpoint: nothing twice, nothing missing."""
    opts = SimulatorOptions(events=4000, seed=4, api_key=API_KEY, latency=0.01)
    async with start_simulator(opts) as sim:
        # a generous grace: the first run must drain, not be forced, however loaded the machine
        loaded = loaded_config(sim.url, tmp_path, shutdown={"grace": "60s"})

        async def after_two_batches() -> None:
            while len(list((tmp_path / "out").rglob("*.gz"))) < 2:  # noqa: ASYNC110 - files
                await anyio.sleep(0.02)

        with anyio.fail_after(60):
            first = await run(loaded, shutdown_trigger=after_two_batches, handle_signals=False)
        assert 0 < first.written < 4000
        with anyio.fail_after(60):
            second = await run(loaded, until_caught_up=True, handle_signals=False)
        expected = [e["id"] for e in sim.state.all_events()]
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(expected)
    assert first.written + second.written == 4000


@pytest.mark.usefixtures("no_backoff")
async def test_injected_faults_are_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    """429s, 5xx, resets, truncated and invalid pages are retried; every event lands once."""
    opts = SimulatorOptions(
        events=2500, seed=5, api_key=API_KEY, fail_rate=0.3, retry_after=0.05, fail_first=7
    )
    async with start_simulator(opts) as sim:
        with anyio.fail_after(120):
            summary = await run(
                loaded_config(sim.url, tmp_path, source={"max_backoff": "0.5s"}),
                until_caught_up=True,
                handle_signals=False,
            )
        expected = [e["id"] for e in sim.state.all_events()]
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(expected)
    assert summary.written == 2500


async def test_late_visible_events_are_delivered(tmp_path: Path) -> None:
    """Events that appear after higher ids were served are caught by the lag-window re-scan.

    Daemon and simulator share a clock four times faster than the wall clock (lateness and
    re-scan pacing pass in a quarter of the time).
    """
    opts = SimulatorOptions(
        events=1500, seed=6, api_key=API_KEY, late_fraction=0.05, late_delay=1.5
    )
    clock = JumpClock(factor=4.0)
    async with start_simulator(opts, clock=clock) as sim:
        loaded = loaded_config(
            sim.url, tmp_path, batch={"max_age": "0.5s"}, source={"lag_window": "10m"}
        )

        expected = [e["id"] for e in sim.state.all_events()]

        async def all_delivered() -> None:  # ends on the archive, not on a timer
            while set(archive_ids(tmp_path / "out")) != set(expected):  # noqa: ASYNC110
                await anyio.sleep(0.2)

        with anyio.fail_after(60):
            summary = await run(
                loaded, shutdown_trigger=all_delivered, handle_signals=False, clock=clock
            )
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(expected)
    assert summary.late_caught >= 1


async def test_filter_and_transform_apply_before_writing(tmp_path: Path) -> None:
    """Only events that pass the filter are written, transformed."""
    pipeline = [
        {"filter": {"rule_set": {"op": "and", "rules": [
            {"lhv": "type", "op": "is equal to", "rhv": "recipient"}]}}},
        {"transform": {"exclude": ["vars.lead.ssn"]}},
    ]
    async with start_simulator(SimulatorOptions(events=1000, seed=8, api_key=API_KEY)) as sim:
        with anyio.fail_after(60):
            summary = await run(
                loaded_config(sim.url, tmp_path, pipeline=pipeline),
                until_caught_up=True,
                handle_signals=False,
            )
        recipients = {e["id"] for e in sim.state.all_events() if e["type"] == "recipient"}
    from streamer.pipeline.layout import iter_events

    events = [
        e for p in (tmp_path / "out").rglob("*.gz") for e in iter_events(p.read_bytes(), p.name)
    ]
    assert {e["id"] for e in events} == recipients
    assert all("ssn" not in e["vars"]["lead"] for e in events)
    assert summary.kept == len(recipients) < summary.fetched


async def test_wrong_api_key_is_fatal_and_checkpoint_untouched(tmp_path: Path) -> None:
    """401 stops the daemon with a clear error; no checkpoint cursor is written."""
    async with start_simulator(SimulatorOptions(events=10, api_key="the-right-key")) as sim:
        with anyio.fail_after(30), pytest.raises(FatalSourceError, match="401"):
            await run(loaded_config(sim.url, tmp_path), until_caught_up=True, handle_signals=False)
    state = tmp_path / "state" / "checkpoint.json"
    assert not state.exists() or orjson.loads(state.read_bytes())["cursor"] is None


async def test_late_events_beyond_the_window_are_counted(tmp_path: Path) -> None:
    """With a window narrower than the lateness, late events are reported, not silent.

    Daemon and simulator share a clock four times faster than the wall clock.
    """
    opts = SimulatorOptions(
        events=1500, seed=6, api_key=API_KEY, late_fraction=0.05, late_delay=1.0
    )
    clock = JumpClock(factor=4.0)
    async with start_simulator(opts, clock=clock) as sim:
        loaded = loaded_config(
            sim.url, tmp_path, batch={"max_age": "0.5s"}, source={"lag_window": "8s"}
        )

        metrics = Metrics()

        async def one_reported() -> None:  # ends on the counter, not on a timer
            while metrics.late_beyond._value.get() < 1:  # noqa: ASYNC110
                await anyio.sleep(0.2)

        with anyio.fail_after(60):
            summary = await run(
                loaded, shutdown_trigger=one_reported, handle_signals=False, metrics=metrics,
                clock=clock,
            )
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert summary.late_beyond >= 1


async def test_tells_systemd_when_ready_and_when_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under Type=notify, READY=1 follows the start-up checks and STOPPING=1 the stop."""
    import socket

    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        async with start_simulator(SimulatorOptions(events=50, api_key=API_KEY)) as sim:
            with anyio.fail_after(30):
                await run(loaded_config(sim.url, tmp_path), until_caught_up=True,
                          handle_signals=False)
        messages = [server.recv(64), server.recv(64)]
    finally:
        server.close()
    assert messages == [b"READY=1", b"STOPPING=1"]
