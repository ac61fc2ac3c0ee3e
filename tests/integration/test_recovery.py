"""Crash recovery of interrupted batches, with in-memory sinks and the real simulator."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from daemon_helpers import API_KEY, duplicates, loaded_config

from streamer.checkpoint.memory import MemoryCheckpointStore
from streamer.daemon.app import run
from streamer.errors import FatalSinkError
from streamer.pipeline.layout import iter_events
from streamer.records import ObjectMeta, PutOutcome
from streamer.simulator import SimulatorOptions, start_simulator
from streamer.sinks.memory import MemorySink

pytestmark = pytest.mark.anyio


class CrashingSink(MemorySink):
    """A memory sink that raises on its n-th put, as if the process died there."""

    def __init__(self, name: str, crash_on: int) -> None:
        super().__init__(name)
        self.crash_on = crash_on
        self.puts = 0

    async def put(self, key: str, data: bytes, meta: ObjectMeta) -> PutOutcome:
        """Count puts; fail the configured one."""
        self.puts += 1
        if self.puts == self.crash_on:
            raise FatalSinkError(f"sink {self.name}: simulated crash")
        return await super().put(key, data, meta)


def ids_in(sink: MemorySink) -> list[str]:
    """Every event id in the sink's objects."""
    return [e["id"] for key, data in sink.objects.items() for e in iter_events(data, key)]


async def test_crash_between_two_sinks_is_finished_on_restart(tmp_path: Path) -> None:
    """A batch written to one sink but not the other is copied over on restart, once."""
    store = MemoryCheckpointStore()
    aws = MemorySink("aws")
    azure = CrashingSink("azure", crash_on=3)
    async with start_simulator(SimulatorOptions(events=2000, seed=12, api_key=API_KEY)) as sim:
        loaded = loaded_config(sim.url, tmp_path)
        with anyio.fail_after(60), pytest.raises(FatalSinkError):
            await run(loaded, until_caught_up=True, handle_signals=False,
                      sinks={"aws": aws, "azure": azure}, store=store)
        assert store.data is not None
        assert b'"intents": [\n    {' in store.data
        assert len(aws.objects) == 3
        assert len(azure.objects) == 2
        azure.crash_on = -1
        with anyio.fail_after(60):
            summary = await run(loaded, until_caught_up=True, handle_signals=False,
                                sinks={"aws": aws, "azure": azure}, store=store)
        expected = sorted(e["id"] for e in sim.state.all_events())
    assert summary.recovered["completed"] == 1
    assert summary.recovered["copied"] == 1
    for sink in (aws, azure):
        ids = ids_in(sink)
        assert duplicates(ids) == []
        assert sorted(ids) == expected
    assert aws.objects.keys() == azure.objects.keys()


async def test_batch_written_nowhere_is_abandoned_and_refetched(tmp_path: Path) -> None:
    """An intent whose object reached no sink is dropped and its events fetched again."""
    store = MemoryCheckpointStore()
    only = CrashingSink("aws", crash_on=2)
    async with start_simulator(SimulatorOptions(events=1500, seed=13, api_key=API_KEY)) as sim:
        loaded = loaded_config(sim.url, tmp_path)
        with anyio.fail_after(60), pytest.raises(FatalSinkError):
            await run(loaded, until_caught_up=True, handle_signals=False,
                      sinks={"aws": only}, store=store)
        only.crash_on = -1
        with anyio.fail_after(60):
            summary = await run(loaded, until_caught_up=True, handle_signals=False,
                                sinks={"aws": only}, store=store)
        expected = sorted(e["id"] for e in sim.state.all_events())
    assert summary.recovered["abandoned"] == 1
    ids = ids_in(only)
    assert duplicates(ids) == []
    assert sorted(ids) == expected
