"""Steady state: API bytes read per byte delivered at the defaults (issue 13).

A live stream of 60 events/s with 5 % of them visible 5 s late, the daemon at the
default ``lag_window: 2m`` and ``poll_interval: 5s``. The simulator and the daemon's
re-check share a clock that runs ``factor`` times faster than the wall (polls are
shortened by the same factor), so minutes of stream take seconds. The figure is a ratio
of byte counts, measured after the first window (start-up delivers a window's worth of
late-looking events), so machine speed does not enter it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench.common import Row

KINDS = ("main", "rescan", "fetch_missing")


class FastClock:
    """Wall-clock seconds, running ``factor`` times faster from now on."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.t0 = time.time()

    def __call__(self) -> float:
        return self.t0 + (time.time() - self.t0) * self.factor


async def steady(factor: float = 6.0, minutes: float = 6.0, seed: int = 23) -> dict[str, Any]:
    """Run the stream for ``minutes`` of (fast) clock; ratio over all but the first 2 min."""
    from streamer.daemon.app import run
    from streamer.observability.metrics import Metrics
    from streamer.settings.loader import parse_settings
    from streamer.simulator import SimulatorOptions, start_simulator

    clock = FastClock(factor)
    opts = SimulatorOptions(events=0, seed=seed, api_key="bench-key", live_rate=60.0,
                            late_fraction=0.05, late_delay=5.0)  # fmt: skip
    metrics = Metrics()
    marks: list[tuple[float, float, dict[str, float]]] = []

    def snapshot() -> tuple[float, float, dict[str, float]]:
        per_kind = {k: metrics.source_bytes.labels(k)._value.get() for k in KINDS}
        requests = {k: metrics.source_requests.labels(k)._value.get() for k in KINDS}
        written = metrics.written_bytes.labels("local")._value.get()
        return sum(per_kind.values()), written, requests

    async def measure() -> None:
        start = clock()
        for at in (120.0, minutes * 60):
            while clock() - start < at:  # noqa: ASYNC110 - a clock, not an event
                await anyio.sleep(0.5)
            marks.append(snapshot())

    with tempfile.TemporaryDirectory(prefix="bench-steady-") as tmp:
        async with start_simulator(opts, clock=clock) as sim:
            cfg = {
                "source": {"base_url": sim.url, "api_key": "bench-key",
                           "poll_interval": f"{5 / factor}s", "lag_window": "2m"},
                "firehose": {"prefix": "lc", "services": {
                    "local": {"enabled": True, "path": str(Path(tmp) / "out"), "fsync": False}}},
                "batch": {"compression": "none", "max_age": "1s"},
                "checkpoint": {"path": str(Path(tmp) / "cp.json")},
            }  # fmt: skip
            loaded = parse_settings(cfg, base=Path())
            started = time.monotonic()
            await run(loaded, shutdown_trigger=measure, handle_signals=False, metrics=metrics,
                      clock=clock)  # fmt: skip
            seconds = time.monotonic() - started
    (read0, written0, req0), (read1, written1, req1) = marks
    return {
        "ratio": (read1 - read0) / (written1 - written0),
        "read_bytes": read1 - read0,
        "delivered_bytes": written1 - written0,
        "requests": {k: int(req1[k] - req0[k]) for k in KINDS},
        "events": int(metrics.fetched._value.get()),
        "seconds": seconds,
        "minutes": minutes - 2,
    }


def steady_rows(ctx: Any) -> list[Row]:
    """One row: bytes read per byte delivered in the steady state at the defaults."""
    from bench.common import scenario

    out = scenario("steady", minutes=4.0 if ctx.args.quick else 6.0)
    req = out["requests"]
    row = Row(
        "API bytes read per byte delivered, steady state",
        out["events"],
        vs_raw=f"{out['ratio']:.2f}x (target <= 1.5x)",
        note=(
            f"lag_window 2m, poll 5s, 60/s live, 5 % late 5 s; {out['minutes']:.0f} min "
            f"after the first window: requests main {req['main']}, rescan {req['rescan']}, "
            f"fetch_missing {req['fetch_missing']}"
        ),
    )
    ctx.say(row)
    return [row]
