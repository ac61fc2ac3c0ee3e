"""Checkpoint saves never overlap: the lease heartbeat and the writer share one writer."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
import pytest
from daemon_helpers import API_KEY, archive_ids, duplicates, loaded_config

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.daemon.app import run
from streamer.simulator import SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


@pytest.mark.slow  # four seconds of real lease heartbeats racing real batch saves
async def test_heartbeat_and_batches_saving_together_do_not_crash(tmp_path: Path) -> None:
    """A live tail with tiny batches and a 150 ms lease (heartbeat every 50 ms) runs clean."""
    opts = SimulatorOptions(events=200, seed=31, api_key=API_KEY, live_rate=40)
    async with start_simulator(opts) as sim:
        loaded = loaded_config(
            sim.url,
            tmp_path,
            batch={"max_events": 50, "max_age": "60ms", "compression": "none"},
            checkpoint={"path": str(tmp_path / "state" / "checkpoint.json"), "lease_ttl": "150ms"},
            logging={"progress_interval": "50ms"},
        )

        async def a_while() -> None:
            await anyio.sleep(4)

        with anyio.fail_after(60):
            summary = await run(loaded, shutdown_trigger=a_while, handle_signals=False)
    assert summary.forced is False
    assert summary.batches > 5
    state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
    assert state["intents"] == []
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert len(ids) == state["totals"]["events_written"] == summary.written
    leftovers = [p.name for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


class CountingStore(FileCheckpointStore):
    """A file store that counts its saves."""

    saves = 0

    async def save(self, checkpoint: Checkpoint) -> None:
        """Count, then save."""
        self.saves += 1
        await super().save(checkpoint)


async def test_checkpoint_is_written_once_per_batch(tmp_path: Path) -> None:
    """Draining a backlog in many batches saves the checkpoint once per batch, not twice."""
    store = CountingStore(tmp_path / "state" / "checkpoint.json")
    async with start_simulator(SimulatorOptions(events=3000, seed=32, api_key=API_KEY)) as sim:
        loaded = loaded_config(sim.url, tmp_path, batch={"max_events": 200, "max_age": "30s"})
        with anyio.fail_after(60):
            summary = await run(loaded, until_caught_up=True, handle_signals=False, store=store)
    assert summary.written == 3000
    assert summary.batches >= 15
    # the lease claim, one per batch, the drain's save of the last commit, the release
    assert store.saves <= summary.batches + 3
    state = orjson.loads((tmp_path / "state" / "checkpoint.json").read_bytes())
    assert state["intents"] == []
    assert state["totals"]["events_written"] == 3000
