"""Issue 13: late-visible events across downtime and outages, untrusted pages, API cost.

The daemon and the simulator share a clock the test moves (``JumpClock``): a downtime or
an outage "lasts" several ``lag_window`` without the test waiting for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from clock import JumpClock
from daemon_helpers import API_KEY, archive_ids, duplicates, loaded_config, settings_dict

from streamer.daemon.app import run
from streamer.observability.metrics import Metrics
from streamer.settings.loader import parse_settings
from streamer.simulator import SimulatorOptions, id_time, start_simulator
from streamer.simulator.server import RunningSimulator

pytestmark = pytest.mark.anyio
LAG = 5.0


@pytest.fixture
def anyio_backend() -> str:
    """Run on asyncio: aiohttp needs it."""
    return "asyncio"


def live(**changes: Any) -> SimulatorOptions:
    """A live stream with many late-visible events (all visible within LAG of their id)."""
    opts: dict[str, Any] = {"events": 0, "seed": 13, "api_key": API_KEY, "live_rate": 40.0,
                            "late_fraction": 0.2, "late_delay": 2.0}  # fmt: skip
    return SimulatorOptions(**{**opts, **changes})


def source(**changes: Any) -> dict[str, Any]:
    """The source section: a short lag window, fast polls."""
    return {"lag_window": f"{LAG}s", "poll_interval": "0.1s", **changes}


def written(metrics: Metrics) -> float:
    """Events durably written so far, summed over services."""
    return sum(
        s.value for m in metrics.written_events.collect() for s in m.samples
        if s.name.endswith("_total")
    )  # fmt: skip


async def until(condition: Callable[[], bool], every: float = 0.1) -> None:
    """Poll ``condition`` (the caller bounds the time with fail_after)."""
    while not condition():  # noqa: ASYNC110 - files, counters and the simulator: no event
        await anyio.sleep(every)


def minted_before(sim: RunningSimulator, seconds: float) -> set[str]:
    """Every event the simulator made with an id second before ``seconds``."""
    return {e["id"] for e in sim.state.all_events() if id_time(e["id"]) < seconds}


async def run_until(
    loaded: Any, stop: Callable[[Metrics], Awaitable[None]], clock: JumpClock
) -> Metrics:
    """Run the daemon in-process until ``stop`` returns (a clean shutdown, like SIGTERM)."""
    metrics = Metrics()

    async def trigger() -> None:
        await stop(metrics)

    await run(loaded, shutdown_trigger=trigger, handle_signals=False, metrics=metrics,
              clock=clock)  # fmt: skip
    return metrics


async def test_downtime_longer_than_lag_window_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    """Stopped cleanly, down 4 lag windows, restarted: every event once, none lost.

    Daemon and simulator share a clock running four times faster than the wall clock:
    the live stream, the late events and the lag window all pass in a quarter of the time.
    """
    clock = JumpClock(factor=4.0)
    async with start_simulator(live(), clock=clock) as sim:
        loaded = loaded_config(sim.url, tmp_path, source=source(), batch={"max_age": "0.3s"})

        async def some_written(metrics: Metrics) -> None:
            await until(lambda: written(metrics) >= 150)

        with anyio.fail_after(60):
            await run_until(loaded, some_written, clock)
        stopped = clock()
        clock.advance(4 * LAG)  # the daemon is down for four lag windows
        required = minted_before(sim, clock() - 1)
        assert any(stopped - LAG < id_time(i) < stopped for i in required)

        async def all_written(_: Metrics) -> None:
            await until(lambda: required <= set(archive_ids(tmp_path / "out")), every=0.3)

        with anyio.fail_after(60):
            await run_until(loaded, all_written, clock)
    ids = archive_ids(tmp_path / "out")
    assert duplicates(ids) == []
    assert required - set(ids) == set()


@pytest.mark.servers
async def test_sink_outage_longer_than_lag_window_loses_nothing(
    tmp_path: Path, s3_server: Any
) -> None:
    """S3 unreachable for 4 lag windows in one daemon: afterwards every event once, none lost."""
    from servers import SwitchProxy, credential_config, make_bucket, read_objects

    from streamer.pipeline.layout import is_data_key, iter_events

    bucket = make_bucket(s3_server)
    clock = JumpClock()

    def s3_ids() -> list[str]:
        objects = read_objects(s3_server, bucket, "lc/")
        return [e["id"] for k, v in objects.items() if is_data_key(k) for e in iter_events(v, k)]

    port = int(s3_server.endpoint_url.rsplit(":", 1)[1].strip("/"))
    async with SwitchProxy.running(port) as proxy, start_simulator(live(), clock=clock) as sim:
        cfg = settings_dict(sim.url, tmp_path, source=source(), batch={"max_age": "0.3s"})
        cfg["credentials"] = {"s3": {**credential_config(s3_server), "endpoint_url": proxy.url}}
        cfg["firehose"]["services"] = {
            "aws": {"enabled": True, "credential_id": "s3", "bucket": bucket, "timeout": "1s"}
        }
        loaded = parse_settings(cfg, base=Path())
        required: set[str] = set()

        async def outage(metrics: Metrics) -> None:
            await until(lambda: written(metrics) >= 150)
            proxy.blackholed = True
            clock.offset += 4 * LAG  # the store stays down for four lag windows
            retried = metrics.retries.labels("sink")
            await until(lambda: retried._value.get() >= 2)
            proxy.blackholed = False
            required.update(minted_before(sim, clock() - 1))
            await until(lambda: required <= set(s3_ids()), every=0.5)

        with anyio.fail_after(120):
            await run_until(loaded, outage, clock)
    ids = s3_ids()
    assert duplicates(ids) == []
    assert required - set(ids) == set()


async def test_pages_repeating_ids_below_after_id_cause_no_duplicates(tmp_path: Path) -> None:
    """A server that resends ids <= after_id (30 s back, out of order): each event once."""
    opts = SimulatorOptions(events=3000, seed=21, api_key=API_KEY, faults=("repeat",),
                            fail_rate=0.3)  # fmt: skip
    async with start_simulator(opts) as sim:
        loaded = loaded_config(sim.url, tmp_path, source={"lag_window": "2s", "page_size": 100})
        metrics = Metrics()
        with anyio.fail_after(60):
            await run(loaded, until_caught_up=True, handle_signals=False, metrics=metrics)
        expected = sorted(sim.state.visible_ids())
        repeated = sim.state.faults["repeat"]
    ids = archive_ids(tmp_path / "out")
    assert repeated >= 3
    assert duplicates(ids) == []
    assert sorted(ids) == expected
    assert metrics.source_dropped.labels("below_after_id")._value.get() >= 3 * repeated


@pytest.mark.usefixtures("no_backoff")
async def test_html_or_empty_200_mid_stream_is_retried(tmp_path: Path) -> None:
    """A maintenance page (HTML or empty, status 200) after JSON pages is retried, not fatal."""
    opts = SimulatorOptions(events=3000, seed=22, api_key=API_KEY, faults=("html", "empty"),
                            fault_after=1, fail_rate=0.3)  # fmt: skip
    async with start_simulator(opts) as sim:
        loaded = loaded_config(sim.url, tmp_path, source={"page_size": 100})
        metrics = Metrics()
        with anyio.fail_after(60):
            summary = await run(loaded, until_caught_up=True, handle_signals=False,
                                metrics=metrics)  # fmt: skip
        faults = sim.state.faults["html"] + sim.state.faults["empty"]
        expected = sorted(sim.state.visible_ids())
    ids = archive_ids(tmp_path / "out")
    assert faults >= 2
    assert summary.written == 3000
    assert duplicates(ids) == []
    assert sorted(ids) == expected
    assert metrics.retries.labels("source")._value.get() >= faults


@pytest.mark.slow
async def test_steady_state_reads_at_most_1_5x_the_bytes_delivered(tmp_path: Path) -> None:
    """At the defaults (2m window, 5s polls, 60/s, 5% late) reads stay <= 1.5x delivered.

    The clock runs six times faster for daemon and simulator alike, so four minutes of
    stream take 40 s; the ratio is a count of bytes, not a timing.
    """
    factor = 6.0
    clock = JumpClock(factor)
    opts = SimulatorOptions(events=0, seed=23, api_key=API_KEY, live_rate=60.0,
                            late_fraction=0.05, late_delay=5.0)  # fmt: skip
    async with start_simulator(opts, clock=clock) as sim:
        loaded = loaded_config(
            sim.url, tmp_path,
            source={"lag_window": "2m", "poll_interval": f"{5 / factor}s", "page_size": 1000,
                    "start": {"after_id": None}},
            batch={"max_age": "1s", "compression": "none"},
        )  # fmt: skip
        marks: list[tuple[float, float]] = []

        def read_and_written(metrics: Metrics) -> tuple[float, float]:
            read = sum(metrics.source_bytes.labels(k)._value.get()
                       for k in ("main", "rescan", "fetch_missing"))  # fmt: skip
            return read, metrics.written_bytes.labels("local")._value.get()

        async def four_minutes(metrics: Metrics) -> None:
            start = clock()
            await until(lambda: clock() - start >= 120, every=0.5)
            marks.append(read_and_written(metrics))
            await until(lambda: clock() - start >= 240, every=0.5)
            marks.append(read_and_written(metrics))

        with anyio.fail_after(120):
            metrics = await run_until(loaded, four_minutes, clock)
        assert read_and_written(metrics)[0] == sim.state.bytes_served  # the metric is honest
    (read0, written0), (read1, written1) = marks
    ratio = (read1 - read0) / (written1 - written0)
    print("RESULT steady ratio", round(ratio, 3))
    assert 1.0 <= ratio <= 1.5, ratio


def _checkpoint_file(path: Path, doc: dict[str, Any] | None = None) -> bytes:
    """Write ``doc`` as the checkpoint file (when given); return the file's bytes."""
    import orjson

    if doc is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(doc))
    return path.read_bytes()


async def test_a_version_1_checkpoint_resumes_without_duplicates(tmp_path: Path) -> None:
    """A checkpoint from before the settled watermark resumes: nothing again, nothing lost."""
    import orjson

    from streamer.checkpoint.state import Checkpoint

    async with start_simulator(SimulatorOptions(events=2000, seed=24, api_key=API_KEY)) as sim:
        ids = sim.state.visible_ids()
        cursor = ids[999]
        loaded = loaded_config(sim.url, tmp_path)
        lag = loaded.settings.source.lag_window
        seen = [i for i in ids[:1000] if id_time(i) >= id_time(cursor) - 2 * lag]
        path = Path(loaded.settings.checkpoint.path)
        _checkpoint_file(path, {"version": 1, "cursor": cursor, "seen": seen, "intents": [],
                                "sinks": {}, "totals": {}})  # fmt: skip
        with anyio.fail_after(60):
            await run(loaded, until_caught_up=True, handle_signals=False)
    assert sorted(archive_ids(tmp_path / "out")) == ids[1000:]
    data = _checkpoint_file(path)
    after = Checkpoint.from_bytes(data, where="test")
    assert orjson.loads(data)["version"] == 2
    assert after.settled is not None
    assert after.cursor == ids[-1]
