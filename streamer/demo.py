"""``streamer demo``: simulator and daemon in one process, then a summary."""

from __future__ import annotations

import os
import time
from pathlib import Path

from streamer.app import run
from streamer.config_loader import load_config
from streamer.simulator import SimulatorOptions, start_simulator


async def run_demo(config: Path, *, events: int, out: Path) -> int:
    """Serve ``events`` simulated events, drain them into ``out``, print what happened."""
    async with start_simulator(SimulatorOptions(events=events, seed=7)) as sim:
        os.environ["STREAMER_DEMO_URL"] = sim.url
        os.environ["STREAMER_DEMO_OUT"] = str(out)
        loaded = load_config(config)
        started = time.monotonic()
        summary = await run(loaded, until_caught_up=True, handle_signals=False)
        seconds = time.monotonic() - started
    data = out / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file()) if data.exists() else []
    dropped = sum(summary.dropped.values())
    print()
    print("streamer demo: done")
    print(f"  simulator          {sim.url} ({events} events)")
    print(f"  events fetched     {summary.fetched}")
    print(f"  events kept        {summary.kept}  (dropped {dropped}: {summary.dropped})")
    print(f"  events written     {summary.written}")
    print(f"  files              {len(files)} in {data}")
    for path in files[:3]:
        print(f"                     {path.relative_to(out)}")
    if len(files) > 3:
        print(f"                     ... {len(files) - 3} more")
    print(f"  checkpoint         {summary.cursor} in {out / 'state' / 'checkpoint.json'}")
    print(f"  throughput         {summary.fetched / seconds:,.0f} events/s over {seconds:.2f}s")
    print(f"  try                zcat {files[0] if files else '<file>'} | head -c 600")
    return 0
