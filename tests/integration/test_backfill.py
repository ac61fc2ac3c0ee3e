"""``streamer backfill`` against the simulator into a local directory: exactly once, resumable."""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import orjson
import pytest
import yaml
from daemon_helpers import API_KEY, archive_ids, duplicates, loaded_config, settings_dict

from streamer.checkpoint.file import FileCheckpointStore
from streamer.checkpoint.state import Checkpoint
from streamer.ids import id_seconds, synthetic_id
from streamer.observability.progress import Progress
from streamer.pipeline.backfill import backfill
from streamer.pipeline.layout import iter_events
from streamer.pipeline.slices import Slice, split
from streamer.simulator import RunningSimulator, SimulatorOptions, start_simulator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A simulator with 3000 events over 300 s of history."""
    async with start_simulator(SimulatorOptions(events=3000, seed=11, api_key=API_KEY)) as s:
        yield s


def _range(sim: RunningSimulator) -> tuple[int, int, list[str]]:
    """A range well inside the backlog, and every id in it."""
    ids = sim.state.visible_ids()
    lo = id_seconds(ids[len(ids) // 5])
    hi = id_seconds(ids[4 * len(ids) // 5])
    inside = [i for i in ids if synthetic_id(lo) <= i < synthetic_id(hi)]
    return lo, hi, inside


def _config(sim: RunningSimulator, tmp: Path) -> Any:
    return loaded_config(
        sim.url, tmp, source={"page_size": 100}, batch={"max_events": 250, "max_age": "30s"}
    )


class _StopAfter(Progress):
    """Cancels ``scope`` after ``batches`` committed batches (a deterministic interruption)."""

    def __init__(self, scope: anyio.CancelScope, batches: int) -> None:
        super().__init__(mode="none")
        self.scope, self.left = scope, batches

    def advance(self, name: str, events: int, cursor: str | None) -> None:
        super().advance(name, events, cursor)
        self.left -= 1
        if self.left <= 0:
            self.scope.cancel()


def test_split_covers_the_range_without_gaps() -> None:
    """Slices are contiguous, non-empty and cover exactly [lo, hi)."""
    slices = split(100, 207, 4)
    assert slices[0].lo == 100
    assert slices[-1].hi == 207
    assert all(a.hi == b.lo for a, b in itertools.pairwise(slices))
    assert split(5, 7, 4) == [Slice(5, 6), Slice(6, 7)]


@pytest.mark.parametrize("parallel", [1, 4])
async def test_every_event_of_the_range_exactly_once(
    sim: RunningSimulator, tmp_path: Path, parallel: int
) -> None:
    """Each id in [start, end) is written once; nothing outside the range is written."""
    lo, hi, expected = _range(sim)
    with anyio.fail_after(60):
        summary = await backfill(_config(sim, tmp_path), lo, hi, parallel=parallel)
    got = archive_ids(tmp_path / "out")
    assert duplicates(got) == []
    assert sorted(got) == expected
    assert summary.slices == parallel
    assert summary.written == len(expected)


async def test_resumes_after_interruption_exactly_once(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """Cancelled midway and re-run, every event of the range is still there exactly once."""
    lo, hi, expected = _range(sim)
    loaded = _config(sim, tmp_path)
    with anyio.fail_after(60), anyio.CancelScope() as scope:
        await backfill(loaded, lo, hi, parallel=4, progress=_StopAfter(scope, 3))
    assert scope.cancelled_caught
    partial = archive_ids(tmp_path / "out")
    assert 0 < len(partial) < len(expected)
    with anyio.fail_after(60):
        summary = await backfill(loaded, lo, hi, parallel=4)
    got = archive_ids(tmp_path / "out")
    assert duplicates(got) == []
    assert sorted(got) == expected
    assert summary.fetched < len(expected)  # the second run continued, it did not restart


async def test_rerun_of_a_finished_backfill_writes_nothing(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """A finished range re-run fetches nothing and adds no object."""
    lo, hi, expected = _range(sim)
    loaded = _config(sim, tmp_path)
    with anyio.fail_after(60):
        await backfill(loaded, lo, hi, parallel=2)
        again = await backfill(loaded, lo, hi, parallel=2)
    assert again.fetched == 0
    assert sorted(archive_ids(tmp_path / "out")) == expected


async def test_clamped_to_the_live_tail_origin(sim: RunningSimulator, tmp_path: Path) -> None:
    """With a live checkpoint, nothing from its origin minus lag_window on is written."""
    lo, hi, expected = _range(sim)
    loaded = _config(sim, tmp_path)
    origin_second = (lo + hi) // 2
    boundary = origin_second - int(loaded.settings.source.lag_window)
    live = Checkpoint(cursor=synthetic_id(hi + 50), origin=synthetic_id(origin_second))
    store = FileCheckpointStore(loaded.settings.checkpoint.path)
    store.check_writable()
    await store.save(live)
    with anyio.fail_after(60):
        summary = await backfill(loaded, lo, hi, parallel=3)
    assert summary.clamped
    assert summary.end == boundary
    got = archive_ids(tmp_path / "out")
    assert sorted(got) == [i for i in expected if i < synthetic_id(boundary)]


async def test_live_checkpoint_without_origin_needs_a_configured_start(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """An old live checkpoint (no origin) falls back to source.start.after_id."""
    lo, hi, expected = _range(sim)
    origin = expected[len(expected) // 2]
    loaded = loaded_config(
        sim.url,
        tmp_path,
        source={"page_size": 100, "lag_window": "off", "start": {"after_id": origin}},
    )
    store = FileCheckpointStore(loaded.settings.checkpoint.path)
    store.check_writable()
    await store.save(Checkpoint(cursor=synthetic_id(hi + 50)))
    with anyio.fail_after(60):
        summary = await backfill(loaded, lo, hi, parallel=2)
    assert summary.clamped
    assert summary.end == id_seconds(origin)


async def _cli(*args: str) -> anyio.abc.Process:
    """Run ``streamer`` in a subprocess (its logging set-up stays out of this process)."""
    return await anyio.run_process([sys.executable, "-m", "streamer", *args], check=False)


async def test_cli_refuses_start_not_before_end(tmp_path: Path) -> None:
    """``--start`` at or after ``--end`` exits 2 with a one-line error."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(settings_dict("http://127.0.0.1:9", tmp_path)))
    with anyio.fail_after(60):
        done = await _cli(
            "backfill", "-c", str(cfg), "--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01"
        )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "--start" in err
    assert "Traceback" not in err


async def test_cli_backfills_with_plain_progress_lines(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """The CLI runs a backfill end to end (exit 0) and logs progress lines off a TTY."""
    lo, hi, expected = _range(sim)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(settings_dict(sim.url, tmp_path, source={"page_size": 100})))
    with anyio.fail_after(60):
        done = await _cli(
            "backfill", "-c", str(cfg), "--start", str(lo), "--end", str(hi), "--parallel", "2"
        )
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(archive_ids(tmp_path / "out")) == expected
    assert b'"event": "progress"' in done.stdout


def test_checkpoint_origin_round_trips() -> None:
    """``origin`` survives serialisation; old documents without it load as None."""
    cp = Checkpoint(cursor=synthetic_id(2000), origin=synthetic_id(1000))
    assert Checkpoint.from_bytes(cp.to_bytes(), where="t").origin == synthetic_id(1000)
    assert Checkpoint.from_bytes(Checkpoint().to_bytes(), where="t").origin is None


async def test_first_live_run_records_its_origin(sim: RunningSimulator, tmp_path: Path) -> None:
    """The daemon's first run stores the cursor it started from; later runs keep it."""
    from streamer.daemon.app import run

    start = sim.state.visible_ids()[1000]
    loaded = loaded_config(sim.url, tmp_path, source={"start": {"after_id": start}})
    store = FileCheckpointStore(loaded.settings.checkpoint.path)
    with anyio.fail_after(60):
        await run(loaded, until_caught_up=True, handle_signals=False)
        first = await store.load()
        await run(loaded, until_caught_up=True, handle_signals=False)
        second = await store.load()
    assert first is not None
    assert second is not None
    assert first.origin == start
    assert second.origin == start
    assert second.cursor is not None
    assert second.cursor > start


async def test_live_rescan_never_reads_below_the_floor(sim: RunningSimulator) -> None:
    """With a floor, the lag-window re-scan yields nothing older than it."""
    from streamer.pipeline.dedupe import DedupeWindow
    from streamer.source.client import LeadConduitClient
    from streamer.source.leadconduit import LeadConduitSource

    ids = sim.state.visible_ids()
    cursor = ids[-1]
    floor = synthetic_id(id_seconds(cursor) - 50)
    client = LeadConduitClient(sim.url, API_KEY)
    source = LeadConduitSource(client, page_size=100, lag_window=200)
    source.floor = floor
    got: list[str] = []
    try:
        with anyio.fail_after(30):
            async for page in source.pages(cursor, DedupeWindow()):
                if page.caught_up:
                    break
                got += [e["id"] for e in page.events if page.late]
    finally:
        await client.aclose()
    assert got == [i for i in ids if floor < i <= cursor]


def test_checkpoint_seen_is_sorted_with_late_ids() -> None:
    """The dedupe window is written sorted even when late (lower) ids arrived last."""
    from streamer.pipeline.dedupe import DedupeWindow

    window = DedupeWindow([synthetic_id(10), synthetic_id(30)])
    window.add(synthetic_id(20))
    doc = Checkpoint(cursor=synthetic_id(30), seen=window).to_bytes()
    seen = Checkpoint.from_bytes(doc, where="t").seen
    assert window.sorted_ids() == [synthetic_id(10), synthetic_id(20), synthetic_id(30)]
    assert sorted(seen) == window.sorted_ids()
    from streamer.checkpoint.state import decode_ids

    assert decode_ids(orjson.loads(doc)["seen"]) == window.sorted_ids()


async def test_route_event_backfill_dead_letters_unwritable_routes(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """route: event in a backfill: targets are built per event, the unwritable dead-lettered."""
    lo, hi, expected = _range(sim)
    loaded = loaded_config(
        sim.url, tmp_path, source={"page_size": 100},
        batch={"max_events": 250, "max_age": "30s"}, firehose={"route": "event"},
    )
    with anyio.fail_after(60):
        await backfill(loaded, lo, hi, parallel=2)
    root = tmp_path / "out"
    lines = [
        line
        for path in sorted(root.rglob("*.jsonl.gz"))
        if "_dead_letter/" in path.as_posix()
        for line in iter_events(path.read_bytes(), path.name)
    ]
    by_service = {s: sorted(x["event"]["id"] for x in lines if x["target"]["service"] == s)
                  for s in ("aws", "azure")}
    assert by_service == {"aws": expected, "azure": expected}  # no credential for either
    assert {x["reason"] for x in lines} == {"unknown_credential"}
    assert archive_ids(root) == []
